"""Tests for the train-step benchmark (jaxpose/bench_train.py, launch/benchmark.py --mode=train)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxpose import bench_train, checks, methods, results
from jaxpose.train import data as data_lib
from jaxpose.train import optim, sharding, steps

ROOT = pathlib.Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"samples_per_sec", "min", "max", "rounds", "gflops", "samples_per_cpu_sec",
                "per_round", "params", "batch_size", "steps_per_call", "method"}


TORCH_PYTHONS = (os.environ.get("JAXPOSE_TORCH_PYTHON"), "/root/torchvenv/bin/python",
                 "python")


def _tiny():
  """configs/supervised_lifting.py:quick with a width-32, one-stage Martinez MLP."""
  spec = importlib.util.spec_from_file_location("supervised_lifting_config",
                                                ROOT / "configs" / "supervised_lifting.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.model.width, config.model.num_stages, config.batch_size = 32, 1, 8
  return config


def test_synthetic_batch_matches_the_pipeline_layout():
  config = _tiny()
  batch = bench_train.synthetic_batch(config, 4, seed=1)
  dummy = data_lib.dummy_batch(config, 4)
  assert jax.tree.structure(batch) == jax.tree.structure(dummy)
  for got, want in zip(jax.tree.leaves(batch), jax.tree.leaves(dummy)):
    assert got.shape == want.shape and got.dtype == want.dtype
  assert batch["has_3d"].all() and batch["joint_mask"].all() and batch["valid"].all()
  checks.relations("relations", batch["relations"], 17, mask=batch["relation_mask"])
  assert np.all(batch["relations"][..., 0] != batch["relations"][..., 1])


def test_train_rate_reports_a_positive_figure():
  out = bench_train.train_rate(_tiny(), batch_size=8, steps=2, rounds=2, warmup_steps=1)
  assert SUMMARY_KEYS <= set(out)
  assert out["samples_per_sec"] > 0 and out["gflops"] > 0 and len(out["per_round"]) == 2
  assert out["batch_size"] == 8 and out["method"] == "supervised_lifting"
  assert out["params"] > 0


def test_scanned_steps_are_the_train_steps():
  """K steps under lax.scan = K calls of the loop's jitted step (same dropout keys)."""
  config = _tiny()
  method, tx, mesh = methods.get_method(config), optim.from_config(config.optimizer), \
      sharding.make_mesh()
  init_fn = steps.jit_init_state(method, tx, mesh)
  init = lambda: init_fn(jax.random.key(0), data_lib.dummy_batch(config, 2))  # noqa: E731
  batches = [bench_train.synthetic_batch(config, 8, seed=s) for s in range(2)]
  key = jax.random.key(3)
  state = init()
  step = steps.jit_train_step(method, tx, mesh)
  for b in batches:
    state, last = step(state, sharding.shard_batch(b, mesh), key)
  stacked = jax.tree.map(lambda *x: np.stack(x), *batches)
  scanned, metrics = bench_train.jit_multi_step(method, tx, mesh, 2)(init(), stacked, key)
  assert int(scanned["step"]) == 2 and metrics["loss"].shape == (2,)
  np.testing.assert_allclose(metrics["loss"][1], last["loss"], rtol=1e-5)
  for a, b in zip(jax.tree.leaves(scanned), jax.tree.leaves(state)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_bad_arguments_raise_one_line_errors(tmp_path):
  with pytest.raises(ValueError, match="steps_per_call"):
    bench_train.prepare_train(_tiny(), steps_per_call=0)
  config = _tiny()
  with pytest.raises(ValueError, match=r"torch lifting reference .*differs: {.width.: 32}"):
    bench_train.reference_for(config, batch_size=8, steps=1)
  config.method = "relative_lifting"
  with pytest.raises(ValueError, match="no torch reference for method 'relative_lifting'"):
    bench_train.reference_for(config, batch_size=8, steps=1)
  assert not bench_train.torch_available("/nonexistent/python")
  with pytest.raises(ValueError, match="torch_ref_dir: .*torch_lifting_ref.py not found"):
    bench_train.torch_round("python", "lifting", [8, 1, 1], reference_dir=str(tmp_path))
  (tmp_path / "torch_lifting_ref.py").write_text("raise SystemExit(3)")
  with pytest.raises(ValueError, match="torch_python: '/nonexistent/python' cannot be run"):
    bench_train.torch_round("/nonexistent/python", "lifting", [8, 1, 1],
                            reference_dir=str(tmp_path))
  with pytest.raises(ValueError, match=r"torch_python: .* torch_lifting_ref.py failed \(exit 3\)"):
    bench_train.torch_round(sys.executable, "lifting", [8, 1, 1], reference_dir=str(tmp_path))


def test_reference_arguments_follow_the_config():
  config = _tiny()
  config.model.width = 1024
  assert bench_train.reference_for(config, batch_size=64, steps=7) == ("lifting", [64, 7, 1])
  volumetric = results.load_config("configs/ordinal_volumetric.py")
  assert bench_train.reference_for(volumetric, batch_size=4, steps=3) == (
      "hourglass", [4, 3, 2, 256, 64])


def test_sgemm_jax_is_positive():
  assert bench_train.sgemm_jax(size=128, repeats=2) > 0


def _benchmark(*args):
  cmd = [sys.executable, "launch/benchmark.py", "--mode=train",
         "--config=configs/supervised_lifting.py", "--config.model.width=32",
         "--config.model.num_stages=1", "--batch_size=8", "--steps=2", "--rounds=1", *args]
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                        check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = proc.stdout.strip().splitlines()
  return [json.loads(line) for line in lines[:-1]], lines[-1]


def test_train_mode_prints_samples_per_sec_last():
  """--torch_python without torch (this venv has none): the comparison is skipped."""
  python = sys.executable if not bench_train.torch_available(sys.executable) else "/nonexistent"
  records, last = _benchmark("--compare_torch", f"--torch_python={python}")
  assert last.startswith("samples_per_sec=") and float(last.split("=")[1]) > 0
  by_name = {r["name"]: r for r in records}
  assert by_name["jaxpose_train"]["width"] == 32 and by_name["jaxpose_train"]["batch_size"] == 8
  assert "skipped" in by_name["torch_train"]


def test_compare_torch_alternates_rounds():
  """Skipped unless an interpreter ($JAXPOSE_TORCH_PYTHON, the shared venv) has torch and
  the reference scripts are there ($JAXPOSE_TORCH_REF_DIR, ../shared/bench)."""
  if not os.path.isfile(os.path.join(bench_train.DEFAULT_REFERENCE_DIR, "torch_lifting_ref.py")):
    pytest.skip(f"no torch reference scripts in {bench_train.DEFAULT_REFERENCE_DIR}")
  config, seen = _tiny(), []
  config.model.width = 1024
  for python in filter(None, TORCH_PYTHONS):
    try:
      out = bench_train.compare_torch(config, torch_python=python, batch_size=8, steps=2,
                                      rounds=1, warmup_steps=1, report=seen.append)
      break
    except ValueError as e:
      if "No module named 'torch'" not in str(e) and "cannot be run" not in str(e):
        raise
  else:
    pytest.skip("no interpreter with torch (set JAXPOSE_TORCH_PYTHON)")
  assert abs(out["torch"]["params"] - out["jaxpose"]["params"]) <= 0.01 * out["torch"]["params"]
  assert out["ratio"] > 0 and out["reference"] == "lifting" and out["torch"]["rounds"] == 1
  assert [set(r) for r in seen] == [{"round", "jaxpose", "torch"}]
