"""Cameras and 3D geometry: projections, world<->camera, root-centring.

Conventions (DESIGN.md): camera frame x right, y down, z forward (depth, larger =
farther), metres; 2D in pixels, origin top-left. All functions are pure `jnp`, batched
over any leading dimensions, and usable under `jit`/`grad`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

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
      expressed in world coordinates).
    position: [..., 3] camera centre C in world coordinates.
  """
  checks.shapes(points=(points, "... J 3"))
  return jnp.einsum("...ij,...nj->...ni", rotation, points - position[..., None, :])


def camera_to_world(points: Array, *, rotation: Array, position: Array) -> Array:
  """Camera -> world frame, the inverse of `world_to_camera`: `X_w = R^T X_c + C`."""
  checks.shapes(points=(points, "... J 3"))
  return jnp.einsum("...ji,...nj->...ni", rotation, points) + position[..., None, :]


def root_center(points: Array, *, root: int = 0) -> Array:
  """Subtracts the root joint: [..., J, D] -> [..., J, D] with points[..., root, :] = 0."""
  if points.ndim < 2 or not 0 <= root < points.shape[-2]:
    raise ValueError(f"points: expected shape [..., J, D] with root {root} < J, got "
                     f"{points.shape}")
  return points - points[..., root:root + 1, :]
