"""Tests for jaxpose.models.hourglass and jaxpose.models.heads (Pavlakos 2018 image networks)."""

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from jax.test_util import check_grads

from jaxpose.models import heads
from jaxpose.models import hourglass

B, S, J, D = 2, 16, 3, 4  # batch, input side, joints, depth bins of the tiny tests


def _images(rng, batch=B, side=S):
  return jnp.asarray(rng.normal(size=(batch, side, side, 3)), jnp.float32)


def _tiny(**kw):
  return hourglass.StackedHourglassTiny(out_channels=J * D, **kw)


def _init(model, x):
  # The 'rbg' PRNG compiles ~2x faster than threefry on CPU: init dominates these tests.
  return model.init(jax.random.key(0, impl="rbg"), x, train=False)


def _n_params(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _reference_params(out, stacks, depth, f, cin=3):
  """Parameter count of torch_hourglass_ref.StackedHourglass, layer by layer."""
  conv = lambda i, o, k: i * o * k * k + o
  bn = lambda c: 2 * c

  def residual(i, o):
    m = o // 2
    skip = conv(i, o, 1) if i != o else 0
    return bn(i) + conv(i, m, 1) + bn(m) + conv(m, m, 3) + bn(m) + conv(m, o, 1) + skip

  def hg(d):
    return 3 * residual(f, f) + (hg(d - 1) if d > 1 else residual(f, f))

  stem = (conv(cin, 64, 7) + bn(64) + residual(64, 128) + residual(128, 128)
          + residual(128, f))
  per_stack = hg(depth) + residual(f, f) + conv(f, f, 1) + bn(f) + conv(f, out, 1)
  merges = (stacks - 1) * (conv(f, f, 1) + conv(out, f, 1))
  return stem + stacks * per_stack + merges


class TestHourglass:

  @pytest.mark.parametrize("stacks", [1, 2])
  def test_output_shapes(self, stacks, rng):
    model = _tiny(num_stacks=stacks)
    x = _images(rng)
    variables = _init(model, x)
    outs = model.apply(variables, x, train=False)
    assert len(outs) == stacks
    assert all(o.shape == (B, S // 4, S // 4, J * D) and o.dtype == jnp.float32 for o in outs)
    (outs_t, feats), _ = model.apply(variables, x, train=True, return_features=True,
                                     mutable=["batch_stats"])
    assert feats.shape == (B, S // 4, S // 4, 16) and len(outs_t) == stacks

  def test_batch_stats_update_only_in_train(self, rng):
    model, x = _tiny(), _images(rng)
    variables = _init(model, x)
    _, train_upd = model.apply(variables, x, train=True, mutable=["batch_stats"])
    _, eval_upd = model.apply(variables, x, train=False, mutable=["batch_stats"])
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), variables["batch_stats"],
                           train_upd["batch_stats"])
    assert all(jax.tree.leaves(changed))
    assert jax.tree.all(jax.tree.map(jnp.array_equal, variables["batch_stats"],
                                     eval_upd["batch_stats"]))
    with pytest.raises(flax.errors.ModifyScopeVariableError):  # train needs it mutable
      model.apply(variables, x, train=True)

  def test_eval_is_per_example(self, rng):
    model, x = _tiny(), _images(rng)
    variables = _init(model, x)
    other = x.at[1].set(10.0 * x[1])
    for train in (False, True):
      outs = [model.apply(variables, v, train=train, mutable=["batch_stats"])[0][0]
              for v in (x, other)]
      same = np.allclose(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
      assert same != train  # batch statistics mix the examples only in train mode

  @pytest.mark.parametrize("out,stacks,depth,f", [(J * D, 1, 2, 16), (5, 3, 3, 8),
                                                  (17 * 64, 2, 4, 256), (17, 1, 4, 256)])
  def test_param_count_equals_reference(self, out, stacks, depth, f):
    model = hourglass.StackedHourglass(out_channels=out, num_stacks=stacks, depth=depth,
                                       features=f)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)),
                                               train=False))
    expected = _reference_params(out, stacks, depth, f)
    assert _n_params(shapes["params"]) == expected
    assert hourglass.num_params(out_channels=out, num_stacks=stacks, depth=depth,
                                features=f) == expected
    assert jax.tree.all(jax.tree.map(lambda p: p.dtype == jnp.float32, shapes["params"]))

  def test_reference_numbers(self):
    # torch_hourglass_ref.py's classes, instantiated with a parameter-counting stand-in
    # for torch.nn (2 stacks and the 17 x 64 volume; 1 stack and 17 heatmaps).
    assert _reference_params(17 * 64, 2, 4, 256) == 7_395_840
    assert _reference_params(17, 1, 4, 256) == 3_426_705

  def test_jit_grad_finite(self, rng):
    model, x = _tiny(num_stacks=2, depth=1), _images(rng)
    variables = _init(model, x)

    @jax.jit
    def loss_grad(params):
      def loss(p):
        outs, _ = model.apply({**variables, "params": p}, x, train=True,
                              mutable=["batch_stats"])
        return sum(jnp.mean(o ** 2) for o in outs)
      return jax.value_and_grad(loss)(params)

    value, grads = loss_grad(variables["params"])
    assert np.isfinite(float(value))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    assert all(float(jnp.max(jnp.abs(g))) > 0 for g in jax.tree.leaves(grads))

  def test_bfloat16_compute(self, rng):
    model, x = _tiny(dtype=jnp.bfloat16, depth=1), _images(rng)
    variables = _init(model, x)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))
    low = model.apply(variables, x, train=False)[0]
    ref = _tiny(depth=1).apply(variables, x, train=False)[0]
    assert low.dtype == jnp.float32
    assert float(jnp.linalg.norm(low - ref) / jnp.linalg.norm(ref)) < 0.02

  @pytest.mark.parametrize("shape", [(B, 30, 32, 3), (B, 32, 32), (B, 0, 32, 3)])
  def test_bad_input_size(self, shape):
    with pytest.raises(ValueError, match="x: expected shape"):
      _init(_tiny(), jnp.zeros(shape))

  def test_bad_config(self, rng):
    with pytest.raises(ValueError, match="features"):
      _init(_tiny(features=15), _images(rng))
    with pytest.raises(ValueError, match="num_stacks"):
      _init(_tiny(num_stacks=0), _images(rng))

  def test_registry(self):
    assert hourglass.get_model("hourglass2", out_channels=4).num_stacks == 2
    with pytest.raises(ValueError, match="known"):
      hourglass.get_model("resnet", out_channels=4)
    with pytest.raises(ValueError, match="unknown attributes"):
      hourglass.get_model("hourglass1", out_channels=4, width=3)


