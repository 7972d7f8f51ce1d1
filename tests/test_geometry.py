"""Tests for jaxpose.geometry: golden NumPy float64 references, rotations, Procrustes, rigs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from jaxpose import geometry

UP = np.array([0.0, 1.0, 0.0])


# ------------------------------------------------------------ NumPy float64 references


def np_perspective(points, focal, center):
  out = np.empty(points.shape[:-1] + (2,))
  for idx in np.ndindex(points.shape[:-1]):
    x, y, z = points[idx]
    b = idx[:-1]
    out[idx] = (focal[b][0] * x / z + center[b][0], focal[b][1] * y / z + center[b][1])
  return out


def np_world_to_camera(points, rotation, position):
  return np.stack([rotation @ (p - position) for p in points])


def np_videopose3d_align(predicted, target):
  """VideoPose3D's `p_mpjpe` alignment (rows = joints), reflection fix included."""
  mu_x = target.mean(1, keepdims=True)
  mu_y = predicted.mean(1, keepdims=True)
  x0, y0 = target - mu_x, predicted - mu_y
  norm_x = np.sqrt((x0 ** 2).sum((1, 2), keepdims=True))
  norm_y = np.sqrt((y0 ** 2).sum((1, 2), keepdims=True))
  x0, y0 = x0 / norm_x, y0 / norm_y
  u, s, vt = np.linalg.svd(np.matmul(x0.transpose(0, 2, 1), y0))
  v = vt.transpose(0, 2, 1)
  r = np.matmul(v, u.transpose(0, 2, 1))
  sign_det = np.sign(np.linalg.det(r))[:, None]
  v[:, :, -1] *= sign_det
  s[:, -1] *= sign_det[:, 0]
  r = np.matmul(v, u.transpose(0, 2, 1))
  a = s.sum(1)[:, None, None] * norm_x / norm_y
  t = mu_x - a * np.matmul(mu_y, r)
  return a * np.matmul(predicted, r) + t


def np_closest_point(origins, directions):
  rows, rhs = [], []
  for o, d in zip(origins, directions):
    d = d / np.linalg.norm(d)
    p = np.eye(3) - np.outer(d, d)
    rows.append(p)
    rhs.append(p @ o)
  return np.linalg.lstsq(np.concatenate(rows), np.concatenate(rhs), rcond=None)[0]


def random_similarity(rng, batch, reflect=False):
  rot = Rotation.random(batch, random_state=rng.integers(1 << 31)).as_matrix()
  if reflect:
    rot = rot @ np.diag([1.0, 1.0, -1.0])
  return rot, rng.uniform(0.5, 2.0, batch), rng.normal(size=(batch, 3))


def apply_similarity(points, rot, s, t):
  return s[:, None, None] * np.einsum("bij,bnj->bni", rot, points) + t[:, None, :]


# ------------------------------------------------------------ projections and frames


def test_perspective_project_matches_numpy(rng):
  points = rng.normal(size=(4, 17, 3)) + [0.0, 0.0, 5.0]
  focal = rng.uniform(500, 1500, (4, 2))
  center = rng.uniform(300, 700, (4, 2))
  got = geometry.perspective_project(points, focal=focal, center=center)
  np.testing.assert_allclose(got, np_perspective(points, focal, center), rtol=1e-5)


def test_perspective_project_behind_camera_is_finite():
  got = geometry.perspective_project(jnp.array([[1.0, 1.0, -2.0], [0.0, 0.0, 0.0]]),
                                     focal=jnp.array([1000.0, 1000.0]),
                                     center=jnp.array([0.0, 0.0]))
  assert np.all(np.isfinite(got))


def test_weak_and_scaled_orthographic_match_numpy(rng):
  points = rng.normal(size=(3, 17, 3))
  alpha, center, scale = rng.uniform(1, 2, (3, 2)), rng.normal(size=(3, 2)), rng.uniform(1, 2, 3)
  np.testing.assert_allclose(
      geometry.weak_perspective_project(points, alpha=alpha, center=center),
      points[..., :2] * alpha[:, None] + center[:, None], rtol=1e-5, atol=1e-6)
  want = points[..., :2] * scale[:, None, None]
  np.testing.assert_allclose(geometry.scaled_orthographic_project(points, scale=scale), want,
                             rtol=1e-5)
  np.testing.assert_allclose(
      geometry.scaled_orthographic_project(points, scale=scale[:, None]), want, rtol=1e-5)


