"""Executes the notebooks with nbclient; any cell error fails the test."""

import pathlib
import sys

import nbclient
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def _stream_text(nb) -> str:
  return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                 for out in cell.get("outputs", []) if out.output_type == "stream")


def test_python3_kernelspec_exists():
  assert "python3" in KernelSpecManager().find_kernel_specs()


def test_gradient_checks_notebook(monkeypatch):
  # The notebook compiles a few hundred tiny programs: skip XLA's optimisation passes.
  monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  nb = nbformat.read(NOTEBOOKS / "gradient_checks.ipynb", as_version=4)
  nb.cells.append(nbformat.v4.new_code_cell("import sys; print('PREFIX=' + sys.prefix)"))
  client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                   resources={"metadata": {"path": str(NOTEBOOKS)}})
  try:
    client.execute()
  except nbclient.exceptions.CellExecutionError as e:
    pytest.fail(f"gradient_checks.ipynb failed:\n{e}")
  text = _stream_text(nb)
  # The kernel ran this interpreter's environment (the 'python' kernelspec resolves to it).
  assert f"PREFIX={sys.prefix}" in text
  assert "all 14 losses PASS" in text
  assert "FAIL" not in text
  assert any("image/png" in out.get("data", {}) for cell in nb.cells
             for out in cell.get("outputs", []))


def test_colab_tpu_notebook(monkeypatch, tmp_path):
  """Runs notebooks/colab_tpu.ipynb on 2 CPU devices with a tiny lifting config: install
  skipped (jaxpose importable), batch rounded up to the device count, trained, evaluated,
  figure shown; the committed file has no outputs."""
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
  path = NOTEBOOKS / "colab_tpu.ipynb"
  nb = nbformat.read(path, as_version=4)
  nbformat.validate(nb)
  code = [cell for cell in nb.cells if cell.cell_type == "code"]
  assert all(not cell.outputs and cell.execution_count is None for cell in code)
  params = [k for k, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
  assert len(params) == 1
  workdir = tmp_path / "run"
  overrides = {"data.source": "mocap_resample", "data.num_threads": 0, "model.width": 16,
               "model.num_stages": 1, "batch_size": 7, "eval_batch_size": 31,
               "num_steps": 4, "log_every": 2, "eval_every": 4, "checkpoint_every": 4,
               "num_eval_batches": 1, "num_samples": 2}
  nb.cells.insert(params[0] + 1, nbformat.v4.new_code_cell(
      f"OVERRIDES = {overrides!r}\nWORKDIR = {str(workdir)!r}"))
  client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                                   resources={"metadata": {"path": str(NOTEBOOKS)}})
  try:
    client.execute()
  except nbclient.exceptions.CellExecutionError as e:
    pytest.fail(f"colab_tpu.ipynb failed:\n{e}")
  text = _stream_text(nb)
  assert "jaxpose is importable: nothing to install" in text
  assert "backend cpu" in text and text.count("CpuDevice") == 2
  assert ("supervised_lifting: batch_size 8, eval_batch_size 32 over 2 device(s), 4 steps"
          in text)
  assert "trained to step 4" in text and "step 4: {" in text
  assert (workdir / "checkpoints" / "4").is_dir() and (workdir / "pred_vs_true_4.png").is_file()
  assert any("image/png" in out.get("data", {}) for cell in nb.cells
             for out in cell.get("outputs", []))
