"""Tests for jaxpose.losses: gradients, batching, masking, shapes, NumPy goldens, stability."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

from jaxpose import losses, skeleton

B, J = 3, 17
BONES = skeleton.H36M17.bones  # (child, parent), K = 16.


def _relations(rng, b=B, p=12, num_joints=J):
  i = rng.integers(0, num_joints, (b, p))
  j = (i + rng.integers(1, num_joints, (b, p))) % num_joints
  rel = np.stack([i, j, rng.integers(-1, 2, (b, p))], -1).astype(np.int8)
  mask = rng.random((b, p)) < 0.7
  mask[-1] = False  # An example without any annotated pair.
  return rel, mask


def _unreferenced(rel, mask, num_joints=J):
  """bool [B, J]: joints that no unmasked pair of their example mentions."""
  out = np.ones((rel.shape[0], num_joints), bool)
  for b, p in zip(*np.nonzero(mask)):
    out[b, rel[b, p, :2]] = False
  return out


def _joint_mask(rng, b=B, num_joints=J):
  mask = rng.random((b, num_joints)) < 0.8
  mask[-1] = False
  return mask


def _np_bones(pose):
  """[B, J, 3] -> parent - child vectors [B, K, 3]."""
  return pose[:, BONES[:, 1]] - pose[:, BONES[:, 0]]


@pytest.fixture(autouse=True, scope="module")
def fast_compile():
  """These tests are compile-bound (tiny programs): skip XLA's optimisation passes."""
  before = jax.config.read("jax_disable_most_optimizations")
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", before)


def _jit(fn, **static):
  """`fn` jitted over its (array) keyword arguments, with `static` closed over."""
  return jax.jit(lambda **arrays: fn(**arrays, **static))


def _split(kw):
  """kwargs -> (NumPy array arguments, everything else)."""
  arrays = {n: v for n, v in kw.items() if isinstance(v, np.ndarray)}
  return arrays, {n: v for n, v in kw.items() if n not in arrays}


def _key(static):
  return tuple(sorted(static.items()))


@functools.cache
def _compiled(fn, static_key, reduction):
  return jax.jit(lambda arrays: fn(**arrays, **dict(static_key), reduction=reduction))