def test_world_camera_round_trip_matches_numpy(rng):
  points = rng.normal(size=(5, 17, 3))
  rotation = Rotation.random(random_state=1).as_matrix()
  position = rng.normal(size=3) * 4
  cam = geometry.world_to_camera(points, rotation=rotation, position=position)  # broadcast
  for b in range(5):
    np.testing.assert_allclose(cam[b], np_world_to_camera(points[b], rotation, position),
                               rtol=1e-5, atol=1e-5)
  back = geometry.camera_to_world(cam, rotation=rotation, position=position)
  np.testing.assert_allclose(back, points, atol=1e-5)


def test_root_center():
  points = jnp.arange(2 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 3)
  out = geometry.root_center(points, root=1)
  np.testing.assert_array_equal(out[:, 1], 0.0)
  np.testing.assert_allclose(out, points - points[:, 1:2])


# ------------------------------------------------------------ rotations


def test_axis_angle_matches_scipy(rng):
  aa = np.concatenate([rng.normal(size=(20, 3)) * 1.5, rng.normal(size=(5, 3)) * 1e-4,
                       np.zeros((1, 3)), [[np.pi, 0.0, 0.0]]])
  want = Rotation.from_rotvec(aa).as_matrix()
  np.testing.assert_allclose(geometry.axis_angle_to_matrix(aa), want, atol=2e-6)
  with jax.enable_x64(True):
    np.testing.assert_allclose(geometry.axis_angle_to_matrix(aa), want, atol=1e-13)


def test_axis_angle_grads_finite_and_correct_at_zero(x64):
  jac = jax.jit(jax.jacobian(geometry.axis_angle_to_matrix))(jnp.zeros(3))
  np.testing.assert_allclose(jac[..., 0], [[0, 0, 0], [0, 0, -1], [0, 1, 0]])  # d R / d w_x
  f = jax.jit(geometry.axis_angle_to_matrix)
  for aa in ([0.0, 0.0, 0.0], [1e-5, -2e-5, 0.0], [0.3, -1.2, 0.7]):
    check_grads(f, (jnp.array(aa),), order=1)


def test_axis_angle_under_jit(rng):
  aa = rng.normal(size=(7, 3))
  np.testing.assert_allclose(jax.jit(geometry.axis_angle_to_matrix)(aa),
                             geometry.axis_angle_to_matrix(aa), atol=1e-6)


def test_matrix_to_axis_angle_inverts(rng, x64):
  axes = rng.normal(size=(30, 3))
  axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
  angles = np.concatenate([rng.uniform(0, np.pi - 0.01, 27), [0.0, 1e-7, np.pi - 1e-9]])
  aa = axes * angles[:, None]
  got = jax.jit(geometry.matrix_to_axis_angle)(Rotation.from_rotvec(aa).as_matrix())
  np.testing.assert_allclose(got[:-1], aa[:-1], atol=1e-9)
  # At (almost) pi the axis sign is free: compare rotations.
  np.testing.assert_allclose(geometry.axis_angle_to_matrix(got),
                             Rotation.from_rotvec(aa).as_matrix(), atol=1e-9)
  check_grads(jax.jit(geometry.matrix_to_axis_angle), (jnp.eye(3),), order=1)


def test_rotation_about_axis_matches_axis_angle(rng):
  angle = rng.uniform(-np.pi, np.pi, (4, 2))
  for i, axis in enumerate("xyz"):
    aa = np.zeros(angle.shape + (3,))
    aa[..., i] = angle
    np.testing.assert_allclose(geometry.rotation_about_axis(angle, axis),
                               Rotation.from_rotvec(aa.reshape(-1, 3)).as_matrix()
                               .reshape(4, 2, 3, 3), atol=1e-6)
  with pytest.raises(ValueError, match="axis: expected one of"):
    geometry.rotation_about_axis(0.3, "w")


# ------------------------------------------------------------ look_at


