"""Tests for jaxpose.models.lifting: lifting MLPs, input normalisation, registry."""

import flax.traverse_util
import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxpose.models import lifting

J = 5  # joints in the tiny-model tests
B = 4


def _inputs(name, rng, num_joints=J):
  """Random inputs for the model kind `name` (positional args of __call__)."""
  kp = jnp.asarray(rng.normal(size=(B, num_joints, 2)), jnp.float32)
  if name.startswith("dpnet"):
    ranking = jnp.asarray(rng.uniform(size=(B, num_joints, num_joints)), jnp.float32)
    return ranking, kp
  if name.startswith("reconstruction"):
    return (jnp.asarray(rng.normal(size=(B, num_joints, 3)), jnp.float32),)
  return (kp.reshape(B, -1),)


def _tiny(name, **kw):
  if name == "martinez":
    return lifting.MartinezLifterTiny(out_dim=3 * J, **kw)
  return lifting.get_model(f"{name}_tiny", num_joints=J, **kw)


def _init(model, args):
  return model.init(jax.random.key(0), *args, train=False)


def _train_apply(model, variables, args, seed=1):
  return model.apply(variables, *args, train=True, rngs={"dropout": jax.random.key(seed)},
                     mutable=["batch_stats"])


def _first(out):
  """The pose array of any model's output."""
  if isinstance(out, dict):
    return out["pose2"]
  if isinstance(out, tuple):
    return out[0]
  return out


MODELS = ["martinez", "ronchi", "reconstruction", "dpnet"]
EXPECTED = {
    "martinez": (B, 3 * J),
    "ronchi": ((B, J, 3), (B,)),
    "reconstruction": (B, J, 3),
    "dpnet": {"coarse_depth": (B, J), "pose1": (B, J, 3), "pose2": (B, J, 3)},
}


