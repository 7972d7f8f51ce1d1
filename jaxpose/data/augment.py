"""Host-side example augmentation (NumPy + cv2): crop, rotate, scale, flip, colour, noise.

Works on one decoded example of the schema (`jaxpose.data.schema`) at a time, with an
explicit `np.random.Generator`, so the input pipeline can seed it per example.

Geometry. Every geometric operation (crop from the bbox, rotation, scale, horizontal flip)
composes into ONE 2x3 affine `A` (output pixel = A @ [x, y, 1]) applied once to the image
(`cv2.warpAffine`) and to everything that lives in its pixels: 2D keypoints, camera
principal point, bbox. Pixel coordinates follow DESIGN.md and `geometry`/`render`: the
origin is the top-left *corner*, pixel (u, v) covers [u, u + 1) x [v, v + 1) and its
centre is (u + 0.5, v + 0.5), so a flip of a width-W image maps x to W - x (`cv2` counts
from pixel centres; `_cv2_affine` converts at that one boundary). The linear part of `A` is
`k * Q` with Q a rotation or a reflection; the 3D camera-frame pose gets the same Q on
(x, y) and keeps z (an in-plane rotation of the image is a roll of the camera about its
optical axis; a flip negates x), and the focal length is multiplied by k (an absent,
all-zero camera stays zero). With fx == fy the projection of the new 3D through the new
camera lands exactly on the new 2D. When Q is a reflection, left and right joints swap
(`skeleton.H36M17.flip_permutation`) and relations (i, j, r) become (perm[i], perm[j], r),
so each still states the depth order of the same two body points. Depth never changes, so
labels never change.

Bounding box. `bbox` is the square person box in the stored image's pixels: `center` and
`scale` = its side length in pixels (as `jaxpose.data.builders.common` writes it).
Records still in the stacked-hourglass convention (side = 200 * scale) set
`AugmentConfig.bbox_scale_px=200`. An image record with scale <= 0 is cropped around the
whole image.
"""

from __future__ import annotations

import dataclasses
import math

import cv2
import numpy as np

from jaxpose import checks, ordinal, skeleton

JOINT_SET = skeleton.H36M17


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  """What `augment_example` does; training draws the random parts, evaluation only crops.

  Attributes:
    output_size: side S of the square output crop, pixels.
    rotation_deg: rotation drawn uniformly from [-rotation_deg, rotation_deg]
      (positive = counter-clockwise on screen, as cv2).
    scale: (low, high) factor on the crop side, drawn uniformly; > 1 zooms out.
    flip_prob: probability of a horizontal flip (image records: about the crop centre;
      lifting records: about the camera's principal point).
    color_jitter: brightness, contrast and saturation factors drawn from
      [1 - color_jitter, 1 + color_jitter] (image records).
    noise_2d_px: std of Gaussian noise added to the 2D keypoints of lifting records, pixels
      (DRPose3D Sec. 3.3 "2D noise"); image records keep exact 2D targets.
    rank_flip_prob: probability of flipping each relation label (DRPose3D Sec. 3.3
      per-entry ranking flips; Ronchi Fig. 4d label noise): a float, or a [J, J] nested
      tuple of per-pair probabilities (see `flip_relations`).
    bbox_scale_px: pixels per unit of `bbox.scale` (1: scale is the side in pixels).
  """
  output_size: int = 128
  rotation_deg: float = 30.0
  scale: tuple[float, float] = (0.75, 1.25)
  flip_prob: float = 0.5
  color_jitter: float = 0.2
  noise_2d_px: float = 0.0
  rank_flip_prob: float | tuple[tuple[float, ...], ...] = 0.0
  bbox_scale_px: float = 1.0

  def __post_init__(self):
    if isinstance(self.output_size, bool) or not isinstance(self.output_size, int) or (
        self.output_size < 1):
      raise ValueError(f"output_size: expected a positive int, got {self.output_size!r}")
    checks.positive("bbox_scale_px", self.bbox_scale_px)
    lo, hi = self.scale
    if not 0 < lo <= hi:
      raise ValueError(f"scale: expected (low, high) with 0 < low <= high, got {self.scale}")
    if not 0.0 <= self.flip_prob <= 1.0:
      raise ValueError(f"flip_prob: expected a probability in [0, 1], got {self.flip_prob}")
    p = np.asarray(self.rank_flip_prob, np.float64)
    if p.ndim not in (0, 2) or (p.ndim == 2 and p.shape[0] != p.shape[1]) or not np.all(
        (p >= 0) & (p <= 1)):
      raise ValueError("rank_flip_prob: expected a probability or a [J, J] nested tuple of "
                       f"probabilities in [0, 1], got {self.rank_flip_prob!r}")
    for name in ("rotation_deg", "color_jitter", "noise_2d_px"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name}: expected >= 0, got {getattr(self, name)}")
    if self.color_jitter >= 1:
      raise ValueError(f"color_jitter: expected < 1, got {self.color_jitter}")


