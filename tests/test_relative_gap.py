"""Tests for the relative-lifting diagnosis script (docs/relative_gap.py)."""

import importlib.util
import os

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                     "relative_gap.py")
_spec = importlib.util.spec_from_file_location("relative_gap", _PATH)
gap = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gap)


@pytest.fixture
def poses():
  rng = np.random.default_rng(0)
  p = rng.normal(scale=0.3, size=(6, 17, 3))
  return p - p[:, :1], np.array(["a", "a", "b", "b", "b", "c"])


def test_rebuild_inverts_bone_depth_steps(poses):
  true, _ = poses
  np.testing.assert_allclose(gap.rebuild(true[..., :2], gap.bone_dz(true)), true, atol=1e-12)


def test_diagnose_a_perfect_prediction(poses):
  true, actions = poses
  row = gap.diagnose(2.0 * true, true, actions)  # any scale: x, y are matched first
  assert row["PA-MPJPE"] == pytest.approx(0.0, abs=1e-3)
  assert row["wrong sign %"] == 0.0 and row["abs dz error cm"] == pytest.approx(0.0, abs=1e-9)


def test_diagnose_counts_flipped_bones(poses):
  true, actions = poses
  mirrored = true * np.array([1.0, 1.0, -1.0])  # every bone's depth step flips sign
  row = gap.diagnose(mirrored, true, actions)
  assert row["wrong sign %"] == pytest.approx(100.0 * np.mean(gap.bone_dz(true) != 0))
  assert row["true signs"] == pytest.approx(0.0, abs=1e-3)  # signs were all that differed
  assert row["abs dz error cm"] == pytest.approx(0.0, abs=1e-9)
