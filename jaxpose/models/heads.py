"""Pavlakos et al. 2018 heads: depth and coordinate regression (Sec. 3.1-3.2), volumes (3.3).

Coordinate conventions (DESIGN.md: 2D in pixels, origin top-left):
- Heatmap and image coordinates are corner-origin: pixel (column u, row v) covers
  [u, u + 1) x [v, v + 1), so its centre is (u + 0.5, v + 0.5) (as `jaxpose.data.render`
  and `jaxpose.data.augment`). `heatmap_to_image_coords` is then a pure scaling.
- Volumes: the backbone's `J * D` output channels are joint-major, channel `j * D + k`
  being depth bin k of joint j (bin 0 = closest to the camera, as z grows with depth).
- Depth from a volume (`volume_marginals`) is the expected bin INDEX, sum_k p(k|j) k, in
  [0, D - 1]; a peak in bin k gives k. Pavlakos' released evaluation code feeds the
  reconstruction MLP `z = (bin - 33) / 32` for 64 one-based bins, i.e. `(k - D/2) / (D/2)`
  for zero-based k (`normalize_depth_bins`, in [-1, 1)). Bins have no metric size: the
  ordinal loss only orders them and the reconstruction MLP (Sec. 3.4) maps them to metres.
- `CoordinateHead` predicts 2D joints in normalised crop coordinates, (0, 0) the crop's
  top-left corner and (1, 1) its bottom-right corner (`pixels / image_size`), so that
  `L_rank + 100 L_keyp` (Sec. 3.2, lambda = 100) weighs terms of similar size.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks
from jaxpose import geometry
from jaxpose import losses

Array = jax.Array
Dtype = Any

POOLINGS = ("avg", "flatten")


# ------------------------------------------------------------------ regression heads


def _pool(features: Array, pooling: str) -> Array:
  """(B, H, W, F) -> (B, F) global average, or (B, H*W*F) flattened."""
  checks.shapes(features=(features, "B H W F"))
  checks.one_of("pooling", pooling, POOLINGS)
  if pooling == "avg":
    return jnp.mean(features, axis=(1, 2))  # (B, F)
  return features.reshape(features.shape[0], -1)  # (B, H*W*F)


def _dense(features: int, dtype: Dtype, name: str) -> nn.Dense:
  return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, name=name)


class DepthHead(nn.Module):
  """Sec. 3.1: one hourglass + a fully connected layer -> J depths (ranking loss only).

  Features [B, H, W, F] (e.g. `StackedHourglass(..., return_features=True)`) are pooled
  (`pooling`: 'avg' global average, or 'flatten') and mapped by one Dense layer to [B, J]
  float32 depths (unitless: only their order is supervised, `losses.ranking_loss`).
  """
  num_joints: int = 17
  pooling: str = "avg"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: Array) -> Array:
    checks.positive("num_joints", self.num_joints)
    h = _pool(jnp.asarray(features, self.dtype), self.pooling)  # (B, F)
    return _dense(self.num_joints, self.dtype, "depth")(h).astype(jnp.float32)  # (B, J)


class CoordinateHead(nn.Module):
  """Sec. 3.2: FC -> 2D joints (normalised crop coordinates) and depths.

  Returns dict(keypoints2d [B, J, 2] float32 in crop units, (0, 0) = top-left corner,
  (1, 1) = bottom-right corner (offset by 0.5 so an untrained head points at the crop
  centre; multiply by the crop size for pixels), depth [B, J] float32 unitless).
  Train with `coordinate_loss`.
  """
  num_joints: int = 17
  pooling: str = "avg"
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, features: Array) -> dict[str, Array]:
    checks.positive("num_joints", self.num_joints)
    h = _pool(jnp.asarray(features, self.dtype), self.pooling)  # (B, F)
    out = _dense(3 * self.num_joints, self.dtype, "coords")(h).astype(jnp.float32)
    out = out.reshape(out.shape[0], self.num_joints, 3)  # (B, J, 3)
    return {"keypoints2d": out[..., :2] + 0.5, "depth": out[..., 2]}


def coordinate_loss(*, keypoints2d: Array, depth: Array, keypoints2d_target: Array,
                    relations: Array, keypoints_mask: Array | None = None,
                    relation_mask: Array | None = None,
                    weight: float = losses.PAVLAKOS_LAMBDA) -> tuple[Array, dict[str, Array]]:
  """Pavlakos et al. 2018 Sec. 3.2: `L = L_rank + lambda L_keyp`, lambda = 100.

  `L_rank` is eq. 2 (`losses.ranking_loss`) on the predicted depths, `L_keyp` the summed
  squared 2D error (`losses.joint_l2`) in normalised crop coordinates (`CoordinateHead`).
  Each term is averaged over the examples that carry its supervision.

  Args:
    keypoints2d: [B, J, 2] predictions; keypoints2d_target: [B, J, 2], the same units.
    depth: [B, J] predicted depths.
    relations: int [B, P, 3] (i, j, r) triples, r = +1 <=> joint i closer.
    keypoints_mask: bool [B, J], joints with a 2D annotation (default: all).
    relation_mask: bool [B, P], annotated pairs (default: all).
    weight: lambda.

  Returns:
    (scalar loss, dict(rank=..., keyp=...)).
  """
  rank = losses.ranking_loss(depth=depth, relations=relations, mask=relation_mask)
  keyp = losses.joint_l2(pred=keypoints2d, target=keypoints2d_target, mask=keypoints_mask)
  return rank + weight * keyp, {"rank": rank, "keyp": keyp}


# ------------------------------------------------------------------ volumetric (Sec. 3.3)


def _pixel_centres(size: int, dtype: Any) -> Array:
  return jnp.arange(size, dtype=dtype) + 0.5


def soft_argmax_2d(heatmap: Array) -> Array:
  """Expected pixel position under each joint's heatmap (corner origin, centres at +0.5).

  Args:
    heatmap: [B, H, W, J] non-negative weights (normalised inside: each map is divided
      by its sum, floored at 1e-12).

  Returns:
    [B, J, 2] float (x, y) in heatmap pixels.
  """
  checks.shapes(heatmap=(heatmap, "B H W J"))
  p = jnp.asarray(heatmap)
  if not jnp.issubdtype(p.dtype, jnp.floating) or p.dtype == jnp.bfloat16:
    p = p.astype(jnp.float32)
  total = jnp.maximum(jnp.sum(p, axis=(1, 2)), 1e-12)  # (B, J)
  px = jnp.sum(p, axis=1)  # (B, W, J) marginal over rows
  py = jnp.sum(p, axis=2)  # (B, H, J) marginal over columns
  x = jnp.einsum("bwj,w->bj", px, _pixel_centres(p.shape[2], p.dtype))
  y = jnp.einsum("bhj,h->bj", py, _pixel_centres(p.shape[1], p.dtype))
  return jnp.stack([x, y], axis=-1) / total[..., None]  # (B, J, 2)


def volume_marginals(logits: Array, *, num_joints: int, depth_bins: int) -> dict[str, Array]:
  """Pavlakos et al. 2018 eq. 3-5: per-joint softmax over the whole volume, and its marginals.

  `p(x, y, z | j) = softmax over all H*W*D cells of joint j's logits` (computed with a
  logsumexp, float32); the 2D heatmap is `sum_z p` (eq. 4), the depth distribution
  `sum_{x,y} p` (eq. 5), the depth its mean `sum_z z p(z|j)` in bin-index units and the
  2D keypoints the heatmap's mean (`soft_argmax_2d` convention).

  Args:
    logits: [B, H, W, J*D] network output, joint-major channels (module docstring).
    num_joints: J.
    depth_bins: D.

  Returns:
    dict(heatmap2d [B, H, W, J] (sums to 1 over H, W), depth_dist [B, J, D] (sums to 1
    over D), depth [B, J] in [0, D - 1] bin units, keypoints2d [B, J, 2] heatmap pixels),
    all float32 (float64 under x64 for float64 logits).
  """
  checks.positive("num_joints", num_joints)
  checks.positive("depth_bins", depth_bins)
  checks.shapes(logits=(logits, f"B H W {num_joints * depth_bins}"))
  x = jnp.asarray(logits)
  if x.dtype != jnp.float64:
    x = x.astype(jnp.float32)
  b, h, w, _ = x.shape
  x = x.reshape(b, h, w, num_joints, depth_bins)  # (B, H, W, J, D)
  lse = jax.nn.logsumexp(x, axis=(1, 2, 4), keepdims=True)  # (B, 1, 1, J, 1)
  p = jnp.exp(x - lse)  # (B, H, W, J, D), sums to 1 per (b, j)
  heatmap = jnp.sum(p, axis=-1)  # (B, H, W, J)
  depth_dist = jnp.sum(p, axis=(1, 2))  # (B, J, D)
  depth = depth_dist @ jnp.arange(depth_bins, dtype=x.dtype)  # (B, J)
  return {"heatmap2d": heatmap, "depth_dist": depth_dist, "depth": depth,
          "keypoints2d": soft_argmax_2d(heatmap)}


def normalize_depth_bins(depth: Array, depth_bins: int) -> Array:
  """Bin-index depth -> Pavlakos' released-code units `(k - D/2) / (D/2)` ((bin-33)/32, D=64)."""
  checks.positive("depth_bins", depth_bins)
  half = depth_bins / 2.0
  return (jnp.asarray(depth) - half) / half


