"""End-to-end tests of launch/eval.py and launch/predict.py on a tiny trained run.

One module-scoped run is trained in-process; every launcher invocation is a subprocess
(each costs seconds of imports), all started together by the `runs` fixture: those that
fail before reading a checkpoint while the model trains, the others right after.
"""

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from jaxpose import interchange, skeleton
from jaxpose.train import train_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "supervised_lifting.py") + ":quick"
EVAL, PREDICT = str(ROOT / "launch" / "eval.py"), str(ROOT / "launch" / "predict.py")
MOCAP_FILE = pathlib.Path("/work/shared/data/mocap/cmu_walkcycles_bvh/02_01.bvh")
# The :quick config shrunk to seconds: a width-16 lifter, 20 steps, evaluated at the end.
OVERRIDES = {"data.source": "mocap_resample", "data.num_threads": 0, "model.width": 16,
             "model.num_stages": 1, "batch_size": 16, "eval_batch_size": 32,
             "num_eval_batches": 1, "num_steps": 20, "log_every": 20, "eval_every": 20,
             "checkpoint_every": 20}
FLAGS = [f"--config={CONFIG}", *(f"--config.{k}={v}" for k, v in OVERRIDES.items())]
STEP = 20


def _config():
  spec = importlib.util.spec_from_file_location("sl_config", CONFIG.split(":")[0])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.update_from_flattened_dict(OVERRIDES)
  return config


