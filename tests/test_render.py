"""Tests for jaxpose.data.render: ray casting, z-buffer, visibility, projection agreement."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxpose import geometry, skeleton
from jaxpose.data import render as R

J = skeleton.H36M17
IMAGE = (128, 128)
FOCAL = np.array([260.0, 255.0], np.float32)
CENTER = np.array([66.0, 58.5], np.float32)  # off-centre, to catch convention slips
DEPTH = 4.5

# A standing person facing the camera (so their left is at +x), metres, y down.
_STANDING = {
    "pelvis": (0, 0, 0), "r_hip": (-0.13, 0, 0), "r_knee": (-0.14, 0.44, 0.02),
    "r_ankle": (-0.15, 0.88, 0.05), "l_hip": (0.13, 0, 0), "l_knee": (0.14, 0.44, 0.02),
    "l_ankle": (0.15, 0.88, 0.05), "spine": (0, -0.23, 0), "thorax": (0, -0.48, 0),
    "neck_nose": (0, -0.58, -0.06), "head": (0, -0.69, -0.02),
    "l_shoulder": (0.17, -0.47, 0), "l_elbow": (0.25, -0.22, -0.05),
    "l_wrist": (0.22, 0.0, -0.2), "r_shoulder": (-0.17, -0.47, 0),
    "r_elbow": (-0.25, -0.22, 0.05), "r_wrist": (-0.28, 0.02, 0.1),
}


def _pose(**moved):
  """Standing pose placed DEPTH metres in front of the camera; `moved` overrides joints."""
  joints = dict(_STANDING, **moved)
  kp = np.array([joints[n] for n in J.joint_names], np.float32)
  return kp + np.array([0, 0, DEPTH], np.float32)


def _render(kp, key=0, **kw):
  return R.render(kp, focal=FOCAL, center=CENTER, key=jax.random.key(key),
                  image_size=IMAGE, **kw)


def _pixel(kp, joint):
  """(row, col) of the pixel a joint projects into."""
  uv = np.asarray(geometry.perspective_project(kp, focal=FOCAL, center=CENTER))
  u, v = uv[J.index(joint)]
  return int(np.floor(v)), int(np.floor(u))


def _bone(child):
  return int(np.flatnonzero(R.BONES[:, 0] == J.index(child))[0])


def test_same_key_same_image_and_key_only_changes_background():
  kp = _pose()
  a, b, c = _render(kp, key=3), _render(kp, key=3), _render(kp, key=4)
  for x, y in zip(a, b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  body = np.asarray(a.part) >= 0
  assert 0.05 < body.mean() < 0.5
  np.testing.assert_array_equal(np.asarray(a.image)[body], np.asarray(c.image)[body])
  assert np.abs(np.asarray(a.image, int) - np.asarray(c.image, int))[~body].mean() > 10
  assert a.image.dtype == jnp.uint8 and a.image.shape == IMAGE + (3,)
  assert a.depth.dtype == jnp.float32 and a.depth.shape == IMAGE
  assert a.visible.dtype == jnp.bool_ and a.visible.shape == (J.num_joints,)


@pytest.mark.parametrize("front", ["l_wrist", "r_wrist"])
def test_front_limb_wins_where_limbs_cross(front):
  # Left forearm horizontal, right forearm vertical, both in front of the chest.
  zl, zr = (-0.40, -0.25) if front == "l_wrist" else (-0.25, -0.40)
  kp = _pose(l_elbow=(0.25, -0.25, zl), l_wrist=(-0.2, -0.25, zl),
             r_elbow=(-0.05, -0.45, zr), r_wrist=(-0.05, -0.05, zr))
  out = _render(kp)
  # The image crossing of the two forearm axes.
  u = FOCAL[0] * -0.05 / (DEPTH + zr) + CENTER[0]
  v = FOCAL[1] * -0.25 / (DEPTH + zl) + CENTER[1]
  row, col = int(v), int(u)
  bone = _bone(front)
  assert int(out.part[row, col]) == bone
  z_front = DEPTH + min(zl, zr)
  assert abs(float(out.depth[row, col]) - (z_front - R.RADII[bone])) < 0.01
  rgb = np.asarray(out.image[row, col], np.float64)
  cos = rgb @ R.COLORS.T / np.linalg.norm(rgb) / np.linalg.norm(R.COLORS, axis=1)
  assert cos[bone] > 0.99
  warm = rgb[0] > rgb[2]
  assert warm == front.startswith("l_")


def test_visibility_from_z_buffer():
  # Right wrist behind the back, left wrist in front of the belly.
  kp = _pose(r_elbow=(-0.22, -0.25, 0.15), r_wrist=(0.0, -0.28, 0.32),
             l_wrist=(0.05, -0.1, -0.3))
  visible = dict(zip(J.joint_names, np.asarray(_render(kp).visible)))
  assert not visible["r_wrist"]
  assert all(visible[n] for n in J.joint_names if n != "r_wrist")
  # A joint outside the image is not visible: shift the image so the feet leave it.
  out = R.render(kp, focal=FOCAL, center=CENTER + np.float32([0, 30]),
                 key=jax.random.key(0), image_size=IMAGE)
  visible = dict(zip(J.joint_names, np.asarray(out.visible)))
  assert visible["l_wrist"] and not visible["l_ankle"] and not visible["r_ankle"]


def test_depth_at_each_joint_is_its_own_surface():
  kp = _pose()
  out = _render(kp)
  start, end, radius = (np.asarray(x, np.float64) for x in R.body_primitives(kp))
  for j, name in enumerate(J.joint_names):
    depth = float(out.depth[_pixel(kp, name)])
    # Documented allowance: radius + axis distance of the primitives containing the joint.
    ba = end - start
    s = np.clip(np.sum((kp[j] - start) * ba, -1) / np.maximum(np.sum(ba * ba, -1), 1e-12),
                0, 1)
    dist = np.linalg.norm(kp[j] - start - s[:, None] * ba, axis=-1)
    allowance = np.max(np.where(dist <= radius, radius + dist, 0))
    # (+ slack: the pixel-centre ray passes up to 0.7 px beside the joint).
    assert 0 < kp[j, 2] - depth <= allowance + 5e-3, name
    if name not in ("head", "neck_nose"):
      assert kp[j, 2] - depth <= R.JOINT_RADII[j] + 5e-3, name


def test_marker_centroids_match_perspective_project():
  kp = _pose()
  out = _render(kp, markers_only=True, marker_radius=0.05)
  uv = np.asarray(geometry.perspective_project(kp, focal=FOCAL, center=CENTER))
  part = np.asarray(out.part)
  rows, cols = np.mgrid[:IMAGE[0], :IMAGE[1]] + 0.5  # pixel centres
  for j in range(J.num_joints):
    mask = part == j
    assert mask.sum() >= 9, J.joint_names[j]
    centroid = np.array([cols[mask].mean(), rows[mask].mean()])
    np.testing.assert_allclose(centroid, uv[j], atol=0.25, err_msg=J.joint_names[j])
    depth = np.asarray(out.depth)[mask]
    assert np.all((depth >= kp[j, 2] - 0.05 - 1e-4) & (depth <= kp[j, 2] + 1e-4))
  assert np.all(np.asarray(out.visible))


def test_body_behind_camera_renders_background_only():
  kp = _pose() - np.float32([0, 0, 2 * DEPTH])
  out = _render(kp, key=7)
  assert np.all(np.asarray(out.part) == -1)
  assert np.all(np.isinf(np.asarray(out.depth)))
  assert not np.any(np.asarray(out.visible))
  background = np.round(np.asarray(_background(jax.random.key(7), IMAGE)) * 255)
  assert np.abs(np.asarray(out.image, np.float64) - background).max() <= 1


def test_left_and_right_limbs_have_distinct_colours():
  names = [J.joint_names[c] for c, _ in R.BONES]
  for k, name in enumerate(names):
    if name.startswith("l_"):
      twin = names.index("r_" + name[2:])
      assert R.COLORS[k, 0] > R.COLORS[k, 2] + 0.1  # warm
      assert R.COLORS[twin, 2] > R.COLORS[twin, 0] + 0.1  # cool
      assert np.linalg.norm(R.COLORS[k] - R.COLORS[twin]) > 0.6
  # In the image: facing the camera, the warm left thigh is on the image right.
  out = _render(_pose())
  image, part = np.asarray(out.image, np.float64), np.asarray(out.part)
  cols = np.mgrid[:IMAGE[0], :IMAGE[1]][1]
  for child, warm in (("l_knee", True), ("r_knee", False)):
    mask = part == _bone(child)
    rgb = image[mask].mean(0)
    assert (rgb[0] > rgb[2] + 50) == warm and (rgb[2] > rgb[0] + 50) == (not warm)
    assert (cols[mask].mean() > CENTER[0]) == warm


def test_render_batch_matches_render():
  kps = np.stack([_pose(), _pose(l_wrist=(0.3, -0.6, -0.2)), _pose() + [0.3, 0, 1]])
  keys = jax.random.split(jax.random.key(1), 3)
  batch = R.render_batch(kps, focal=FOCAL, center=CENTER, key=keys, image_size=IMAGE)
  assert batch.image.shape == (3,) + IMAGE + (3,) and batch.visible.shape == (3, 17)
  for i in range(3):
    one = R.render(kps[i], focal=FOCAL, center=CENTER, key=keys[i], image_size=IMAGE)
    # Same program up to XLA's vectorisation: uint8 levels may round differently.
    assert np.abs(np.asarray(one.image, int) - np.asarray(batch.image[i], int)).max() <= 1
    np.testing.assert_allclose(one.depth, batch.depth[i], atol=1e-3)
    np.testing.assert_array_equal(one.visible, batch.visible[i])
    assert np.mean(np.asarray(one.part) != np.asarray(batch.part[i])) < 1e-3


def test_crop_camera_frames_the_body():
  rng = np.random.default_rng(0)
  kps = np.stack([_pose() + [x, y, z] for x, y, z in rng.uniform(-1, 1, (4, 3))])
  focal, center = np.float32([1100, 1000]), np.float32([480, 320])
  cam = R.crop_camera(kps, focal=focal, center=center, crop_size=128, margin=0.1)
  assert cam.focal.shape == (4, 2) and cam.bbox_scale.shape == (4,)
  uv = geometry.perspective_project(kps, focal=focal, center=center)
  uv_crop = geometry.perspective_project(kps, focal=cam.focal, center=cam.center)
  box_min = cam.bbox_center - cam.bbox_scale[:, None] / 2
  np.testing.assert_allclose(uv_crop, (uv - box_min[:, None]) * 128 / cam.bbox_scale[:, None,
                                                                                    None],
                             atol=1e-3)
  pad = R.JOINT_RADII[:, None] * np.asarray(cam.focal)[:, None] / kps[..., 2:]
  lo, hi = np.min(uv_crop - pad, axis=1), np.max(uv_crop + pad, axis=1)
  np.testing.assert_allclose(np.max(hi - lo, axis=1), 128 / 1.2, rtol=1e-4)
  np.testing.assert_allclose((lo + hi) / 2, 64, atol=1e-3)
  # The rendered body fits inside the crop, away from its border.
  out = R.render(kps[0], focal=cam.focal[0], center=cam.center[0], key=jax.random.key(0),
                 image_size=IMAGE)
  rows, cols = np.nonzero(np.asarray(out.part) >= 0)
  assert min(rows.min(), cols.min()) >= 6 and max(rows.max(), cols.max()) <= 121
  assert rows.max() - rows.min() > 90


@settings(max_examples=30, deadline=None)
@given(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(2, 6), st.floats(-1, 1),
       st.floats(-1, 1), st.floats(-1, 1), st.floats(0.0, 0.6), st.floats(0.02, 0.3))
def test_capsule_hits_lie_on_the_surface_and_are_first(x, y, z, ax, ay, az, length, radius):
  start = np.array([[x, y, z]], np.float32)
  axis = np.array([ax, ay, az]) / max(np.linalg.norm([ax, ay, az]), 1e-6)
  end = (start + length * axis).astype(np.float32)
  grid = np.linspace(-0.35, 0.35, 12, dtype=np.float32)
  depth = np.asarray(_intersect(grid[None, :], grid[:, None], start, end,
                                np.float32([radius])))[..., 0]            # (12, 12)
  def dist(points):  # distance to the segment
    ba = (end - start)[0].astype(np.float64)
    s = np.clip((points - start[0]) @ ba / max(ba @ ba, 1e-12), 0, 1)
    return np.linalg.norm(points - start[0] - s[..., None] * ba, axis=-1)
  zs = np.linspace(0.05, 10, 4000)
  for i, dy in enumerate(grid):
    for k, dx in enumerate(grid):
      d = np.array([dx, dy, 1.0])
      inside = dist(zs[:, None] * d) < radius - 2e-3
      if np.isfinite(depth[i, k]):
        assert abs(dist(depth[i, k] * d) - radius) < 2e-3
        assert not np.any(inside & (zs < depth[i, k] - 2e-3))
      else:
        assert not np.any(inside)


_intersect = jax.jit(R.intersect_capsules)
_background = jax.jit(R.random_background, static_argnums=1)


def test_nearest_hit_is_min_and_argmin(rng):
  depths = rng.uniform(0.5, 20, (50, 7)).astype(np.float32)
  depths[rng.uniform(size=depths.shape) < 0.5] = np.inf
  depths[0] = np.inf
  depth, index = R.nearest_hit(jnp.asarray(depths))
  hit = np.isfinite(depths).any(-1)
  np.testing.assert_array_equal(np.asarray(index), np.where(hit, depths.argmin(-1), -1))
  np.testing.assert_allclose(np.asarray(depth), depths.min(-1), rtol=1e-5)


def test_bad_input_raises_one_line_errors():
  kp = _pose()
  with pytest.raises(ValueError, match="keypoints3d: expected shape"):
    _render(kp[:16])
  with pytest.raises(ValueError, match="keypoints3d: expected finite"):
    _render(np.where(np.arange(17)[:, None] == 3, np.nan, kp))
  with pytest.raises(ValueError, match="focal"):
    R.render(kp, focal=-FOCAL, center=CENTER, key=jax.random.key(0))
  with pytest.raises(ValueError, match=r"center: expected shape \[2\] or \[B=1, 2\]"):
    R.render_batch(kp[None], focal=FOCAL, center=np.zeros((2, 2)), key=jax.random.key(0))
  with pytest.raises(ValueError, match="image_size"):
    R.render(kp, focal=FOCAL, center=CENTER, key=jax.random.key(0), image_size=(128,))
  with pytest.raises(ValueError, match="key"):
    R.render_batch(kp[None], focal=FOCAL, center=CENTER, key=jax.random.split(
        jax.random.key(0), 2))
  with pytest.raises(ValueError, match="keypoints3d: expected every joint in front"):
    R.crop_camera(kp - [0, 0, 10], focal=FOCAL, center=CENTER)