def test_look_at_upright_camera(rng):
  position = rng.normal(size=(50, 3)) * 4
  target = rng.normal(size=(50, 3)) * 0.5
  rot = np.asarray(geometry.look_at(position, target), np.float64)
  np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape),
                             atol=1e-5)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
  np.testing.assert_allclose(rot[:, 0] @ UP, 0.0, atol=1e-6)  # x parallel to the ground
  assert np.all(rot[:, 1] @ UP < 0)  # y points down
  focal, center = np.array([1000.0, 1000.0]), np.array([500.0, 400.0])
  pts = np.stack([target, target + 0.3 * UP], 1)  # [50, 2, 3]: target, point above it
  cam = np.stack([np_world_to_camera(p, r, c) for p, r, c in zip(pts, rot, position)])
  np.testing.assert_allclose(cam[:, 0, :2], 0.0, atol=1e-5)
  np.testing.assert_allclose(cam[:, 0, 2], np.linalg.norm(target - position, axis=-1), rtol=1e-5)
  uv = geometry.perspective_project(cam, focal=focal, center=center)
  np.testing.assert_allclose(uv[:, 0], np.broadcast_to(center, (50, 2)), atol=1e-2)
  assert np.all(uv[:, 1, 1] < center[1])  # above in the world = above in the image


def test_look_at_known_camera():
  # At world +z looking at the origin, y up: forward -z, right +x, down -y.
  rot = geometry.look_at(jnp.array([0.0, 0.0, 5.0]), jnp.zeros(3))
  np.testing.assert_allclose(rot, [[1, 0, 0], [0, -1, 0], [0, 0, -1]], atol=1e-7)
  # At world +x looking at the origin, z up: forward -x, right +y, down -z.
  z_up = geometry.look_at(jnp.array([5.0, 0.0, 0.0]), jnp.zeros(3), up=(0.0, 0.0, 2.0))
  np.testing.assert_allclose(z_up, [[0, 1, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-7)


def test_look_at_along_up_raises_concrete_and_falls_back_under_jit():
  with pytest.raises(ValueError, match="target: view direction is parallel to up"):
    geometry.look_at(jnp.array([0.0, 3.0, 0.0]), jnp.zeros(3))
  with pytest.raises(ValueError, match="target: expected target != position"):
    geometry.look_at(jnp.ones(3), jnp.ones(3))
  with pytest.raises(ValueError, match="up: expected a non-zero 3-vector"):
    geometry.look_at(jnp.ones(3), jnp.zeros(3), up=(0.0, 0.0, 0.0))
  jitted = jax.jit(geometry.look_at)
  for position in ([0.0, 3.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.0]):
    rot = np.asarray(jitted(jnp.array(position), jnp.zeros(3)))
    assert np.all(np.isfinite(rot))
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-6)
    np.testing.assert_allclose(rot[0] @ UP, 0.0, atol=1e-7)


# ------------------------------------------------------------ Procrustes


def test_procrustes_recovers_similarity(rng):
  pred = rng.normal(size=(6, 17, 3))
  rot, s, t = random_similarity(rng, 6)
  target = apply_similarity(pred, rot, s, t)
  got_rot, got_s, got_t = geometry.procrustes_transform(pred, target)
  np.testing.assert_allclose(got_rot, rot, atol=2e-5)
  np.testing.assert_allclose(got_s, s, rtol=1e-5)
  np.testing.assert_allclose(got_t, t, atol=1e-4)
  np.testing.assert_allclose(geometry.procrustes_align(pred, target), target, atol=1e-4)


@pytest.mark.parametrize("reflect", [False, True])
def test_procrustes_matches_videopose3d(rng, reflect):
  pred = rng.normal(size=(8, 17, 3))
  target = apply_similarity(pred, *random_similarity(rng, 8, reflect))
  target += 0.1 * rng.normal(size=target.shape)
  got = geometry.procrustes_align(pred, target)
  np.testing.assert_allclose(got, np_videopose3d_align(pred, target), atol=1e-4)
  rot, _, _ = geometry.procrustes_transform(pred, target)
  np.testing.assert_allclose(np.linalg.det(np.asarray(rot, np.float64)), 1.0, atol=1e-5)


def test_procrustes_reflected_target_is_not_matched_by_a_reflection(rng):
  pred = rng.normal(size=(1, 17, 3))
  target = pred * np.array([1.0, 1.0, -1.0])  # mirror image: no proper rotation maps it
  aligned = geometry.procrustes_align(pred, target)
  assert np.abs(aligned - target).max() > 0.1
  rot, _, _ = geometry.procrustes_transform(pred, target)
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)


