"""Tests for the training system: steps, determinism, resume, sharding, NaN guard, configs."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import grain
import jax
import numpy as np
import pytest

from jaxpose import methods
from jaxpose.data import pipeline
from jaxpose.train import checkpoint, optim, sharding, steps, train_lib
from jaxpose.train import data as data_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _config_module():
  spec = importlib.util.spec_from_file_location(
      "supervised_lifting_config", ROOT / "configs" / "supervised_lifting.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def tiny_config(**overrides):
  """A tiny Martinez lifter on resampled MoCap: seconds per run on 2 CPU cores."""
  config = _config_module().get_config("quick")
  config.data.source = "mocap_resample"
  config.data.num_threads = 0
  config.model.width = 16
  config.model.num_stages = 1
  config.batch_size = 16
  config.eval_batch_size = 32
  config.num_eval_batches = 1
  config.num_steps, config.log_every, config.eval_every, config.checkpoint_every = 6, 3, 6, 3
  config.update(overrides)
  return config


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _assert_identical(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(_leaves(a), _leaves(b)):
    np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One tiny 6-step run: (config, workdir, result)."""
  config = tiny_config()
  workdir = str(tmp_path_factory.mktemp("trained"))
  return config, workdir, train_lib.train_and_evaluate(config, workdir)


def test_train_step_decreases_loss_and_compiles_once():
  config = tiny_config()
  config.model.dropout = 0.0  # a clean signal on one fixed batch
  config.optimizer.learning_rate = 1e-2
  mesh = sharding.make_mesh()
  method, tx = methods.get_method(config), optim.from_config(config.optimizer)
  batch = next(data_lib.train_iterator(config, seed=0))
  batch = sharding.shard_batch(pipeline.device_fields(batch), mesh)
  state = steps.jit_init_state(method, tx, mesh)(jax.random.key(0),
                                                 data_lib.dummy_batch(config, 2))
  key = jax.device_put(jax.random.key(1), sharding.replicated(mesh))
  train_step = steps.jit_train_step(method, tx, mesh)
  losses = []
  with jax.transfer_guard("disallow"):  # no hidden host transfers inside the loop
    for _ in range(25):
      state, metrics = train_step(state, batch, key)
      losses.append(metrics["loss"])
  losses = np.asarray(jax.device_get(losses))
  assert losses[-1] < 0.7 * losses[0], losses
  assert train_step._cache_size() == 1  # pylint: disable=protected-access
  assert int(state["step"]) == 25
  assert set(metrics) == {"loss", "pose3d_l2", "mpjpe_mm", "grad_norm"}


def test_method_predicts_root_relative_metres():
  config = tiny_config()
  method = methods.get_method(config)
  batch = data_lib.dummy_batch(config, 4)
  variables = jax.jit(method.init)(jax.random.key(0), batch)
  assert set(variables) == {"params", "batch_stats"}
  pose = jax.jit(method.predict)(variables, batch)
  assert pose.shape == (4, 17, 3)
  np.testing.assert_array_equal(np.asarray(pose[:, 0]), 0.0)
  loss, aux = jax.jit(method.loss)(variables, {**batch, "has_3d": np.zeros(4, bool)},
                                   jax.random.key(1))
  assert float(loss) == 0.0  # no example has a 3D target
  assert set(aux) == {"metrics", "batch_stats"}


def test_unknown_method():
  with pytest.raises(ValueError, match="unknown 'nope'; known: .*relative_lifting, supervised_lifting"):
    methods.get_method(tiny_config(method="nope"))


def test_same_seed_is_bit_identical(trained, tmp_path):
  config, workdir, result = trained
  again = train_lib.train_and_evaluate(config, str(tmp_path))
  _assert_identical(train_lib.restore(config, workdir, which="latest")[1],
                    train_lib.restore(config, str(tmp_path), which="latest")[1])
  assert again["train"] == result["train"] and again["step"] == result["step"] == 6
  assert again["eval"]["overall"] == result["eval"]["overall"]


def test_resume_reproduces_uninterrupted_run(trained, tmp_path):
  config, workdir, _ = trained
  half = tiny_config(num_steps=3)
  assert train_lib.train_and_evaluate(half, str(tmp_path))["step"] == 3
  assert (tmp_path / "checkpoints" / "3" / "data" / "process_0-of-1.json").exists()
  resumed = train_lib.train_and_evaluate(config, str(tmp_path))  # same config, 6 steps
  assert resumed["step"] == 6
  _assert_identical(train_lib.restore(config, workdir, which="latest")[1],
                    train_lib.restore(config, str(tmp_path), which="latest")[1])