class TestLayers:

  def test_max_pool_and_upsample_match_flax(self, rng):
    x = jnp.asarray(rng.normal(size=(2, 8, 6, 5)), jnp.float32)
    np.testing.assert_array_equal(hourglass.max_pool_2x2(x),
                                  nn.max_pool(x, (2, 2), strides=(2, 2)))
    up = hourglass.upsample_nearest_2x(x)
    np.testing.assert_array_equal(up, jax.image.resize(x, (2, 16, 12, 5), "nearest"))
    np.testing.assert_array_equal(up[:, 1::2, 1::2], x)

  def test_stack_merge_equals_two_convs(self, rng):
    f = jnp.asarray(rng.normal(size=(2, 4, 3, 6)), jnp.float32)
    out_params = {"kernel": jnp.asarray(rng.normal(size=(6, 5)), jnp.float32),
                  "bias": jnp.asarray(rng.normal(size=5), jnp.float32)}
    merge = hourglass.StackMerge(features=6)
    params = jax.tree.map(lambda p: p + 0.5, merge.init(jax.random.key(0), f, out_params))
    p = params["params"]
    o = f @ out_params["kernel"] + out_params["bias"]  # the stack's output
    naive = f @ p["f_kernel"] + p["f_bias"] + o @ p["o_kernel"] + p["o_bias"]
    np.testing.assert_allclose(merge.apply(params, f, out_params), naive, rtol=1e-5,
                               atol=1e-5)

  def test_bn_relu_matches_flax_batch_norm(self, rng):
    x = jnp.asarray(rng.normal(size=(3, 5, 4, 6)) * 2 + 1, jnp.float32)
    ct = jnp.asarray(rng.normal(size=x.shape), jnp.float32)
    params = {"scale": jnp.asarray(rng.normal(size=6), jnp.float32),
              "bias": jnp.asarray(rng.normal(size=6), jnp.float32)}
    stats = {"mean": jnp.full(6, 0.3), "var": jnp.full(6, 2.0)}
    ref = nn.BatchNorm(use_running_average=False, momentum=0.9, epsilon=1e-5)

    def f_ref(p, x):
      y, upd = ref.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
      return jax.nn.relu(y), upd

    def f_ours(p, x):
      return hourglass.BatchNormReLU().apply({"params": p, "batch_stats": stats}, x,
                                             train=True, mutable=["batch_stats"])

    results = []
    for f in (f_ref, f_ours):
      (y, upd), vjp = jax.vjp(f, params, x)
      results.append((y, upd, vjp((ct, jax.tree.map(jnp.zeros_like, upd)))))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 results[0], results[1])
    eval_ref = jax.nn.relu(nn.BatchNorm(use_running_average=True).apply(
        {"params": params, "batch_stats": stats}, x))
    eval_ours = hourglass.BatchNormReLU().apply({"params": params, "batch_stats": stats}, x,
                                                train=False)
    np.testing.assert_allclose(eval_ours, eval_ref, rtol=1e-5, atol=1e-6)

  def test_bn_relu_bfloat16(self, rng):
    x = jnp.asarray(rng.normal(size=(4, 3, 5)) * 3 + 2, jnp.float32)
    module = hourglass.BatchNormReLU(dtype=jnp.bfloat16)
    variables = module.init(jax.random.key(0), x, train=False)

    def loss(params, x):
      y, upd = module.apply({**variables, "params": params}, x, train=True,
                            mutable=["batch_stats"])
      return jnp.sum(y.astype(jnp.float32) ** 2), (y, upd)

    (_, (y, upd)), (g_params, g_x) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(
        variables["params"], x)
    assert y.dtype == jnp.bfloat16 and g_x.dtype == jnp.float32
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves((upd, g_params)))
    np.testing.assert_allclose(upd["batch_stats"]["mean"], 0.1 * jnp.mean(x, axis=(0, 1)),
                               rtol=2e-2)

  def test_bn_relu_train_grads(self, x64, rng):
    x = jnp.asarray(rng.normal(size=(4, 3, 5)))
    scale, bias = jnp.asarray(rng.normal(size=5)), jnp.asarray(rng.normal(size=5))
    check_grads(hourglass.bn_relu_train, (x, scale, bias), order=1, modes=["rev"])

  @pytest.mark.parametrize("cin,cout", [(6, 4), (4, 9)])  # both branches of the backward
  def test_pointwise_is_a_dense_layer(self, x64, rng, cin, cout):
    x = jnp.asarray(rng.normal(size=(2, 3, 5, cin)))
    kernel = jnp.asarray(rng.normal(size=(cin, cout)))
    np.testing.assert_allclose(hourglass.pointwise(x, kernel), x @ kernel, rtol=1e-12)
    check_grads(hourglass.pointwise, (x, kernel), order=1, modes=["rev"])
    dense = nn.Dense(cout, kernel_init=hourglass.KERNEL_INIT)
    ours = hourglass.Pointwise(cout)
    x32 = x.astype(jnp.float32)
    v_dense, v_ours = dense.init(jax.random.key(3), x32), ours.init(jax.random.key(3), x32)
    assert jax.tree.map(jnp.shape, v_dense) == jax.tree.map(jnp.shape, v_ours)
    jax.tree.map(np.testing.assert_array_equal, v_dense, v_ours)  # same names, same init
    np.testing.assert_allclose(ours.apply(v_ours, x32), dense.apply(v_dense, x32), rtol=1e-5,
                               atol=1e-5)

  @pytest.mark.parametrize("side", [1, 2, 4])  # im2col (<= 4 pixels) and the conv path
  def test_spatial_conv_matches_flax_conv(self, rng, side):
    x = jnp.asarray(rng.normal(size=(2, side, side, 5)), jnp.float32)
    ct = jnp.asarray(rng.normal(size=(2, side, side, 7)), jnp.float32)
    flax_conv = nn.Conv(7, (3, 3), padding=((1, 1), (1, 1)), kernel_init=hourglass.KERNEL_INIT)
    ours = hourglass.SpatialConv(7, 3)
    variables = flax_conv.init(jax.random.key(1), x)
    variables = jax.tree.map(lambda p: p + 0.1, variables)  # a non-zero bias
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(
        jnp.shape, variables)
    results = []
    for module in (flax_conv, ours):
      y, vjp = jax.vjp(lambda v, x, m=module: m.apply(v, x), variables, x)
      results.append((y, vjp(ct)))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
                 results[0], results[1])


