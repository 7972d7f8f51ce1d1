"""Tests for Pavlakos' image methods (jaxpose.methods.image) on tiny networks, and 2D PCK."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose import methods, metrics, ordinal
from jaxpose.data import augment
from jaxpose.methods import image
from jaxpose.models import heads
from jaxpose.results import load_config
from jaxpose.train import data as data_lib
from jaxpose.train import train_lib

B, S = 4, 16  # batch, crop side of the tiny tests
SPECS = {"ordinal_depth": "configs/ordinal_depth.py",
         "ordinal_coordinates": "configs/ordinal_coordinates.py",
         "ordinal_volumetric": "configs/ordinal_volumetric.py"}


def _config(name, supervision="ordinal", **extra):
  overrides = (("model.name", "hourglass_tiny"), ("model.num_stacks", 1),
               ("model.depth", 1), ("model.features", 8), ("head.depth_bins", 4),
               ("reconstruction.width", 32), ("reconstruction.num_stages", 1),
               ("data.augment.output_size", S), ("supervision", supervision))
  return load_config(SPECS[name], overrides + tuple(extra.items()))


def _batch(rng, config):
  """A mixed batch: example 0 has everything, 1 no 3D, 2 only relations, 3 only 2D."""
  b = data_lib.dummy_batch(config, B, with_image=True)
  b["image"] = rng.integers(0, 256, b["image"].shape).astype(np.uint8)
  b["keypoints2d"] = rng.uniform(1, S - 1, b["keypoints2d"].shape).astype(np.float32)
  b["keypoints3d"] = (rng.normal(size=b["keypoints3d"].shape) * 0.3 + [0, 0, 4]).astype(
      np.float32)
  rel = ordinal.relations_from_depth(b["keypoints3d"][..., 2], tol=0.1)
  b["relations"] = rel.astype(np.int8)
  b["joint_mask"][:] = [[True], [True], [False], [True]]
  b["joint_mask"][:, 0] = True  # the MLP's input normalisation needs the root
  b["visible"] = b["joint_mask"].copy()
  b["has_3d"][:] = [True, False, False, False]
  b["has_ordinal"][:] = [True, True, True, False]
  b["relation_mask"][:] = b["has_ordinal"][:, None]
  b["index"] = np.arange(B, dtype=np.int32)
  return jax.tree.map(jnp.asarray, b)


# XLA at -O0: these tests run each network a few times, so compile time is what counts.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
_KEY = functools.partial(jax.random.key, impl="rbg")  # compiles faster than threefry


def _compile(fn, *args):
  return jax.jit(fn).lower(*args).compile(_FAST_COMPILE)


@functools.lru_cache(maxsize=None)
def _variables(name):
  """Initial variables of `name`'s network (the same for both supervisions)."""
  method = methods.get_method(_config(name))
  batch = _batch(np.random.default_rng(0), _config(name))
  return _compile(method.init, _KEY(0), batch)(_KEY(0), batch)


@functools.lru_cache(maxsize=None)
def _setup(name, supervision):
  """(method, batch, variables, step): `step(params, batch)` -> (loss, aux, d loss /
  d params, d loss / d keypoints2d, d loss / d keypoints3d), compiled once per method."""
  config = _config(name, supervision)
  method = methods.get_method(config)
  batch = _batch(np.random.default_rng(0), config)
  variables = _variables(name)

  def step(params, batch):
    def loss(params, kp2d, kp3d):
      b = {**batch, "keypoints2d": kp2d, "keypoints3d": kp3d}
      return method.loss({**variables, "params": params}, b, _KEY(1))
    (value, aux), grads = jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True)(
        params, batch["keypoints2d"], batch["keypoints3d"])
    return (value, aux, *grads)

  return method, batch, variables, _compile(step, variables["params"], batch)


def test_registry():
  for name in SPECS:
    assert methods.METHODS[name] is getattr(image, name)
    assert methods.get_method(_config(name)).data_kind == "image"