def test_procrustes_without_scale(rng):
  pred = rng.normal(size=(3, 17, 3))
  rot, _, t = random_similarity(rng, 3)
  target = apply_similarity(pred, rot, np.full(3, 1.7), t)
  got_rot, got_s, _ = geometry.procrustes_transform(pred, target, scale=False)
  np.testing.assert_array_equal(got_s, 1.0)
  np.testing.assert_allclose(got_rot, rot, atol=1e-4)


def test_procrustes_mask_ignores_joints(rng):
  pred = rng.normal(size=(2, 17, 3))
  target = apply_similarity(pred, *random_similarity(rng, 2))
  mask = np.ones((2, 17), bool)
  mask[:, [3, 9, 16]] = False
  corrupted = pred.copy()
  corrupted[:, [3, 9, 16]] += 50.0
  got = geometry.procrustes_align(corrupted, target, mask=mask)
  np.testing.assert_allclose(got[mask], target[mask], atol=1e-4)
  sub = geometry.procrustes_align(corrupted[:, mask[0]], target[:, mask[0]])
  np.testing.assert_allclose(got[mask].reshape(sub.shape), sub, atol=1e-5)


def test_procrustes_degenerate_inputs_are_finite(rng):
  target = rng.normal(size=(17, 3))
  zero = np.zeros((17, 3))
  got = geometry.procrustes_align(zero, target)
  np.testing.assert_allclose(got, np.broadcast_to(target.mean(0), (17, 3)), atol=1e-6)
  grad = jax.jit(jax.grad(lambda p: jnp.sum(geometry.procrustes_align(p, target) ** 2)))(zero)
  assert np.all(np.isfinite(grad))
  for args, kwargs in [((target, zero), {}), ((zero, zero), {}),
                       ((target, target), {"mask": np.zeros(17, bool)})]:
    assert np.all(np.isfinite(geometry.procrustes_align(*args, **kwargs)))
    assert np.all(np.isfinite(geometry.procrustes_transform(*args, **kwargs)[0]))


def test_procrustes_jit_and_grads(rng, x64):
  pred = rng.normal(size=(2, 17, 3))
  target = rng.normal(size=(2, 17, 3))
  mask = rng.random((2, 17)) > 0.2
  f = jax.jit(lambda p, t: geometry.procrustes_align(p, t, mask=mask))
  np.testing.assert_allclose(f(pred, target), np_videopose3d_align(pred, target) if mask.all()
                             else geometry.procrustes_align(pred, target, mask=mask), atol=1e-10)
  check_grads(f, (pred, target), order=1)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_procrustes_invariant_to_similarity_of_pred(seed):
  rng = np.random.default_rng(seed)
  pred = rng.normal(size=(1, 17, 3))
  target = apply_similarity(pred, *random_similarity(rng, 1)) + 0.3 * rng.normal(size=pred.shape)
  moved = apply_similarity(pred, *random_similarity(rng, 1))
  np.testing.assert_allclose(geometry.procrustes_align(moved, target),
                             geometry.procrustes_align(pred, target), atol=2e-4)


# ------------------------------------------------------------ lines and camera rigs


def test_closest_point_exact_for_intersecting_lines(rng):
  point = rng.normal(size=3)
  directions = rng.normal(size=(4, 3))
  origins = point + rng.uniform(-5, 5, (4, 1)) * directions
  np.testing.assert_allclose(geometry.closest_point_to_lines(origins, directions), point,
                             atol=1e-5)


def test_closest_point_matches_lstsq_on_noisy_lines(rng):
  origins = rng.normal(size=(3, 6, 3)) * 3
  directions = -origins + 0.3 * rng.normal(size=(3, 6, 3))
  got = geometry.closest_point_to_lines(origins, directions)
  for b in range(3):
    np.testing.assert_allclose(got[b], np_closest_point(origins[b], directions[b]), atol=1e-4)


def test_closest_point_parallel_lines_finite():
  origins = jnp.array([[0.0, 0.0, 0.0], [2.0, 0.0, 4.0]])
  got = geometry.closest_point_to_lines(origins, jnp.array([[0.0, 0.0, 1.0]] * 2))
  np.testing.assert_allclose(got, [1.0, 0.0, 2.0], atol=1e-6)
  with pytest.raises(ValueError, match="directions: expected non-zero"):
    geometry.closest_point_to_lines(origins, jnp.zeros((2, 3)))


