"""Tests for Habibie et al.'s explicit-2D method (jaxpose.methods.explicit2d) on a tiny network."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpose import losses, methods, skeleton
from jaxpose.methods import explicit2d
from jaxpose.results import load_config
from jaxpose.train import data as data_lib

B, S, J = 4, 32, 17  # batch, crop side (2x2 heatmaps), joints
SPEC = "configs/explicit2d.py"
TINY = (("model.feature_channels", 24), ("model.width", 32), ("model.stage_sizes", (1, 1, 2)),
        ("model.num_filters", 4), ("model.res5a_features", 24), ("model.aux_block", 1),
        ("model.camera_width", 16), ("model.camera_layers", 1),
        ("data.augment.output_size", S))
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
_KEY = functools.partial(jax.random.key, impl="rbg")


def _config(variant="", **extra):
  return load_config(f"{SPEC}:{variant}" if variant else SPEC, TINY + tuple(extra.items()))


def _index_in_pool(share, want):
  """An example index that is (want=True) or is not in the 2D-only pool."""
  idx = np.arange(64, dtype=np.int32)
  return int(idx[np.asarray(explicit2d.in_2d_pool(idx, share)) == want][0])


def _batch(rng, config):
  """Example 0: 3D + 2D; 1: 2D only; 2: padding; 3: 3D + 2D but in the 2D-only pool."""
  b = data_lib.dummy_batch(config, B, with_image=True)
  b["image"] = rng.integers(0, 256, b["image"].shape).astype(np.uint8)
  b["keypoints2d"] = rng.uniform(2, S - 2, b["keypoints2d"].shape).astype(np.float32)
  b["keypoints3d"] = (rng.normal(size=b["keypoints3d"].shape) * 0.3 + [0, 0, 4]).astype(
      np.float32)
  b["joint_mask"][:] = True
  b["visible"][:] = True
  b["has_3d"][:] = [True, False, False, True]
  b["valid"][:] = [True, True, False, True]
  share = config.explicit2d.share_2d_only
  b["index"] = np.array([_index_in_pool(share, False)] * 2 + [-1, _index_in_pool(share, True)],
                        np.int32)
  return jax.tree.map(jnp.asarray, b)


def _compile(fn, *args):
  return jax.jit(fn).lower(*args).compile(_FAST_COMPILE)


@functools.lru_cache(maxsize=None)
def _setup(variant=""):
  """(method, batch, variables, step): step(params, batch) -> (loss, aux, d params,
  d keypoints2d, d keypoints3d)."""
  config = _config(variant)
  method = methods.get_method(config)
  batch = _batch(np.random.default_rng(0), config)
  variables = _compile(method.init, _KEY(0), batch)(_KEY(0), batch)

  def step(params, batch):
    def loss(params, kp2d, kp3d):
      b = {**batch, "keypoints2d": kp2d, "keypoints3d": kp3d}
      return method.loss({**variables, "params": params}, b, _KEY(1))
    (value, aux), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
        params, batch["keypoints2d"], batch["keypoints3d"])
    return (value, aux, *grads)

  return method, batch, variables, _compile(step, variables["params"], batch)


# ---------------------------------------------------------------------- network level


def test_registry_and_config_variants():
  assert methods.METHODS["explicit2d"] is explicit2d.explicit2d
  c = _config()
  assert c.explicit2d.projection_loss and c.explicit2d.use_2d_only
  a = _config("quick,noproj,no2d")
  assert not a.explicit2d.projection_loss and not a.explicit2d.use_2d_only
  assert _config("no2d").explicit2d.projection_loss
  paper = load_config(SPEC)
  assert (paper.batch_size, paper.num_steps, paper.data.augment.output_size) == (10, 240_000,
                                                                                 256)
  assert paper.loss.pose_weight == 10 and paper.loss.bone_length_weight == 100


def test_loss_grads_finite_and_predict_shapes():
  method, batch, variables, step = _setup()
  loss, aux, grads, g2d, g3d = step(variables["params"], batch)
  assert np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads)) > 0
  assert set(explicit2d.WEIGHT_FIELDS) <= set(aux["metrics"])
  # Example 0 gives 3D; 1 (no 3D), 2 (padding) and 3 (in the 2D-only pool) give none.
  g3d = np.asarray(g3d)
  assert np.abs(g3d[0]).sum() > 0
  np.testing.assert_array_equal(g3d[1:], 0)
  # 2D: every used example (0, 1, 3) gives a 2D term, the padding row none.
  g2d = np.asarray(g2d)
  assert all(np.abs(g2d[i]).sum() > 0 for i in (0, 1, 3))
  np.testing.assert_array_equal(g2d[2], 0)
  out = jax.jit(method.predict_outputs)(variables, batch)
  assert out["pose3d"].shape == (B, J, 3) and out["keypoints2d"].shape == (B, J, 2)
  np.testing.assert_allclose(out["pose3d"][:, skeleton.H36M17.root], 0, atol=1e-6)  # root-rel.
  np.testing.assert_allclose(out["depth"], out["pose3d"][..., 2], atol=1e-6)
  assert np.all((out["keypoints2d"] >= 0) & (out["keypoints2d"] <= S))
  np.testing.assert_allclose(jax.jit(method.predict)(variables, batch), out["pose3d"])


def test_ablation_switches_terms():
  for variant, has_proj in (("", True), ("no2d", True), ("noproj,no2d", False)):
    config = _config(variant)
    method = methods.get_method(config)
    batch = _batch(np.random.default_rng(0), config)
    variables = jax.eval_shape(method.init, _KEY(0), batch)
    _, aux = jax.eval_shape(method.loss, variables, batch, _KEY(1))
    assert ("proj" in aux["metrics"]) == has_proj


def test_training_steps_lower_the_loss():
  method, batch, variables, step = _setup()
  params = variables["params"]
  tx = optax.adam(1e-3)
  opt = tx.init(params)
  first = None
  for _ in range(12):
    loss, _, grads, _, _ = step(params, batch)
    first = float(loss) if first is None else first
    updates, opt = tx.update(grads, opt, params)
    params = optax.apply_updates(params, updates)
  assert float(step(params, batch)[0]) < 0.5 * first


# ---------------------------------------------------------------------- loss terms


def _fake_out(rng):
  return {"heatmaps": jnp.asarray(rng.normal(size=(B, 4, 4, J)), jnp.float32),
          "intermediate_heatmaps": jnp.asarray(rng.normal(size=(2, B, 4, 4, J)), jnp.float32),
          "pose3d": jnp.asarray(rng.normal(size=(B, J, 3)), jnp.float32),
          "camera": jnp.asarray([[0.5, 0.5, 0.45, 0.45]] * B, jnp.float32)}


def _terms(batch, only, *, use_2d_only=True):
  """Loss terms of the batch restricted to example `only` (the others made padding)."""
  b = {**batch, "valid": batch["valid"] & (jnp.arange(B) == only)}
  masks = explicit2d.example_masks(b, share_2d_only=0.5, use_2d_only=use_2d_only)
  ref = jnp.full((B, len(skeleton.H36M17.bones)), 0.25)
  return explicit2d.loss_terms(_fake_out(np.random.default_rng(1)), b, masks,
                               reference_lengths=ref, sigma=1.0, projection_loss=True)


@pytest.mark.parametrize("only, has", [(0, {"pose", "bone_vector", "heat", "heat_inter",
                                             "proj"}),
                                       (1, {"heat", "heat_inter", "proj", "bone_length"}),
                                       (2, set()),
                                       (3, {"heat", "heat_inter", "proj", "bone_length"})])
def test_each_term_masked_per_example(rng, only, has):
  batch = _batch(rng, _config())
  terms = {k: float(v) for k, v in _terms(batch, only).items()}
  assert {k for k, v in terms.items() if v != 0} == has, terms


def test_no_2d_only_data_drops_the_pool_and_examples_without_3d(rng):
  batch = _batch(rng, _config())
  for only in (1, 3):
    assert all(float(v) == 0 for v in _terms(batch, only, use_2d_only=False).values())


def test_bone_length_term_uses_each_examples_reference(rng):
  batch = _batch(rng, _config())
  b = {**batch, "valid": jnp.arange(B) == 1}
  masks = explicit2d.example_masks(b, share_2d_only=0.5, use_2d_only=True)
  out = _fake_out(np.random.default_rng(1))
  pose = explicit2d.pose_metres(out)
  bones = np.asarray(skeleton.H36M17.bones)
  exact = np.linalg.norm(np.asarray(pose)[:, bones[:, 0]] - np.asarray(pose)[:, bones[:, 1]],
                         axis=-1)
  terms = explicit2d.loss_terms(out, b, masks, reference_lengths=jnp.asarray(exact),
                                sigma=1.0, projection_loss=False)
  assert float(terms["bone_length"]) < 1e-6
  assert "proj" not in terms


def test_projection_term_is_zero_for_an_exact_camera(rng):
  batch = _batch(rng, _config())
  out = _fake_out(rng)
  pose = np.asarray(explicit2d.pose_metres(out))
  alpha, center = np.array([0.4, 0.5]), np.array([0.45, 0.55])
  kp2d = (pose[..., :2] * alpha + center) * S  # crop pixels
  b = {**batch, "keypoints2d": jnp.asarray(kp2d, jnp.float32), "valid": jnp.arange(B) == 1}
  out["camera"] = jnp.asarray(np.tile(np.r_[center, alpha], (B, 1)), jnp.float32)
  masks = explicit2d.example_masks(b, share_2d_only=0.5, use_2d_only=True)
  terms = explicit2d.loss_terms(out, b, masks, reference_lengths=jnp.zeros(16), sigma=1.0,
                                projection_loss=True)
  assert float(terms["proj"]) < 1e-9


# ---------------------------------------------------------------------- helpers


def test_pool_share_and_determinism():
  idx = np.arange(20_000, dtype=np.int32)
  for share in (0.0, 0.25, 0.5):
    frac = float(np.mean(explicit2d.in_2d_pool(idx, share)))
    assert abs(frac - share) < 0.01
  np.testing.assert_array_equal(explicit2d.in_2d_pool(idx, 0.5), explicit2d.in_2d_pool(idx, 0.5))


def test_decode_heatmaps_recovers_keypoints(rng):
  kp = rng.uniform(8, 56, (3, J, 2)).astype(np.float32)  # 64 px image, 16x16 heatmaps
  maps = losses.gaussian_heatmaps(jnp.asarray(kp) / 4, size=(16, 16), sigma=1.0)
  out = np.asarray(explicit2d.decode_heatmaps(maps, image_size=(64, 64)))
  assert np.abs(out - kp).max() < 2.0  # within half a 4-px cell


def test_subject_bone_lengths_are_training_subjects():
  config = _config()
  lengths = explicit2d.subject_bone_lengths(config)
  data, _, _ = data_lib.mocap_split(config)
  n_subjects = len(data["subject_names"]) - len(config.data.test_subjects)
  assert lengths.shape == (n_subjects, len(skeleton.H36M17.bones))
  assert np.all((lengths > 0.02) & (lengths < 0.7))


def test_motions_variant_holds_out_dance_of_every_subject():
  config = load_config(f"{SPEC}:quick,motions")
  assert config.data.source == "mocap_images/motions"
  data, train, test = data_lib.mocap_split(config)
  names = np.asarray(data["sequence_names"])[data["sequence"]]
  assert all(n.startswith(("cmu_salsa", "cmu_iclone")) or "dance" in n for n in names[test])
  assert not any("dance" in n or n.startswith("cmu_salsa") for n in names[train])
  subjects = set(np.asarray(data["subject_names"])[data["subject"][train]].tolist())
  assert {"cmu_02", "cmu_35"} <= subjects and not {"cmu_05", "cmu_60"} & subjects
  # the bone-length pool is the training subjects: no dance-only subject
  assert len(explicit2d.subject_bone_lengths(config)) == len(subjects)


@pytest.mark.parametrize("field, value, match", [
    ("explicit2d.share_2d_only", 1.5, "share_2d_only"),
    ("explicit2d.share_2d_only", -0.1, "share_2d_only"),
    ("loss.heat_weight", float("nan"), "heat_weight"),
    ("explicit2d.heatmap_sigma", 0.0, "heatmap_sigma"),
    ("loss.proj_weight", -1.0, "proj_weight"),
])
def test_bad_config_values_one_line_errors(field, value, match):
  config = _config()
  parent, leaf = field.split(".")
  with config.unlocked():
    config[parent][leaf] = value
  with pytest.raises(ValueError, match=match) as e:
    methods.get_method(config)
  assert "\n" not in str(e.value)


def test_use_2d_only_needs_a_pool():
  config = _config(**{"explicit2d.share_2d_only": 0.0})
  with pytest.raises(ValueError, match="use_2d_only"):
    methods.get_method(config)
  methods.get_method(_config("no2d", **{"explicit2d.share_2d_only": 0.0}))


def test_unknown_variant():
  with pytest.raises(ValueError, match="unknown 'bogus'"):
    _config("bogus")