@pytest.mark.parametrize("supervision", ["ordinal", "full"])
@pytest.mark.parametrize("name", list(SPECS))
def test_loss_grads_finite_and_predict_shapes(name, supervision):
  method, batch, variables, step = _setup(name, supervision)
  loss, aux, grads, _, _ = step(variables["params"], batch)
  assert np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  expected = {"rank", "recon"} | ({"depth_l2"} if supervision == "full" else set())
  expected |= {"ordinal_coordinates": {"keyp"}, "ordinal_volumetric": {"heat"}}.get(name, set())
  assert expected <= set(aux["metrics"])
  assert all(np.isfinite(float(v)) for v in aux["metrics"].values())
  out = jax.eval_shape(method.predict_outputs, variables, batch)
  assert out["pose3d"].shape == (B, 17, 3) and out["depth"].shape == (B, 17)
  assert ("keypoints2d" in out) == (name != "ordinal_depth")
  assert jax.eval_shape(method.predict, variables, batch).shape == (B, 17, 3)


@pytest.mark.parametrize("supervision", ["ordinal", "full"])
def test_example_without_3d_contributes_no_3d_term(supervision):
  _, batch, variables, step = _setup("ordinal_volumetric", supervision)
  g = np.asarray(step(variables["params"], batch)[4])
  assert np.abs(g[0]).sum() > 0  # the example with 3D
  np.testing.assert_array_equal(g[1:], 0)


def test_example_without_2d_contributes_no_2d_term():
  _, batch, variables, step = _setup("ordinal_coordinates", "ordinal")
  g = np.asarray(step(variables["params"], batch)[3])
  assert np.abs(g[3, 1:]).sum() > 0  # 2D only: keypoint term
  np.testing.assert_array_equal(g[2, 1:], 0)  # relations only: annotated root alone


def _flip_relations(batch, example):
  rel = batch["relations"]
  return {**batch, "relations": rel.at[example, :, 2].multiply(-1)}


def test_relations_count_only_where_annotated():
  _, batch, variables, step = _setup("ordinal_volumetric", "ordinal")
  loss = lambda b: float(step(variables["params"], b)[0])  # noqa: E731
  assert loss(_flip_relations(batch, 3)) == loss(batch)  # example 3 has no relations
  assert loss(_flip_relations(batch, 0)) != loss(batch)


def test_full_supervision_ranks_only_examples_without_3d():
  _, batch, variables, step = _setup("ordinal_volumetric", "full")
  rank = lambda b: float(step(variables["params"], b)[1]["metrics"]["rank"])  # noqa: E731
  assert rank(_flip_relations(batch, 0)) == rank(batch)  # has 3D: the depth L2 instead
  assert rank(_flip_relations(batch, 1)) != rank(batch)


def test_reconstruction_loss_does_not_reach_the_convnet():
  _, batch, variables, step = _setup("ordinal_depth", "ordinal")
  no_relations = {**batch, "relation_mask": jnp.zeros_like(batch["relation_mask"])}
  _, aux, grads, _, _ = step(variables["params"], no_relations)
  assert float(aux["metrics"]["recon"]) > 0
  for part in ("backbone", "head"):
    assert all(np.all(g == 0) for g in jax.tree.leaves(grads[part]))
  assert any(np.any(g != 0) for g in jax.tree.leaves(grads["reconstruction"]))


def test_heatmap_targets_peak_at_the_keypoints():
  kp = jnp.asarray([[[13.0, 21.0], [40.5, 27.25]]])  # image pixels, corner origin
  maps = image.heatmap_targets(kp, heatmap_size=(16, 16), image_size=(64, 64), sigma=1.0,
                               mask=jnp.asarray([[True, True]]))
  np.testing.assert_allclose(jnp.sum(maps, axis=(1, 2)), 1, rtol=1e-5)
  xy = heads.heatmap_to_image_coords(heads.soft_argmax_2d(maps), heatmap_size=(16, 16),
                                     image_size=(64, 64))
  np.testing.assert_allclose(xy, kp, atol=0.05)
  masked = image.heatmap_targets(kp, heatmap_size=(16, 16), image_size=(64, 64), sigma=1.0,
                                 mask=jnp.asarray([[True, False]]))
  np.testing.assert_array_equal(masked[..., 1], 0)