class _LossTest:
  """Tests every loss gets; subclasses set the loss, its inputs and a NumPy golden."""
  fn = None
  diff: tuple = ()  # Names of the differentiable arguments.
  bad: dict = {}  # Argument -> transform giving it a wrong shape.
  unbatched: tuple = ()  # Array arguments without a batch dimension.
  grad_eps = None  # check_grads' finite-difference step (None: its default, 1e-4).

  def make(self, rng):
    raise NotImplementedError

  def reference(self, kw):
    """float64 per-example values [B] and bool [B] (example has an unmasked term)."""
    raise NotImplementedError

  def masked(self, kw):
    """Argument -> bool array (broadcastable to it) of entries that must not matter."""
    raise NotImplementedError

  def batched_kwargs(self, kw):
    return kw

  def _loss(self, kw, reduction=True):
    """The loss jitted over the array arguments of `kw` (one compile per class)."""
    arrays, static = _split(kw)
    return lambda **over: _compiled(type(self).fn, _key(static), reduction)(
        {**arrays, **over})

  def test_check_grads(self, x64, rng):
    kw = self.make(rng)
    f = jax.jit(lambda *xs: type(self).fn(**{**kw, **dict(zip(self.diff, xs))}))
    check_grads(f, [jnp.asarray(kw[n]) for n in self.diff], order=2, modes=("fwd", "rev"),
                eps=self.grad_eps)

  def test_golden(self, x64, rng):
    kw = self.make(rng)
    ref, valid = self.reference(kw)
    per = self._loss(kw, reduction=False)()
    assert per.shape == (B,) and per.dtype == jnp.float64
    np.testing.assert_allclose(per, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(self._loss(kw)(), ref[valid].mean(), rtol=1e-9)

  def test_batched(self, x64, rng):
    kw = self.batched_kwargs(self.make(rng))
    arrays, static = _split(kw)
    batched = {n: v for n, v in arrays.items() if n not in self.unbatched}
    shared = {n: v for n, v in arrays.items() if n in self.unbatched}
    one = lambda ex, sh: type(self).fn(**jax.tree.map(lambda v: v[None], ex), **sh, **static,
                                       reduction=False)[0]
    vmapped = jax.jit(jax.vmap(one, in_axes=(0, None)))(batched, shared)
    np.testing.assert_allclose(self._loss(kw, reduction=False)(), vmapped, rtol=1e-12)

  def test_masked(self, x64, rng):
    kw = self.make(rng)
    f = self._loss(kw, reduction=False)
    base = f()
    for name, m in self.masked(kw).items():
      m = np.broadcast_to(m, kw[name].shape)
      assert m.any() and not m.all()
      noise = rng.normal(size=m.shape) * 10.0
      np.testing.assert_allclose(f(**{name: kw[name] + np.where(m, noise, 0.0)}), base,
                                 rtol=1e-12, err_msg=name)
      assert not np.allclose(f(**{name: kw[name] + np.where(m, 0.0, noise)}), base), name
    arrays, static = _split(kw)
    diff = {n: arrays.pop(n) for n in self.diff}
    loss = lambda d, rest: type(self).fn(**d, **rest, **static)
    grads = jax.jit(jax.grad(loss))(diff, arrays)
    for name, m in self.masked(kw).items():
      if name in grads:
        g = np.asarray(grads[name])
        assert np.all(np.isfinite(g)) and np.all(g[np.broadcast_to(m, g.shape)] == 0.0), name

  def test_shape_mismatch(self, rng):
    kw = self.make(rng)
    assert self.bad
    for name, transform in self.bad.items():
      with pytest.raises(ValueError, match=f"^{name}: expected"):
        type(self).fn(**{**kw, name: transform(kw[name])})


# -------------------------------------------------------------- ordinal ranking ---


def _np_ranking(depth, rel, mask, scale=1.0):
  per = np.zeros(depth.shape[0])
  for b, p in zip(*np.nonzero(mask)):
    i, j, r = (int(v) for v in rel[b, p])
    dz = scale * (depth[b, i] - depth[b, j])
    per[b] += dz * dz if r == 0 else math.log1p(math.exp(r * dz))
  return per, mask.any(axis=1)


_swap_loss = _jit(losses.ranking_loss, reduction=False)


class TestRankingLoss(_LossTest):
  fn = staticmethod(losses.ranking_loss)
  diff = ("depth",)
  bad = {"depth": lambda x: x[:, :-1, None], "relations": lambda x: x[..., :2],
         "mask": lambda x: x[:, :-1]}

  def make(self, rng):
    rel, mask = _relations(rng)
    return dict(depth=rng.normal(size=(B, J)) * 0.5, relations=rel, mask=mask)

  def reference(self, kw):
    return _np_ranking(kw["depth"], kw["relations"], kw["mask"])

  def masked(self, kw):
    return {"depth": _unreferenced(kw["relations"], kw["mask"])}

  def test_sign_hand_made(self):
    loss = _jit(losses.ranking_loss, relations=np.array([[[0, 1, 1]]], np.int8))
    closer = loss(depth=jnp.array([[2.0, 2.3]]))  # Joint 0 is 0.3 m closer: agrees.
    reversed_ = loss(depth=jnp.array([[2.3, 2.0]]))
    assert closer < math.log(2) < reversed_

  def test_stable_at_huge_differences(self):
    rel = np.array([[[0, 1, 1], [0, 1, -1], [0, 1, 0]]], np.int8)
    depth = jnp.array([[1e4, -1e4]], jnp.float32)
    per, g = jax.jit(jax.value_and_grad(lambda d: losses.ranking_loss(
        depth=d, relations=rel, mask=np.array([[1, 1, 0]], bool))))(depth)
    np.testing.assert_allclose(per, 2e4, rtol=1e-6)
    np.testing.assert_allclose(g, [[1.0, -1.0]])  # Saturated sigmoid, no NaN.
    g = jax.jit(jax.grad(lambda d: losses.ranking_loss(depth=d, relations=rel)))(depth)
    assert np.all(np.isfinite(g)) and np.all(np.abs(g) < 1e5)

  def test_masked_padding_is_not_validated(self):
    rel = np.array([[[0, 1, 1], [0, 99, 7]]], np.int8)
    depth = jnp.array([[0.0, 1.0]])
    out = losses.ranking_loss(depth=depth, relations=rel, mask=np.array([[True, False]]))
    np.testing.assert_allclose(out, math.log1p(math.exp(-1.0)), rtol=1e-6)

  def test_bad_labels_and_indices(self):
    depth = jnp.zeros((1, 4))
    with pytest.raises(ValueError, match=r"^relations: relation labels must be in"):
      losses.ranking_loss(depth=depth, relations=np.array([[[0, 1, 2]]], np.int8))
    with pytest.raises(ValueError, match=r"^relations: joint indices must be in \[0, 4\)"):
      losses.ranking_loss(depth=depth, relations=np.array([[[0, 4, 1]]], np.int8))
    with pytest.raises(ValueError, match=r"^depth: expected finite values"):
      losses.ranking_loss(depth=depth.at[0, 0].set(jnp.nan),
                          relations=np.array([[[0, 1, 1]]], np.int8))

  @settings(max_examples=30, deadline=None)
  @given(seed=st.integers(0, 2**32 - 1), spread=st.sampled_from([1e-3, 1.0, 1e3]))
  def test_swap_invariance(self, seed, spread):
    rng = np.random.default_rng(seed)
    pairs = 24  # Fixed so that the loss compiles once.
    rel, _ = _relations(rng, b=2, p=pairs)
    mask = rng.random((2, pairs)) < 0.8
    depth = jnp.asarray(rng.normal(size=(2, J)) * spread, jnp.float32)
    swap = rng.random((2, pairs)) < 0.5
    flipped = np.where(swap[..., None], rel[..., [1, 0, 2]] * np.array([1, 1, -1], np.int8),
                       rel).astype(np.int8)
    np.testing.assert_array_equal(_swap_loss(depth=depth, relations=rel, mask=mask),
                                  _swap_loss(depth=depth, relations=flipped, mask=mask))


class TestRelativeDepthLoss(_LossTest):
  fn = staticmethod(losses.relative_depth_loss)
  diff = ("depth",)
  bad = {"depth": lambda x: x[:, :-1, None], "relations": lambda x: x[:, :, :2],
         "mask": lambda x: x[:-1]}

  def make(self, rng):
    rel, mask = _relations(rng)
    return dict(depth=rng.normal(size=(B, J)) * 0.5, relations=rel, mask=mask)

  def reference(self, kw):
    d, rel, mask = kw["depth"], kw["relations"], kw["mask"]
    b, p = np.nonzero(mask)
    mean = np.mean(np.abs(d[b, rel[b, p, 0]] - d[b, rel[b, p, 1]]))
    return _np_ranking(d, rel, mask, scale=2.5 / (mean + 1e-4))

  def masked(self, kw):
    return {"depth": _unreferenced(kw["relations"], kw["mask"])}

  unbatched = ("normalizer",)

  def batched_kwargs(self, kw):
    return {**kw, "normalizer": np.asarray(losses.relative_depth_normalizer(**kw))}

  def test_shape_mismatch(self, rng):
    kw = self.make(rng)
    with pytest.raises(ValueError, match="^normalizer: expected shape"):
      losses.relative_depth_loss(**kw, normalizer=np.ones(2))
    super().test_shape_mismatch(rng)

  def test_gradient_is_scale_invariant(self, x64, rng):
    """No stop-gradient on the normaliser: rescaling all depths is a flat direction."""
    kw = self.make(rng)
    depth = jnp.asarray(kw.pop("depth"))
    g = jax.jit(jax.grad(lambda d: losses.relative_depth_loss(depth=d, eps=0.0, **kw)))(depth)
    assert abs(float(jnp.vdot(g, depth))) < 1e-10 * float(jnp.vdot(g, g)) ** 0.5 + 1e-12
    assert float(jnp.vdot(g, g)) > 1e-6

  def test_stable_at_huge_and_tiny_depths(self):
    rel = np.array([[[0, 1, 1], [1, 2, 0]], [[2, 0, -1], [0, 1, 1]]], np.int8)
    f = jax.jit(jax.value_and_grad(
        lambda d: losses.relative_depth_loss(depth=d, relations=rel)))
    for scale in (1e4, 1e-6, 0.0):
      val, g = f(jnp.asarray(np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -3.0]]) * scale,
                             jnp.float32))
      assert np.isfinite(val) and np.all(np.isfinite(g)), scale

  def test_sign_convention(self):
    loss = _jit(losses.relative_depth_loss, relations=np.array([[[0, 1, 1]], [[2, 3, 1]]],
                                                               np.int8))
    good = loss(depth=jnp.array([[1.0, 1.3, 1.0, 1.2]] * 2))
    bad = loss(depth=jnp.array([[1.3, 1.0, 1.2, 1.0]] * 2))
    assert good < math.log(2) < bad