def crop_affine(center: np.ndarray, side: float, output_size: int, *,
                rotation_deg: float = 0.0, flip: bool = False) -> np.ndarray:
  """The 2x3 affine taking a square box (centre, side, pixels) to an S x S crop.

  Output = F(k R (p - center) + o), with k = S / side, R the rotation by `rotation_deg`
  (cv2's sense), o = (S / 2, S / 2) and F the optional flip x -> S - x.

  Returns:
    float64 [2, 3].
  """
  checks.positive("side", side)
  k = output_size / side
  t = math.radians(rotation_deg)
  lin = k * np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
  o = np.full(2, output_size / 2.0)
  A = np.concatenate([lin, (o - lin @ np.asarray(center, np.float64))[:, None]], axis=1)
  return compose(hflip_affine(output_size / 2.0), A) if flip else A


def hflip_affine(axis_x: float) -> np.ndarray:
  """Mirror about the vertical line x = axis_x (a width-W image: axis_x = W / 2)."""
  return np.array([[-1.0, 0.0, 2.0 * axis_x], [0.0, 1.0, 0.0]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
  """The affine `outer(inner(p))`, both [2, 3]."""
  return outer[:, :2] @ inner + np.concatenate([np.zeros((2, 2)), outer[:, 2:]], axis=1)


def apply_affine(A: np.ndarray, points: np.ndarray) -> np.ndarray:
  """A @ [p, 1] for points [..., 2]."""
  p = np.asarray(points, np.float64)
  return p @ A[:, :2].T + A[:, 2]


def _cv2_affine(A: np.ndarray) -> np.ndarray:
  """`A` in cv2's pixel-centre coordinates: p_cv = p - 0.5 on both sides."""
  return np.concatenate([A[:, :2], (A[:, 2] + A[:, :2] @ np.full(2, 0.5) - 0.5)[:, None]], 1)


def remap_relations(relations: np.ndarray, perm: np.ndarray) -> np.ndarray:
  """(i, j, r) -> (perm[i], perm[j], r) for relations int8 [K, 3]."""
  rel = np.array(relations, copy=True)
  rel[:, 0] = perm[rel[:, 0]]
  rel[:, 1] = perm[rel[:, 1]]
  return rel


def transform_example(example: dict, A: np.ndarray,
                      out_size: tuple[int, int] | None = None) -> dict:
  """Applies the affine `A` [2, 3] to an example (see the module docstring).

  Args:
    example: a decoded schema example; `image` (uint8 [H, W, 3]) optional.
    A: pixel affine; its linear part must be k * (rotation or reflection).
    out_size: (width, height) of the output image; needed when the example has an image.
      Joints outside it become not visible.

  Returns:
    A new example dict (the input is not modified).
  """
  A = np.asarray(A, np.float64)
  (a, b), (c, d) = A[:, :2].tolist()
  det = a * d - b * c
  k = math.sqrt(abs(det))
  reflect = det < 0
  sign = -1.0 if reflect else 1.0  # similarity: (c, d) = sign * (-b, a)
  if k == 0 or abs(c + sign * b) > 1e-6 * k or abs(d - sign * a) > 1e-6 * k:
    raise ValueError(f"A: expected a similarity (k times a rotation/reflection), got "
                     f"{A.tolist()}")
  q = A[:, :2] / k
  out = dict(example)
  mask = np.asarray(example["joint_mask"], bool)
  kp2d = apply_affine(A, example["keypoints2d"]).astype(np.float32)
  out["keypoints2d"] = np.where(mask[:, None], kp2d, 0).astype(np.float32)
  kp3d = np.array(example["keypoints3d"], np.float32, copy=True)
  kp3d[:, :2] = kp3d[:, :2] @ q.T.astype(np.float32)
  out["keypoints3d"] = kp3d
  visible = np.asarray(example["visible"], bool)
  if "image" in example:
    if out_size is None:
      raise ValueError("out_size: required for an example with an image")
    w, h = out_size
    out["image"] = cv2.warpAffine(example["image"], _cv2_affine(A), (w, h),
                                  flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = ((kp2d[:, 0] >= 0) & (kp2d[:, 0] < w) & (kp2d[:, 1] >= 0) & (kp2d[:, 1] < h))
    visible = visible & inside
  out["visible"] = visible & mask
  focal = np.asarray(example["camera"]["focal"], np.float32)
  if np.any(focal):  # an absent camera (all zeros) stays absent
    out["camera"] = {"focal": (focal * k).astype(np.float32),
                     "center": apply_affine(A, example["camera"]["center"]).astype(np.float32)}
  box = example["bbox"]
  out["bbox"] = {"center": apply_affine(A, box["center"]).astype(np.float32),
                 "scale": np.float32(box["scale"] * k)}
  if reflect:
    perm = JOINT_SET.flip_permutation
    if len(mask) != len(perm):
      raise ValueError(f"keypoints2d: flipping needs the {JOINT_SET.name} joints "
                       f"({len(perm)}), got {len(mask)}")
    for name in ("keypoints2d", "keypoints3d", "visible", "joint_mask"):
      out[name] = np.take(out[name], perm, axis=0)
    out["relations"] = remap_relations(example["relations"], perm)
  return out


def hflip(example: dict) -> dict:
  """Horizontal flip of an example in its own frame (no crop).

  Image records mirror about the image centre (x -> W - x; pixels move exactly);
  lifting records about the camera's principal point, which keeps their 2D the
  projection of the mirrored 3D. Flipping twice gives back the example (coordinates up to
  float32 rounding).
  """
  if "image" in example:
    h, w = np.shape(example["image"])[:2]
    return transform_example(example, hflip_affine(w / 2.0), (w, h))
  return transform_example(example, hflip_affine(float(example["camera"]["center"][0])))


def _crop_box(example: dict, config: AugmentConfig) -> tuple[np.ndarray, float]:
  """(centre, side in pixels) of the example's bbox, or of the whole image."""
  scale = float(example["bbox"]["scale"])
  if scale > 0:
    return np.asarray(example["bbox"]["center"], np.float64), scale * config.bbox_scale_px
  h, w = np.shape(example["image"])[:2]
  return np.array([w / 2.0, h / 2.0]), float(max(w, h))


def color_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
  """Random brightness b, contrast c, saturation s, each in [1 - strength, 1 + strength].

  x -> b x; then (x - m) c + m (m: mean luma); then g + (x - g) s (g: pixel luma). All three
  are linear, so they run as one 3x4 colour matrix (`cv2.transform`, rounded and clipped).
  uint8 [H, W, 3] in and out.
  """
  b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
  luma = np.array([0.299, 0.587, 0.114])
  mean = b * float(luma @ np.asarray(cv2.mean(image)[:3]))
  m = b * c * (s * np.eye(3) + (1 - s) * np.outer(np.ones(3), luma))
  return cv2.transform(image, np.concatenate([m, np.full((3, 1), (1 - c) * mean)], axis=1))


def add_2d_noise(keypoints2d: np.ndarray, rng: np.random.Generator, sigma_px: float,
                 mask: np.ndarray | None = None) -> np.ndarray:
  """Gaussian pixel noise on [J, 2] keypoints (where `mask`), DRPose3D's 2D noise."""
  noise = rng.normal(0.0, sigma_px, size=np.shape(keypoints2d)).astype(np.float32)
  if mask is not None:
    noise = noise * np.asarray(mask, np.float32)[:, None]
  return (np.asarray(keypoints2d, np.float32) + noise).astype(np.float32)


def flip_relations(rng: np.random.Generator, relations: np.ndarray, prob,
                   mask: np.ndarray | None = None) -> np.ndarray:
  """Flips relation labels r -> -r (ties stay), each with probability `prob`.

  DRPose3D Sec. 3.3's per-entry ranking flips. `prob` is a scalar, or a [J, J] matrix of
  per-pair probabilities (DRPose3D: 1 - PRCNN's per-entry accuracy; (i, j) and (j, i)
  averaged). `jaxpose.ordinal.flip_labels` does the flipping.

  Args:
    rng: random generator.
    relations: [..., K, 3] (i, j, r) triples.
    prob: float, or [J, J] probabilities.
    mask: [..., K] valid triples; None for all.

  Returns:
    Relations of the input dtype.
  """
  rel = np.asarray(relations)
  mask = np.ones(rel.shape[:-1], bool) if mask is None else np.asarray(mask, bool)
  p = np.asarray(prob, np.float64)
  if p.ndim == 0:
    return ordinal.flip_labels(rng, rel, mask, float(p))
  num_joints = checks.shapes(prob=(p, "J J"))["J"]
  if not np.all((p >= 0) & (p <= 1)):
    raise ValueError("prob: expected per-pair probabilities in [0, 1]")
  checks.relations("relations", rel, num_joints, mask)
  i = np.where(mask, rel[..., 0], 0).astype(np.intp)
  j = np.where(mask, rel[..., 1], 0).astype(np.intp)
  chosen = mask & (rng.random(mask.shape) < (p[i, j] + p[j, i]) / 2)
  return ordinal.flip_labels(rng, rel, chosen, 1.0)


def augment_example(example: dict, rng: np.random.Generator, config: AugmentConfig, *,
                    train: bool) -> dict:
  """Augments one decoded example; `train=False` only crops images to the output size.

  Random draws come from `rng` in a fixed order, so one seed gives one result.
  """
  S = config.output_size
  flip = train and rng.uniform() < config.flip_prob
  if "image" in example:
    center, side = _crop_box(example, config)
    rot = 0.0
    if train:
      rot = float(rng.uniform(-config.rotation_deg, config.rotation_deg))
      side *= float(rng.uniform(*config.scale))
    A = crop_affine(center, side, S, rotation_deg=rot, flip=flip)
    out = transform_example(example, A, (S, S))
    if train and config.color_jitter > 0:
      out["image"] = color_jitter(out["image"], rng, config.color_jitter)
  else:
    out = hflip(example) if flip else dict(example)
    if train and config.noise_2d_px > 0:
      out["keypoints2d"] = add_2d_noise(out["keypoints2d"], rng, config.noise_2d_px,
                                        out["joint_mask"])
  if train and np.any(np.asarray(config.rank_flip_prob) > 0) and len(out["relations"]):
    out["relations"] = flip_relations(rng, out["relations"], config.rank_flip_prob)
  return out