class TestRegressionHeads:

  @pytest.mark.parametrize("pooling", ["avg", "flatten"])
  def test_shapes(self, pooling, rng):
    feats = jnp.asarray(rng.normal(size=(B, 4, 4, 8)), jnp.float32)
    depth_head = heads.DepthHead(num_joints=J, pooling=pooling)
    depth = depth_head.apply(depth_head.init(jax.random.key(0, impl="rbg"), feats), feats)
    assert depth.shape == (B, J) and depth.dtype == jnp.float32
    coord_head = heads.CoordinateHead(num_joints=J, pooling=pooling, dtype=jnp.bfloat16)
    out = coord_head.apply(coord_head.init(jax.random.key(0, impl="rbg"), feats), feats)
    assert out["keypoints2d"].shape == (B, J, 2) and out["depth"].shape == (B, J)
    assert out["keypoints2d"].dtype == jnp.float32

  def test_bad_pooling_and_shape(self, rng):
    feats = jnp.zeros((B, 4, 4, 8))
    with pytest.raises(ValueError, match="pooling"):
      heads.DepthHead(pooling="max").init(jax.random.key(0), feats)
    with pytest.raises(ValueError, match="features"):
      heads.DepthHead().init(jax.random.key(0), jnp.zeros((B, 8)))

  def test_coordinate_loss(self, rng):
    kp = jnp.asarray(rng.uniform(size=(B, J, 2)), jnp.float32)
    target = kp + 0.1
    depth = jnp.asarray([[0.0, 1.0, 2.0]] * B)
    relations = jnp.asarray([[[0, 1, 1], [2, 1, -1]]] * B, jnp.int8)
    loss, terms = heads.coordinate_loss(keypoints2d=kp, depth=depth,
                                        keypoints2d_target=target, relations=relations)
    np.testing.assert_allclose(terms["keyp"], J * 2 * 0.01, rtol=1e-5)
    np.testing.assert_allclose(terms["rank"], 2 * np.log1p(np.exp(-1.0)), rtol=1e-5)
    np.testing.assert_allclose(loss, terms["rank"] + 100.0 * terms["keyp"], rtol=1e-6)