def _ranknet_inputs(rng, b=B, num_joints=J):
  target = rng.choice([0.0, 0.5, 1.0], size=(b, num_joints, num_joints))
  mask = rng.random((b, num_joints, num_joints)) < 0.8
  mask[0, :3, :] = mask[0, :, :3] = False  # Joints 0-2 of example 0 unsupervised.
  mask[-1] = False
  return dict(features=rng.normal(size=(b, num_joints)), target=target, mask=mask)


class TestRanknetLoss(_LossTest):
  fn = staticmethod(losses.ranknet_loss)
  diff = ("features",)
  bad = {"features": lambda x: x[:, :, None], "target": lambda x: x[:, :, :-1],
         "mask": lambda x: x[:, :-1]}

  def make(self, rng):
    return _ranknet_inputs(rng)

  def reference(self, kw):
    f, t, m = kw["features"], kw["target"], kw["mask"]
    per = np.zeros(B)
    valid = np.zeros(B, bool)
    for b in range(B):
      for i in range(J):
        for j in range(J):
          if i != j and m[b, i, j]:
            fij = f[b, i] - f[b, j]
            p = 1.0 / (1.0 + np.exp(-fij))
            per[b] += -t[b, i, j] * np.log(p) - (1 - t[b, i, j]) * np.log(1 - p)
            valid[b] = True
    return per, valid

  def masked(self, kw):
    m = kw["mask"] & ~np.eye(J, dtype=bool)
    return {"features": ~(m.any(axis=2) | m.any(axis=1))}

  def test_masked_target_is_free(self, rng):
    kw = self.make(rng)
    m = kw["mask"] & ~np.eye(J, dtype=bool)
    garbage = np.where(m, kw["target"], 7.0)
    np.testing.assert_allclose(losses.ranknet_loss(**{**kw, "target": garbage}),
                               losses.ranknet_loss(**kw), rtol=1e-6)

  def test_diagonal_excluded_and_stable(self):
    f = jnp.array([[1e4, -1e4, 0.0]], jnp.float32)
    t = jnp.array([[[0.0, 1.0, 0.5], [0.0, 1.0, 0.5], [0.5, 0.5, 0.0]]])
    # Pair (0, 1): F = 2e4, M_01 = 1 -> ~0; M_10 = 0, F_10 = -2e4 -> ~0. Rest: finite.
    loss = lambda x: losses.ranknet_loss(features=x, target=t)
    val, g = jax.jit(jax.value_and_grad(loss))(f)
    assert np.isfinite(val) and np.all(np.isfinite(g))
    np.testing.assert_allclose(val, 2 * (-0.5 * 1e4 + 1e4) + 2 * (0.5 * 1e4), rtol=1e-6)

  def test_bad_target_values(self):
    with pytest.raises(ValueError, match=r"^target: expected ranking-matrix entries"):
      losses.ranknet_loss(features=jnp.zeros((1, 2)), target=jnp.full((1, 2, 2), 2.0))


