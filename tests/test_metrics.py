"""Tests for jaxpose.metrics: golden values vs float64 NumPy, hand cases, properties."""

import hypothesis
import hypothesis.strategies as st
import jax
import numpy as np
import pytest

from jaxpose import metrics

J = 17
AUC_T = np.arange(0, 151, 5)

# A standing H36M17 pose, root-relative, metres, camera axes (x right, y down, z forward).
BASE_POSE = np.array([
    [0.00, 0.00, 0.00], [-0.13, 0.00, 0.00], [-0.14, 0.44, 0.02], [-0.15, 0.88, 0.06],
    [0.13, 0.00, 0.00], [0.14, 0.44, 0.02], [0.15, 0.88, 0.06], [0.00, -0.23, -0.02],
    [0.00, -0.48, -0.03], [0.00, -0.58, -0.08], [0.00, -0.68, -0.03], [0.16, -0.46, 0.00],
    [0.22, -0.20, 0.05], [0.25, 0.03, -0.10], [-0.16, -0.46, 0.00], [-0.22, -0.20, 0.05],
    [-0.25, 0.03, -0.10]])


# ---------------------------------------------------------------- NumPy references


def random_rotation(rng):
  q, r = np.linalg.qr(rng.normal(size=(3, 3)))
  q = q * np.sign(np.diag(r))
  return q if np.linalg.det(q) > 0 else -q


def pose_batch(rng, batch):
  """Realistic poses: the base pose, jittered 2 cm, turned, 3-6 m in front of the camera."""
  poses = []
  for _ in range(batch):
    p = (BASE_POSE + rng.normal(scale=0.02, size=BASE_POSE.shape)) @ random_rotation(rng).T
    poses.append(p - p[0] + [rng.uniform(-1, 1), rng.uniform(-0.5, 0.5), rng.uniform(3, 6)])
  return np.stack(poses)


def np_root_errors(pred, target, root=0):
  if root is not None:
    pred, target = pred - pred[:, root:root + 1], target - target[:, root:root + 1]
  return 1000 * np.sqrt(np.sum((pred - target) ** 2, axis=-1))


def np_scale_errors(pred, target, mask):
  p, t = pred - pred[:, :1], target - target[:, :1]
  s = np.array([np.sum(t[b][m] * p[b][m]) / np.sum(p[b][m] ** 2) for b, m in enumerate(mask)])
  return 1000 * np.sqrt(np.sum((s[:, None, None] * p - t) ** 2, axis=-1))


def np_procrustes(pred, target, valid):
  """VideoPose3D-style similarity Procrustes of one pose, fitted on `valid` joints."""
  x, y = target[valid], pred[valid]
  mu_x, mu_y = x.mean(0), y.mean(0)
  x0, y0 = x - mu_x, y - mu_y
  norm_x, norm_y = np.linalg.norm(x0), np.linalg.norm(y0)
  u, s, vt = np.linalg.svd((x0 / norm_x).T @ (y0 / norm_y))
  v = vt.T
  sign = np.sign(np.linalg.det(v @ u.T))
  v[:, -1] *= sign
  s[-1] *= sign
  rot = v @ u.T
  a = s.sum() * norm_x / norm_y
  return a * (pred - mu_y) @ rot + mu_x


def np_pa_errors(pred, target, mask):
  aligned = np.stack([np_procrustes(p, t, m) for p, t, m in zip(pred, target, mask)])
  return 1000 * np.sqrt(np.sum((aligned - target) ** 2, axis=-1))


def np_reduce(values, mask, reduction):
  w = mask.astype(np.float64)
  if reduction == "mean":
    return np.sum(values * w) / np.sum(w)
  axis = 1 if reduction == "none" else 0
  return np.sum(values * w, axis=axis) / np.sum(w, axis=axis)


def np_ordinal(depth, relations, mask, tol):
  """Per-example (correct, annotated, wrong, strict) counts, pair by pair."""
  counts = np.zeros((len(depth), 4))
  for b, (z, rels, ms) in enumerate(zip(depth, relations, mask)):
    for (i, j, r), m in zip(rels, ms):
      if not m:
        continue
      pred_r = 1 if z[i] < z[j] - tol else (-1 if z[i] > z[j] + tol else 0)
      counts[b] += [pred_r == r, 1, r != 0 and pred_r == -r, r != 0]
  return counts


