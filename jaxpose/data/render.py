"""Synthetic body renderer: a posed H36M17 skeleton ray-cast as shaded capsules, in jnp.

The body is one primitive per `skeleton.H36M17.bones` entry: a capsule (segment + radius)
around each bone, except the `head`-`neck_nose` bone, which is drawn as a head sphere
centred between the two joints. Every pixel casts one ray through its centre; analytic
ray-capsule intersections give a z-buffer (nearest hit), Lambert + ambient shading with a
fixed light, and per-limb colours (left limbs warm hues, right limbs cool hues, torso
neutral). Where no ray hits, a random textured background shows (`random_background`).

Pixel convention (the same as `geometry.perspective_project`): continuous pixel
coordinates have the origin at the top-left *corner* of the image, so pixel (u, v)
(column u, row v) covers [u, u + 1) x [v, v + 1) and its centre is (u + 0.5, v + 0.5).
A point that projects to (x, y) = f * (X, Y) / Z + c lies in pixel (floor(x), floor(y)),
and the centroid of a small marker sphere's pixels, taken at their centres, equals its
projection. `crop_camera` keeps the same convention, so it needs no half-pixel shifts.

Everything is pure `jnp` with static shapes: `render` / `render_batch` jit once per image
size (and batch size) and run on any backend.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks, geometry, skeleton

Array = jax.Array

_JS = skeleton.H36M17
BONES = _JS.bones  # int32 [16, 2] (child, parent); primitive k draws bone k.

# Body model per bone, keyed by the bone's child joint: (radius in metres, RGB in [0, 1]).
# Left parts are warm (R > B), right parts cool (B > R), the trunk neutral grey/skin, so a
# viewer (or a network) can tell which of two crossing limbs is which, and so in front.
_PARTS = {
    "r_hip": (0.085, (0.20, 0.30, 0.65)),       # right half of the pelvis: dark blue
    "r_knee": (0.075, (0.15, 0.40, 0.95)),      # right thigh: blue
    "r_ankle": (0.055, (0.10, 0.80, 0.90)),     # right shin: cyan
    "l_hip": (0.085, (0.65, 0.22, 0.18)),       # left half of the pelvis: dark red
    "l_knee": (0.075, (0.95, 0.20, 0.15)),      # left thigh: red
    "l_ankle": (0.055, (1.00, 0.60, 0.10)),     # left shin: orange
    "spine": (0.13, (0.55, 0.55, 0.55)),        # abdomen: grey
    "thorax": (0.14, (0.75, 0.75, 0.72)),       # chest: light grey
    "neck_nose": (0.05, (0.80, 0.66, 0.54)),    # neck: skin
    "head": (0.10, (0.93, 0.80, 0.66)),         # head sphere: light skin
    "l_shoulder": (0.06, (0.75, 0.25, 0.35)),   # left clavicle: crimson
    "l_elbow": (0.05, (0.95, 0.35, 0.65)),      # left upper arm: pink
    "l_wrist": (0.04, (1.00, 0.88, 0.20)),      # left forearm: yellow
    "r_shoulder": (0.06, (0.12, 0.45, 0.55)),   # right clavicle: teal
    "r_elbow": (0.05, (0.20, 0.80, 0.35)),      # right upper arm: green
    "r_wrist": (0.04, (0.55, 0.30, 0.95)),      # right forearm: violet
}
_CHILD_NAMES = [_JS.joint_names[c] for c, _ in BONES]
RADII = np.array([_PARTS[n][0] for n in _CHILD_NAMES], np.float32)  # [16] metres
COLORS = np.array([_PARTS[n][1] for n in _CHILD_NAMES], np.float32)  # [16, 3]
# [17] largest radius of the bones at each joint (how far the body reaches past it).
JOINT_RADII = np.array([max(r for (c, p), r in zip(BONES, RADII) if j in (c, p))
                        for j in range(_JS.num_joints)], np.float32)
HEAD_BONE = _CHILD_NAMES.index("head")  # drawn as a sphere between head and neck_nose
_HEAD, _NOSE = _JS.index("head"), _JS.index("neck_nose")

# Lighting: unit vector towards the light (up, left and towards the camera).
LIGHT = np.array([-0.35, -0.55, -0.75], np.float32) / np.linalg.norm([-0.35, -0.55, -0.75])
AMBIENT, DIFFUSE = 0.35, 0.65
# Occluding contours: a pixel whose 4-neighbour is nearer by more than OUTLINE_GAP metres
# is darkened to OUTLINE_SHADE (a thin dark line just outside each front surface).
OUTLINE_GAP, OUTLINE_SHADE = 0.05, 0.35
NEAR = 1e-3  # metres: joints closer than this to the camera plane are not visible.


class Render(NamedTuple):
  """Renderer output (batched outputs gain a leading [B])."""
  image: Array    # uint8 [H, W, 3]
  depth: Array    # f32 [H, W] camera-frame z (not ray length) of the nearest hit; inf if none
  visible: Array  # bool [J]
  part: Array     # int32 [H, W] bone index (row of BONES) of the nearest hit, -1 if none


class CropCamera(NamedTuple):
  """Virtual crop camera (`crop_camera`)."""
  focal: Array         # f32 [..., 2] crop-camera focal lengths, pixels
  center: Array        # f32 [..., 2] crop-camera principal point, crop pixels
  bbox_center: Array   # f32 [..., 2] centre of the square box, original image pixels
  bbox_scale: Array    # f32 [...] side of the square box, original image pixels


def _dot(a: Array, b: Array) -> Array:
  """Exact f32 dot products over the last axis (no matmul, so no reduced precision)."""
  return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1] + a[..., 2] * b[..., 2]


def pixel_rays(focal: Array, center: Array,
               image_size: tuple[int, int]) -> tuple[Array, Array]:
  """Camera rays through the pixel centres (u + 0.5, v + 0.5), as directions (dx, dy, 1).

  The point at depth z on the ray of pixel (u, v) is z * (dx[0, u], dy[v, 0], 1), so it
  projects (`geometry.perspective_project`) to the pixel centre exactly.

  Args:
    focal: [2] (fx, fy) pixels.
    center: [2] (cx, cy) pixels.
    image_size: static (H, W).

  Returns:
    (dx [1, W], dy [H, 1]).
  """
  h, w = image_size
  dx = (jnp.arange(w, dtype=jnp.float32) + 0.5 - center[0]) / focal[0]
  dy = (jnp.arange(h, dtype=jnp.float32) + 0.5 - center[1]) / focal[1]
  return dx[None, :], dy[:, None]


def body_primitives(keypoints3d: Array) -> tuple[Array, Array, Array]:
  """Capsules of the body model for one pose.

  Args:
    keypoints3d: [17, 3] H36M17 camera-frame joints, metres.

  Returns:
    (start [16, 3], end [16, 3], radius [16]): bone k spans start[k]..end[k]; the head
    bone is a sphere (start = end) centred midway between `head` and `neck_nose`.
  """
  keypoints3d = jnp.asarray(keypoints3d)
  start, end = keypoints3d[BONES[:, 0]], keypoints3d[BONES[:, 1]]
  head = 0.5 * (keypoints3d[_HEAD] + keypoints3d[_NOSE])
  start, end = start.at[HEAD_BONE].set(head), end.at[HEAD_BONE].set(head)
  return start, end, jnp.asarray(RADII)


def _hit_spheres(dp: Array, dd: Array, cc: Array, r2: Array) -> Array:
  """Near root of |z d - c|^2 = r^2 given dp = d.c, dd = |d|^2, cc = |c|^2; inf if none."""
  q = dp * dp - dd * (cc - r2)
  z = (dp - jnp.sqrt(jnp.maximum(q, 0.0))) / dd
  return jnp.where((q >= 0) & (z > 0), z, jnp.inf)


def intersect_capsules(dx: Array, dy: Array, start: Array, end: Array,
                       radius: Array) -> Array:
  """Depth of the first hit of each camera ray with each capsule (analytic).

  The ray of direction d = (dx, dy, 1) from the camera centre is the set z * d, z > 0.
  A capsule is the union of the finite cylinder around start..end and the two end
  spheres, so its first hit is the nearest of the three first hits (near roots of
  quadratics). Rays starting inside a capsule, or meeting it only behind the camera, miss.

  Args:
    dx, dy: ray slopes x/z and y/z, broadcastable to each other (e.g. [1, W] and [H, 1]).
    start, end: [K, 3] segment end points, camera frame; start == end gives a sphere.
    radius: [K] metres.

  Returns:
    [..., K] camera depth z > 0 of the first hit, inf where the ray misses.
  """
  dx, dy = dx[..., None], dy[..., None]              # (..., 1) against (K,)
  dd = dx * dx + dy * dy + 1.0                       # |d|^2
  ba = end - start                                   # (K, 3)
  baba = _dot(ba, ba)                                # (K,)
  baoa = -_dot(ba, start)                            # ba . (origin - start)
  # |oa|^2 - (ba.oa)^2 / |ba|^2 from the perpendicular part (no cancellation).
  perp = -start - ba * (baoa / jnp.where(baba > 0, baba, 1.0))[:, None]
  c = baba * (_dot(perp, perp) - radius ** 2)        # (K,)
  bard = dx * ba[:, 0] + (dy * ba[:, 1] + ba[:, 2])  # (..., K) d . ba
  dpa = dx * start[:, 0] + (dy * start[:, 1] + start[:, 2])  # d . start
  a = baba * dd - bard * bard
  b = -baba * dpa - baoa * bard
  h = b * b - a * c
  ok = (a > 1e-9 * baba * dd) & (h >= 0)
  z_side = (-b - jnp.sqrt(jnp.maximum(h, 0.0))) / jnp.where(ok, a, 1.0)
  y = baoa + z_side * bard                           # position along the axis * |ba|
  z_side = jnp.where(ok & (y > 0) & (y < baba) & (z_side > 0), z_side, jnp.inf)
  r2 = radius ** 2
  z_start = _hit_spheres(dpa, dd, _dot(start, start), r2)
  z_end = _hit_spheres(dpa + bard, dd, _dot(end, end), r2)
  return jnp.minimum(z_side, jnp.minimum(z_start, z_end))


def nearest_hit(depths: Array) -> tuple[Array, Array]:
  """z-buffer: nearest depth and its primitive over the last axis.

  One integer min instead of min + argmin: positive floats order like their bit
  patterns, so the primitive index is packed into the lowest mantissa bits (depth is
  rounded down by at most 2^-18 relative for K <= 32 primitives).

  Args:
    depths: [..., K] positive depths, inf for no hit.

  Returns:
    (depth [...], inf on no hit; index int32 [...], -1 on no hit).
  """
  k = depths.shape[-1]
  low = (1 << max(1, (k - 1).bit_length())) - 1
  bits = jax.lax.bitcast_convert_type(depths.astype(jnp.float32), jnp.int32)
  packed = jnp.min((bits & ~low) | jnp.arange(k, dtype=jnp.int32), axis=-1)
  hit = packed < 0x7F800000                          # bit pattern of +inf
  depth = jax.lax.bitcast_convert_type(packed & ~low, jnp.float32)
  return jnp.where(hit, depth, jnp.inf), jnp.where(hit, packed & low, -1)


def _segment_offset(points: Array, start: Array, end: Array) -> Array:
  """Offset [..., 3] from the closest point of segment start..end to each point."""
  ba = end - start
  s = jnp.clip(_dot(points - start, ba) / jnp.maximum(_dot(ba, ba), 1e-12), 0.0, 1.0)
  return points - start - s[..., None] * ba


def _shade(points: Array, start: Array, end: Array) -> Array:
  """Lambert + ambient brightness [...] at surface points [..., 3] of capsules [..., 3]."""
  normal = _segment_offset(points, start, end)
  normal = normal / jnp.maximum(jnp.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
  return AMBIENT + DIFFUSE * jnp.maximum(_dot(normal, jnp.asarray(LIGHT)), 0.0)


def _outline(depth: Array) -> Array:
  """bool [H, W]: pixels with a 4-neighbour nearer by more than OUTLINE_GAP."""
  pad = jnp.pad(depth, 1, constant_values=jnp.inf)
  front = jnp.minimum(jnp.minimum(pad[:-2, 1:-1], pad[2:, 1:-1]),
                      jnp.minimum(pad[1:-1, :-2], pad[1:-1, 2:]))
  return front < depth - OUTLINE_GAP


def _hash_uniform(seed: Array, shape: tuple[int, ...]) -> Array:
  """Cheap counter-based uniform [0, 1) noise (murmur3 finaliser of index + seed).

  Per-pixel threefry draws would dominate the render time on CPU; this is a pure
  function of (seed, index), so it is as deterministic as the key the seed came from.
  """
  x = jnp.arange(math.prod(shape), dtype=jnp.uint32) * jnp.uint32(0x9E3779B1) + seed
  x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
  x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
  x = x ^ (x >> 16)
  return ((x >> 8).astype(jnp.float32) * (1.0 / (1 << 24))).reshape(shape)


def random_background(key: Array, image_size: tuple[int, int]) -> Array:
  """Random textured background: gradient, blobs, stripes and noise, each of random strength.

  All random parameters come from one draw of `key` (one threefry call compiles fast);
  per-pixel noise comes from `_hash_uniform` seeded by the same draw.

  Args:
    key: a jax.random key.
    image_size: static (H, W).

  Returns:
    f32 [H, W, 3] in [0, 1].
  """
  h, w = image_size
  draws = jax.random.bits(key, (_BG_DRAWS + 1,), jnp.uint32)
  values = (draws[:-1] >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
  taken = 0

  def u(shape=(), lo=0.0, hi=1.0):  # the next uniform[lo, hi) values of the draw
    nonlocal taken
    n = math.prod(shape)
    out = values[taken:taken + n].reshape(shape)
    taken += n
    return lo + (hi - lo) * out

  side = float(max(h, w))
  ys = (jnp.arange(h, dtype=jnp.float32)[:, None] + 0.5) / side   # (H, 1)
  xs = (jnp.arange(w, dtype=jnp.float32)[None, :] + 0.5) / side   # (1, W)

  def along(angle):  # (H, W) coordinate along a direction
    return xs * jnp.cos(angle) + ys * jnp.sin(angle)

  # Linear gradient between two random colours.
  s = along(u((), 0.0, 2 * math.pi))
  s = (s - s.min()) / jnp.maximum(s.max() - s.min(), 1e-6)
  c = u((2, 3))
  bg = c[0] + (c[1] - c[0]) * s[..., None]
  # Soft blobs, each present with probability 0.6.
  n = 6
  centre, sigma, colour = u((n, 2)), u((n,), 0.04, 0.35), u((n, 3))
  alpha = u((n,)) * (u((n,)) < 0.6)
  for i in range(n):
    d2 = (xs - centre[i, 0]) ** 2 + (ys - centre[i, 1]) ** 2
    wgt = (alpha[i] * jnp.exp(-d2 / (2 * sigma[i] ** 2)))[..., None]
    bg = bg * (1 - wgt) + colour[i] * wgt
  # Stripes of random frequency, orientation and edge sharpness, present half the time.
  freq, phase, sharp = u((), 2.0, 24.0), u((), 0.0, 2 * math.pi), u((), 1.0, 10.0)
  pattern = jax.nn.sigmoid(sharp * jnp.sin(2 * math.pi * freq * along(
      u((), 0.0, math.pi)) + phase))[..., None]
  amp = u((), 0.0, 0.7) * (u() < 0.5)
  bg = bg * (1 - amp * pattern) + u((3,)) * amp * pattern
  # Low-frequency colour noise (6x6 upsampled) and per-pixel noise, each half the time.
  coarse = jax.image.resize(u((6, 6, 3)), (h, w, 3), "linear")
  amp = u((), 0.0, 0.4) * (u() < 0.5)
  bg = bg * (1 - amp) + coarse * amp
  fine = _hash_uniform(draws[-1], (h, w, 3)) - 0.5
  bg = bg + u((), 0.0, 0.25) * (u() < 0.5) * fine
  assert taken == _BG_DRAWS, taken
  return jnp.clip(bg, 0.0, 1.0)


_BG_DRAWS = 176  # uniform values random_background takes from its draw


def _visibility(keypoints3d: Array, depth: Array, focal: Array, center: Array,
                start: Array, end: Array, radius: Array, margin: Array) -> Array:
  """bool [J]: inside the image and not behind a surface nearer than its own (see render)."""
  h, w = depth.shape
  uv = geometry.perspective_project(keypoints3d, focal=focal, center=center)
  z = keypoints3d[:, 2]
  inside = (z > NEAR) & jnp.all(uv >= 0, -1) & (uv[:, 0] < w) & (uv[:, 1] < h)
  col = jnp.clip(jnp.floor(uv[:, 0]), 0, w - 1).astype(jnp.int32)
  row = jnp.clip(jnp.floor(uv[:, 1]), 0, h - 1).astype(jnp.int32)
  # Own surface: any primitive containing the joint may lie up to radius + distance from
  # its axis in front of it (radius for the joint's own bones, more for the head sphere).
  dist = jnp.linalg.norm(_segment_offset(keypoints3d[:, None], start[None], end[None]), axis=-1)
  allowance = jnp.max(jnp.where(dist <= radius, radius + dist, 0.0), axis=-1)  # (J,)
  return inside & (depth[row, col] >= z - allowance - margin)


def _render_one(keypoints3d: Array, focal: Array, center: Array, key: Array,
                marker_radius: Array, margin: Array, *, image_size: tuple[int, int],
                markers_only: bool) -> Render:
  """One image; see `render`."""
  if markers_only:
    start = end = keypoints3d
    radius = jnp.full(keypoints3d.shape[:1], marker_radius, jnp.float32)
    colors = jnp.ones((keypoints3d.shape[0], 3), jnp.float32)
  else:
    start, end, radius = body_primitives(keypoints3d)
    colors = jnp.asarray(COLORS)
  dx, dy = pixel_rays(focal, center, image_size)                       # (1, W), (H, 1)
  depth, part = nearest_hit(intersect_capsules(dx, dy, start, end, radius))  # (H, W)
  hit = part >= 0
  k = jnp.maximum(part, 0)
  z = jnp.where(hit, depth, 0.0)
  points = jnp.stack(jnp.broadcast_arrays(z * dx, z * dy, z), axis=-1)  # (H, W, 3)
  rgb = colors[k] * _shade(points, start[k], end[k])[..., None]
  image = jnp.where(hit[..., None], rgb, random_background(key, image_size))
  image = jnp.where(_outline(depth)[..., None], image * OUTLINE_SHADE, image)
  image = jnp.round(jnp.clip(image, 0.0, 1.0) * 255).astype(jnp.uint8)
  visible = _visibility(keypoints3d, depth, focal, center, start, end, radius, margin)
  return Render(image, depth, visible, part)


# Images rendered together inside `render_batch`: small chunks keep the [H, W, K]
# intersection temporaries in cache (several times faster on CPU than one vmap over B).
_CHUNK = 8


@functools.partial(jax.jit, static_argnames=("image_size", "markers_only"))
def _render_batch_jit(keypoints3d, focal, center, keys, marker_radius, margin, *,
                      image_size, markers_only):
  fn = functools.partial(_render_one, marker_radius=marker_radius, margin=margin,
                         image_size=image_size, markers_only=markers_only)
  return jax.lax.map(lambda args: fn(*args), (keypoints3d, focal, center, keys),
                     batch_size=_CHUNK)


def _image_size(image_size: Sequence[int]) -> tuple[int, int]:
  size = tuple(int(s) for s in np.ravel(image_size))
  if len(size) != 2 or min(size) < 1 or size != tuple(np.ravel(image_size)):
    raise ValueError(f"image_size: expected two positive ints (H, W), got {image_size!r}")
  return size


def _as_keys(key: Array, batch: int | None) -> Array:
  """Typed key array [B] (or scalar when batch is None) from a typed or raw uint32 key."""
  key = jnp.asarray(key) if not isinstance(key, jax.Array) else key
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    if key.dtype != jnp.uint32 or key.shape[-1:] != (2,):
      raise ValueError(f"key: expected a jax.random.key, got dtype {key.dtype} shape "
                       f"{key.shape}")
    key = jax.random.wrap_key_data(key)
  if batch is None:
    if key.shape != ():
      raise ValueError(f"key: expected a single key, got shape {key.shape}")
    return key
  if key.shape == ():
    return jax.random.split(key, batch)
  if key.shape != (batch,):
    raise ValueError(f"key: expected one key or [B={batch}] keys, got shape {key.shape}")
  return key


def render_batch(keypoints3d: Array, *, focal: Array, center: Array, key: Array,
                 image_size: Sequence[int] = (128, 128), markers_only: bool = False,
                 marker_radius: float = 0.02, visibility_margin: float = 0.02) -> Render:
  """Renders a batch of poses (jitted once per image size and batch size).

  The batch runs as a `lax.map` over chunks of `_CHUNK` vmapped images, which keeps the
  per-pixel x per-capsule temporaries in cache; results match per-image `render`
  calls up to float rounding.

  Args:
    keypoints3d: [B, 17, 3] H36M17 joints in the camera frame, metres.
    focal: [B, 2] or [2] (fx, fy), pixels.
    center: [B, 2] or [2] principal point (cx, cy), pixels (see the module docstring).
    key: one jax.random key (split into B) or keys [B]; used for the background only.
    image_size: (H, W).
    markers_only: debug mode drawing only a white sphere of `marker_radius` around each
      joint (part = joint index), e.g. to check the projection convention.
    marker_radius: metres, for `markers_only`.
    visibility_margin: metres of depth slack in the visibility test (see `render`).

  Returns:
    Render with image uint8 [B, H, W, 3], depth f32 [B, H, W], visible bool [B, 17],
    part int32 [B, H, W].
  """
  size = _image_size(image_size)
  b = checks.shapes(keypoints3d=(keypoints3d, f"B {_JS.num_joints} 3"))["B"]
  for name, x in (("focal", focal), ("center", center)):
    if np.shape(x) not in ((2,), (b, 2)):
      raise ValueError(f"{name}: expected shape [2] or [B={b}, 2], got {np.shape(x)}")
  checks.finite(keypoints3d=keypoints3d, focal=focal, center=center)
  if checks.is_concrete(focal) and not np.all(np.asarray(focal) > 0):
    raise ValueError(f"focal: expected positive focal lengths, got {np.asarray(focal)}")
  checks.positive("marker_radius", float(marker_radius))
  if not float(visibility_margin) >= 0:
    raise ValueError(f"visibility_margin: expected a number >= 0, got {visibility_margin!r}")
  focal = jnp.broadcast_to(jnp.asarray(focal, jnp.float32), (b, 2))
  center = jnp.broadcast_to(jnp.asarray(center, jnp.float32), (b, 2))
  return _render_batch_jit(jnp.asarray(keypoints3d, jnp.float32), focal, center,
                           _as_keys(key, b), jnp.float32(marker_radius),
                           jnp.float32(visibility_margin), image_size=size,
                           markers_only=bool(markers_only))


def render(keypoints3d: Array, *, focal: Array, center: Array, key: Array,
           image_size: Sequence[int] = (128, 128), markers_only: bool = False,
           marker_radius: float = 0.02, visibility_margin: float = 0.02) -> Render:
  """Renders one posed body (ray-cast capsules, z-buffer, Lambert shading, background).

  Visibility: joint j is visible iff it is in front of the camera, projects inside the
  image, and the z-buffer at its pixel (floor of its projection) is not nearer than
  `z_j - allowance_j - visibility_margin`. The allowance is the body's own thickness at
  the joint: the largest `radius_k + dist(j, axis_k)` over the primitives k that contain
  the joint, i.e. the radius of the joint's own bones (more for the head joints inside the
  head sphere). So a joint covered by another body part (or its own limb pointing at the
  camera, which hides it physically) is invisible, one on its own limb surface visible.

  Args:
    keypoints3d: [17, 3] H36M17 joints in the camera frame (x right, y down, z forward),
      metres.
    focal: [2] (fx, fy), pixels.
    center: [2] principal point (cx, cy), pixels, as in `geometry.perspective_project`.
    key: a jax.random key; only the background depends on it.
    image_size: (H, W).
    markers_only, marker_radius, visibility_margin: see `render_batch`.

  Returns:
    Render: image uint8 [H, W, 3], depth f32 [H, W] (camera z of the nearest surface, inf
    on background), visible bool [17], part int32 [H, W] (bone index, -1 on background).
  """
  checks.shapes(keypoints3d=(keypoints3d, f"{_JS.num_joints} 3"), focal=(focal, "2"),
                center=(center, "2"))
  out = render_batch(jnp.asarray(keypoints3d)[None], focal=jnp.asarray(focal)[None],
                     center=jnp.asarray(center)[None], key=_as_keys(key, None)[None],
                     image_size=image_size, markers_only=markers_only,
                     marker_radius=marker_radius, visibility_margin=visibility_margin)
  return jax.tree.map(lambda x: x[0], out)


def crop_camera(keypoints3d: Array, *, focal: Array, center: Array, crop_size: int = 128,
                margin: float = 0.15) -> CropCamera:
  """Virtual camera whose `crop_size` square image is a box tightly around the body.

  The box is the bounding square of the projected joints, each grown by the projected
  radius of its body part (so the limb surfaces fit), enlarged by `margin` of its side on
  every side. The crop camera is the original camera followed by a shift and a uniform
  zoom `s = crop_size / side`: `focal' = s * focal`, `center' = s * (center - box_min)`,
  so `perspective_project` with it gives `s * (uv - box_min)` (the same corner-origin
  pixel convention, no half-pixel shift).

  Args:
    keypoints3d: [..., 17, 3] H36M17 joints in the camera frame, metres, z > 0.
    focal: [..., 2] original camera (fx, fy), pixels.
    center: [..., 2] original principal point, pixels.
    crop_size: side of the square crop, pixels.
    margin: extra border as a fraction of the box side, per side.

  Returns:
    CropCamera: crop focal/center [..., 2]; bbox_center [..., 2] and bbox_scale [...] =
    the side length of the square box, both in original image pixels.
  """
  checks.shapes(keypoints3d=(keypoints3d, f"... {_JS.num_joints} 3"))
  checks.finite(keypoints3d=keypoints3d, focal=focal, center=center)
  checks.positive("crop_size", crop_size)
  if not margin >= 0:
    raise ValueError(f"margin: expected a number >= 0, got {margin!r}")
  if checks.is_concrete(keypoints3d) and not np.all(np.asarray(keypoints3d)[..., 2] > NEAR):
    raise ValueError("keypoints3d: expected every joint in front of the camera (z > 0)")
  keypoints3d = jnp.asarray(keypoints3d, jnp.float32)
  focal = jnp.asarray(focal, jnp.float32)
  center = jnp.asarray(center, jnp.float32)
  uv = geometry.perspective_project(keypoints3d, focal=focal, center=center)
  pad = (jnp.asarray(JOINT_RADII)[:, None] * focal[..., None, :]
         / jnp.maximum(keypoints3d[..., 2:3], NEAR))                 # (..., J, 2)
  lo, hi = jnp.min(uv - pad, axis=-2), jnp.max(uv + pad, axis=-2)
  box_center = 0.5 * (lo + hi)
  side = jnp.max(hi - lo, axis=-1) * (1.0 + 2.0 * margin)
  scale = crop_size / side
  box_min = box_center - 0.5 * side[..., None]
  return CropCamera(focal=focal * scale[..., None],
                    center=(center - box_min) * scale[..., None],
                    bbox_center=box_center, bbox_scale=side)