def _peak_logits(shape_hw, peaks, height=30.0):
  """[1, H, W, J*D] logits with one large value per joint at (y, x, z)."""
  h, w = shape_hw
  logits = np.zeros((1, h, w, len(peaks), D), np.float32)
  for j, (y, x, z) in enumerate(peaks):
    logits[0, y, x, j, z] = height
  return jnp.asarray(logits.reshape(1, h, w, -1))


def _blob_logits(shape_hw, centre, width=1.0):
  """[1, H, W, J*D] smooth log-Gaussian blob (all joints alike) centred at (y, x, z)."""
  h, w = shape_hw
  y, x, z = np.meshgrid(np.arange(h), np.arange(w), np.arange(D), indexing="ij")
  d2 = (y - centre[0]) ** 2 + (x - centre[1]) ** 2 + (z - centre[2]) ** 2
  blob = -d2 / (2 * width ** 2)  # (H, W, D)
  return jnp.asarray(np.broadcast_to(blob[:, :, None], (h, w, J, D)).reshape(1, h, w, -1),
                     jnp.float32)


class TestVolume:

  def test_marginals_sum_to_one(self, rng):
    logits = jnp.asarray(rng.normal(size=(B, 8, 6, J * D)) * 5, jnp.float32)
    out = heads.volume_marginals(logits.astype(jnp.bfloat16), num_joints=J, depth_bins=D)
    assert out["heatmap2d"].shape == (B, 8, 6, J) and out["depth_dist"].shape == (B, J, D)
    assert out["depth"].shape == (B, J) and out["keypoints2d"].shape == (B, J, 2)
    np.testing.assert_allclose(jnp.sum(out["heatmap2d"], axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.sum(out["depth_dist"], axis=-1), 1.0, rtol=1e-5)
    assert all(v.dtype == jnp.float32 for v in out.values())

  def test_stable_for_huge_logits(self):
    logits = _peak_logits((8, 8), [(1, 2, 3), (4, 5, 0), (7, 7, 2)], height=1e4)
    out = heads.volume_marginals(logits - 5e3, num_joints=J, depth_bins=D)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in out.values())

  def test_peak_soft_argmax(self):
    peaks = [(1, 2, 3), (4, 5, 0), (7, 6, 2)]  # (y, x, z)
    out = heads.volume_marginals(_peak_logits((8, 7), peaks), num_joints=J, depth_bins=D)
    expected_xy = np.asarray([[x + 0.5, y + 0.5] for y, x, _ in peaks])
    np.testing.assert_allclose(out["keypoints2d"][0], expected_xy, atol=1e-3)
    np.testing.assert_allclose(out["depth"][0], [z for _, _, z in peaks], atol=1e-3)

  @settings(max_examples=30, deadline=None)
  @given(dy=st.integers(-2, 2), dx=st.integers(-2, 2), dz=st.integers(-1, 1))
  def test_equivariant_to_shifting_the_peak(self, dy, dx, dz):
    base = heads.volume_marginals(_blob_logits((16, 16), (7, 8, 1.5)), num_joints=J,
                                  depth_bins=D)
    moved = heads.volume_marginals(_blob_logits((16, 16), (7 + dy, 8 + dx, 1.5 + dz)),
                                   num_joints=J, depth_bins=D)
    np.testing.assert_allclose(moved["keypoints2d"] - base["keypoints2d"],
                               np.broadcast_to([dx, dy], (1, J, 2)), atol=2e-3)
    rolled = jnp.roll(base["heatmap2d"], (dy, dx), axis=(1, 2))
    np.testing.assert_allclose(moved["heatmap2d"], rolled, atol=1e-3)
    # Depth: the blob is cut by the 4-bin range, so only the direction is equivariant.
    change = np.sign(np.asarray(moved["depth"] - base["depth"]))
    np.testing.assert_array_equal(change, np.full((1, J), np.sign(dz)))

  def test_grads(self, x64, rng):
    logits = jnp.asarray(rng.normal(size=(1, 3, 2, 2 * 3)))

    @jax.jit
    def f(x):
      out = heads.volume_marginals(x, num_joints=2, depth_bins=3)
      return out["heatmap2d"], out["depth_dist"], out["depth"], out["keypoints2d"]

    check_grads(f, (logits,), order=1)

  def test_bad_shapes(self):
    with pytest.raises(ValueError, match="logits: expected shape"):
      heads.volume_marginals(jnp.zeros((1, 4, 4, 10)), num_joints=J, depth_bins=D)
    with pytest.raises(ValueError, match="depth_bins"):
      heads.volume_marginals(jnp.zeros((1, 4, 4, 0)), num_joints=J, depth_bins=0)