def _size(name: str, size: Sequence[int]) -> tuple[int, int]:
  if len(size) != 2 or min(size) <= 0:
    raise ValueError(f"{name}: expected (height, width) with positive sizes, got {size!r}")
  return int(size[0]), int(size[1])


def _scale_xy(xy: Array, sx: float, sy: float) -> Array:
  checks.shapes(xy=(xy, "... 2"))
  xy = jnp.asarray(xy)
  dtype = xy.dtype if jnp.issubdtype(xy.dtype, jnp.floating) else jnp.float32
  return xy.astype(dtype) * jnp.asarray([sx, sy], dtype)


def heatmap_to_image_coords(xy: Array, *, heatmap_size: Sequence[int],
                            image_size: Sequence[int]) -> Array:
  """Heatmap pixels -> image pixels, both corner-origin: `x * W_img / W_hm`, `y * H_img / H_hm`.

  Args:
    xy: [..., 2] (x, y) heatmap coordinates.
    heatmap_size: (H, W) of the heatmap; image_size: (H, W) of the network input.
  """
  (hh, hw), (ih, iw) = _size("heatmap_size", heatmap_size), _size("image_size", image_size)
  return _scale_xy(xy, iw / hw, ih / hh)


def image_to_heatmap_coords(xy: Array, *, heatmap_size: Sequence[int],
                            image_size: Sequence[int]) -> Array:
  """Inverse of `heatmap_to_image_coords`: image pixels -> heatmap pixels."""
  (hh, hw), (ih, iw) = _size("heatmap_size", heatmap_size), _size("image_size", image_size)
  return _scale_xy(xy, hw / iw, hh / ih)


