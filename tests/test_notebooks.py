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