def test_evaluate_result(trained):
  _, _, result = trained
  ev = result["eval"]
  assert ev["num_examples"] == 32
  assert 0 < ev["overall"]["mpjpe"] < 2000 and 0 < ev["overall"]["pa_mpjpe"] < 2000
  assert set(ev["per_joint"]["mpjpe"]) >= {"pelvis", "head"}
  assert ev["per_action"] and "ordinal_accuracy" in ev["overall"]
  assert ev["samples"]["pred"].shape == (4, 17, 3) and len(ev["samples"]["action"]) == 4


def test_restore_best_and_latest(trained):
  config, workdir, _ = trained
  method, variables, step = train_lib.restore(config, workdir)
  assert step == 6 and method.name == "supervised_lifting"  # the only evaluated step
  assert train_lib.restore(config, workdir, step=3)[2] == 3


def test_restore_errors(trained, tmp_path):
  config, workdir, _ = trained
  with pytest.raises(ValueError, match="no checkpoint found") as e:
    train_lib.restore(config, str(tmp_path / "empty"))
  assert "\n" not in str(e.value)
  wider = tiny_config()
  wider.model.width = 32
  with pytest.raises(ValueError, match=r"does not match the config's model .*\"width\": 32.*: "
                     r"variables\['params'\].* is \(16, 51\) in the checkpoint, \(32, 51\) for "
                     r"the config$") as e:
    train_lib.restore(wider, workdir)
  assert "\n" not in str(e.value)
  deeper = tiny_config()
  deeper.model.num_stages = 2
  with pytest.raises(ValueError, match=r"model .*: it lacks 10 the model needs \(e.g. "
                     r"variables\['params'\]\['trunk'\]\['block_1'\]"):
    train_lib.restore(deeper, workdir)
  with pytest.raises(ValueError, match="no checkpoint at step 5"):
    train_lib.restore(config, workdir, step=5)


class _PoisonAfter(grain.DatasetIterator):
  """Wraps a grain iterator; from batch `first` on, keypoints2d are inf."""

  def __init__(self, it, first):
    super().__init__(it)
    self.it, self.first, self.count = it, first, 0

  def __next__(self):
    batch = next(self.it)
    self.count += 1
    if self.count >= self.first:
      batch["keypoints2d"] = np.full_like(batch["keypoints2d"], np.inf)
    return batch

  def get_state(self):
    return self.it.get_state()

  def set_state(self, state):
    self.it.set_state(state)


def test_nan_guard_names_step_and_keeps_last_checkpoint(tmp_path, monkeypatch):
  make = data_lib.train_iterator
  monkeypatch.setattr(data_lib, "train_iterator",
                      lambda config, seed: _PoisonAfter(make(config, seed=seed), first=4))
  config = tiny_config(num_steps=8, log_every=5, checkpoint_every=3, eval_every=100)
  with pytest.raises(FloatingPointError, match=r"^step 4: non-finite training metrics .*"
                     r"pose3d_l2=nan.*last good checkpoint: .*checkpoints/3\)$"):
    train_lib.train_and_evaluate(config, str(tmp_path))
  manager = checkpoint.make_manager(str(tmp_path), read_only=True)
  assert list(manager.all_steps()) == [3]
  _, variables, step = train_lib.restore(config, str(tmp_path), which="latest")
  assert step == 3 and all(np.isfinite(x).all() for x in _leaves(variables))