def volume_to_pose(keypoints2d: Array, depth: Array, *, depth_bins: int, root: int = 0,
                   eps: float = 1e-8) -> Array:
  """The reconstruction MLP's input (Sec. 3.4) as Pavlakos' released evaluation code builds it.

  x, y are centred on the root joint (the pelvis) and divided by the example's largest
  |x| or |y| (over all joints; 1 when that is below `eps`); z is `normalize_depth_bins`.
  Feed the result to `jaxpose.models.lifting.ReconstructionMLP`.

  Args:
    keypoints2d: [B, J, 2] 2D joints in any pixel unit (e.g. `volume_marginals`'
      keypoints2d).
    depth: [B, J] depth in bin-index units (`volume_marginals`' depth).
    depth_bins: D.
    root: index of the root joint.
    eps: scale floor.

  Returns:
    [B, J, 3] (x, y, z), x and y in [-1, 1], the root at x = y = 0.
  """
  checks.shapes(keypoints2d=(keypoints2d, "B J 2"), depth=(depth, "B J"))
  xy = geometry.root_center(jnp.asarray(keypoints2d), root=root)  # (B, J, 2)
  scale = jnp.max(jnp.abs(xy), axis=(1, 2), keepdims=True)  # (B, 1, 1)
  xy = xy / jnp.where(scale > eps, scale, 1.0)
  z = normalize_depth_bins(depth, depth_bins).astype(xy.dtype)
  return jnp.concatenate([xy, z[..., None]], axis=-1)  # (B, J, 3)