# ------------------------------------------------------------ shared L2 / heatmaps ---


class TestJointL2(_LossTest):
  fn = staticmethod(losses.joint_l2)
  diff = ("pred",)
  bad = {"pred": lambda x: x[..., None], "target": lambda x: x[..., :2],
         "mask": lambda x: x[:, :, None]}

  def make(self, rng):
    return dict(pred=rng.normal(size=(B, J, 3)), target=rng.normal(size=(B, J, 3)),
                mask=_joint_mask(rng))

  def reference(self, kw):
    sq = np.sum((kw["pred"] - kw["target"]) ** 2, axis=-1) * kw["mask"]
    return sq.sum(axis=1), kw["mask"].any(axis=1)

  def masked(self, kw):
    return {"pred": ~kw["mask"][..., None], "target": ~kw["mask"][..., None]}

  def test_average_is_mse(self, x64, rng):
    kw = self.make(rng)
    per = self._loss({**kw, "average": True}, reduction=False)()
    for b in range(B - 1):
      m = kw["mask"][b]
      np.testing.assert_allclose(per[b], np.mean((kw["pred"][b, m] - kw["target"][b, m]) ** 2))
    assert per[-1] == 0.0

  def test_2d_keypoints(self, rng):
    pred = rng.normal(size=(2, 5, 2))
    np.testing.assert_allclose(losses.joint_l2(pred=pred, target=pred + 1.0), 10.0, rtol=1e-6)


class TestHeatmapL2(_LossTest):
  fn = staticmethod(losses.heatmap_l2)
  diff = ("pred",)
  bad = {"pred": lambda x: x[..., 0], "target": lambda x: x[:, 1:],
         "mask": lambda x: x[:, :-1]}

  def make(self, rng):
    return dict(pred=rng.random((B, 8, 6, 5)), target=rng.random((B, 8, 6, 5)),
                mask=_joint_mask(rng, num_joints=5))

  def reference(self, kw):
    sq = np.sum((kw["pred"] - kw["target"]) ** 2, axis=(1, 2)) * kw["mask"]
    return sq.sum(axis=1), kw["mask"].any(axis=1)

  def masked(self, kw):
    return {"pred": ~kw["mask"][:, None, None, :]}

  def test_average(self, rng):
    kw = self.make(rng)
    ref, _ = self.reference(kw)
    per = self._loss({**kw, "average": True}, reduction=False)()
    np.testing.assert_allclose(per, ref / np.maximum(kw["mask"].sum(1) * 48, 1), rtol=1e-5)