def test_reconstruction_input_scale_free_for_ordinal_depth(rng):
  kp = jnp.asarray(rng.uniform(0, 64, (2, 17, 2)), jnp.float32)
  z = jnp.asarray(rng.normal(size=(2, 17)), jnp.float32)
  mask = jnp.ones((2, 17), bool)
  x = image.reconstruction_input(kp, z, mask, metric=False)
  np.testing.assert_allclose(image.reconstruction_input(3 * kp + 5, 7 * z - 2, mask,
                                                        metric=False), x, atol=1e-4)
  metric = image.reconstruction_input(kp, z, mask, metric=True)
  np.testing.assert_allclose(metric[..., 2], (z - z[:, :1]) / image.UNIT_M, rtol=1e-5)


def test_bad_supervision_raises():
  with pytest.raises(ValueError, match="config.supervision"):
    methods.get_method(_config("ordinal_depth", "weak"))


def test_evaluate_scores_2d_and_network_depth():
  method, batch, variables, _ = _setup("ordinal_volumetric", "ordinal")
  host = jax.tree.map(np.asarray, batch)
  host["meta"] = {"action": ["a", "a", "b", "b"], "subject": ["s"] * B}
  result = train_lib.evaluate(method, variables, [host], num_samples=2, ordinal_tol=0.1)
  for key in ("pck2d", "depth_ordinal_accuracy", "mpjpe", "ordinal_accuracy"):
    assert 0 <= result["action_mean"][key] <= 1000
  np.testing.assert_allclose(result["samples"]["pred"][:, 0], 0, atol=1e-6)
  out = _compile(method.predict_outputs, variables, batch)(variables, batch)
  mask = host["joint_mask"]
  expected = metrics.pck2d(out["keypoints2d"], host["keypoints2d"], size=S, mask=mask)
  np.testing.assert_allclose(result["overall"]["pck2d"], expected, rtol=1e-6)


class TestPck2d:

  def test_values(self):
    target = np.zeros((2, 3, 2), np.float32)
    pred = target + np.array([[[0, 0.5], [0, 1.5], [3, 0]], [[1, 0], [0, 0], [3, 0]]],
                             np.float32)
    size = np.array([10.0, 20.0])  # thresholds 1 and 2 pixels
    assert float(metrics.pck2d(pred, target, size=size)) == pytest.approx(3 / 6)
    np.testing.assert_allclose(metrics.pck2d(pred, target, size=size, reduction="none"),
                               [1 / 3, 2 / 3])
    mask = np.array([[True, False, False], [False, False, True]])
    assert float(metrics.pck2d(pred, target, size=size, mask=mask)) == pytest.approx(0.5)
    assert float(metrics.pck2d(pred, target, size=10.0, threshold=0.2)) == pytest.approx(4 / 6)

  def test_bad_input(self):
    x = np.zeros((2, 3, 2), np.float32)
    with pytest.raises(ValueError, match="size"):
      metrics.pck2d(x, x, size=0.0)
    with pytest.raises(ValueError, match="target"):
      metrics.pck2d(x, x[:, :2], size=1.0)


def test_raw_image_crop_round_trip(rng):
  rgb = rng.integers(0, 256, (40, 60, 3)).astype(np.uint8)
  center, side = image.person_box(rgb.shape)
  np.testing.assert_allclose(center, [30, 20])
  assert side == 60
  batch = image.image_batch([rgb, rgb], [(center, side)] * 2, output_size=S, num_pairs=5)
  assert batch["image"].shape == (2, S, S, 3) and batch["image"].dtype == np.uint8
  assert batch["valid"].all() and not batch["joint_mask"].any()
  kp = rng.uniform(0, 60, (17, 2))
  box = image.person_box(rgb.shape, (10, 5, 20, 30))
  np.testing.assert_allclose(box[0], [20, 20])
  crop = augment.apply_affine(augment.crop_affine(box[0], box[1], S), kp)
  np.testing.assert_allclose(image.to_image_pixels(crop, box, S), kp, atol=1e-9)
  for bad in [(0, 0, 0, 5), (1, 2, 3), ("a", 0, 1, 1)]:
    with pytest.raises(ValueError, match="bbox"):
      image.person_box(rgb.shape, bad)