def random_data(rng, batch=6, masked=False):
  target = pose_batch(rng, batch)
  pred = target + rng.normal(scale=0.08, size=target.shape)
  mask = rng.random((batch, J)) > 0.3 if masked else np.ones((batch, J), bool)
  mask[:, :5] = True  # every example keeps at least 5 joints (a fittable Procrustes)
  return pred, target, mask


def random_relations(rng, batch, pairs=12):
  i = rng.integers(0, J, size=(batch, pairs))
  j = (i + rng.integers(1, J, size=(batch, pairs))) % J
  r = rng.integers(-1, 2, size=(batch, pairs))
  return np.stack([i, j, r], -1).astype(np.int8), rng.random((batch, pairs)) > 0.25


# ---------------------------------------------------------------- golden tests


REFERENCES = {
    "mpjpe": lambda p, t, m: np_root_errors(p, t),
    "n_mpjpe": np_scale_errors,
    "pa_mpjpe": np_pa_errors,
    "pck3d": lambda p, t, m: (np_root_errors(p, t) < 150.0).astype(float),
    "auc": lambda p, t, m: np.mean(np_root_errors(p, t)[..., None] < AUC_T, -1),
}


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none", "joint"])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_golden_vs_numpy_float64(x64, rng, name, reduction, masked):
  pred, target, mask = random_data(rng, masked=masked)
  got = getattr(metrics, name)(pred, target, mask=mask if masked else None,
                               reduction=reduction)
  want = np_reduce(REFERENCES[name](pred, target, mask), mask, reduction)
  np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_inputs_match_reference(rng, name):
  pred, target, mask = random_data(rng)
  got = getattr(metrics, name)(pred.astype(np.float32), target.astype(np.float32),
                               reduction="none")
  assert got.dtype == np.float32 and got.shape == (6,)
  np.testing.assert_allclose(got, np_reduce(REFERENCES[name](pred, target, mask), mask, "none"),
                             rtol=1e-4, atol=1e-2)


def test_root_none_compares_poses_as_given(x64, rng):
  pred, target, mask = random_data(rng)
  np.testing.assert_allclose(metrics.mpjpe(pred, target, root=None),
                             np.mean(np_root_errors(pred, target, root=None)), rtol=1e-12)
  np.testing.assert_allclose(metrics.mpjpe(pred, target, root=3),
                             np.mean(np_root_errors(pred, target, root=3)), rtol=1e-12)