class TestGaussianHeatmaps:

  def test_peak_at_pixel_centre(self):
    kp = jnp.array([[[3.5, 5.5], [0.5, 0.5]]])
    maps = losses.gaussian_heatmaps(kp, size=(8, 6), sigma=1.0)
    assert maps.shape == (1, 8, 6, 2)
    assert maps[0, 5, 3, 0] == 1.0 and maps[0, 0, 0, 1] == 1.0
    np.testing.assert_allclose(maps[0, 5, 4, 0], math.exp(-0.5), rtol=1e-6)
    np.testing.assert_allclose(maps[0, 5, 2, 0], maps[0, 5, 4, 0])

  def test_stride_maps_cell_centres(self):
    # Cell (r=2, c=1) of a stride-4 map covers [4, 8) x [8, 12), centre (6, 10).
    maps = losses.gaussian_heatmaps(jnp.array([[[6.0, 10.0]]]), size=(4, 4), sigma=1.5,
                                    stride=4)
    assert np.unravel_index(np.argmax(maps[0, ..., 0]), (4, 4)) == (2, 1)
    assert maps[0, 2, 1, 0] == 1.0

  def test_golden_and_mask(self, x64, rng):
    kp = rng.uniform(0, 32, size=(2, 3, 2))
    mask = np.array([[True, False, True], [True, True, True]])
    maps = losses.gaussian_heatmaps(kp, size=(8, 8), sigma=2.0, stride=4, mask=mask)
    ys, xs = (np.mgrid[0:8, 0:8] + 0.5) * 4.0
    for b in range(2):
      for j in range(3):
        ref = np.exp(-((xs - kp[b, j, 0]) ** 2 + (ys - kp[b, j, 1]) ** 2) / (2 * 8.0 ** 2))
        np.testing.assert_allclose(maps[b, ..., j], ref * mask[b, j], rtol=1e-12)

  def test_bad_arguments(self):
    with pytest.raises(ValueError, match="^keypoints: expected shape"):
      losses.gaussian_heatmaps(jnp.zeros((1, 3, 3)), size=(4, 4), sigma=1.0)
    with pytest.raises(ValueError, match="^sigma: expected a positive"):
      losses.gaussian_heatmaps(jnp.zeros((1, 3, 2)), size=(4, 4), sigma=0.0)
    with pytest.raises(ValueError, match=r"^size: expected \(H, W\)"):
      losses.gaussian_heatmaps(jnp.zeros((1, 3, 2)), size=(4,), sigma=1.0)


# --------------------------------------------------------------- Ronchi geometry ---


def _pose(rng, b=B):
  """Random skeletons [b, J, 3]: bones of 0.15-0.45 m in random directions, root near 0.

  Bounded bone lengths and residuals keep finite differences in check_grads accurate.
  """
  dirs = rng.normal(size=(b, J, 3))
  lengths = rng.uniform(0.15, 0.45, (b, J, 1))
  vec = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True) * lengths
  pose = np.zeros((b, J, 3))
  pose[:, 0] = rng.normal(size=(b, 3)) * 0.1
  for child, parent in BONES:  # Parents come first in H36M17.
    pose[:, child] = pose[:, parent] + vec[:, child]
  return pose


class TestRootLoss(_LossTest):
  fn = staticmethod(losses.root_loss)
  diff = ("pose",)
  bad = {"pose": lambda x: x[..., :2], "mask": lambda x: x[:-1]}

  def make(self, rng):
    return dict(pose=_pose(rng), mask=np.array([True, False, True]))

  def reference(self, kw):
    per = np.sqrt(np.sum(kw["pose"][:, 0] ** 2, -1) + 1e-8) * kw["mask"]
    return per, kw["mask"]

  def masked(self, kw):
    return {"pose": ~kw["mask"][:, None, None]}

  def test_finite_gradient_at_zero(self):
    g = jax.jit(jax.grad(lambda p: losses.root_loss(pose=p)))(jnp.zeros((2, J, 3)))
    assert np.all(np.isfinite(g)) and np.all(g == 0.0)


def _np_reprojection(proj, kp, vis):
  per = np.sqrt(np.sum((proj - kp) ** 2, -1) + 1e-8) * vis
  return per.sum(1), vis.any(1)