def ring_of_cameras(center, distances, elevation_deg=8.0):
  az = np.deg2rad(np.arange(len(distances)) * 360.0 / len(distances) + 20.0)
  el = np.deg2rad(elevation_deg)
  direction = np.stack([np.cos(el) * np.sin(az), np.full_like(az, np.sin(el)),
                        np.cos(el) * np.cos(az)], -1)
  position = center + np.asarray(distances)[:, None] * direction
  return np.asarray(geometry.look_at(position, np.broadcast_to(center, position.shape))), position


def test_fit_camera_rig_recovers_ring():
  center = np.array([0.2, 1.1, -0.3])
  rotations, positions = ring_of_cameras(center, [4.0, 5.0, 6.0, 5.0])
  got_center, mean, std = geometry.fit_camera_rig(rotations, positions)
  np.testing.assert_allclose(got_center, center, atol=1e-4)
  np.testing.assert_allclose(mean, 5.0, atol=1e-4)
  np.testing.assert_allclose(std, np.sqrt(0.5), atol=1e-4)


def test_fit_camera_rig_rejects_bad_rigs():
  rotations, positions = ring_of_cameras(np.zeros(3), [5.0, 5.0])
  with pytest.raises(ValueError, match="rotations: expected at least 2 cameras"):
    geometry.fit_camera_rig(rotations[:1], positions[:1])
  with pytest.raises(ValueError, match="optical axes are all parallel"):
    geometry.fit_camera_rig(np.stack([rotations[0]] * 2), positions)


def camera_angles(cams, center):
  direction = np.asarray(cams["position"], np.float64) - center
  dist = np.linalg.norm(direction, axis=-1)
  direction /= dist[:, None]
  elevation = np.rad2deg(np.arcsin(np.clip(direction[:, 1], -1, 1)))
  azimuth = np.rad2deg(np.arctan2(direction[:, 0], direction[:, 2]))
  return dist, elevation, azimuth


def test_sample_virtual_cameras_distribution():
  center = np.array([0.1, 0.9, -0.2])
  cams = geometry.sample_virtual_cameras(jax.random.key(0), center, num=4000,
                                         distance_mean=5.0, distance_std=0.5,
                                         elevation_deg=(0.0, 90.0), azimuth_deg=(-45.0, 45.0))
  assert cams["rotation"].shape == (4000, 3, 3) and cams["position"].shape == (4000, 3)
  dist, elevation, azimuth = camera_angles(cams, center)
  np.testing.assert_allclose([dist.mean(), dist.std()], [5.0, 0.5], atol=0.05)
  assert elevation.min() >= -1e-3 and elevation.max() <= 90.0
  assert azimuth.min() >= -45.001 and azimuth.max() <= 45.001
  # Uniform by area: sin(elevation) uniform, so half the cameras lie below 30 degrees
  # (uniform elevation angles would put a third there).
  np.testing.assert_allclose(np.mean(elevation < 30.0), 0.5, atol=0.03)
  np.testing.assert_allclose(np.mean(azimuth < 0.0), 0.5, atol=0.03)


def test_sample_virtual_cameras_upright_and_looking_at_center():
  center = np.array([0.0, 1.0, 0.0])
  cams = geometry.sample_virtual_cameras(jax.random.key(1), center, num=500,
                                         distance_mean=4.0, distance_std=1.0)
  rot = np.asarray(cams["rotation"], np.float64)
  dist, elevation, _ = camera_angles(cams, center)
  assert elevation.min() < -45 and elevation.max() > 45  # default band: the whole sphere
  np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
  np.testing.assert_allclose(rot[:, 0] @ UP, 0.0, atol=1e-6)
  assert np.all(rot[:, 1] @ UP <= 1e-6)
  cam_center = np.stack([r @ (center - p) for r, p in zip(rot, np.asarray(cams["position"]))])
  np.testing.assert_allclose(cam_center[:, :2], 0.0, atol=1e-5)
  np.testing.assert_allclose(cam_center[:, 2], dist, rtol=1e-5)