def test_pck_and_auc_with_other_thresholds_and_alignment(x64, rng):
  pred, target, mask = random_data(rng)
  pa = np_pa_errors(pred, target, mask)
  np.testing.assert_allclose(
      metrics.pck3d(pred, target, threshold_mm=50.0, alignment="procrustes"),
      np.mean(pa < 50.0), rtol=1e-12)
  np.testing.assert_allclose(
      metrics.auc(pred, target, thresholds_mm=[20.0, 80.0], alignment="scale"),
      np.mean([np.mean(np_scale_errors(pred, target, mask) < t) for t in (20.0, 80.0)]),
      rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("tol", [0.0, 0.05])
def test_ordinal_golden_vs_numpy(rng, reduction, tol):
  depth = np.round(rng.normal(size=(5, J)), 1)  # rounding makes exact ties happen
  relations, mask = random_relations(rng, 5)
  counts = np_ordinal(depth, relations, mask, tol)
  acc = metrics.ordinal_accuracy(depth, relations, mask, tol=tol, reduction=reduction)
  wrong = metrics.wrongly_ordered_fraction(depth, relations, mask, tol=tol,
                                           reduction=reduction)
  if reduction == "mean":
    counts = counts.sum(0, keepdims=True)
  np.testing.assert_allclose(np.reshape(acc, -1), counts[:, 0] / counts[:, 1], rtol=1e-6)
  np.testing.assert_allclose(np.reshape(wrong, -1), counts[:, 2] / counts[:, 3], rtol=1e-6)


# ---------------------------------------------------------------- hand-made cases


def test_identical_poses(rng):
  pose = pose_batch(rng, 3)
  for fn in (metrics.mpjpe, metrics.n_mpjpe, metrics.pa_mpjpe):
    np.testing.assert_allclose(fn(pose, pose, reduction="none"), 0.0, atol=1e-3)
  assert float(metrics.pck3d(pose, pose)) == 1.0
  # The strict "error < threshold" of the MPI-INF-3DHP code fails at 0 mm: 30 of 31.
  np.testing.assert_allclose(metrics.auc(pose, pose), 30 / 31, rtol=1e-6)


def test_translated_pred_has_zero_mpjpe(rng):
  target = pose_batch(rng, 3)
  pred = target + np.array([0.5, -0.2, 1.5])
  np.testing.assert_allclose(metrics.mpjpe(pred, target, reduction="none"), 0.0, atol=1e-3)
  assert float(metrics.mpjpe(pred, target, root=None)) == pytest.approx(
      1000 * np.linalg.norm([0.5, -0.2, 1.5]), rel=1e-5)


def test_one_displaced_joint_gives_known_mpjpe(rng):
  target = pose_batch(rng, 1)
  pred = target.copy()
  pred[0, 13] += [0.0, 0.0, 0.034]  # 34 mm on the left wrist
  assert float(metrics.mpjpe(pred, target)) == pytest.approx(34 / J, rel=1e-5)
  np.testing.assert_allclose(metrics.mpjpe(pred, target, reduction="joint"),
                             np.eye(J)[13] * 34, atol=1e-3)
  assert float(metrics.pck3d(pred, target, threshold_mm=30.0)) == pytest.approx(16 / J)


def test_scaled_pred_has_zero_n_mpjpe(rng):
  target = pose_batch(rng, 3)
  pred = 0.7 * target + np.array([0.1, 0.0, -0.3])
  np.testing.assert_allclose(metrics.n_mpjpe(pred, target, reduction="none"), 0.0, atol=1e-3)
  assert float(metrics.mpjpe(pred, target)) > 50.0


def test_similarity_transformed_pred_has_zero_pa_mpjpe(rng):
  target = pose_batch(rng, 3)
  pred = 1.3 * target @ random_rotation(rng).T + np.array([0.4, -1.0, 2.0])
  np.testing.assert_allclose(metrics.pa_mpjpe(pred, target, reduction="none"), 0.0,
                             atol=1e-2)
  assert float(metrics.n_mpjpe(pred, target)) > 50.0


def test_mirrored_pose_is_not_aligned_away(x64, rng):
  target = pose_batch(rng, 2)
  pred = target * np.array([-1.0, 1.0, 1.0])  # a reflection, not a rotation
  got = metrics.pa_mpjpe(pred, target, reduction="none")
  np.testing.assert_allclose(got, np.mean(np_pa_errors(pred, target, np.ones((2, J), bool)),
                                          axis=1), rtol=1e-9)
  assert np.all(got > 10.0)


def test_mask_excludes_joints_from_fit_and_mean(x64, rng):
  target = pose_batch(rng, 1)
  pred = target.copy()
  pred[0, 16] += 5.0  # a wild wrist, masked out
  mask = np.ones((1, J), bool)
  mask[0, 16] = False
  for fn in (metrics.mpjpe, metrics.n_mpjpe, metrics.pa_mpjpe):
    assert float(fn(pred, target, mask=mask)) == pytest.approx(0.0, abs=1e-6)
  # A fully masked example and a never-valid joint reduce to 0 rather than NaN.
  empty = np.zeros((1, J), bool)
  for fn in (metrics.mpjpe, metrics.n_mpjpe, metrics.pa_mpjpe):
    np.testing.assert_array_equal(fn(pred, target, mask=empty, reduction="none"), [0.0])
  np.testing.assert_array_equal(metrics.mpjpe(pred, target, mask=~mask, reduction="joint")[:16],
                                0.0)


def test_ordinal_hand_case_and_tie_scoring():
  depth = np.array([[1.0, 2.0, 2.0]])
  relations = np.array([[[0, 1, 1],     # 0 closer: right
                         [1, 0, 1],     # 1 closer: opposite -> wrong
                         [1, 2, 0],     # tie label, equal depths: right at tol 0
                         [0, 2, -1],    # 2 closer: opposite -> wrong
                         [0, 1, 0],     # tie label, 1 m apart: not right, not "wrong order"
                         [9, 9, 7]]],   # padding (masked, never validated)
                       np.int8)
  mask = np.array([[True] * 5 + [False]])
  assert float(metrics.ordinal_accuracy(depth, relations, mask)) == pytest.approx(2 / 5)
  assert float(metrics.wrongly_ordered_fraction(depth, relations, mask)) == pytest.approx(2 / 3)
  # With a 1.5 m tie band every prediction is a tie: only tie labels are right, none wrong.
  assert float(metrics.ordinal_accuracy(depth, relations, mask, tol=1.5)) == pytest.approx(2 / 5)
  assert float(metrics.wrongly_ordered_fraction(depth, relations, mask, tol=1.5)) == 0.0


def test_jit(rng):
  pred, target, mask = random_data(rng, masked=True)
  depth = rng.normal(size=(6, J))
  relations, rmask = random_relations(rng, 6)

  def everything(pred, target, mask, depth, relations, rmask):
    poses = [getattr(metrics, n)(pred, target, mask=mask, reduction="none") for n in REFERENCES]
    return poses + [metrics.ordinal_accuracy(depth, relations, rmask),
                    metrics.wrongly_ordered_fraction(depth, relations, rmask, tol=0.1)]

  args = (pred, target, mask, depth, relations, rmask)
  for got, want in zip(jax.jit(everything)(*args), everything(*args)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------- properties


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.2, 5.0),
                  shift=st.floats(-5.0, 5.0))
