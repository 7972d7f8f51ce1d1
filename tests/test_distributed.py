"""Two JAX processes (launch/train.py with coordinator flags, CPU collectives) train like one.

Each process reads its own shard of the training stream (positions k, k + 2, ...) and
feeds its half of every global batch; the final parameters must match a one-process run
of the same config, whose batches hold the same examples. The model has batch norm
(statistics reduced across processes) and is trained with SGD: Adam would turn the
rounding noise on the zero-gradient biases before batch norm into full-size steps.
"""

import importlib.util
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import portpicker

from jaxpose.data import resample
from jaxpose.train import train_lib
from jaxpose.train import data as data_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "supervised_lifting.py") + ":quick"
TRAIN = str(ROOT / "launch" / "train.py")
STEPS = 20
OVERRIDES = {"data.source": "mocap_resample", "data.num_threads": 0, "model.width": 16,
             "model.num_stages": 1, "model.dropout": 0.0, "optimizer.name": "sgd",
             "optimizer.learning_rate": 0.05, "batch_size": 16, "eval_batch_size": 32,
             "num_eval_batches": 1, "num_steps": STEPS, "log_every": 10,
             "eval_every": STEPS, "checkpoint_every": 10}


def _config():
  spec = importlib.util.spec_from_file_location("sl_config", CONFIG.split(":")[0])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.update_from_flattened_dict(OVERRIDES)
  return config


def _start_process(index, port, workdir, log):
  flags = [f"--config={CONFIG}", *(f"--config.{k}={v}" for k, v in OVERRIDES.items()),
           f"--workdir={workdir}", f"--coordinator_address=localhost:{port}",
           "--num_processes=2", f"--process_id={index}"]
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one device each
  env["JAX_PLATFORMS"] = "cpu"
  return subprocess.Popen([sys.executable, TRAIN, *flags], env=env, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=log)


def test_process_shards_hold_the_one_process_batch():
  """The premise of the comparison: the two processes' slices of global batch t are the
  examples of the one-process batch t (same views: positions seed the cameras)."""
  config = _config()
  data, train, _ = data_lib.mocap_split(config)
  seed = train_lib.rngs(config.seed)["data"]

  def batches(index, count):
    it = resample.make_mocap_pipeline(data, train, batch_size=16 // count, seed=seed,
                                      num_pairs=config.data.num_pairs, shard_index=index,
                                      shard_count=count)
    return [next(it) for _ in range(2)]

  whole, shards = batches(0, 1), [batches(k, 2) for k in range(2)]
  for t in range(2):
    joined = {k: np.concatenate([s[t][k] for s in shards]) for k in ("index", "keypoints2d")}
    order = np.argsort(joined["index"], kind="stable")
    np.testing.assert_array_equal(np.sort(whole[t]["index"]), joined["index"][order])
    np.testing.assert_array_equal(whole[t]["keypoints2d"][np.argsort(whole[t]["index"],
                                                                     kind="stable")],
                                  joined["keypoints2d"][order])
    assert not set(shards[0][t]["index"]) & set(shards[1][t]["index"])  # disjoint


def test_two_processes_match_one(tmp_path):
  port = portpicker.pick_unused_port()
  two = tmp_path / "two_processes"
  logs = [open(tmp_path / f"process_{i}.log", "w") for i in range(2)]
  procs = [_start_process(i, port, two, logs[i]) for i in range(2)]
  try:
    config = _config()  # the one-process run trains here while the two start up
    one = train_lib.train_and_evaluate(config, str(tmp_path / "one_process"))
    outs = [p.communicate(timeout=240)[0].strip().splitlines()[-1:] for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
    for log in logs:
      log.close()
  errors = [(tmp_path / f"process_{i}.log").read_text()[-3000:] for i in range(2)]
  assert [p.returncode for p in procs] == [0, 0], errors
  # Both processes evaluated the same replicated model on the whole evaluation batch.
  assert outs[0] == outs[1] and outs[0][0].startswith(f"step={STEPS} "), outs
  shown = dict(kv.split("=") for kv in outs[0][0].split()[1:])
  for name, value in one["eval"]["action_mean"].items():
    np.testing.assert_allclose(float(shown[name]), value, rtol=1e-3)
  saved = two / "checkpoints" / str(STEPS) / "data"
  assert sorted(os.listdir(saved)) == ["commit_success.txt", "process_0-of-2.json",
                                      "process_1-of-2.json"]

  mine = train_lib.restore(config, str(tmp_path / "one_process"), which="latest")
  theirs = train_lib.restore(config, str(two), which="latest")
  assert mine[2] == theirs[2] == STEPS
  flat_mine = jax.tree_util.tree_flatten_with_path(mine[1])[0]
  flat_theirs = jax.tree.leaves(theirs[1])
  assert len(flat_mine) == len(flat_theirs) and len(flat_mine) > 10
  for (path, a), b in zip(flat_mine, flat_theirs):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=1e-5, rtol=0,
                               err_msg=jax.tree_util.keystr(path))
  moved = np.asarray(mine[1]["params"]["dense_out"]["kernel"])
  initial = train_lib.restore(config, str(tmp_path / "one_process"), step=10)[1]
  assert np.abs(moved - np.asarray(initial["params"]["dense_out"]["kernel"])).max() > 1e-3