class TestCoordinates:

  def test_soft_argmax_uniform_and_onehot(self):
    uniform = jnp.ones((1, 4, 6, 1))
    np.testing.assert_allclose(heads.soft_argmax_2d(uniform)[0, 0], [3.0, 2.0])
    onehot = jnp.zeros((1, 4, 6, 1)).at[0, 3, 1, 0].set(7.0)  # unnormalised weights
    np.testing.assert_allclose(heads.soft_argmax_2d(onehot)[0, 0], [1.5, 3.5])

  def test_heatmap_image_scaling(self, rng):
    cells = jnp.asarray([[0.5, 0.5], [63.5, 10.5], [64.0, 0.0]])
    img = heads.heatmap_to_image_coords(cells, heatmap_size=(64, 64), image_size=(256, 256))
    # Cell (0, 0)'s centre is the centre of image block [0, 4)^2; corners map to corners.
    np.testing.assert_allclose(img, [[2.0, 2.0], [254.0, 42.0], [256.0, 0.0]])
    xy = jnp.asarray(rng.uniform(0, 32, size=(2, J, 2)), jnp.float32)
    back = heads.image_to_heatmap_coords(
        heads.heatmap_to_image_coords(xy, heatmap_size=(32, 16), image_size=(128, 96)),
        heatmap_size=(32, 16), image_size=(128, 96))
    np.testing.assert_allclose(back, xy, rtol=1e-6)
    with pytest.raises(ValueError, match="heatmap_size"):
      heads.heatmap_to_image_coords(xy, heatmap_size=(0, 4), image_size=(4, 4))

  def test_volume_to_pose(self, rng):
    kp = jnp.asarray(rng.uniform(0, 64, size=(B, J, 2)), jnp.float32)
    bins = jnp.asarray([[0.0, 32.0, 63.0]] * B)
    pose = heads.volume_to_pose(kp, bins, depth_bins=64, root=1)
    np.testing.assert_allclose(pose[:, 1, :2], 0.0)
    np.testing.assert_allclose(jnp.max(jnp.abs(pose[..., :2]), axis=(1, 2)), 1.0, rtol=1e-6)
    # Pavlakos' released code: z = (bin - 33) / 32 with one-based bins (bin = k + 1).
    np.testing.assert_allclose(pose[..., 2], (bins + 1 - 33) / 32)
    ratio = (pose[:, 0, :2] / (kp[:, 0] - kp[:, 1]))  # one scale for x and y
    np.testing.assert_allclose(ratio[:, 0], ratio[:, 1], rtol=1e-5)
    collapsed = heads.volume_to_pose(jnp.ones((1, J, 2)), jnp.zeros((1, J)), depth_bins=64)
    assert bool(jnp.all(jnp.isfinite(collapsed)))