class TestOrthoReprojectionLoss(_LossTest):
  fn = staticmethod(losses.ortho_reprojection_loss)
  diff = ("pose", "scale")
  grad_eps = 1e-5  # Pixel-scale residuals of a few px: 1e-4 m steps curve too much.
  bad = {"pose": lambda x: x[..., :2], "keypoints2d": lambda x: x[..., :1],
         "visible": lambda x: x[:, 1:], "scale": lambda x: x[:-1]}

  def make(self, rng):
    pose, scale = _pose(rng), rng.uniform(50, 150, B)
    kp = pose[..., :2] * scale[:, None, None] + 128.0 + rng.normal(size=(B, J, 2)) * 15.0
    return dict(pose=pose, scale=scale, keypoints2d=kp, visible=_joint_mask(rng))

  def reference(self, kw):
    kp = kw["keypoints2d"] - kw["keypoints2d"][:, :1]
    proj = kw["pose"][..., :2] * kw["scale"][:, None, None]
    return _np_reprojection(proj, kp, kw["visible"])

  def masked(self, kw):
    kp_hidden = ~kw["visible"][..., None]
    kp_hidden[:, 0] = False  # The root's 2D is always used for centring.
    return {"pose": ~kw["visible"][..., None], "keypoints2d": kp_hidden}

  def test_exact_fit_and_column_scale(self, rng):
    pose = _pose(rng, b=2)
    pose -= pose[:, :1]
    kp = pose[..., :2] * 80.0 + np.array([120.0, 90.0])
    val, g = jax.jit(jax.value_and_grad(lambda p: losses.ortho_reprojection_loss(
        pose=p, scale=np.full((2, 1), 80.0), keypoints2d=kp)))(jnp.asarray(pose, jnp.float32))
    np.testing.assert_allclose(val, J * 1e-4, rtol=1e-2)  # Only the sqrt(eps) floor.
    assert np.all(np.isfinite(g))


class TestPerspectiveReprojectionLoss(_LossTest):
  fn = staticmethod(losses.perspective_reprojection_loss)
  diff = ("pose", "distance")
  grad_eps = 1e-5  # As for the orthographic loss.
  bad = {"pose": lambda x: x[..., :2], "distance": lambda x: x[:, None, None],
         "focal": lambda x: x[:, :1], "center": lambda x: x[:-1],
         "keypoints2d": lambda x: x[:, :-1], "visible": lambda x: x[:-1]}

  def make(self, rng):
    kw = dict(pose=_pose(rng), distance=rng.uniform(4, 6, B),
              focal=rng.uniform(900, 1200, (B, 2)), center=rng.uniform(480, 520, (B, 2)),
              visible=_joint_mask(rng))
    kw["keypoints2d"] = self._project(kw) + rng.normal(size=(B, J, 2)) * 15.0
    return kw

  def _project(self, kw):
    p, s = kw["pose"], kw["distance"][:, None]
    tilde = p[..., :2] / (p[..., 2:] + s[..., None])  # Ronchi eq. 5's P~.
    return tilde * kw["focal"][:, None] + kw["center"][:, None]

  def reference(self, kw):
    return _np_reprojection(self._project(kw), kw["keypoints2d"], kw["visible"])

  def masked(self, kw):
    return {"pose": ~kw["visible"][..., None], "keypoints2d": ~kw["visible"][..., None]}


def _np_bone_ratio(pose, ref, mask, unit=2):
  length = np.sqrt(np.sum(_np_bones(pose) ** 2, -1) + 1e-8)
  ratio, ratio_ref = length / length[:, unit:unit + 1], ref / ref[..., unit:unit + 1]
  mb = mask[:, BONES[:, 0]] & mask[:, BONES[:, 1]]
  mb &= mb[:, unit:unit + 1]
  per = (np.sqrt((ratio - ratio_ref) ** 2 + 1e-8) * mb).sum(1)
  return per, mb.any(1)


class TestBoneRatioLoss(_LossTest):
  fn = staticmethod(losses.bone_ratio_loss)
  diff = ("pose",)
  bad = {"pose": lambda x: x[..., :2], "mask": lambda x: x[:, 1:],
         "reference_lengths": lambda x: x[:-1]}
  unbatched = ("reference_lengths",)

  def make(self, rng):
    mask = _joint_mask(rng)
    mask[:, 2:4] = True  # Keep the r_knee - r_ankle unit bone...
    mask[-1] = False
    mask[1, 3] = False  # ...except in example 1, which then has no valid bone.
    return dict(pose=_pose(rng), reference_lengths=rng.uniform(0.1, 0.5, 16), mask=mask)

  def reference(self, kw):
    return _np_bone_ratio(kw["pose"], kw["reference_lengths"], kw["mask"])

  def masked(self, kw):
    return {"pose": ~kw["mask"][..., None]}

  def test_unit_bone_and_zero_lengths(self, rng):
    loss = lambda p: losses.bone_ratio_loss(pose=p, reference_lengths=np.ones(16))
    g = jax.jit(jax.grad(loss))(jnp.zeros((B, J, 3)))
    assert np.all(np.isfinite(g))
    kw = self.make(rng)
    f = self._loss(kw)
    scaled = f(reference_lengths=kw["reference_lengths"] * 7)  # Only ratios matter.
    np.testing.assert_allclose(scaled, f(), rtol=1e-5)
    with pytest.raises(ValueError, match="^reference_bone: "):
      losses.bone_ratio_loss(**kw, reference_bone=("r_knee", "l_ankle"))
    with pytest.raises(ValueError, match="^pose: expected 14 joints of lsp14"):
      losses.bone_ratio_loss(**kw, joint_set=skeleton.LSP14)