def test_pa_mpjpe_invariant_to_similarity_of_pred(seed, scale, shift):
  rng = np.random.default_rng(seed)
  pred, target, _ = random_data(rng, batch=2)
  moved = scale * pred @ random_rotation(rng).T + shift * rng.normal(size=3)
  with jax.enable_x64(True):
    np.testing.assert_allclose(metrics.pa_mpjpe(moved, target, reduction="none"),
                               metrics.pa_mpjpe(pred, target, reduction="none"),
                               rtol=1e-7, atol=1e-7)


def rms_by_example(pred, target, alignment, mask=None):
  errors = np.asarray(metrics.joint_errors(pred, target, alignment=alignment, mask=mask))
  w = np.ones(errors.shape) if mask is None else mask
  return np.sqrt(np.sum(w * errors ** 2, axis=1) / np.sum(w, axis=1))


# Procrustes and the N-MPJPE scale minimise the SUM OF SQUARED errors, and each fit's
# family contains the next one's (a similarity includes "scale about the root", which
# includes the identity), so the inequality MPJPE >= N-MPJPE >= PA-MPJPE is guaranteed
# only for the root-mean-square form of the metrics. The standard metrics average
# Euclidean norms (not squares), and an adversarial pose (one huge outlier joint) can
# make e.g. PA-MPJPE > N-MPJPE. So: exact for RMS on arbitrary data, and for the
# standard metrics on pose-like data (a realistic pose, a systematic error, modest noise).
@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**32 - 1), masked=st.booleans())
def test_rms_errors_ordered_on_arbitrary_data(seed, masked):
  rng = np.random.default_rng(seed)
  pred = rng.standard_cauchy(size=(3, J, 3))  # heavy tails: outliers
  target = rng.normal(size=(3, J, 3))
  mask = (rng.random((3, J)) > 0.4) | (np.arange(J) < 4) if masked else None
  with jax.enable_x64(True):
    rms = [rms_by_example(pred, target, a, mask) for a in ("root", "scale", "procrustes")]
  tol = 1e-9 * (1 + rms[0])
  assert np.all(rms[0] + tol >= rms[1]) and np.all(rms[1] + tol >= rms[2])


