"""Tests for the training loop's evaluation figures (jaxpose/train/figures.py)."""

import os

import numpy as np

from jaxpose.train import figures


class _Writer:
  def __init__(self):
    self.images = {}

  def write_images(self, step, images):
    self.images.update({(step, k): np.asarray(v) for k, v in images.items()})


def _result(rng, n=3, image=True):
  pose = rng.normal(size=(n, 17, 3)) * 0.2
  samples = {"pred": pose + 0.01, "target": pose, "index": np.arange(n),
             "action": ["walk"] * n, "subject": ["s"] * n,
             "keypoints2d": rng.uniform(0, 32, (n, 17, 2))}
  if image:
    samples["image"] = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    samples["pred_keypoints2d"] = samples["keypoints2d"] + 1.0
  return {"samples": samples}


def test_writes_pngs_and_tensorboard_images(tmp_path, rng):
  writer = _Writer()
  paths = figures.write_eval_figures(_result(rng), str(tmp_path), 7, writer=writer)
  assert sorted(os.path.basename(p) for p in paths) == ["inputs_step7.png", "poses_step7.png"]
  for p in paths:
    assert open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
  assert set(writer.images) == {(7, "eval/poses"), (7, "eval/inputs")}
  img = writer.images[(7, "eval/inputs")]
  assert img.ndim == 4 and img.shape[0] == 1 and img.shape[-1] == 3 and img.dtype == np.uint8
  assert img.std() > 0  # something was drawn


def test_lifting_results_get_only_the_pose_figure_and_nothing_is_overwritten(tmp_path, rng):
  first = figures.write_eval_figures(_result(rng, image=False), str(tmp_path), 5)
  assert [os.path.basename(p) for p in first] == ["poses_step5.png"]
  before = os.stat(first[0]).st_mtime_ns
  assert figures.write_eval_figures(_result(rng, image=False), str(tmp_path), 5) == []
  assert os.stat(first[0]).st_mtime_ns == before
  assert figures.write_eval_figures({"samples": {}}, str(tmp_path), 6) == []
