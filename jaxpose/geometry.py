"""Cameras and 3D geometry: projections, rotations, Procrustes, virtual cameras.

Conventions (DESIGN.md): camera frame x right, y down, z forward (depth, larger =
farther), metres; 2D in pixels, origin top-left; the MoCap world frame is y up, metres.
A camera is a world-to-camera rotation R and a centre C with `X_c = R (X_w - C)`: the
rows of R are the camera's x, y, z axes in world coordinates. All functions are pure
`jnp`, batched over any leading dimensions, and usable under `jit`/`grad`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks

Array = jax.Array


def perspective_project(points: Array, *, focal: Array, center: Array,
                        min_depth: float = 1e-6) -> Array:
  """Pinhole projection `u = f * x / z + c`.

  Args:
    points: [..., J, 3] camera-frame points (metres), z > 0 in front of the camera.
    focal: [..., 2] (fx, fy) in pixels.
    center: [..., 2] principal point (cx, cy) in pixels.
    min_depth: depths are clamped to at least this, so points at or behind the camera
      give large but finite pixels (and finite gradients).

  Returns:
    [..., J, 2] pixel coordinates.
  """
  checks.shapes(points=(points, "... J 3"))
  focal, center = jnp.asarray(focal), jnp.asarray(center)
  if focal.shape[-1:] != (2,) or center.shape[-1:] != (2,):
    raise ValueError(f"focal/center: expected shape [..., 2], got {focal.shape} and "
                     f"{center.shape}")
  z = jnp.maximum(points[..., 2:3], min_depth)
  return points[..., :2] / z * focal[..., None, :] + center[..., None, :]


def weak_perspective_project(points: Array, *, alpha: Array, center: Array) -> Array:
  """Weak-perspective projection `u = alpha * x + c` (Habibie et al. 2019, eq. 2).

  Args:
    points: [..., J, 3] root-relative 3D points.
    alpha: [..., 2] (alpha_x, alpha_y) scale (focal / depth), pixels per metre.
    center: [..., 2] (c_x, c_y) image position of the origin, pixels.

  Returns:
    [..., J, 2].
  """
  checks.shapes(points=(points, "... J 3"))
  alpha, center = jnp.asarray(alpha), jnp.asarray(center)
  if alpha.shape[-1:] != (2,) or center.shape[-1:] != (2,):
    raise ValueError(f"alpha/center: expected shape [..., 2], got {alpha.shape} and "
                     f"{center.shape}")
  return points[..., :2] * alpha[..., None, :] + center[..., None, :]


def scaled_orthographic_project(points: Array, *, scale: Array) -> Array:
  """Scaled orthographic projection `u = s * (x, y)` (Ronchi et al. 2018, eq. 4).

  Args:
    points: [..., J, 3].
    scale: [...] or [..., 1] per-pose scale s.

  Returns:
    [..., J, 2] (relative to the projected origin).
  """
  checks.shapes(points=(points, "... J 3"))
  scale = jnp.asarray(scale)
  if scale.shape == points.shape[:-2] + (1,):
    scale = scale[..., 0]
  if scale.shape != points.shape[:-2]:
    raise ValueError(f"scale: expected shape {list(points.shape[:-2])} or "
                     f"{list(points.shape[:-2]) + [1]}, got {scale.shape}")
  return points[..., :2] * scale[..., None, None]


def world_to_camera(points: Array, *, rotation: Array, position: Array) -> Array:
  """World -> camera frame: `X_c = R (X_w - C)`.

  Args:
    points: [..., J, 3] world points.
    rotation: [..., 3, 3] world-to-camera rotation R (rows are the camera axes
      expressed in world coordinates); leading dims broadcast with `points`.
    position: [..., 3] camera centre C in world coordinates.

  Returns:
    [..., J, 3] camera-frame points.
  """
  _check_camera(points, rotation, position)
  position = jnp.asarray(position)
  return jnp.einsum("...ij,...nj->...ni", rotation, points - position[..., None, :])


def camera_to_world(points: Array, *, rotation: Array, position: Array) -> Array:
  """Camera -> world frame, the inverse of `world_to_camera`: `X_w = R^T X_c + C`."""
  _check_camera(points, rotation, position)
  position = jnp.asarray(position)
  return jnp.einsum("...ji,...nj->...ni", rotation, points) + position[..., None, :]


def _check_camera(points: Array, rotation: Array, position: Array) -> None:
  # Separate calls: leading dims may broadcast (one camera for a batch of poses).
  checks.shapes(points=(points, "... J 3"))
  checks.shapes(rotation=(rotation, "... 3 3"))
  checks.shapes(position=(position, "... 3"))


def root_center(points: Array, *, root: int = 0) -> Array:
  """Subtracts the root joint: [..., J, D] -> [..., J, D] with points[..., root, :] = 0."""
  if points.ndim < 2 or not 0 <= root < points.shape[-2]:
    raise ValueError(f"points: expected shape [..., J, D] with root {root} < J, got "
                     f"{points.shape}")
  return points - points[..., root:root + 1, :]


# ------------------------------------------------------------------ helpers


def _float(*xs) -> list[Array]:
  """Casts to the arrays' common float dtype (Python sequences do not promote it)."""
  dtype = jnp.result_type(*[x for x in xs if hasattr(x, "dtype")], 1.0)
  return [jnp.asarray(x, dtype) for x in xs]