def distorted(rng, target):
  """A typical bad prediction: wrong scale (15-30 %), turned 5-15 degrees, 15 mm noise."""
  batch = len(target)
  axis = rng.normal(size=(batch, 3))
  axis /= np.linalg.norm(axis, axis=1, keepdims=True)
  angle = np.deg2rad(rng.uniform(5, 15, (batch, 1, 1)))
  k = np.cross(axis[:, None, :], np.eye(3)[None]).transpose(0, 2, 1)  # cross-product matrix
  rot = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k  # Rodrigues
  scale = 1 + rng.choice([-1, 1], (batch, 1, 1)) * rng.uniform(0.15, 0.3, (batch, 1, 1))
  centred = target - target[:, :1]
  pred = scale * centred @ rot.transpose(0, 2, 1) + target[:, :1]
  return pred + rng.normal(scale=0.015, size=pred.shape)


@hypothesis.settings(max_examples=30, deadline=None)
@hypothesis.given(seed=st.integers(0, 2**32 - 1))
def test_standard_errors_ordered_on_pose_like_data(seed):
  rng = np.random.default_rng(seed)
  target = pose_batch(rng, 4)
  pred = distorted(rng, target)
  m, n, pa = (metrics.mpjpe(pred, target, reduction="none"),
              metrics.n_mpjpe(pred, target, reduction="none"),
              metrics.pa_mpjpe(pred, target, reduction="none"))
  assert np.all(m >= n) and np.all(n >= pa)


# ---------------------------------------------------------------- aggregation


def test_mean_over_actions_differs_from_plain_mean_for_unequal_counts():
  values, actions = [10.0, 10.0, 10.0, 40.0], ["walk", "walk", "walk", "sit"]
  assert metrics.per_action_means(values, actions) == {"sit": 40.0, "walk": 10.0}
  assert metrics.mean_over_actions(values, actions) == pytest.approx(25.0)
  assert np.mean(values) == pytest.approx(17.5)
  # Weights (valid joints per example) weight examples within an action only.
  weighted = metrics.per_action_means(values, actions, weights=[1, 1, 1, 0])
  assert weighted["walk"] == 10.0 and np.isnan(weighted["sit"])
  assert metrics.mean_over_actions(values, actions, weights=[1, 1, 1, 0]) == 10.0


def test_accumulator_per_action_numbers(rng):
  target = pose_batch(rng, 4)
  offsets = np.array([10.0, 10.0, 10.0, 40.0]) / 1000  # every non-root joint moves this far
  pred = target + offsets[:, None, None] * (np.arange(J) > 0)[None, :, None] * [1, 0, 0]
  acc = metrics.MetricAccumulator()
  acc.update(pred[:3], target[:3], actions=["walk"] * 3)
  acc.update(pred[3:], target[3:], actions=["sit"])
  out = acc.result()
  k = (J - 1) / J  # the root's error is 0
  assert out["num_examples"] == 4 and len(acc) == 4
  assert out["per_action"]["walk"]["mpjpe"] == pytest.approx(10 * k, rel=1e-4)
  assert out["per_action"]["sit"]["mpjpe"] == pytest.approx(40 * k, rel=1e-4)
  assert out["action_mean"]["mpjpe"] == pytest.approx(25 * k, rel=1e-4)
  assert out["overall"]["mpjpe"] == pytest.approx(17.5 * k, rel=1e-4)
  assert out["per_joint"]["mpjpe"]["pelvis"] == pytest.approx(0.0, abs=1e-3)
  assert out["per_joint"]["mpjpe"]["head"] == pytest.approx(17.5, rel=1e-4)
  assert "ordinal_accuracy" not in out["overall"]