def test_person_box_mostly_outside_the_image_is_an_error():
  """At least half of the box's area must lie inside the image (default `min_inside`)."""
  shape = (40, 60, 3)  # H x W
  for box in [(50, 10, 20, 20), (-5, -5, 20, 20), (0, 0, 60, 40), (-20, 0, 40, 40)]:
    image.person_box(shape, box)  # 50 %, 56 %, 100 %, 50 % inside: accepted
  with pytest.raises(ValueError) as e:
    image.person_box(shape, (500, 400, 100, 100), name="--bbox for a.jpg")
  assert str(e.value) == ("--bbox for a.jpg: the box x, y, w, h = 500, 400, 100, 100 has 0 % "
                          "of its area inside the 60 x 40 (W x H) image; expected a box in "
                          "image pixels with at least 50 % of it inside")
  with pytest.raises(ValueError, match="has 49 % of its area"):
    image.person_box(shape, (-10.2, 0, 20, 20))
  image.person_box(shape, (-10.2, 0, 20, 20), min_inside=0.4)


def test_skip_reconstruction_reads_the_network_outputs_directly():
  """Sec. 3.4's ablation: [x, y, k z] of the head, scaled to the reference skeleton."""
  config = _config("ordinal_volumetric", **{"head.skip_reconstruction": True})
  method = methods.get_method(config)
  batch = _batch(np.random.default_rng(0), config)
  variables = _variables("ordinal_volumetric")
  out = method.predict_outputs(variables, batch)
  plain = methods.get_method(_config("ordinal_volumetric")).predict_outputs(variables, batch)
  np.testing.assert_allclose(out["depth"], plain["depth"], rtol=1e-5)
  want = image.direct_pose(plain["keypoints2d"], plain["depth"], jnp.ones((B, 17), bool),
                           ratio=image.reconstruction.depth_to_plane_ratio(),
                           bones=jnp.asarray(image.relative.reference_bones(config)))
  np.testing.assert_allclose(out["pose3d"], want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(out["pose3d"], plain["pose3d"])
  np.testing.assert_allclose(out["pose3d"][:, 0], 0.0, atol=1e-6)  # root-relative


def test_direct_pose_of_true_inputs_is_close_after_procrustes(rng):
  """With true 2D and true depth the direct reading is a fair baseline (not a straw man)."""
  from jaxpose.data import mocap  # noqa: PLC0415
  data = mocap.load_canonical(mocap.default_mocap_path())
  pose = data["positions_3d"][rng.choice(len(data["positions_3d"]), 16)]
  cam = pose - pose[:, :1] + [0.0, 0.0, 5.0]  # camera 5 m in front, level
  cam = cam * [1.0, -1.0, -1.0]  # world y up -> camera y down, looking along +z
  cam[..., 2] += 10.0
  kp2d = 1000.0 * cam[..., :2] / cam[..., 2:]
  config = _config("ordinal_volumetric")
  out = image.direct_pose(jnp.asarray(kp2d, jnp.float32), jnp.asarray(cam[..., 2], jnp.float32),
                          jnp.ones((16, 17), bool), ratio=image.reconstruction.depth_to_plane_ratio(),
                          bones=jnp.asarray(image.relative.reference_bones(config)))
  truth = cam - cam[:, :1]
  pa = metrics.pa_mpjpe(np.asarray(out), truth)
  assert pa < 60.0, pa  # mm; a random pose of this scale is ~150 mm away