def test_sample_virtual_cameras_deterministic_jittable_and_clipped():
  kwargs = dict(num=64, distance_mean=2.0, distance_std=5.0, min_distance=1.5)
  cams = geometry.sample_virtual_cameras(jax.random.key(3), jnp.zeros(3), **kwargs)
  again = jax.jit(lambda k, c: geometry.sample_virtual_cameras(k, c, **kwargs))(
      jax.random.key(3), jnp.zeros(3))
  np.testing.assert_allclose(again["position"], cams["position"], atol=1e-5)
  dist = np.linalg.norm(cams["position"], axis=-1)
  assert dist.min() >= 1.5 - 1e-5 and np.mean(dist == pytest.approx(1.5)) < 1.0
  ring = geometry.sample_virtual_cameras(jax.random.key(4), jnp.zeros(3), num=8,
                                         distance_mean=3.0, distance_std=0.0,
                                         elevation_deg=(90.0, 90.0))
  assert np.all(np.isfinite(ring["rotation"]))
  np.testing.assert_allclose(ring["position"], np.broadcast_to([0.0, 3.0, 0.0], (8, 3)), atol=1e-5)


def test_sample_like_a_fitted_rig():
  rotations, positions = ring_of_cameras(np.array([0.0, 1.0, 0.0]), [4.5, 5.5, 5.0, 5.0])
  center, mean, std = geometry.fit_camera_rig(rotations, positions)
  cams = geometry.sample_virtual_cameras(jax.random.key(5), center, num=2000,
                                         distance_mean=float(mean), distance_std=float(std))
  dist, _, _ = camera_angles(cams, np.asarray(center))
  np.testing.assert_allclose([dist.mean(), dist.std()], [mean, std], atol=0.03)


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("call, name", [
    (lambda: geometry.procrustes_align(np.zeros((2, 17, 3)), np.zeros((2, 16, 3))), "target"),
    (lambda: geometry.procrustes_align(np.zeros((2, 17, 2)), np.zeros((2, 17, 2))), "pred"),
    (lambda: geometry.procrustes_align(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)),
                                       mask=np.ones((2, 16), bool)), "mask"),
    (lambda: geometry.procrustes_transform(np.zeros((17, 3)), np.zeros((2, 17, 3))), "target"),
    (lambda: geometry.axis_angle_to_matrix(np.zeros((5, 4))), "axis_angle"),
    (lambda: geometry.matrix_to_axis_angle(np.zeros((5, 3))), "rotation"),
    (lambda: geometry.look_at(np.zeros(2), np.ones(3)), "position"),
    (lambda: geometry.look_at(np.zeros(3), np.ones(3), up=(0.0, 1.0)), "up"),
    (lambda: geometry.closest_point_to_lines(np.zeros((4, 3)), np.ones((3, 3))), "directions"),
    (lambda: geometry.fit_camera_rig(np.zeros((4, 3, 3)), np.zeros((3, 3))), "positions"),
    (lambda: geometry.world_to_camera(np.zeros((17, 3)), rotation=np.eye(2),
                                      position=np.zeros(3)), "rotation"),
    (lambda: geometry.camera_to_world(np.zeros((17, 3)), rotation=np.eye(3),
                                      position=np.zeros(2)), "position"),
    (lambda: geometry.sample_virtual_cameras(jax.random.key(0), np.zeros(2), num=2,
                                             distance_mean=5.0, distance_std=1.0), "center"),
])
def test_bad_shapes_name_the_argument(call, name):
  with pytest.raises(ValueError, match=f"^{name}: expected"):
    call()


@pytest.mark.parametrize("kwargs, name", [
    ({"num": 0}, "num"),
    ({"distance_mean": -1.0}, "distance_mean"),
    ({"distance_std": -0.1}, "distance_std"),
    ({"min_distance": 0.0}, "min_distance"),
    ({"min_distance": 9.0}, "min_distance"),
    ({"elevation_deg": (-100.0, 10.0)}, "elevation_deg"),
    ({"elevation_deg": (30.0, 10.0)}, "elevation_deg"),
    ({"azimuth_deg": (0.0, 400.0)}, "azimuth_deg"),
])
def test_bad_sampler_arguments(kwargs, name):
  args = dict(num=4, distance_mean=5.0, distance_std=1.0) | kwargs
  with pytest.raises(ValueError, match=f"^{name}: expected"):
    geometry.sample_virtual_cameras(jax.random.key(0), np.zeros(3), **args)