def test_accumulator_streaming_equals_one_shot(rng):
  pred, target, mask = random_data(rng, batch=8, masked=True)
  relations, rmask = random_relations(rng, 8)
  actions = ["a", "b", "b", "c", "a", "b", "c", "a"]
  streamed, whole = metrics.MetricAccumulator(), metrics.MetricAccumulator()
  for lo, hi in ((0, 3), (3, 8)):
    streamed.update(pred[lo:hi], target[lo:hi], actions=actions[lo:hi], mask=mask[lo:hi],
                    relations=relations[lo:hi], relation_mask=rmask[lo:hi])
  whole.update(pred, target, actions=actions, mask=mask, relations=relations,
               relation_mask=rmask)
  got, want = streamed.result(), whole.result()
  assert got.keys() == want.keys() and got["per_action"].keys() == {"a", "b", "c"}
  for section in ("overall", "action_mean"):
    for m, v in want[section].items():
      assert got[section][m] == pytest.approx(v, rel=1e-6)
  # ...and both equal the one-shot array functions.
  for name in REFERENCES:
    fn = getattr(metrics, name)
    assert got["overall"][name] == pytest.approx(float(fn(pred, target, mask=mask)), rel=1e-5)
    np.testing.assert_allclose(list(got["per_joint"][name].values()),
                               fn(pred, target, mask=mask, reduction="joint"), rtol=1e-5)
    sel = np.array(actions) == "b"
    assert got["per_action"]["b"][name] == pytest.approx(
        float(fn(pred[sel], target[sel], mask=mask[sel])), rel=1e-5)
  depth = pred[..., 2]
  assert got["overall"]["ordinal_accuracy"] == pytest.approx(
      float(metrics.ordinal_accuracy(depth, relations, rmask)), rel=1e-6)
  assert got["overall"]["wrongly_ordered_fraction"] == pytest.approx(
      float(metrics.wrongly_ordered_fraction(depth, relations, rmask)), rel=1e-6)
  per_action = [got["per_action"][a]["ordinal_accuracy"] for a in "abc"]
  assert got["action_mean"]["ordinal_accuracy"] == pytest.approx(np.mean(per_action))


def test_ordinal_scores_without_annotated_pairs_are_nan():
  """No annotated pair: nothing to score, NaN (not an accuracy of 0); the aggregators skip
  NaN, so examples without pairs do not pull an action's mean down."""
  depth = np.tile(np.arange(J, dtype=float), (3, 1))  # joint 0 closest
  relations = np.array([[[0, 5, 1], [5, 0, 1]]] * 3, np.int8)
  none = np.zeros((3, 2), bool)
  for fn in (metrics.ordinal_accuracy, metrics.wrongly_ordered_fraction):
    assert np.isnan(float(fn(depth, relations, none)))
    assert np.isnan(float(jax.jit(fn)(depth, relations, none)))
  mask = np.array([[True, False], [False, False], [True, True]])
  per_example = metrics.ordinal_accuracy(depth, relations, mask, reduction="none")
  np.testing.assert_array_equal(per_example, [1.0, np.nan, 0.5])
  assert float(metrics.ordinal_accuracy(depth, relations, mask)) == pytest.approx(2 / 3)
  assert metrics.per_action_means(per_example, ["a", "a", "b"]) == {"a": 1.0, "b": 0.5}
  assert metrics.mean_over_actions(per_example, ["a", "a", "b"]) == 0.75
  means = metrics.per_action_means(per_example, ["a", "c", "b"], weights=mask.sum(axis=1))
  assert means["a"] == 1.0 and np.isnan(means["c"])
  acc = metrics.MetricAccumulator()
  acc.update(np.zeros((3, J, 3)), np.zeros((3, J, 3)), actions=["a", "c", "b"], depth=depth,
             relations=relations, relation_mask=mask)
  out = acc.result()
  assert np.isnan(out["per_action"]["c"]["ordinal_accuracy"])
  assert out["action_mean"]["ordinal_accuracy"] == 0.75
  assert out["overall"]["ordinal_accuracy"] == pytest.approx(2 / 3)