def _unit(v: Array, fallback: Array, min_sq: float = 0.0) -> Array:
  """v / |v| along the last axis, or `fallback` where |v|^2 <= min_sq (finite gradients)."""
  sq = jnp.sum(v * v, axis=-1, keepdims=True)
  ok = sq > min_sq
  return jnp.where(ok, v / jnp.sqrt(jnp.where(ok, sq, 1.0)), fallback)


def _horizontal_basis(up: Array) -> tuple[Array, Array]:
  """Unit vectors (e1, e2) spanning the plane perpendicular to unit `up`, e1 x e2 = up.

  e1 is world +z made perpendicular to up (world +x when up is nearly +-z).
  """
  cand = jnp.where(jnp.abs(up[2]) < 0.9, jnp.array([0., 0., 1.], up.dtype),
                   jnp.array([1., 0., 0.], up.dtype))
  e1 = _unit(cand - jnp.dot(cand, up) * up, cand)
  return e1, jnp.cross(up, e1)


def _check_up(up) -> None:
  checks.shapes(up=(up, "3"))
  if checks.is_concrete(up) and not np.linalg.norm(np.asarray(up, np.float64)) > 0:
    raise ValueError(f"up: expected a non-zero 3-vector, got {np.asarray(up).tolist()}")


# ------------------------------------------------------------------ rotations


def _skew(v: Array) -> Array:
  """[..., 3] -> [..., 3, 3] cross-product matrix, `_skew(a) @ b = a x b`."""
  x, y, z = v[..., 0], v[..., 1], v[..., 2]
  o = jnp.zeros_like(x)
  return jnp.stack([jnp.stack([o, -z, y], -1), jnp.stack([z, o, -x], -1),
                    jnp.stack([-y, x, o], -1)], -2)


def axis_angle_to_matrix(axis_angle: Array) -> Array:
  """Rotation matrices from axis-angle vectors (Rodrigues' formula).

  `R = I + sin(t)/t K + (1 - cos(t))/t^2 K^2` with `K = [w]x`, `t = |w|`; the
  coefficients switch to their Taylor series near t = 0, so values and gradients are
  finite (and exact) at zero angle. `(1 - cos t)/t^2` is computed as
  `sinc(t/2)^2 / 2`, without cancellation in float32.

  Args:
    axis_angle: [..., 3] rotation axis times angle (radians), right-handed.

  Returns:
    [..., 3, 3] rotation matrices (active: `R @ v` rotates v).
  """
  checks.shapes(axis_angle=(axis_angle, "... 3"))
  return _rodrigues(*_float(axis_angle))


@jax.jit
def _rodrigues(w: Array) -> Array:
  t2 = jnp.sum(w * w, -1)[..., None, None]
  small = t2 < 1e-6
  t = jnp.sqrt(jnp.where(small, 1.0, t2))
  a = jnp.where(small, 1 - t2 / 6 + t2 * t2 / 120, jnp.sin(t) / t)
  b = jnp.where(small, 0.5 - t2 / 24 + t2 * t2 / 720, 0.5 * (jnp.sin(t / 2) / (t / 2)) ** 2)
  k = _skew(w)
  return jnp.eye(3, dtype=w.dtype) + a * k + b * (k @ k)