_MULTI_DEVICE = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    sys.path.insert(0, {tests!r})
    import test_train
    from jaxpose import methods
    from jaxpose.train import data as data_lib, optim, sharding, steps
    config = test_train.tiny_config()
    method, tx = methods.get_method(config), optim.from_config(config.optimizer)
    rng = np.random.default_rng(0)
    host = data_lib.dummy_batch(config, 16)
    host["keypoints2d"] = rng.uniform(0, 1000, (16, 17, 2)).astype(np.float32)
    host["keypoints3d"] = rng.normal(0, 0.3, (16, 17, 3)).astype(np.float32)
    host["joint_mask"][:] = host["has_3d"][:] = True
    out = {{"devices": jax.device_count()}}
    for n in (1, 8):
      mesh = sharding.make_mesh(jax.devices()[:n])
      state = steps.jit_init_state(method, tx, mesh)(jax.random.key(0),
                                                     data_lib.dummy_batch(config, 2))
      batch = sharding.shard_batch(host, mesh)
      assert len(batch["keypoints2d"].sharding.device_set) == n
      state, metrics = steps.jit_train_step(method, tx, mesh)(state, batch, jax.random.key(1))
      out[n] = {{"loss": float(metrics["loss"]),
                 "params": [np.asarray(x).tolist() for x in
                            jax.tree.leaves(state["variables"]["params"])][:2]}}
    try:
      sharding.shard_batch(jax.tree.map(lambda x: x[:12], host), mesh)
    except ValueError as e:
      out["error"] = str(e)
    print("RESULT" + json.dumps(out))
""")


def test_eight_devices_match_one():
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu"}
  proc = subprocess.run([sys.executable, "-c", _MULTI_DEVICE.format(tests=str(ROOT / "tests"))],
                        env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  out = json.loads(lines[0][len("RESULT"):])
  assert out["devices"] == 8
  np.testing.assert_allclose(out["8"]["loss"], out["1"]["loss"], rtol=1e-5, atol=1e-5)
  for a, b in zip(out["8"]["params"], out["1"]["params"]):
    np.testing.assert_allclose(a, b, atol=1e-5)
  assert out["error"] == ("batch_size: the global batch of 12 is not divisible by the 8 "
                          "devices; use a multiple of 8")


def test_cpu_compiler_options_keep_convolutions_off_ynnpack():
  mesh = sharding.make_mesh()
  options = sharding.compiler_options(mesh)
  assert options == sharding.CPU_COMPILER_OPTIONS  # this suite runs on CPU

  def conv_weight_grad(x, w):
    conv = lambda w: jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.grad(lambda w: jax.numpy.sum(conv(w) ** 2))(w)

  def dot(a, b):
    return a @ b

  def compiled(fn, args, opts):
    return jax.jit(fn, compiler_options=opts).lower(*args).compile().as_text()

  x, w = np.ones((2, 8, 8, 16), np.float32), np.ones((3, 3, 16, 16), np.float32)
  with_options = compiled(conv_weight_grad, (x, w), options)
  assert "ynn_fusion" not in with_options and "convolution(" in with_options
  # dots keep YNNPACK, as by default
  a = np.ones((64, 256), np.float32)
  assert "ynn_fusion" in compiled(dot, (a, a.T), options)


def test_loop_settings_are_checked(tmp_path):
  mesh = sharding.make_mesh()
  assert sharding.check_batch_size("batch_size", 16, mesh) == 16
  with pytest.raises(ValueError, match="batch_size: expected a positive int"):
    train_lib.train_and_evaluate(tiny_config(batch_size=0), str(tmp_path))
  with pytest.raises(ValueError, match="config.log_every: expected an int >= 1, got 0"):
    train_lib.train_and_evaluate(tiny_config(log_every=0), str(tmp_path))


def test_quick_config_and_variants():
  module = _config_module()
  quick = module.get_config("quick")
  full = module.get_config()
  assert quick.num_steps < full.num_steps and quick.model.width < full.model.width
  assert full.model.width == 1024 and full.model.num_stages == 2 and full.batch_size == 64
  assert full.optimizer.learning_rate == 1e-3 and full.optimizer.decay_rate == 0.96
  assert module.get_config("h36m").data.source == "h36m_videopose3d/protocol1"
  with pytest.raises(ValueError, match="unknown 'fast'.*known: h36m, quick"):
    module.get_config("fast")


@pytest.mark.parametrize("override, expected", [
    ("--config.foo=1", "--config.foo=1: config.foo names no config field (config has: "
     "batch_size, best_metric"),
    ("--config.data.sourse=x", "config.data.sourse names no config field (did you mean "
     "config.data.source?) (config.data has: allow_pickle, augment"),
])
def test_unknown_config_field_is_one_line(override, expected, tmp_path):
  proc = subprocess.run(
      [sys.executable, str(ROOT / "launch" / "train.py"),
       "--config=" + str(ROOT / "configs" / "supervised_lifting.py") + ":quick",
       "--workdir=" + str(tmp_path), override],
      capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert "Traceback" not in proc.stderr
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith("FATAL Flags parsing error: ") and expected in last, proc.stderr
