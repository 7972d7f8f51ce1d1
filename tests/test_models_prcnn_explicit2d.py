"""Tests for jaxpose.models.resnet, .prcnn and .explicit2d: shapes, parameter counts, ranking."""

import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxpose import losses
from jaxpose.models import explicit2d, prcnn, resnet

B, J, S = 2, 5, 32  # batch, joints, image size of the tiny-model tests
_BIG = float(np.float32(3e38))  # near the float32 maximum


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _abstract(model, *args, **kwargs):
  """(variables, eval output) shapes of `init` / `apply`, without compiling anything."""
  variables = jax.eval_shape(functools.partial(model.init, train=False),
                             jax.random.key(0), *args)
  out = jax.eval_shape(functools.partial(model.apply, train=False, **kwargs), variables,
                       *args)
  return variables, out


def _host_init(model, *args, seed=0, **kwargs):
  """Variables of `init`'s structure filled with NumPy (He-normal kernels, unit scales).

  jax.random compiles slowly on this CPU (seconds per model); the models' own
  initialisers are exercised by `_abstract` and the camera test.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(functools.partial(model.init, **kwargs), jax.random.key(0), *args)

  def fill(path, leaf):
    kind = path[-1].key
    if kind == "kernel":
      std = np.sqrt(2.0 / np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(size=leaf.shape) * std, leaf.dtype)
    return (jnp.ones if kind in ("scale", "var") else jnp.zeros)(leaf.shape, leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _image(rng, size=S, batch=B):
  return jnp.asarray(rng.normal(size=(batch, size, size, 3)), jnp.float32)


def _heatmaps(rng, size=S, batch=B):
  return jnp.asarray(rng.uniform(size=(batch, size, size, J)), jnp.float32)


@functools.cache
def _tiny(kind):
  """(model, positional inputs, variables) of a tiny model of `kind`, built once."""
  rng = np.random.default_rng(0)
  if kind == "resnet":
    model, args = resnet.ResNetTiny(), (_image(rng),)
  elif kind == "prcnn":
    model = prcnn.get_model("prcnn_tiny", num_joints=J)
    args = (_image(rng), _heatmaps(rng))
  else:
    model, args = explicit2d.get_model("explicit2d_tiny", num_joints=J), (_image(rng),)
  return model, args, _host_init(model, *args, train=False)


def _loss(kind, out):
  """A training loss of each model kind, from the jaxpose.losses of its paper."""
  rng = np.random.default_rng(1)
  if kind == "resnet":
    return jnp.mean(jnp.square(out[-1]))
  if kind == "prcnn":
    target = jnp.asarray(rng.choice([0.0, 0.5, 1.0], size=(B, J, J)), jnp.float32)
    return losses.ranknet_loss(features=out, target=target)
  hm = jnp.asarray(rng.uniform(size=out["heatmaps"].shape), jnp.float32)
  pose = jnp.asarray(rng.normal(size=(B, J, 3)), jnp.float32)
  kp = jnp.asarray(rng.normal(size=(B, J, 2)), jnp.float32)
  cam = out["camera"]
  return (losses.heatmap_l2(pred=out["heatmaps"], target=hm)
          + losses.joint_l2(pred=out["pose3d"], target=pose)
          + losses.weak_perspective_loss(pose=out["pose3d"], alpha=cam[:, 2:],
                                         center=cam[:, :2], keypoints2d=kp))


@functools.cache
def _train_step(kind):
  """One jitted train-mode pass of the tiny `kind` model: (loss, grads, new batch_stats)."""
  model, args, variables = _tiny(kind)

  @jax.jit
  def step(params):
    def loss(p):
      out, updates = model.apply({**variables, "params": p}, *args, train=True,
                                 mutable=["batch_stats"])
      return _loss(kind, out), updates["batch_stats"]
    (value, stats), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return value, grads, stats

  return step(variables["params"])


class TestResNet:

  @pytest.mark.parametrize("name,expected", [("resnet18", 11_176_512),
                                             ("resnet34", 21_284_672),
                                             ("resnet50", 23_508_032)])
  def test_param_count_matches_torchvision(self, name, expected):
    shapes, _ = _abstract(resnet.get_backbone(name), jnp.zeros((1, 64, 64, 3)))
    assert _count(shapes["params"]) == expected
    assert set(shapes) == {"params", "batch_stats"}

  def test_in_channels_changes_first_conv_only(self):
    model = resnet.ResNet18(in_channels=20)
    shapes, _ = _abstract(model, jnp.zeros((1, 64, 64, 20)))
    assert shapes["params"]["conv_init"]["kernel"].shape == (7, 7, 20, 64)
    assert _count(shapes["params"]) == 11_176_512 + 7 * 7 * 17 * 64
    with pytest.raises(ValueError, match="x: expected shape"):
      model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), train=False)

  def test_resnet18_stage_shapes(self):
    _, stages = _abstract(resnet.ResNet18(), jnp.zeros((B, 64, 64, 3)))
    assert [s.shape for s in stages] == [(B, 16, 16, 64), (B, 8, 8, 128), (B, 4, 4, 256),
                                         (B, 2, 2, 512)]
    assert resnet.ResNet18().out_channels == 512 and resnet.ResNet50().out_channels == 2048

  def test_odd_size_matches_pytorch_arithmetic_and_blocks(self):
    _, blocks = _abstract(resnet.ResNetTiny(stage_sizes=(1, 2)), jnp.zeros((1, 65, 63, 3)),
                          return_blocks=True)
    assert [[b.shape for b in s] for s in blocks] == [[(1, 17, 16, 4)],
                                                      [(1, 9, 8, 8), (1, 9, 8, 8)]]

  def test_bfloat16_compute_float32_params(self):
    variables, out = _abstract(resnet.ResNetTiny(dtype=jnp.bfloat16), jnp.zeros((B, S, S, 3)))
    assert out[-1].dtype == jnp.bfloat16
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables["params"]))

  def test_registry_errors(self):
    with pytest.raises(ValueError, match=r"unknown name 'resnet101'.*resnet18"):
      resnet.get_backbone("resnet101")
    with pytest.raises(ValueError, match=r"unknown attributes \['depth'\]"):
      resnet.get_backbone("resnet18", depth=3)
    with pytest.raises(ValueError, match="stage_sizes"):
      resnet.ResNet(stage_sizes=(), block_cls=resnet.BasicBlock).init(
          jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)


@pytest.mark.parametrize("kind", ["resnet", "prcnn", "explicit2d"])
def test_batch_stats_update_only_in_train_mode(kind):
  model, args, variables = _tiny(kind)
  _, frozen = model.apply(variables, *args, train=False, mutable=["batch_stats"])
  _, _, updated = _train_step(kind)
  same = jax.tree.map(np.array_equal, variables["batch_stats"], frozen["batch_stats"])
  changed = jax.tree.map(lambda a, b: not np.array_equal(a, b), variables["batch_stats"],
                         updated)
  assert all(jax.tree.leaves(same)) and all(jax.tree.leaves(changed))


@pytest.mark.parametrize("kind", ["resnet", "prcnn", "explicit2d"])
def test_jit_grad_finite(kind):
  value, grads, _ = _train_step(kind)
  assert np.isfinite(float(value))
  grads = jax.tree.map(np.asarray, grads)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  for part, sub in grads.items():  # every top-level submodule gets a gradient
    assert any(np.any(g != 0) for g in jax.tree.leaves(sub)), part


class TestPairwise:

  def test_diagonal_and_complement(self, rng):
    f = jnp.asarray(rng.normal(size=(4, 17)) * 5, jnp.float32)
    p = np.asarray(prcnn.pairwise_probabilities(f))
    assert p.shape == (4, 17, 17) and p.dtype == np.float32
    assert np.all(np.diagonal(p, axis1=1, axis2=2) == 0.5)
    np.testing.assert_allclose(p + np.swapaxes(p, 1, 2), 1.0, atol=1e-6)
    fi, fj = np.asarray(f)[:, :, None], np.asarray(f)[:, None, :]
    assert np.all((p > 0.5) == (fi > fj))  # P_ij > 0.5 <=> F_i > F_j <=> i behind j

  @settings(max_examples=30, deadline=None)
  @given(hnp.arrays(np.float32, (2, 6),
                    elements=st.floats(-_BIG, _BIG, width=32, allow_subnormal=False)))
  def test_property_large_features(self, f):
    p = np.asarray(prcnn.pairwise_probabilities(jnp.asarray(f)))
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.diagonal(p, axis1=1, axis2=2) == 0.5)
    np.testing.assert_allclose(p + np.swapaxes(p, 1, 2), 1.0, atol=1e-6)

  def test_infinite_features_keep_diagonal(self):
    p = np.asarray(prcnn.pairwise_probabilities(jnp.array([[np.inf, -np.inf, 0.0]])))
    assert np.all(np.diagonal(p, axis1=1, axis2=2) == 0.5)
    np.testing.assert_array_equal(p[0, 0, 1:], [1.0, 1.0])
    np.testing.assert_array_equal(p[0, 1, [0, 2]], [0.0, 0.0])

  def test_matches_ranknet_loss_convention(self, rng):
    """ranknet_loss (eq. 5) is the binary cross-entropy of these P against M, i != j."""
    f = jnp.asarray(rng.normal(size=(3, J)), jnp.float32)
    m = jnp.asarray(rng.choice([0.0, 0.5, 1.0], size=(3, J, J)), jnp.float32)
    p = prcnn.pairwise_probabilities(f)
    bce = -(m * jnp.log(p) + (1 - m) * jnp.log1p(-p)) * (1 - jnp.eye(J))
    np.testing.assert_allclose(losses.ranknet_loss(features=f, target=m, reduction=False),
                               jnp.sum(bce, axis=(1, 2)), rtol=1e-5)

  def test_discretize_boundaries(self):
    lo, hi = np.float32(0.4), np.float32(0.6)
    p = np.array([0.0, np.nextafter(lo, np.float32(0)), lo, 0.5, hi,
                  np.nextafter(hi, np.float32(1)), 1.0], np.float32)
    out = prcnn.discretize(jnp.asarray(np.tile(p[:, None], (1, 7))), epsilon=0.1)  # row i = p_i
    np.testing.assert_array_equal(out[:, 0], [0, 0, 0.5, 0.5, 0.5, 1, 1])
    assert out.dtype == jnp.float32
    sharp = prcnn.discretize(jnp.array([[0.49, 0.5], [0.5, 0.51]]), epsilon=0.0)
    np.testing.assert_array_equal(sharp, [[0, 0.5], [0.5, 1]])

  @pytest.mark.parametrize("bad", [-0.1, 0.5, 0.7])
  def test_discretize_bad_epsilon(self, bad):
    with pytest.raises(ValueError, match="epsilon"):
      prcnn.discretize(jnp.full((2, 2), 0.5), epsilon=bad)


class TestPRCNN:

  def test_feature_shape(self):
    model, args, variables = _tiny("prcnn")
    out = model.apply(variables, *args, train=False)
    assert out.shape == (B, J) and out.dtype == jnp.float32

  def test_heatmap_channels_on_off(self):
    on, (image, hm), v_on = _tiny("prcnn")
    off = prcnn.get_model("prcnn_tiny", num_joints=J, use_heatmaps=False)
    v_off = _host_init(off, image, train=False)
    assert v_on["params"]["backbone"]["conv_init"]["kernel"].shape[2] == 3 + J
    assert v_off["params"]["backbone"]["conv_init"]["kernel"].shape[2] == 3
    # With heatmaps they are required and used; without, ones passed in are ignored.
    assert not np.allclose(on.apply(v_on, image, hm, train=False),
                           on.apply(v_on, image, 0 * hm, train=False))
    np.testing.assert_array_equal(off.apply(v_off, image, hm, train=False),
                                  off.apply(v_off, image, train=False))
    with pytest.raises(ValueError, match="heatmaps: required"):
      on.apply(v_on, image, train=False)
    with pytest.raises(ValueError, match="heatmaps: expected shape"):
      on.apply(v_on, image, hm[..., :3], train=False)

  def test_low_resolution_heatmaps_are_resized(self, rng):
    model, (image, _), variables = _tiny("prcnn")
    small = _heatmaps(rng, size=S // 4)
    big = jax.image.resize(small, (B, S, S, J), "bilinear")
    np.testing.assert_allclose(model.apply(variables, image, small, train=False),
                               model.apply(variables, image, big, train=False), atol=1e-6)

  def test_num_filters_widens_the_backbone(self):
    _, (image, hm), narrow = _tiny("prcnn")
    wide = prcnn.get_model("prcnn_tiny", num_joints=J, num_filters=8)
    v = _host_init(wide, image, hm, train=False)
    assert narrow["params"]["backbone"]["conv_init"]["kernel"].shape[-1] == 4  # tiny's own
    assert v["params"]["backbone"]["conv_init"]["kernel"].shape[-1] == 8
    assert wide.apply(v, image, hm, train=False).shape == (B, J)
    with pytest.raises(ValueError, match="num_filters"):
      bad = prcnn.get_model("prcnn_tiny", num_joints=J, num_filters=-1)
      _host_init(bad, image, hm, train=False)

  def test_registry(self):
    assert prcnn.get_model("prcnn").backbone == "resnet34"
    with pytest.raises(ValueError, match=r"unknown name 'prcnn101'.*prcnn_tiny"):
      prcnn.get_model("prcnn101")


class TestExplicit2D:

  def test_shapes_and_positive_alpha(self):
    model, args, variables = _tiny("explicit2d")
    out = model.apply(variables, *args, train=False)
    h = S // 16
    assert jax.tree.map(lambda x: x.shape, out) == {
        "heatmaps": (B, h, h, J), "intermediate_heatmaps": (2, B, h, h, J),
        "pose3d": (B, J, 3), "camera": (B, 4)}
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(out))
    assert np.all(np.asarray(out["camera"])[:, 2:] > 0)

  def test_full_size_heatmap_stride_16(self):
    shapes, out = _abstract(explicit2d.get_model("explicit2d"), jnp.zeros((1, 256, 256, 3)))
    assert out["heatmaps"].shape == (1, 16, 16, 17)
    params = shapes["params"]
    assert params["f3d_conv"]["kernel"].shape == (1, 1, 1024, 64)
    assert params["dense_z"]["kernel"].shape == (16 * 16 * 64, 1024)
    res5a = params["extractor"]["res5a"]
    assert res5a["conv_2"]["kernel"].shape == (1, 1, 512, 1024) and "conv_proj" not in res5a
    assert "stage4_block0" not in params["extractor"]["backbone"]

  def test_alpha_positive_when_softplus_underflows(self, rng):
    cam = explicit2d.CameraNet(width=8, num_layers=1, alpha_init=50.0,
                               center_init=(128.0, 128.0), center_scale=64.0)
    z = jnp.asarray(rng.uniform(1, 2, size=(B, 8)), jnp.float32)
    variables = jax.jit(cam.init)(jax.random.key(0, impl="rbg"), z)
    params = jax.tree.map(lambda x: x, variables["params"])
    params["dense_0"]["kernel"] = jnp.eye(8)
    params["dense_out"]["kernel"] = jnp.full((8, 4), -1e4)
    out = np.asarray(cam.apply({"params": params}, z))
    assert np.all(out[:, 2:] > 0) and np.all(np.isfinite(out))
    np.testing.assert_allclose(cam.apply(variables, z), np.tile([128, 128, 50, 50], (B, 1)))

  def test_residual_from_z_to_second_layer(self, rng):
    lift = explicit2d.LiftingFC(num_joints=J, width=8)
    z = jnp.asarray(rng.uniform(0, 1, size=(B, 8)), jnp.float32)
    params = _host_init(lift, z)["params"]
    # Zeroing the first two layers leaves only the skip path: h2 = 0 + z.
    params = {**params, "dense_0": jax.tree.map(jnp.zeros_like, params["dense_0"]),
              "dense_1": jax.tree.map(jnp.zeros_like, params["dense_1"])}
    h = z
    for name in ("dense_2", "dense_3"):
      h = jax.nn.relu(h @ params[name]["kernel"] + params[name]["bias"])
    want = (h @ params["dense_out"]["kernel"] + params["dense_out"]["bias"]).reshape(B, J, 3)
    np.testing.assert_allclose(lift.apply({"params": params}, z), want, rtol=1e-5, atol=1e-6)

  def test_config_errors(self, rng):
    with pytest.raises(ValueError, match="feature_channels"):
      explicit2d.get_model("explicit2d_tiny", num_joints=30).init(
          jax.random.key(0), _image(rng), train=False)
    with pytest.raises(ValueError, match="aux_block"):
      explicit2d.get_model("explicit2d_tiny", num_joints=J, aux_block=2).init(
          jax.random.key(0), _image(rng), train=False)
    with pytest.raises(ValueError, match=r"unknown name 'vnect'.*explicit2d_tiny"):
      explicit2d.get_model("vnect")