def _matrix_to_quaternion(m: Array) -> Array:
  """[..., 3, 3] rotations -> [..., 4] unit quaternions (w, x, y, z), w >= 0.

  Shepperd's method: of the four ways to read q off R, uses the one dividing by the
  largest |q_i|, so it is stable for every angle, pi included.
  """
  m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
  sq = jnp.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                  1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)  # 4 q_i^2
  pos = sq > 0
  two_q = jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)  # 2 |q_i|
  rows = jnp.stack([  # row i: 4 q_i q, read off with q_i > 0
      jnp.stack([sq[..., 0], m21 - m12, m02 - m20, m10 - m01], -1),
      jnp.stack([m21 - m12, sq[..., 1], m10 + m01, m02 + m20], -1),
      jnp.stack([m02 - m20, m10 + m01, sq[..., 2], m12 + m21], -1),
      jnp.stack([m10 - m01, m20 + m02, m21 + m12, sq[..., 3]], -1)], -2)
  cands = rows / (2 * jnp.maximum(two_q, 0.1))[..., None]
  best = jnp.argmax(sq, axis=-1)[..., None, None]
  q = jnp.take_along_axis(cands, best, axis=-2)[..., 0, :]
  return jnp.where(q[..., :1] < 0, -q, q)


def matrix_to_axis_angle(rotation: Array) -> Array:
  """Inverse of `axis_angle_to_matrix`: [..., 3, 3] -> [..., 3], angle in [0, pi].

  Goes through the quaternion (stable near 0 and pi; at exactly pi either sign of the
  axis is a valid answer). Gradients are finite at the identity.
  """
  checks.shapes(rotation=(rotation, "... 3 3"))
  return _matrix_to_axis_angle(*_float(rotation))


@jax.jit
def _matrix_to_axis_angle(rotation: Array) -> Array:
  q = _matrix_to_quaternion(rotation)
  w, v = q[..., :1], q[..., 1:]
  n2 = jnp.sum(v * v, -1, keepdims=True)
  small = n2 < 1e-12
  n = jnp.sqrt(jnp.where(small, 1.0, n2))
  w_small = jnp.maximum(jnp.where(small, w, 1.0), 0.5)  # ~1 where small for a rotation
  factor = jnp.where(small, 2 / w_small - 2 / 3 * n2 / w_small ** 3,
                     2 * jnp.arctan2(n, w) / n)  # angle / |v|
  return v * factor


def rotation_about_axis(angle: Array, axis: str) -> Array:
  """Right-handed rotation by `angle` [...] radians about world axis 'x', 'y' or 'z'.

  Returns:
    [..., 3, 3], equal to `axis_angle_to_matrix(angle * e_axis)`.
  """
  checks.one_of("axis", axis, ("x", "y", "z"))
  (angle,) = _float(angle)
  c, s = jnp.cos(angle), jnp.sin(angle)
  o, l = jnp.zeros_like(angle), jnp.ones_like(angle)
  rows = {"x": [[l, o, o], [o, c, -s], [o, s, c]],
          "y": [[c, o, s], [o, l, o], [-s, o, c]],
          "z": [[c, -s, o], [s, c, o], [o, o, l]]}[axis]
  return jnp.stack([jnp.stack(r, -1) for r in rows], -2)


def look_at(position: Array, target: Array, *, up=(0.0, 1.0, 0.0)) -> Array:
  """World-to-camera rotation of an upright camera at `position` looking at `target`.

  Rows of R (camera axes in world coordinates): z = unit(target - position) (forward),
  x = unit(z x up) (right, parallel to the ground plane), y = z x x (down: y . up <= 0).
  Then `world_to_camera` puts the target on the optical axis (it projects to the
  principal point) and world points above the target project above it (smaller v).

  Args:
    position: [..., 3] camera centres, world frame.
    target: [..., 3] points looked at; leading dims broadcast with `position`.
    up: [3] world up direction (any length; y-up MoCap by default).

  Returns:
    [..., 3, 3] rotations with det +1, for `world_to_camera(rotation=R, position=...)`.

  Raises:
    ValueError: for concrete inputs where position == target or the view direction is
      (anti)parallel to `up` (the camera's roll is then undefined). Under `jit` those
      cameras get a finite fallback instead: forward = the horizontal e1 axis when
      position == target, x = a fixed horizontal axis when looking along `up`.
  """
  checks.shapes(position=(position, "... 3"))
  checks.shapes(target=(target, "... 3"))
  _check_up(up)
  if all(checks.is_concrete(a) for a in (position, target, up)):
    fwd = np.asarray(target, np.float64) - np.asarray(position, np.float64)
    n = np.linalg.norm(fwd, axis=-1, keepdims=True)
    if np.any(n == 0):
      raise ValueError("target: expected target != position (view direction undefined)")
    u = np.asarray(up, np.float64) / np.linalg.norm(np.asarray(up, np.float64))
    if np.any(np.linalg.norm(np.cross(fwd / n, u), axis=-1) < 1e-6):
      raise ValueError(f"target: view direction is parallel to up={tuple(u.tolist())}, "
                       "so the upright camera's roll is undefined")
  position, target, up = _float(position, target, up)
  return _look_at(position, target, up)