class TestRonchiTotal:

  def _kw(self, rng):
    rel, mask = _relations(rng)
    mask[-1, 0] = True
    return dict(pose=_pose(rng), scale=rng.uniform(50, 150, B), relations=rel,
                relation_mask=mask, keypoints2d=rng.uniform(0, 256, (B, J, 2)),
                reference_lengths=rng.uniform(0.1, 0.5, 16), visible=_joint_mask(rng) | True)

  def test_combines_eq7_terms(self, x64, rng):
    kw = self._kw(rng)
    total, terms = _jit(losses.ronchi_total)(**kw)
    assert set(terms) == {"root", "rel", "proj", "skel"}
    np.testing.assert_allclose(terms["rel"], _jit(losses.relative_depth_loss)(
        depth=kw["pose"][..., 2], relations=kw["relations"], mask=kw["relation_mask"]))
    np.testing.assert_allclose(terms["proj"], _jit(losses.ortho_reprojection_loss)(
        pose=kw["pose"], scale=kw["scale"], keypoints2d=kw["keypoints2d"]))
    np.testing.assert_allclose(
        total, terms["root"] + terms["rel"] + 0.1 * terms["proj"] + terms["skel"])
    per, parts = _jit(losses.ronchi_total, weights=dict(alpha=2.0, beta=0.0, gamma=0.5),
                      reduction=False)(**kw)
    np.testing.assert_allclose(per, parts["root"] + 2 * parts["rel"] + 0.5 * parts["skel"])

  def test_perspective_mode_and_grads(self, x64, rng):
    kw = self._kw(rng)
    kw.update(scale=rng.uniform(3, 6, B), keypoints2d=rng.uniform(300, 700, (B, J, 2)),
              focal=np.full((B, 2), 1000.0), center=np.full((B, 2), 500.0))
    _, terms = _jit(losses.ronchi_total)(**kw)
    np.testing.assert_allclose(terms["proj"], _jit(losses.perspective_reprojection_loss)(
        pose=kw["pose"], distance=kw["scale"], keypoints2d=kw["keypoints2d"],
        focal=kw["focal"], center=kw["center"]))
    g = jax.jit(jax.grad(lambda p: losses.ronchi_total(**{**kw, "pose": p})[0]))(kw["pose"])
    assert np.all(np.isfinite(g)) and np.any(g != 0.0)

  def test_bad_weights(self, rng):
    with pytest.raises(ValueError, match="^weights: expected keys"):
      losses.ronchi_total(**self._kw(rng), weights={"alpha": 1.0})
    with pytest.raises(ValueError, match="^keypoints2d: expected shape"):
      losses.ronchi_total(**{**self._kw(rng), "keypoints2d": np.zeros((B, J, 3))})


# ----------------------------------------------------------------- DPNet, Habibie ---


class TestDpnetLoss(_LossTest):
  fn = staticmethod(losses.dpnet_loss)
  diff = ("coarse_depth", "pose_stage1", "pose_stage2")
  bad = {"coarse_depth": lambda x: x[..., None], "coarse_depth_target": lambda x: x[:-1],
         "pose_target": lambda x: x[..., :2]}

  def make(self, rng):
    normal = lambda *shape: rng.normal(size=(B, J) + shape)
    return dict(coarse_depth=normal(), coarse_depth_target=normal(), pose_stage1=normal(3),
                pose_stage2=normal(3), pose_target=normal(3), mask=_joint_mask(rng))

  def reference(self, kw):
    per = np.zeros(B)
    for b in range(B):
      m = kw["mask"][b]
      if m.any():
        per[b] = (np.mean((kw["coarse_depth"][b, m] - kw["coarse_depth_target"][b, m]) ** 2)
                  + np.mean((kw["pose_stage1"][b, m] - kw["pose_target"][b, m]) ** 2)
                  + np.mean((kw["pose_stage2"][b, m] - kw["pose_target"][b, m]) ** 2))
    return per, kw["mask"].any(1)

  def masked(self, kw):
    m = ~kw["mask"]
    return {"coarse_depth": m, "pose_stage1": m[..., None], "pose_stage2": m[..., None]}