def _write_inputs(samples, tmp):
  """The files the scenarios read, under `tmp`."""
  kp = samples["keypoints2d"]
  ids = [f"frame{i}" for i in samples["index"]]
  (tmp / "in").mkdir(parents=True)
  interchange.write_keypoints2d(tmp / "in" / "h36m.json", ids, kp, image_size=[1000, 1000],
                                joint_names=skeleton.H36M17.joint_names, focal=[1150, 1150])
  # COCO names: no pelvis (derived from the hips), spine, thorax or head; eyes left out,
  # ears (no H36M17 twin) given and dropped.
  coco = [n for n in skeleton.COCO17.joint_names if "eye" not in n]
  h36m = [skeleton.H36M17.index(n if n in skeleton.H36M17.joint_names else "head")
          for n in map(skeleton.canonical_name, coco)]
  interchange.write_keypoints2d(tmp / "in" / "coco.json", ["a", "b"], kp[:2, h36m],
                                joint_names=coco)
  (tmp / "in" / "notes.txt").write_text("not a keypoint file")
  interchange.write_keypoints2d(tmp / "tail.json", ["0"], np.ones((1, 2, 2)),
                                joint_names=["pelvis", "tail"])
  (tmp / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
  (tmp / "taken").mkdir()
  (tmp / "taken" / "h36m_3d.json").write_text("mine")
  (tmp / "no_mocap").mkdir()
  (tmp / "no_mocap" / "README.txt").write_text("no motion here")
  (tmp / "mocap").mkdir()
  if MOCAP_FILE.exists():
    shutil.copy(MOCAP_FILE, tmp / "mocap")


def _early_scenarios(tmp):
  """Errors found before any checkpoint is read (their workdir holds none)."""
  untrained = f"--workdir={tmp / 'untrained'}"
  return {
      "eval_no_checkpoint": [EVAL, untrained],
      "eval_unknown_field": [EVAL, untrained, "--config.unknown_field=1"],
      "predict_taken": [PREDICT, untrained, f"--input={tmp / 'in'}",
                        f"--output={tmp / 'taken'}"],
      "predict_unknown_joint": [PREDICT, untrained, f"--input={tmp / 'tail.json'}",
                                f"--output={tmp / 'out_tail'}"],
      "predict_image": [PREDICT, untrained, f"--input={tmp / 'photo.png'}",
                        f"--output={tmp / 'out_image'}"],
  }


def _trained_scenarios(workdir, tmp):
  """Runs on the trained workdir, and on a copy whose eval/metrics.json is the user's."""
  mine = tmp / "run2"
  shutil.copytree(workdir, mine)
  (mine / "eval").mkdir()
  (mine / "eval" / "metrics.json").write_text('{"mine": 1}')
  return {
      "eval": [EVAL, f"--workdir={workdir}", "--num_batches=2"],
      "eval_mocap": [EVAL, f"--workdir={mine}", f"--mocap_dir={tmp / 'mocap'}"],
      "eval_no_mocap": [EVAL, f"--workdir={workdir}", f"--mocap_dir={tmp / 'no_mocap'}"],
      "predict": [PREDICT, f"--workdir={workdir}", f"--input={tmp / 'in'}",
                  f"--output={tmp / 'out'}", "--max_figures=5"],
  }


def _start(name, args, logs):
  """Starts a launcher with the test config; stdout/stderr go to files in `logs`."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  with open(logs / f"{name}.out", "w") as out, open(logs / f"{name}.err", "w") as err:
    return subprocess.Popen([sys.executable, args[0], *FLAGS, *args[1:]], stdout=out,
                            stderr=err, env=env, cwd=ROOT)


def _finish(name, proc, logs):
  proc.wait(timeout=300)
  return types.SimpleNamespace(returncode=proc.returncode,
                               stdout=(logs / f"{name}.out").read_text(),
                               stderr=(logs / f"{name}.err").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """(scenario name -> finished process, tmp folder, workdir, training result)."""
  tmp = tmp_path_factory.mktemp("launch")
  logs, workdir = tmp / "logs", tmp / "run"
  logs.mkdir()
  started = {}
  try:
    _write_inputs({"keypoints2d": np.ones((2, 17, 2)), "index": np.arange(2)}, tmp / "early")
    for name, args in _early_scenarios(tmp / "early").items():
      started[name] = _start(name, args, logs)
    result = train_lib.train_and_evaluate(_config(), str(workdir))
    _write_inputs(result["eval"]["samples"], tmp)
    for name, args in _trained_scenarios(workdir, tmp).items():
      started[name] = _start(name, args, logs)
    return {k: _finish(k, p, logs) for k, p in started.items()}, tmp, workdir, result
  finally:
    for proc in started.values():
      if proc.poll() is None:
        proc.kill()


def _ok(proc):
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stdout.strip().splitlines()[-1]


def _one_line_error(proc, match):
  """Exit status != 0, no traceback, one error line (the last) matching `match`."""
  assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
  errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
  assert len(errors) == 1 and errors[0] == proc.stderr.strip().splitlines()[-1], proc.stderr
  assert re.match(r"^(FATAL Flags parsing )?error: ", errors[0]), errors[0]
  assert re.search(match, errors[0]), errors[0]
  assert not proc.stdout.strip()


def _strict_json(path):
  def refuse(token):
    raise AssertionError(f"{path}: {token} is not JSON")
  return json.loads(pathlib.Path(path).read_text(), parse_constant=refuse)


def _is_png(path):
  return pathlib.Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_writes_metrics_and_figure(runs):
  procs, _, workdir, _ = runs
  line = _ok(procs["eval"])
  assert re.match(rf"^step={STEP} examples=64 mpjpe=[\d.]+ pa_mpjpe=[\d.]+ .*ordinal_accuracy="
                  rf".* -> {workdir}/eval/metrics.json$", line), line
  report = _strict_json(workdir / "eval" / "metrics.json")
  assert report["step"] == STEP and report["checkpoint"] == "best"
  assert report["evaluated"] == {"source": "mocap_resample", "split": "test"}
  assert report["num_examples"] == 64 and report["figure"] == "poses.png"
  metrics = {"mpjpe", "pa_mpjpe", "n_mpjpe", "pck3d", "auc", "ordinal_accuracy"}
  assert metrics <= set(report["overall"]) and metrics <= set(report["action_mean"])
  assert 0 < report["action_mean"]["pa_mpjpe"] <= report["action_mean"]["mpjpe"] < 2000
  assert report["per_action"] and all(metrics <= set(v) for v in report["per_action"].values())
  assert list(report["per_joint"]["mpjpe"]) == list(skeleton.H36M17.joint_names)
  assert report["overrides"]["model.width"] == 16
  assert _is_png(workdir / "eval" / "poses.png")


def test_eval_on_mocap_dir_keeps_existing_metrics(runs):
  if not MOCAP_FILE.exists():
    pytest.skip(f"no {MOCAP_FILE}")
  procs, tmp, _, _ = runs
  line = _ok(procs["eval_mocap"])
  folder = tmp / "run2" / "eval"
  assert line.endswith(f"-> {folder}/metrics-{STEP}-mocap.json"), line
  assert (folder / "metrics.json").read_text() == '{"mine": 1}'
  report = _strict_json(folder / f"metrics-{STEP}-mocap.json")
  assert report["evaluated"]["mocap_dir"] == str(tmp / "mocap")
  assert list(report["per_action"]) == ["02_01"] and report["num_examples"] > 10
  assert report["figure"] == f"poses-{STEP}-mocap.png"
  assert _is_png(folder / f"poses-{STEP}-mocap.png") and not (folder / "poses.png").exists()


def test_predict_writes_3d_json_and_figures(runs):
  procs, tmp, _, result = runs
  samples = result["eval"]["samples"]
  assert _ok(procs["predict"]) == f"step={STEP} poses=6 files=2 figures=5 -> {tmp / 'out'}"
  ids, poses = interchange.read_poses3d(tmp / "out" / "h36m_3d.json")
  assert ids == tuple(f"frame{i}" for i in samples["index"])
  np.testing.assert_allclose(poses, samples["pred"], atol=2e-5)  # = evaluation's predictions
  coco_ids, poses = interchange.read_poses3d(tmp / "out" / "coco_3d.json")
  assert coco_ids == ("a", "b") and np.isfinite(poses).all() and not poses[:, 0].any()
  pngs = sorted(p.name for p in (tmp / "out").glob("*.png"))  # inputs in name order
  assert pngs == ["coco_a.png", "coco_b.png", *(f"h36m_{i}.png" for i in ids[:3])]
  assert all(_is_png(tmp / "out" / p) for p in pngs)


def test_predict_refuses_to_overwrite(runs):
  procs, tmp, _, _ = runs
  _one_line_error(procs["predict_taken"], r"--output: .*taken/h36m_3d.json exists .*refusing "
                  r"to overwrite")
  assert sorted(p.name for p in (tmp / "early" / "taken").iterdir()) == ["h36m_3d.json"]
  assert (tmp / "early" / "taken" / "h36m_3d.json").read_text() == "mine"


def test_eval_errors_are_one_line(runs):
  procs = runs[0]
  _one_line_error(procs["eval_no_mocap"], r"no_mocap: no MoCap files found")
  _one_line_error(procs["eval_no_checkpoint"], r"untrained.* no checkpoint found")
  _one_line_error(procs["eval_unknown_field"],
                  r"--config.unknown_field=1: config.unknown_field names no config field")


def test_predict_errors_are_one_line(runs):
  procs, tmp, _, _ = runs
  early = tmp / "early"
  _one_line_error(procs["predict_unknown_joint"],
                  rf"error: {early / 'tail.json'}: joint_names: unknown joint names \['tail'\]")
  _one_line_error(procs["predict_image"], r"--input: .*photo.png is an image, but "
                  r"supervised_lifting is a lifting model: it needs 2D keypoint JSON")
  assert not (early / "out_tail").exists() and not (early / "out_image").exists()