@jax.jit
def _look_at(position: Array, target: Array, up: Array) -> Array:
  """`look_at` without the concrete checks (finite fallbacks; see there)."""
  up = up / jnp.linalg.norm(up)
  e1, e2 = _horizontal_basis(up)
  z = _unit(target - position, e1)
  eps2 = float(jnp.finfo(z.dtype).eps) ** 2
  x = _unit(jnp.cross(z, up), jnp.broadcast_to(e2, z.shape), eps2)
  y = jnp.cross(z, x)
  return jnp.stack([x, y, z], -2)


# ------------------------------------------------------------------ Procrustes


def procrustes_transform(pred: Array, target: Array, *, mask: Array | None = None,
                         scale: bool = True) -> tuple[Array, Array, Array]:
  """Similarity transform (R, s, t) best mapping `pred` onto `target` (least squares).

  Minimises `sum_j m_j |s R p_j + t - y_j|^2` over proper rotations R (det +1), s >= 0
  (s = 1 if not `scale`) and t: with `M = sum_j m_j p0_j y0_j^T = U S V^T` of the
  centred points, `R = V D U^T`, `D = diag(1, 1, sign det(V U^T))` (the reflection
  fix of VideoPose3D's P-MPJPE), `s = tr(D S) / sum_j m_j |p0_j|^2`.
  Degenerate input (|M| <= eps |p0| |y0|: all-zero pred or target, every joint masked)
  gives R = I, s = 0 (1 without `scale`), finite values and gradients. Elsewhere the
  gradients are the SVD's: finite where M's singular values are distinct (generic poses).

  Args:
    pred: [..., J, 3] points to align.
    target: [..., J, 3] reference points.
    mask: [..., J] joints to fit (bool, or non-negative weights); None fits all.
    scale: fit the scale s.

  Returns:
    rotation [..., 3, 3], scale [...], translation [..., 3]: aligned = s R p + t.
  """
  checks.shapes(pred=(pred, "... J 3"), target=(target, "... J 3"), mask=(mask, "... J"))
  pred, target = _float(pred, target)
  w = (jnp.ones(pred.shape[:-1], pred.dtype) if mask is None
       else jnp.asarray(mask).astype(pred.dtype))
  return _procrustes(pred, target, w, scale)


@functools.partial(jax.jit, static_argnames="scale")
def _procrustes(pred: Array, target: Array, w: Array, scale: bool):
  w = w[..., None]  # [..., J, 1]
  total = jnp.maximum(jnp.sum(w, -2), 1e-12)  # [..., 1]
  mu_p = jnp.sum(w * pred, -2) / total
  mu_t = jnp.sum(w * target, -2) / total
  p0 = pred - mu_p[..., None, :]
  t0 = target - mu_t[..., None, :]
  m = jnp.einsum("...ji,...jk->...ik", w * p0, t0)
  var_p = jnp.sum(w * p0 * p0, (-2, -1))
  var_t = jnp.sum(w * t0 * t0, (-2, -1))
  eps = float(jnp.finfo(pred.dtype).eps)
  degenerate = jnp.sum(m * m, (-2, -1)) <= eps ** 2 * var_p * var_t
  m = jnp.where(degenerate[..., None, None], jnp.diag(jnp.array([3., 2., 1.], m.dtype)), m)
  u, sv, vt = jnp.linalg.svd(m)
  v = jnp.swapaxes(vt, -1, -2)
  d = jnp.where(jnp.linalg.det(v @ jnp.swapaxes(u, -1, -2)) < 0, -1.0, 1.0).astype(m.dtype)
  v = v.at[..., 2].multiply(d[..., None])
  rot = v @ jnp.swapaxes(u, -1, -2)
  rot = jnp.where(degenerate[..., None, None], jnp.eye(3, dtype=m.dtype), rot)
  if scale:
    trace = sv[..., 0] + sv[..., 1] + d * sv[..., 2]
    s = jnp.where(degenerate, 0.0, trace / jnp.where(degenerate, 1.0, var_p))
  else:
    s = jnp.ones_like(var_p)
  t = mu_t - s[..., None] * jnp.einsum("...ij,...j->...i", rot, mu_p)
  return rot, s, t