class TestBoneVectorLoss(_LossTest):
  fn = staticmethod(losses.bone_vector_loss)
  diff = ("pose",)
  bad = {"pose": lambda x: x[..., :2], "target": lambda x: x[:, 1:],
         "mask": lambda x: x[:-1]}

  def make(self, rng):
    return dict(pose=_pose(rng), target=_pose(rng), mask=_joint_mask(rng))

  def reference(self, kw):
    mb = kw["mask"][:, BONES[:, 0]] & kw["mask"][:, BONES[:, 1]]
    sq = np.sum((_np_bones(kw["pose"]) - _np_bones(kw["target"])) ** 2, -1)
    return (sq * mb).sum(1), mb.any(1)

  def masked(self, kw):
    return {"pose": ~kw["mask"][..., None], "target": ~kw["mask"][..., None]}

  def test_translation_invariant(self, rng):
    kw = self.make(rng)
    moved = losses.bone_vector_loss(**{**kw, "pose": kw["pose"] + 3.0})
    np.testing.assert_allclose(moved, losses.bone_vector_loss(**kw), rtol=1e-5)


class TestBoneLengthLoss(_LossTest):
  fn = staticmethod(losses.bone_length_loss)
  diff = ("pose",)
  bad = {"pose": lambda x: x[..., :2], "mask": lambda x: x[:, :-1],
         "reference_lengths": lambda x: x[:, :-1]}

  def make(self, rng):
    return dict(pose=_pose(rng), reference_lengths=rng.uniform(0.1, 0.5, (B, 16)),
                mask=_joint_mask(rng))

  def reference(self, kw):
    mb = kw["mask"][:, BONES[:, 0]] & kw["mask"][:, BONES[:, 1]]
    length = np.sqrt(np.sum(_np_bones(kw["pose"]) ** 2, -1) + 1e-8)
    return (((length - kw["reference_lengths"]) ** 2) * mb).sum(1), mb.any(1)

  def masked(self, kw):
    return {"pose": ~kw["mask"][..., None]}

  def test_zero_length_gradient_and_shared_reference(self, x64, rng):
    ref = rng.uniform(0.1, 0.5, 16)
    f = _jit(losses.bone_length_loss)
    g = jax.jit(jax.grad(lambda p: f(pose=p, reference_lengths=ref)))(jnp.zeros((B, J, 3)))
    assert np.all(np.isfinite(g)) and np.all(g == 0.0)  # No direction at zero length.
    pose = _pose(rng)
    np.testing.assert_allclose(f(pose=pose, reference_lengths=ref),
                               f(pose=pose, reference_lengths=np.tile(ref, (B, 1))))


class TestWeakPerspectiveLoss(_LossTest):
  fn = staticmethod(losses.weak_perspective_loss)
  diff = ("pose", "alpha", "center")
  bad = {"pose": lambda x: x[..., :2], "alpha": lambda x: x[:, :1],
         "center": lambda x: x[:-1], "keypoints2d": lambda x: x[:, 1:]}

  def make(self, rng):
    return dict(pose=_pose(rng), alpha=rng.uniform(100, 200, (B, 2)),
                center=rng.uniform(100, 150, (B, 2)),
                keypoints2d=rng.uniform(0, 256, (B, J, 2)), mask=_joint_mask(rng))

  def reference(self, kw):
    proj = kw["pose"][..., :2] * kw["alpha"][:, None] + kw["center"][:, None]
    sq = np.sum((proj - kw["keypoints2d"]) ** 2, -1) * kw["mask"]
    return sq.sum(1), kw["mask"].any(1)

  def masked(self, kw):
    return {"pose": ~kw["mask"][..., None], "keypoints2d": ~kw["mask"][..., None]}


def test_paper_weights():
  assert losses.PAVLAKOS_LAMBDA == 100.0 and losses.RONCHI_LAMBDA == 2.5
  assert losses.RONCHI_WEIGHTS == {"alpha": 1.0, "beta": 0.1, "gamma": 1.0}
  habibie = (losses.HABIBIE_LAMBDA_3D, losses.HABIBIE_LAMBDA_HEAT, losses.HABIBIE_LAMBDA_2D,
             losses.HABIBIE_LAMBDA_BONE_3D, losses.HABIBIE_LAMBDA_BONE_2D)
  assert habibie == (10, 0.1, 10, 10, 100)