def test_accumulator_scores_explicit_depth(rng):
  pred, target, _ = random_data(rng, batch=2)
  depth = np.tile(np.arange(J, dtype=float), (2, 1))  # joint 0 closest
  relations = np.array([[[0, 5, 1], [5, 0, 1]]] * 2, np.int8)
  acc = metrics.MetricAccumulator()
  acc.update(pred, target, actions=["x", "y"], depth=depth, relations=relations)
  out = acc.result()
  assert out["overall"]["ordinal_accuracy"] == 0.5
  assert out["per_action"]["y"]["wrongly_ordered_fraction"] == 0.5


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("arg", ["pred", "target"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_poses_raise(rng, arg, bad):
  pred, target, _ = random_data(rng, batch=2)
  (pred if arg == "pred" else target)[1, 4, 2] = bad
  for name in REFERENCES:
    with pytest.raises(ValueError, match=arg):
      getattr(metrics, name)(pred, target)
  with pytest.raises(ValueError, match=arg):
    metrics.MetricAccumulator().update(pred, target, actions=["a", "b"])


def test_bad_shapes_raise(rng):
  pred, target, mask = random_data(rng, batch=2)
  with pytest.raises(ValueError, match="target"):
    metrics.mpjpe(pred, target[:, :16])
  with pytest.raises(ValueError, match="pred"):
    metrics.pa_mpjpe(pred[0], target[0])
  with pytest.raises(ValueError, match="mask"):
    metrics.n_mpjpe(pred, target, mask=mask[:, :5])
  with pytest.raises(ValueError, match="root"):
    metrics.mpjpe(pred, target, root=J)
  with pytest.raises(ValueError, match="reduction"):
    metrics.pck3d(pred, target, reduction="sum")
  with pytest.raises(ValueError, match="alignment"):
    metrics.auc(pred, target, alignment="rigid")
  with pytest.raises(ValueError, match="thresholds_mm"):
    metrics.auc(pred, target, thresholds_mm=[[50.0]])


def test_bad_ordinal_input_raises(rng):
  depth = rng.normal(size=(2, J))
  relations, mask = random_relations(rng, 2, pairs=4)
  mask[:] = True
  bad_label, bad_index = relations.copy(), relations.copy()
  bad_label[0, 1, 2], bad_index[1, 0, 1] = 2, J
  for rel in (bad_label, bad_index):
    with pytest.raises(ValueError, match="relations"):
      metrics.ordinal_accuracy(depth, rel, mask)
    with pytest.raises(ValueError, match="relations"):
      metrics.wrongly_ordered_fraction(depth, rel, mask)
  with pytest.raises(ValueError, match="relations"):
    metrics.ordinal_accuracy(depth, relations[..., :2])
  with pytest.raises(ValueError, match="mask"):
    metrics.ordinal_accuracy(depth, relations, mask[:, :3])
  depth[0, 3] = np.nan
  with pytest.raises(ValueError, match="depth"):
    metrics.ordinal_accuracy(depth, relations, mask)
  with pytest.raises(ValueError, match="reduction"):
    metrics.ordinal_accuracy(np.zeros((2, J)), relations, mask, reduction="joint")
  with pytest.raises(ValueError, match="tol"):
    metrics.wrongly_ordered_fraction(np.zeros((2, J)), relations, mask, tol=-0.1)


def test_bad_accumulator_use_raises(rng):
  pred, target, _ = random_data(rng, batch=2)
  acc = metrics.MetricAccumulator()
  with pytest.raises(ValueError, match="update"):
    acc.result()
  with pytest.raises(ValueError, match="actions"):
    acc.update(pred, target, actions=["a"])
  with pytest.raises(ValueError, match="actions"):
    acc.update(pred, target, actions="ab")
  with pytest.raises(ValueError, match="relations"):
    acc.update(pred, target, actions=["a", "b"], depth=pred[..., 2])
  with pytest.raises(ValueError, match="joint"):
    metrics.MetricAccumulator(joint_names=["a", "b"]).update(pred, target, actions=["a", "b"])
  bad = np.zeros((2, 1, 3), np.int8)
  bad[..., 2] = 5
  with pytest.raises(ValueError, match="relations"):
    acc.update(pred, target, actions=["a", "b"], relations=bad)
  assert len(acc) == 0  # failed updates leave the accumulator unchanged
  with pytest.raises(ValueError, match="actions"):
    metrics.per_action_means([1.0, 2.0], ["a"])