def procrustes_align(pred: Array, target: Array, *, mask: Array | None = None,
                     scale: bool = True) -> Array:
  """`pred` after the similarity Procrustes fit onto `target` (PA-MPJPE, protocol #2).

  See `procrustes_transform` (rotation with reflection fix, translation, optional
  scale; masked joints are excluded from the fit but still transformed).

  Args:
    pred: [..., J, 3].
    target: [..., J, 3].
    mask: [..., J] or None.
    scale: fit the scale.

  Returns:
    [..., J, 3] aligned pred.
  """
  rot, s, t = procrustes_transform(pred, target, mask=mask, scale=scale)
  return _apply_similarity(jnp.asarray(pred, rot.dtype), rot, s, t)


@jax.jit
def _apply_similarity(points: Array, rot: Array, s: Array, t: Array) -> Array:
  return s[..., None, None] * jnp.einsum("...ij,...nj->...ni", rot, points) + t[..., None, :]


# ------------------------------------------------------------------ camera rigs


def closest_point_to_lines(origins: Array, directions: Array) -> Array:
  """Least-squares point closest to K lines (DRPose3D eq. 7, the rig centre V_c).

  Minimises `sum_k |(I - d_k d_k^T)(V - o_k)|^2`, the squared distances to the lines
  `o_k + lambda d_k` (d_k normalised here), via the normal equations
  `A V = b`, `A = sum_k (I - d_k d_k^T)`, `b = sum_k (I - d_k d_k^T) o_k`. Solved with
  the pseudo-inverse about the origins' mean, so (near-)parallel lines, whose closest
  point is not unique, give the one nearest that mean instead of inf/NaN.

  Args:
    origins: [..., K, 3] a point on each line.
    directions: [..., K, 3] non-zero line directions (any length).

  Returns:
    [..., 3].
  """
  checks.shapes(origins=(origins, "... K 3"), directions=(directions, "... K 3"))
  if checks.is_concrete(directions) and np.any(
      np.linalg.norm(np.asarray(directions, np.float64), axis=-1) == 0):
    raise ValueError("directions: expected non-zero direction vectors")
  return _closest_point(*_float(origins, directions))


@jax.jit
def _closest_point(o: Array, d: Array) -> Array:
  d = _unit(d, jnp.zeros_like(d))
  proj = jnp.eye(3, dtype=d.dtype) - d[..., :, None] * d[..., None, :]  # [..., K, 3, 3]
  a = jnp.sum(proj, -3)
  mean = jnp.mean(o, -2)
  rhs = jnp.einsum("...kij,...kj->...i", proj, o - mean[..., None, :])  # b - A mean
  return mean + jnp.einsum("...ij,...j->...i", jnp.linalg.pinv(a, hermitian=True), rhs)


def fit_camera_rig(rotations: Array, positions: Array) -> tuple[Array, Array, Array]:
  """Centre and distance statistics of a real camera rig (DRPose3D Sec. 3.3).

  The centre is the point closest to the cameras' optical axes (eq. 7; camera z axis
  in world = `R[2, :]`); the distances of the cameras to it give the Normal that
  `sample_virtual_cameras` draws from (mean and maximum-likelihood std, ddof = 0).

  Args:
    rotations: [K, 3, 3] world-to-camera rotations, K >= 2.
    positions: [K, 3] camera centres, world frame.

  Returns:
    center [3], distance_mean [], distance_std [].
  """
  dims = checks.shapes(rotations=(rotations, "K 3 3"), positions=(positions, "K 3"))
  if dims["K"] < 2:
    raise ValueError(f"rotations: expected at least 2 cameras, got K={dims['K']}")
  checks.finite(rotations=rotations, positions=positions)
  rotations, positions = _float(rotations, positions)
  axes = rotations[:, 2, :]
  if checks.is_concrete(axes):
    a = np.asarray(axes, np.float64)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    if np.max(np.linalg.norm(np.cross(a[:1], a), axis=-1)) < 1e-6:
      raise ValueError("rotations: the cameras' optical axes are all parallel, so they "
                       "have no unique closest point (DRPose3D eq. 7)")
  center = closest_point_to_lines(positions, axes)
  dist = jnp.linalg.norm(positions - center, axis=-1)
  return center, jnp.mean(dist), jnp.std(dist)


