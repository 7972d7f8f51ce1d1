"""Tests of jaxpose.data.augment: one affine for image and labels, flips, jitter, noise."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxpose import ordinal, skeleton
from jaxpose.data import augment, schema

W, H = 96, 80          # toy image size, pixels
FOCAL = 110.0          # toy camera focal length, pixels
TOL = 0.1              # tie band of the toy relations, metres
PERM = skeleton.H36M17.flip_permutation


def toy_example(k: int, *, with_image: bool = True) -> dict:
  """A deterministic schema example (decoded image) with relations true to its 3D z."""
  rng = np.random.default_rng(k)
  ex = schema.empty_example()
  root = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.1, 0.1), rng.uniform(3.5, 4.5)])
  pose = (root + rng.uniform(-1, 1, (17, 3)) * [0.6, 0.8, 0.5]).astype(np.float32)
  center = np.array([W / 2, H / 2], np.float32)
  kp2d = (FOCAL * pose[:, :2] / pose[:, 2:] + center).astype(np.float32)
  mask = np.ones(17, bool)
  if k % 5 == 0:
    mask[10] = False
    kp2d[10] = 0
  pairs = ordinal.all_pairs(17)
  pairs = pairs[mask[pairs].all(1)]
  num_rel = [0, 5, 40, len(pairs)][k % 4]
  pairs = pairs[np.sort(rng.choice(len(pairs), num_rel, replace=False))]
  lo, hi = kp2d[mask].min(0), kp2d[mask].max(0)
  ex.update(keypoints2d=kp2d, visible=mask.copy(), joint_mask=mask, keypoints3d=pose,
            has_3d=k % 3 != 0,
            relations=ordinal.relations_from_depth(pose[:, 2], pairs.reshape(-1, 2), tol=TOL),
            has_ordinal=num_rel > 0,
            camera={"focal": np.full(2, FOCAL, np.float32), "center": center},
            bbox={"center": ((lo + hi) / 2).astype(np.float32),
                  "scale": np.float32(1.3 * (hi - lo).max())},
            meta={"dataset": "toy", "subject": f"S{k % 3}", "action": "walk",
                  "camera_id": k % 4, "frame": k})
  if with_image:
    image = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    image[5:20, 4:30] = (250, 40, 40)     # asymmetric: a red block top-left
    image[:, :, 2] += np.arange(W, dtype=np.uint8)[None, :]  # blue ramp left -> right
    ex["image"] = image
  return ex


def _relations_true_to_depth(ex: dict) -> None:
  rel = np.asarray(ex["relations"])
  expected = ordinal.relations_from_depth(ex["keypoints3d"][:, 2], rel[:, :2].astype(np.int32),
                                          tol=TOL)
  np.testing.assert_array_equal(rel, expected)


@pytest.mark.parametrize("with_image", [True, False])
def test_flip_twice_is_identity(with_image):
  ex = toy_example(3, with_image=with_image)
  once = augment.hflip(ex)
  twice = augment.hflip(once)
  if with_image:
    assert not np.array_equal(once["image"], ex["image"])
    np.testing.assert_array_equal(twice["image"], ex["image"])
  assert not np.array_equal(once["relations"], ex["relations"])
  np.testing.assert_array_equal(twice["relations"], ex["relations"])
  for name in ("visible", "joint_mask", "keypoints3d"):
    np.testing.assert_array_equal(twice[name], ex[name])
  np.testing.assert_allclose(twice["keypoints2d"], ex["keypoints2d"], atol=1e-4)
  np.testing.assert_allclose(twice["camera"]["center"], ex["camera"]["center"], atol=1e-4)
  np.testing.assert_allclose(twice["bbox"]["center"], ex["bbox"]["center"], atol=1e-4)


@pytest.mark.parametrize("k", [0, 3])
def test_flip_swaps_left_right_and_keeps_relations_true(k):
  ex = toy_example(k)
  out = augment.hflip(ex)
  np.testing.assert_array_equal(out["image"], ex["image"][:, ::-1])
  # Slot j now holds the mirror image of the old twin joint.
  np.testing.assert_array_equal(out["keypoints3d"], ex["keypoints3d"][PERM] * [-1, 1, 1])
  np.testing.assert_allclose(out["keypoints2d"][ex["joint_mask"][PERM]],
                             ((W, 0) + (-1, 1) * ex["keypoints2d"][PERM])[
                                 ex["joint_mask"][PERM]], atol=1e-4)
  np.testing.assert_array_equal(out["joint_mask"], ex["joint_mask"][PERM])
  l_wrist, r_wrist = skeleton.H36M17.index("l_wrist"), skeleton.H36M17.index("r_wrist")
  assert out["keypoints3d"][r_wrist, 0] == -ex["keypoints3d"][l_wrist, 0]
  _relations_true_to_depth(out)
  np.testing.assert_array_equal(out["relations"][:, 2], ex["relations"][:, 2])


def test_augmented_relations_stay_true_to_3d():
  config = augment.AugmentConfig(output_size=64, flip_prob=0.5)
  flips = 0
  for seed in range(8):
    ex = toy_example(seed * 4 + 3)
    out = augment.augment_example(ex, np.random.default_rng(seed), config, train=True)
    flips += not np.array_equal(out["relations"], ex["relations"])
    _relations_true_to_depth(out)
    assert out["image"].shape == (64, 64, 3) and out["image"].dtype == np.uint8
  assert 0 < flips < 8


def _dot_image(points: dict) -> np.ndarray:
  """Black image with one Gaussian dot per channel at the given (x, y) (corner origin)."""
  yy, xx = np.mgrid[0:H, 0:W] + 0.5  # pixel centres
  image = np.zeros((H, W, 3), np.float64)
  for channel, (x, y) in points.items():
    image[..., channel] = 250 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 2.0 ** 2))
  return np.rint(image).astype(np.uint8)


def _centroid(channel: np.ndarray) -> np.ndarray:
  w = channel.astype(np.float64)
  yy, xx = np.mgrid[0:channel.shape[0], 0:channel.shape[1]] + 0.5  # pixel centres
  return np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()


@pytest.mark.parametrize("rotation,scale,flip", [(0, 1.0, False), (30, 0.8, False),
                                                  (-25, 1.25, True), (12, 1.0, True)])
def test_rotation_scale_flip_keep_keypoints_on_content(rotation, scale, flip):
  ex = toy_example(1)
  l_wrist, head = skeleton.H36M17.index("l_wrist"), skeleton.H36M17.index("head")
  c = ex["bbox"]["center"]
  ex["keypoints2d"][l_wrist] = c + (-7.3, 5.6)
  ex["keypoints2d"][head] = c + (4.2, -9.1)
  ex["image"] = _dot_image({0: ex["keypoints2d"][l_wrist], 1: ex["keypoints2d"][head]})
  A = augment.crop_affine(c, float(ex["bbox"]["scale"]) * scale, 64, rotation_deg=rotation,
                          flip=flip)
  out = augment.transform_example(ex, A, (64, 64))
  # After a flip the old left wrist's pixels sit in the right-wrist slot.
  slot = PERM[l_wrist] if flip else l_wrist
  np.testing.assert_allclose(_centroid(out["image"][..., 0]), out["keypoints2d"][slot],
                             atol=0.3)
  np.testing.assert_allclose(_centroid(out["image"][..., 1]), out["keypoints2d"][head],
                             atol=0.3)
  assert out["visible"][slot] and out["visible"][head]


def test_random_augmentation_keeps_dot_on_keypoint():
  config = augment.AugmentConfig(output_size=64, color_jitter=0.0)
  ex = toy_example(2)
  head = skeleton.H36M17.index("head")
  ex["keypoints2d"][head] = ex["bbox"]["center"] + (3.3, -6.2)
  ex["image"] = _dot_image({1: ex["keypoints2d"][head]})
  for seed in range(6):
    out = augment.augment_example(ex, np.random.default_rng(seed), config, train=True)
    np.testing.assert_allclose(_centroid(out["image"][..., 1]), out["keypoints2d"][head],
                               atol=0.3)


@settings(max_examples=30, deadline=None)
@given(rotation=st.floats(-30, 30), scale=st.floats(0.75, 1.25), flip=st.booleans(),
       k=st.integers(0, 50))
def test_new_camera_projects_new_3d_onto_new_2d(rotation, scale, flip, k):
  ex = toy_example(k, with_image=False)
  ex["image"] = np.zeros((H, W, 3), np.uint8)
  A = augment.crop_affine(ex["bbox"]["center"], float(ex["bbox"]["scale"]) * scale, 48,
                          rotation_deg=rotation, flip=flip)
  out = augment.transform_example(ex, A, (48, 48))
  p = out["keypoints3d"].astype(np.float64)
  proj = out["camera"]["focal"] * p[:, :2] / p[:, 2:] + out["camera"]["center"]
  m = out["joint_mask"]
  np.testing.assert_allclose(proj[m], out["keypoints2d"][m], atol=2e-3)
  np.testing.assert_allclose(p[:, 2], np.take(ex["keypoints3d"], PERM if flip else
                                              np.arange(17), axis=0)[:, 2])


def test_absent_camera_stays_absent():
  ex = toy_example(4)
  ex["camera"] = {"focal": np.zeros(2, np.float32), "center": np.zeros(2, np.float32)}
  out = augment.augment_example(ex, np.random.default_rng(0), augment.AugmentConfig(),
                                train=True)
  assert not np.any(out["camera"]["focal"]) and not np.any(out["camera"]["center"])


def test_joints_leaving_the_crop_become_invisible():
  ex = toy_example(4)
  # Zoom on the box centre: a quarter of the box fills the crop.
  A = augment.crop_affine(ex["bbox"]["center"], float(ex["bbox"]["scale"]) / 4, 32)
  out = augment.transform_example(ex, A, (32, 32))
  inside = np.all((out["keypoints2d"] >= 0) & (out["keypoints2d"] < 32), axis=1)
  assert 0 < inside.sum() < 17
  np.testing.assert_array_equal(out["visible"], inside & ex["visible"])
  np.testing.assert_array_equal(out["joint_mask"], ex["joint_mask"])


def test_eval_crop_is_deterministic_and_uses_no_randomness():
  config = augment.AugmentConfig(output_size=40)
  ex = toy_example(6)
  a = augment.augment_example(ex, np.random.default_rng(0), config, train=False)
  b = augment.augment_example(ex, np.random.default_rng(1), config, train=False)
  np.testing.assert_array_equal(a["image"], b["image"])
  np.testing.assert_array_equal(a["keypoints2d"], b["keypoints2d"])
  assert a["image"].shape == (40, 40, 3)
  np.testing.assert_allclose(a["bbox"]["center"], (20, 20), atol=1e-4)
  np.testing.assert_allclose(a["bbox"]["scale"], 40, rtol=1e-5)


def test_color_jitter():
  image = toy_example(0)["image"]
  rng = np.random.default_rng(0)
  np.testing.assert_array_equal(augment.color_jitter(image, rng, 0.0), image)
  out = augment.color_jitter(image, rng, 0.4)
  assert out.dtype == np.uint8 and out.shape == image.shape
  assert not np.array_equal(out, image)


def test_lifting_noise_only_on_annotated_joints():
  config = augment.AugmentConfig(noise_2d_px=2.0, flip_prob=0.0)
  ex = toy_example(5, with_image=False)
  out = augment.augment_example(ex, np.random.default_rng(0), config, train=True)
  d = out["keypoints2d"] - ex["keypoints2d"]
  assert np.all(d[~ex["joint_mask"]] == 0)
  assert 1.0 < np.std(d[ex["joint_mask"]]) < 3.0
  assert "image" not in out
  same = augment.augment_example(ex, np.random.default_rng(0), config, train=False)
  np.testing.assert_array_equal(same["keypoints2d"], ex["keypoints2d"])


def test_lifting_flip_mirrors_about_principal_point():
  ex = toy_example(7, with_image=False)
  out = augment.hflip(ex)
  p = out["keypoints3d"].astype(np.float64)
  proj = out["camera"]["focal"] * p[:, :2] / p[:, 2:] + out["camera"]["center"]
  np.testing.assert_allclose(proj, out["keypoints2d"], atol=1e-3)


def test_flip_relations_scalar_and_per_pair():
  rel = np.array([[0, 1, 1], [2, 3, -1], [4, 5, 0], [1, 6, 1]], np.int8)
  rng = np.random.default_rng(0)
  out = augment.flip_relations(rng, rel, 1.0)
  np.testing.assert_array_equal(out[:, 2], [-1, 1, 0, -1])
  np.testing.assert_array_equal(augment.flip_relations(rng, rel, 0.0), rel)
  prob = np.zeros((17, 17))
  prob[3, 2] = 1.0   # (2, 3) averages to 0.5 ...
  prob[2, 3] = 1.0   # ... and to 1 with both entries set.
  out = augment.flip_relations(rng, rel, prob)
  np.testing.assert_array_equal(out[:, 2], [1, 1, 0, 1])
  config = augment.AugmentConfig(rank_flip_prob=1.0, flip_prob=0.0)
  ex = toy_example(3, with_image=False)
  noisy = augment.augment_example(ex, rng, config, train=True)
  np.testing.assert_array_equal(noisy["relations"][:, 2], -ex["relations"][:, 2])


@pytest.mark.parametrize("kwargs", [dict(scale=(1.2, 0.8)), dict(flip_prob=1.5),
                                    dict(rotation_deg=-1), dict(color_jitter=1.0),
                                    dict(output_size=64.0), dict(output_size=0),
                                    dict(rank_flip_prob=((0.1, 0.2),)),
                                    dict(rank_flip_prob=2.0)])
def test_config_rejects_bad_values(kwargs):
  with pytest.raises(ValueError):
    augment.AugmentConfig(**kwargs)


def test_transform_rejects_non_similarity_and_wrong_joint_count():
  ex = toy_example(1)
  with pytest.raises(ValueError, match="similarity"):
    augment.transform_example(ex, np.array([[2.0, 0, 0], [0, 1, 0]]), (W, H))
  ex = {**ex, "keypoints2d": ex["keypoints2d"][:14], "visible": ex["visible"][:14],
        "joint_mask": ex["joint_mask"][:14], "keypoints3d": ex["keypoints3d"][:14]}
  with pytest.raises(ValueError, match="keypoints2d"):
    augment.hflip(ex)


def test_warp_uses_corner_pixel_convention():
  """Pixel (u, v) covers [u, u + 1): an identity crop about the image centre copies pixels."""
  ex = toy_example(2)
  A = np.array([[1.0, 0, 0], [0, 1, 0]])
  out = augment.transform_example(ex, A, (W, H))
  np.testing.assert_array_equal(out["image"], ex["image"])
  np.testing.assert_array_equal(
      cv2.warpAffine(ex["image"], augment._cv2_affine(augment.crop_affine((W / 2, H / 2), W, W)),
                     (W, W))[8:8 + H], ex["image"])