class TestModels:

  @pytest.mark.parametrize("name", MODELS)
  def test_shapes_train_and_eval(self, name, rng):
    model, args = _tiny(name), _inputs(name, rng)
    variables = _init(model, args)
    shape = lambda t: jax.tree.map(lambda x: tuple(x.shape), t)
    eval_out = model.apply(variables, *args, train=False)
    train_out, _ = _train_apply(model, variables, args)
    assert shape(eval_out) == EXPECTED[name]
    assert shape(train_out) == EXPECTED[name]
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(train_out))

  @pytest.mark.parametrize("name", MODELS)
  def test_jit_grad_finite(self, name, rng):
    model, args = _tiny(name), _inputs(name, rng)
    variables = _init(model, args)

    @jax.jit
    def loss_grad(params):
      def loss(p):
        out, _ = _train_apply(model, {"params": p, "batch_stats": variables["batch_stats"]},
                              args)
        return sum(jnp.mean(x ** 2) for x in jax.tree.leaves(out))
      return jax.value_and_grad(loss)(params)

    value, grads = loss_grad(variables["params"])
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
    # The first layer of every MLP gets a gradient (nothing is cut off).
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
      if "dense_in" in jax.tree_util.keystr(path) and "kernel" in jax.tree_util.keystr(path):
        assert np.abs(g).max() > 0, path

  def test_batch_stats_update_only_in_train(self, rng):
    model, args = _tiny("martinez"), _inputs("martinez", rng)
    variables = _init(model, args)
    stats = variables["batch_stats"]
    _, eval_upd = model.apply(variables, *args, train=False, mutable=["batch_stats"])
    _, train_upd = _train_apply(model, variables, args)
    same = jax.tree.map(np.array_equal, stats, eval_upd["batch_stats"])
    changed = jax.tree.map(lambda a, b: not np.allclose(a, b), stats, train_upd["batch_stats"])
    assert all(jax.tree.leaves(same))
    assert all(jax.tree.leaves(changed))
    # Flax convention: running = 0.9 running + 0.1 batch (PyTorch momentum 0.1).
    h = args[0] @ variables["params"]["trunk"]["dense_in"]["kernel"]  # no bias before BN
    np.testing.assert_allclose(train_upd["batch_stats"]["trunk"]["bn_in"]["mean"],
                               0.1 * h.mean(0), rtol=1e-4, atol=1e-6)

  def test_dropout_only_in_train(self, rng):
    model, args = _tiny("martinez", dropout=0.5), _inputs("martinez", rng)
    variables = _init(model, args)
    e1 = model.apply(variables, *args, train=False, rngs={"dropout": jax.random.key(1)})
    e2 = model.apply(variables, *args, train=False, rngs={"dropout": jax.random.key(2)})
    t1, _ = _train_apply(model, variables, args, seed=1)
    t1b, _ = _train_apply(model, variables, args, seed=1)
    t2, _ = _train_apply(model, variables, args, seed=2)
    np.testing.assert_array_equal(e1, e2)
    np.testing.assert_array_equal(t1, t1b)
    assert not np.allclose(t1, t2)
    no_drop = _tiny("martinez", dropout=0.0)
    d1, _ = _train_apply(no_drop, variables, args, seed=1)
    d2, _ = _train_apply(no_drop, variables, args, seed=2)
    np.testing.assert_array_equal(d1, d2)

  def test_without_batch_norm(self, rng):
    model, args = _tiny("martinez", use_bn=False), _inputs("martinez", rng)
    variables = _init(model, args)
    assert "batch_stats" not in variables
    assert model.apply(variables, *args, train=False).shape == (B, 3 * J)

  def test_bfloat16_compute_keeps_float32_params_and_output(self, rng):
    model, args = _tiny("martinez", dtype=jnp.bfloat16), _inputs("martinez", rng)
    variables = _init(model, args)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(variables))
    out, _ = _train_apply(model, variables, args)
    ref, _ = _train_apply(_tiny("martinez"), variables, args)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref, rtol=0.1, atol=0.1)

  def test_martinez_param_count_is_torch_reference_less_pre_bn_biases(self):
    """torch_lifting_ref.Lifter's count less the biases of the Linears that BN follows."""
    w, d_in, d_out = 1024, 34, 51
    linear = lambda i, o: i * o + o
    bn = 2 * w  # torch BatchNorm1d parameters (weight, bias); running stats are buffers
    block = 2 * (linear(w, w) + bn)
    for stages in (1, 2):
      torch_count = linear(d_in, w) + bn + stages * block + linear(w, d_out)
      pre_bn_biases = (1 + 2 * stages) * w
      for use_bn, expected in ((True, torch_count - pre_bn_biases),
                               (False, torch_count - (1 + 2 * stages) * bn)):
        model = lifting.MartinezLifter(width=w, num_stages=stages, use_bn=use_bn)
        shapes = jax.eval_shape(
            lambda k, m=model: m.init(k, jnp.zeros((2, d_in)), train=False),
            jax.random.key(0))
        assert sum(x.size for x in jax.tree.leaves(shapes["params"])) == expected

  def test_no_bias_before_batch_norm(self, rng):
    """Every Dense that BN follows has no bias (BN cancels it); the others keep theirs."""
    for name in ("martinez", "ronchi", "reconstruction", "dpnet"):
      for use_bn in (True, False):
        if name == "dpnet" and not use_bn:
          continue  # DPNet always uses batch norm
        model = _tiny(name, **({} if name == "dpnet" else {"use_bn": use_bn}))
        params = flax.traverse_util.flatten_dict(_init(model, _inputs(name, rng))["params"])
        for path in {p[:-1] for p in params if len(p) > 1 and p[-2].startswith("dense_")}:
          pre_bn = use_bn and path[-1] != "dense_out" and path[-1] != "dense_scale"
          assert ((*path, "bias") in params) != pre_bn, (name, use_bn, path)

  def test_martinez_accepts_unflattened_2d(self, rng):
    model = _tiny("martinez")
    kp = jnp.asarray(rng.normal(size=(B, J, 2)), jnp.float32)
    variables = _init(model, (kp,))
    np.testing.assert_array_equal(model.apply(variables, kp, train=False),
                                  model.apply(variables, kp.reshape(B, -1), train=False))

  def test_ronchi_scale_and_multiplier(self, rng):
    model, args = _tiny("ronchi"), _inputs("ronchi", rng)
    variables = _init(model, args)
    mult = variables["params"]["output_multiplier"]
    assert mult.shape == (3 * J,)
    np.testing.assert_array_equal(mult, 100.0)
    pose, scale = model.apply(variables, *args, train=False)
    assert np.all((scale > 0) & (scale < 1))
    params = dict(variables["params"], output_multiplier=jnp.arange(3 * J, dtype=jnp.float32))
    pose2, scale2 = model.apply(dict(variables, params=params), *args, train=False)
    np.testing.assert_allclose(pose2 * 100.0, pose * jnp.arange(3 * J).reshape(J, 3),
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(scale, scale2)
    other = lifting.RonchiLifterTiny(num_joints=J, scale_init=7.0).init(
        jax.random.key(0), *args, train=False)
    np.testing.assert_array_equal(other["params"]["output_multiplier"], 7.0)

  def test_dpnet_residual_structure(self, rng):
    model, (ranking, kp) = _tiny("dpnet"), _inputs("dpnet", rng)
    variables = _init(model, (ranking, kp))
    out = model.apply(variables, ranking, kp, train=False)
    stage2 = lifting.MartinezLifter(width=32, num_stages=1, out_dim=3 * J)
    sub = {c: variables[c]["pose_stage2"] for c in ("params", "batch_stats")}
    inp = jnp.concatenate([out["coarse_depth"], kp.reshape(B, -1),
                           out["pose1"].reshape(B, -1)], axis=-1)
    residual = stage2.apply(sub, inp, train=False).reshape(B, J, 3)
    np.testing.assert_allclose(out["pose2"] - out["pose1"], residual, rtol=1e-5, atol=1e-5)
    assert set(variables["params"]) == {"depth_net", "pose_stage1", "pose_stage2"}
    blocks = [k for k in variables["params"]["depth_net"]["trunk"] if k.startswith("block")]
    assert len(blocks) == 1
    assert lifting.DPNet().num_stages == 2  # paper: two residual blocks per MLP

  def test_reconstruction_layout(self):
    x = jnp.arange(2 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 3)
    flat = lifting.stack_coordinates(x)
    np.testing.assert_array_equal(flat[0], np.concatenate([x[0, :, 0], x[0, :, 1], x[0, :, 2]]))
    np.testing.assert_array_equal(lifting.unstack_coordinates(flat, 3), x)

  def test_bad_inputs(self, rng):
    dp = _tiny("dpnet")
    ranking, kp = _inputs("dpnet", rng)
    with pytest.raises(ValueError, match="ranking"):
      _init(dp, (ranking[:, :, :-1], kp))
    with pytest.raises(ValueError, match="keypoints2d"):
      _init(dp, (ranking, kp[:, :-1]))
    with pytest.raises(ValueError, match="x: expected shape"):
      _init(_tiny("reconstruction"), (jnp.zeros((B, J + 1, 3)),))
    with pytest.raises(ValueError, match="x: expected shape"):
      _init(_tiny("martinez"), (jnp.zeros((B,)),))
    with pytest.raises(ValueError, match="dropout"):
      _init(_tiny("martinez", dropout=1.0), _inputs("martinez", rng))
    with pytest.raises(ValueError, match="width"):
      _init(_tiny("ronchi", width=0), _inputs("ronchi", rng))
    block = lifting.ResidualBlock(width=8, dropout=0.1)
    with pytest.raises(ValueError, match=r"x: expected shape \[B, 8\]"):
      block.init(jax.random.key(0), jnp.zeros((2, 7)), train=False)


class TestDropout:

  @pytest.mark.parametrize("shape", [(7,), (64, 1024), (3, 5, 11)])
  def test_bernoulli_half_is_fair_and_independent(self, shape):
    masks = np.stack([np.asarray(lifting.bernoulli_half(jax.random.key(s), shape))
                      for s in range(40)])  # (40, *shape)
    assert masks.shape == (40, *shape) and masks.dtype == bool
    n = masks.size
    assert abs(masks.mean() - 0.5) < 4 * 0.5 / np.sqrt(n)  # 4 sigma
    flat = masks.reshape(40, -1).astype(float)
    if flat.shape[1] >= 64:  # neighbouring entries (bits of one word) are uncorrelated
      corr = np.corrcoef(flat[:, :-1].ravel(), flat[:, 1:].ravel())[0, 1]
      assert abs(corr) < 4 / np.sqrt(flat[:, 1:].size)
    # deterministic per key, different across keys
    np.testing.assert_array_equal(lifting.bernoulli_half(jax.random.key(3), shape), masks[3])
    assert (masks[0] != masks[1]).any()

  @pytest.mark.parametrize("rate", [0.5, 0.2])
  def test_inverted_dropout(self, rate):
    x = jnp.ones((200, 50))
    y = lifting.Dropout(rate).apply({}, x, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / (1 - rate), rtol=1e-6)
    assert abs(kept.mean() - (1 - rate)) < 0.01
    np.testing.assert_array_equal(
        lifting.Dropout(rate, deterministic=True).apply({}, x), x)


class TestRegistry:

  def test_known_models(self):
    assert set(lifting.LIFTING_MODELS) >= {"martinez", "ronchi", "reconstruction", "dpnet"}
    model = lifting.get_model("martinez", num_stages=3)
    assert isinstance(model, lifting.MartinezLifter) and model.num_stages == 3
    assert model.width == 1024
    tiny = lifting.get_model("ronchi_tiny")
    assert isinstance(tiny, lifting.RonchiLifter) and tiny.width == 32

  def test_unknown_name_lists_known(self):
    with pytest.raises(ValueError, match="unknown name 'nope'.*martinez"):
      lifting.get_model("nope")

  def test_unknown_attribute(self):
    with pytest.raises(ValueError, match=r"unknown attributes \['depth'\]"):
      lifting.get_model("dpnet", depth=3)


class TestNormalize2d:

  @settings(max_examples=30, deadline=None)
  @given(kp=hnp.arrays(np.float64, (3, 6, 2), elements=st.floats(-500, 500)),
         shift=hnp.arrays(np.float64, (3, 1, 2), elements=st.floats(-1e3, 1e3)),
         factor=st.floats(0.05, 20.0), root=st.integers(0, 5))
  def test_translation_and_scale_invariance(self, kp, shift, factor, root):
    spread = np.sqrt(np.mean(np.sum((kp - kp[:, root:root + 1]) ** 2, -1), -1))
    keep = spread > 1e-3  # away from the degenerate (scale-1) case
    kp, shift = kp[keep], shift[keep]
    with jax.enable_x64(True):
      x, s = lifting.normalize_2d(jnp.asarray(kp), root=root)
      x2, s2 = lifting.normalize_2d(jnp.asarray(kp * factor + shift), root=root)
      x, s, x2, s2 = map(np.asarray, (x, s, x2, s2))
    np.testing.assert_allclose(x2, x, atol=1e-6)
    np.testing.assert_allclose(s2, s * factor, rtol=1e-6)

  def test_definition(self, rng):
    kp = rng.normal(size=(2, 5, 2)) * 50 + 100
    x, s = lifting.normalize_2d(jnp.asarray(kp), root=1)
    centred = kp - kp[:, 1:2]
    expected_s = np.sqrt(np.sum(centred ** 2, axis=(1, 2)) / 4)
    np.testing.assert_allclose(s, expected_s, rtol=1e-5)
    np.testing.assert_allclose(x, centred / expected_s[:, None, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x[:, 1], 0.0)

  def test_mask_excludes_joints(self, rng):
    kp = rng.normal(size=(2, 5, 2))
    mask = np.array([[True, True, True, False, True]] * 2)
    far = kp.copy()
    far[:, 3] = 1e4
    x, s = lifting.normalize_2d(jnp.asarray(far), mask=jnp.asarray(mask))
    x_ref, s_ref = lifting.normalize_2d(jnp.asarray(kp[:, [0, 1, 2, 4]]))
    np.testing.assert_allclose(s, s_ref, rtol=1e-6)
    np.testing.assert_allclose(x[:, [0, 1, 2, 4]], x_ref, rtol=1e-6)
    np.testing.assert_array_equal(x[:, 3], 0.0)

  def test_degenerate_pose_and_gradient(self):
    kp = jnp.full((1, 4, 2), 3.0)
    x, s = lifting.normalize_2d(kp)
    np.testing.assert_array_equal(s, 1.0)
    np.testing.assert_array_equal(x, 0.0)
    g = jax.grad(lambda k: jnp.sum(lifting.normalize_2d(k)[0]))(kp)
    assert np.all(np.isfinite(g))

  def test_errors(self):
    with pytest.raises(ValueError, match="keypoints2d"):
      lifting.normalize_2d(jnp.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match="root"):
      lifting.normalize_2d(jnp.zeros((2, 5, 2)), root=5)
    with pytest.raises(ValueError, match="mask: the root joint 0"):
      lifting.normalize_2d(jnp.ones((2, 5, 2)), mask=jnp.array([[True] * 5, [False] * 5]))
    with pytest.raises(ValueError, match="mask"):
      lifting.normalize_2d(jnp.ones((2, 5, 2)), mask=jnp.ones((2, 4), bool))


class TestDepthRankTarget:

  def test_normalised_permutation(self, rng):
    depth = rng.normal(size=(3, 17)) + 5.0
    o = np.asarray(lifting.depth_rank_target(jnp.asarray(depth)))
    ranks = np.arange(17.0)
    expected_values = (ranks - ranks.mean()) / ranks.std()
    for row, d in zip(o, depth):
      np.testing.assert_allclose(np.sort(row), expected_values, rtol=1e-5, atol=1e-6)
      np.testing.assert_array_equal(np.argsort(row), np.argsort(d))  # closest -> lowest
    np.testing.assert_allclose(o.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(o.std(-1), 1.0, rtol=1e-5)

  def test_ties_and_single_joint(self):
    o = lifting.depth_rank_target(jnp.array([[2.0, 1.0, 2.0]]))
    np.testing.assert_allclose(o, [[0.0, -np.sqrt(1.5), np.sqrt(1.5)]], rtol=1e-6)
    np.testing.assert_array_equal(lifting.depth_rank_target(jnp.ones((2, 1))), 0.0)
    with pytest.raises(ValueError, match="depth"):
      lifting.depth_rank_target(jnp.float32(1.0))


class TestStandardize:

  def test_moments_and_constant_slice(self, rng):
    x = jnp.asarray(rng.normal(size=(4, 6)) * 3 + 2)
    y = lifting.standardize(x, axis=-1)
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-6)
    np.testing.assert_allclose(y.std(-1), 1.0, rtol=1e-5)
    c = lifting.standardize(jnp.full((2, 3), 4.0), axis=(0, 1))
    np.testing.assert_array_equal(c, 0.0)
    g = jax.grad(lambda v: jnp.sum(lifting.standardize(v) ** 2))(jnp.full((3,), 4.0))
    assert np.all(np.isfinite(g))