def sample_virtual_cameras(key: Array, center: Array, *, num: int, distance_mean: float,
                           distance_std: float, elevation_deg=(-90.0, 90.0),
                           azimuth_deg=(-180.0, 180.0), min_distance: float = 1.0,
                           up=(0.0, 1.0, 0.0)) -> dict[str, Array]:
  """Random upright cameras on a sphere looking at `center` (DRPose3D Sec. 3.3).

  Distance d ~ Normal(distance_mean, distance_std), clipped to >= `min_distance`
  (default 1 m keeps the camera outside a body centred there); direction uniform by
  area over the band of the unit sphere with elevation (angle above the ground plane,
  which is perpendicular to `up`) in `elevation_deg` and azimuth in `azimuth_deg`,
  i.e. sin(elevation) and azimuth uniform. Azimuth 0 is world +z from the centre and
  90 is `up x z` (+x for y-up); when `up` is nearly +-z, azimuth 0 is +x instead.
  Each camera is `look_at(position, center, up=up)` (x axis parallel to the ground).

  Args:
    key: a `jax.random` key.
    center: [3] world point the cameras look at (e.g. `fit_camera_rig`'s centre).
    num: number of cameras.
    distance_mean, distance_std: metres (std >= 0).
    elevation_deg: (low, high) within [-90, 90].
    azimuth_deg: (low, high) with high - low <= 360.
    min_distance: positive lower clip of the distance, <= distance_mean.
    up: [3] world up.

  Returns:
    dict(rotation [num, 3, 3], position [num, 3]) for `world_to_camera`.
  """
  _check_sampler_args(num, distance_mean, distance_std, elevation_deg, azimuth_deg,
                      min_distance)
  checks.shapes(center=(center, "3"))
  _check_up(up)
  center, up = _float(center, up)
  sin_el = np.sin(np.deg2rad(np.asarray(elevation_deg, np.float64)))
  return _sample_cameras(key, center, up / jnp.linalg.norm(up), num, distance_mean,
                         distance_std, min_distance, *sin_el.tolist(),
                         *np.deg2rad(np.asarray(azimuth_deg, np.float64)).tolist())


@functools.partial(jax.jit, static_argnames="num")
def _sample_cameras(key, center, up, num, distance_mean, distance_std, min_distance,
                    sin_lo, sin_hi, az_lo, az_hi) -> dict[str, Array]:
  k_dist, k_elev, k_azim = jax.random.split(key, 3)
  dtype = center.dtype
  dist = distance_mean + distance_std * jax.random.normal(k_dist, (num,), dtype)
  dist = jnp.maximum(dist, min_distance)
  sin_el = jax.random.uniform(k_elev, (num,), dtype, sin_lo, sin_hi)
  cos_el = jnp.sqrt(jnp.maximum(1 - sin_el * sin_el, 0.0))
  az = jax.random.uniform(k_azim, (num,), dtype, az_lo, az_hi)
  e1, e2 = _horizontal_basis(up)
  direction = (cos_el[:, None] * (jnp.cos(az)[:, None] * e1 + jnp.sin(az)[:, None] * e2)
               + sin_el[:, None] * up)
  position = center + dist[:, None] * direction
  return {"rotation": _look_at(position, center, up), "position": position}


def _check_sampler_args(num, distance_mean, distance_std, elevation_deg, azimuth_deg,
                        min_distance) -> None:
  if not isinstance(num, (int, np.integer)) or num < 1:
    raise ValueError(f"num: expected a positive int, got {num!r}")
  checks.positive("distance_mean", distance_mean)
  if not distance_std >= 0:
    raise ValueError(f"distance_std: expected a number >= 0, got {distance_std!r}")
  checks.positive("min_distance", min_distance)
  if not min_distance <= distance_mean:
    raise ValueError(f"min_distance: expected <= distance_mean={distance_mean}, "
                     f"got {min_distance}")
  if (np.shape(elevation_deg) != (2,)
      or not -90 <= elevation_deg[0] <= elevation_deg[1] <= 90):
    raise ValueError("elevation_deg: expected (low, high) with -90 <= low <= high <= 90, "
                     f"got {elevation_deg!r}")
  if np.shape(azimuth_deg) != (2,) or not 0 <= azimuth_deg[1] - azimuth_deg[0] <= 360:
    raise ValueError("azimuth_deg: expected (low, high) with 0 <= high - low <= 360, "
                     f"got {azimuth_deg!r}")
