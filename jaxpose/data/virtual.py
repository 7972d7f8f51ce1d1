"""World-frame MoCap poses seen through sampled virtual cameras -> schema examples.

DRPose3D Sec. 3.3 (eq. 7) style: upright cameras on a sphere around the subject, with
distance ~ Normal(mean, std) and the camera position uniform on the sphere within an
elevation/azimuth band, each looking at the subject's pelvis. The camera-frame 3D pose,
its perspective 2D projection and all-pairs ordinal relations (100 mm tie band,
Pavlakos Sec. 4.3) follow. Used by the `mocap_lifting`/`mocap_images` builders (fixed
cameras) and by the input pipeline to resample cameras every epoch.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import geometry, ordinal, skeleton


@dataclasses.dataclass(frozen=True)
class CameraRange:
  """Where virtual cameras may stand, and their intrinsics.

  Defaults resemble Human3.6M's rig: about 5 m from the subject, slightly above it,
  focal ~1150 px on a 1000x1000 image.
  """
  distance_mean: float = 5.0      # metres from the pelvis
  distance_std: float = 0.5       # metres
  elevation_deg: tuple[float, float] = (-10.0, 30.0)   # above the horizontal through the pelvis
  azimuth_deg: tuple[float, float] = (-180.0, 180.0)   # around the world up axis
  focal: float = 1150.0           # pixels
  image_size: int = 1000          # pixels, square; principal point at its centre

  def __post_init__(self):
    lo, hi = self.elevation_deg
    if not -90.0 <= lo < hi <= 90.0:
      raise ValueError(f"elevation_deg: expected lo < hi within [-90, 90], got {self.elevation_deg}")
    lo, hi = self.azimuth_deg
    if not lo < hi:
      raise ValueError(f"azimuth_deg: expected lo < hi, got {self.azimuth_deg}")
    if not (self.distance_mean > 0 and self.distance_std >= 0 and self.focal > 0):
      raise ValueError("distance_mean/focal: expected positive numbers, distance_std >= 0")


@functools.partial(jax.jit, static_argnames=("cameras", "num_views"))
def _views(key, world, cameras: CameraRange, num_views: int):
  """world [N, J, 3] -> camera-frame poses [N, V, J, 3] and 2D [N, V, J, 2]."""
  root = skeleton.H36M17.root
  keys = key if key.shape else jax.random.split(key, world.shape[0])
  sample = functools.partial(
      geometry.sample_virtual_cameras, num=num_views,
      distance_mean=cameras.distance_mean, distance_std=cameras.distance_std,
      elevation_deg=cameras.elevation_deg, azimuth_deg=cameras.azimuth_deg)
  cams = jax.vmap(sample)(keys, world[:, root])                     # [N, V, ...]
  pose = jnp.broadcast_to(world[:, None], (world.shape[0], num_views) + world.shape[1:])
  cam3d = geometry.world_to_camera(pose, rotation=cams["rotation"], position=cams["position"])
  focal = jnp.full(cam3d.shape[:2] + (2,), cameras.focal, cam3d.dtype)
  center = jnp.full_like(focal, cameras.image_size / 2.0)
  kp2d = geometry.perspective_project(cam3d, focal=focal, center=center)
  return cam3d, kp2d, focal, center


def views(key: jax.Array, world: np.ndarray, cameras: CameraRange, *, num_views: int,
          tie_tol: float = 0.1) -> dict[str, np.ndarray]:
  """Sees each world pose from `num_views` virtual cameras.

  Args:
    key: one jax.random key (split into N), or N keys (one per pose, so a pose's cameras
      do not depend on the other poses in the call).
    world: [N, 17, 3] H36M17 poses, world frame (y up), metres.
    cameras: where the cameras may stand.
    num_views: cameras per pose.
    tie_tol: ordinal tie band in metres.

  Returns:
    NumPy dict with leading dims [N, V]: keypoints3d [.., 17, 3] (camera frame),
    keypoints2d [.., 17, 2] (pixels), focal [.., 2], center [.., 2],
    relations int8 [.., 136, 3] (all pairs, r=+1 <=> i closer).
  """
  world = np.asarray(world, np.float32)
  if world.ndim != 3 or world.shape[1:] != (skeleton.H36M17.num_joints, 3):
    raise ValueError(f"world: expected shape [N, 17, 3], got {world.shape}")
  if key.shape not in ((), (world.shape[0],)):
    raise ValueError(f"key: expected one key or {world.shape[0]} keys, got shape {key.shape}")
  cam3d, kp2d, focal, center = jax.device_get(_views(key, world, cameras, num_views))
  relations = ordinal.relations_from_depth(cam3d[..., 2], tol=tie_tol)
  return {"keypoints3d": cam3d, "keypoints2d": kp2d, "focal": focal, "center": center,
          "relations": relations}
