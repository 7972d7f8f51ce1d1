"""Loss terms of the four papers as pure, keyword-only, masked `jnp` functions.

Conventions (DESIGN.md): metres in 3D, pixels in 2D, relations `int8 [B, P, 3]` triples
(i, j, r) with `mask bool [B, P]` and r = +1 <=> joint i is CLOSER (smaller z).

Reduction, the same for every loss: each example's value is the SUM of its unmasked
terms (pairs, joints, bones, ...), as in the papers' equations; `reduction=False` returns
these per-example values `[B]` (0 for an example with no unmasked term), and
`reduction=True` returns their mean over the examples that have at least one unmasked
term (0 when none has). So masked entries never change the value, and the weight of a
term does not depend on how many examples of a mixed batch carry its supervision.

Where a paper's form has a kink with an infinite or undefined gradient (a Euclidean norm
at 0), the `sqrt(d^2 + 1e-8)` form of Ronchi et al.'s public code is used instead.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks
from jaxpose import geometry
from jaxpose import skeleton

Array = jax.Array

# Pavlakos et al. 2018, Sec. 3.2-3.3: L = L_rank + lambda L_keyp (or lambda L_heat).
PAVLAKOS_LAMBDA = 100.0
# Ronchi et al. 2018, eq. 2 and Supp. 7.1: lambda scaling the normalised depth difference.
RONCHI_LAMBDA = 2.5
# Ronchi et al. 2018, eq. 7 weights (alpha: L_rel, beta: L_proj, gamma: L_skel). The
# supplement says all three are 1; the public code weights the reprojection term by 0.1,
# which is the default here.
RONCHI_WEIGHTS = {"alpha": 1.0, "beta": 0.1, "gamma": 1.0}
# Habibie et al. 2019, supplement eq. 6.
HABIBIE_LAMBDA_3D = 10.0
HABIBIE_LAMBDA_HEAT = 0.1
HABIBIE_LAMBDA_2D = 10.0
HABIBIE_LAMBDA_BONE_3D = 10.0  # bone-vector loss (3D annotations).
HABIBIE_LAMBDA_BONE_2D = 100.0  # bone-length loss (2D-only annotations).
# Added under square roots so that norms have finite gradients at 0.
SQRT_EPS = 1e-8


def _reduce(per_example: Array, valid: Array, reduction: bool) -> Array:
  """per_example [B] (0 where invalid) -> itself, or its mean over valid examples."""
  if not reduction:
    return per_example
  count = jnp.sum(valid.astype(per_example.dtype))
  return jnp.sum(per_example) / jnp.maximum(count, 1.0)


def _mask(mask: Array | None, shape: tuple[int, ...]) -> Array:
  return jnp.ones(shape, bool) if mask is None else jnp.asarray(mask).astype(bool)


def _masked_sum(terms: Array, mask: Array, axes: Sequence[int]) -> Array:
  """Sums `terms` where `mask` is true (masked terms get neither value nor gradient)."""
  return jnp.sum(jnp.where(mask, terms, 0.0), axis=tuple(axes))


def _safe_norm(v: Array) -> Array:
  """sqrt(|v|^2 + 1e-8) over the last axis: the norm with a finite gradient at 0."""
  return jnp.sqrt(jnp.sum(jnp.square(v), axis=-1) + SQRT_EPS)


def _float(**named: Array) -> None:
  checks.floating(**named)
  checks.finite(**named)


# ---------------------------------------------------------------- ordinal ranking ---


def _pairs(depth: Array, relations: Array, mask: Array | None):
  """Validates and gathers pairs: (z_i - z_j [B, P], r [B, P] float, mask [B, P])."""
  dims = checks.shapes(depth=(depth, "B J"), relations=(relations, "B P 3"),
                       mask=(mask, "B P"))
  _float(depth=depth)
  checks.relations("relations", relations, dims["J"], mask=mask)
  m = _mask(mask, relations.shape[:2])
  rel = jnp.where(m[..., None], jnp.asarray(relations).astype(jnp.int32), 0)
  zi = jnp.take_along_axis(depth, rel[..., 0], axis=1)
  zj = jnp.take_along_axis(depth, rel[..., 1], axis=1)
  return zi - zj, rel[..., 2].astype(zi.dtype), m


def ranking_loss(*, depth: Array, relations: Array, mask: Array | None = None,
                 reduction: bool = True) -> Array:
  """Ordinal depth ranking loss (Pavlakos et al. 2018, eq. 1-2).

  Per pair (i, j, r): `log(1 + exp(r (z_i - z_j)))` for r = +-1 (r = +1: i closer, so
  the loss is small when z_i < z_j) and `(z_i - z_j)^2` for r = 0; summed over the
  annotated pairs of an example (eq. 2), then averaged over the batch (module doc).
  Softplus is computed stably (no overflow at |dz| = 1e4), and the loss is invariant to
  writing a pair as (j, i, -r).

  Args:
    depth: [B, J] predicted depths z (metres, larger = farther).
    relations: int [B, P, 3] triples (i, j, r), r in {-1, 0, +1}.
    mask: bool [B, P], true for annotated pairs (default: all).
    reduction: False -> per-example sums [B].

  Returns:
    Scalar, or [B] when `reduction` is False.
  """
  return _rank_reduce(*_pairs(depth, relations, mask), reduction)


def _rank_reduce(dz: Array, r: Array, m: Array, reduction: bool) -> Array:
  """Pavlakos eq. 1 per pair (softplus(r dz) for r = +-1, dz^2 for r = 0), eq. 2 sum."""
  terms = jnp.where(r == 0, jnp.square(dz), jax.nn.softplus(r * dz))
  return _reduce(_masked_sum(terms, m, [1]), jnp.any(m, axis=1), reduction)


def _mean_abs(dz: Array, m: Array, eps: float) -> Array:
  count = jnp.maximum(jnp.sum(m.astype(dz.dtype)), 1.0)
  return _masked_sum(jnp.abs(dz), m, [0, 1]) / count + eps


def relative_depth_normalizer(*, depth: Array, relations: Array,
                              mask: Array | None = None, eps: float = 1e-4) -> Array:
  """Batch mean of |z_i - z_j| over the unmasked pairs, plus `eps` (Ronchi et al. 2018).

  Args:
    depth: [B, J]; relations: int [B, P, 3]; mask: bool [B, P].
    eps: added to the mean (metres) so that a batch of equal depths divides by eps.

  Returns:
    Scalar normaliser (0-d array).
  """
  dz, _, m = _pairs(depth, relations, mask)
  return _mean_abs(dz, m, eps)


def relative_depth_loss(*, depth: Array, relations: Array, mask: Array | None = None,
                        lam: float = RONCHI_LAMBDA, normalizer: Array | None = None,
                        eps: float = 1e-4, reduction: bool = True) -> Array:
  """Ronchi et al. 2018 relative depth loss, eq. 2, with the batch normalisation of Sec. 3.2.

  `d_ij = lam (z_i - z_j) / mean_batch |z_i - z_j|`, the mean over all unmasked pairs of
  the batch (`relative_depth_normalizer`); per pair `softplus(r d_ij)` for r = +-1 (in
  our sign, r = +1: i closer; Ronchi's paper writes `log(1 + exp(-r d))` with the
  opposite sign) and `d_ij^2` for ties; summed per example, averaged over the batch.

  The normaliser is NOT stop-gradient'd: gradients flow through it, so the term is (up to
  `eps`) invariant to a global rescaling of depth and its gradient has no component along
  that rescaling. With a stop-gradient every step would push all strict pairs apart and
  the next normaliser would undo it, so the depth scale would drift until other terms
  stop it. Per-example values (`reduction=False`) depend on the whole batch through the
  normaliser; pass `normalizer` to fix it (e.g. to evaluate examples one at a time).

  Args:
    depth: [B, J] predicted depths; relations: int [B, P, 3]; mask: bool [B, P].
    lam: the paper's lambda (2.5).
    normalizer: optional scalar to use instead of the batch mean |z_i - z_j|.
    eps: added to the batch mean (see `relative_depth_normalizer`).
    reduction: False -> per-example sums [B].
  """
  checks.shapes(normalizer=(normalizer, ""))
  dz, r, m = _pairs(depth, relations, mask)
  norm = _mean_abs(dz, m, eps) if normalizer is None else normalizer
  return _rank_reduce(dz * (lam / norm), r, m, reduction)


def ranknet_loss(*, features: Array, target: Array, mask: Array | None = None,
                 reduction: bool = True) -> Array:
  """DRPose3D pairwise RankNet cross-entropy (Wang et al. 2018, eq. 3-5).

  `F_ij = F_i - F_j`, `P_ij = sigmoid(F_ij)` (probability that i is BEHIND j) and
  `C_ij = -M_ij F_ij + softplus(F_ij)`, summed over all ordered pairs i != j (the
  diagonal is excluded; each unordered pair thus counts twice, C_ij = C_ji when
  M_ji = 1 - M_ij). M is DESIGN.md's `(1 - r) / 2`: 1 behind, 0 in front, 0.5 tie.

  Args:
    features: [B, J] one feature per joint (PRCNN output).
    target: [B, J, J] ranking matrix M with entries in [0, 1].
    mask: bool [B, J, J], true for supervised entries (default: all off-diagonal).
    reduction: False -> per-example sums [B].
  """
  dims = checks.shapes(features=(features, "B J"), target=(target, "B J J"),
                       mask=(mask, "B J J"))
  _float(features=features, target=target)
  m = _mask(mask, target.shape) & ~jnp.eye(dims["J"], dtype=bool)
  if checks.is_concrete(target) and checks.is_concrete(m):
    t = np.asarray(target)[np.asarray(m)]
    if np.any((t < 0) | (t > 1)):
      raise ValueError("target: expected ranking-matrix entries in [0, 1] (M = (1 - r) / 2)")
  f = features[:, :, None] - features[:, None, :]
  terms = -target * f + jax.nn.softplus(f)
  return _reduce(_masked_sum(terms, m, [1, 2]), jnp.any(m, axis=(1, 2)), reduction)


# ---------------------------------------------------------- shared L2 / heatmaps ---


def joint_l2(*, pred: Array, target: Array, mask: Array | None = None,
             average: bool = False, reduction: bool = True) -> Array:
  """Per-joint squared L2 distance, summed over joints (or averaged: MSE).

  The one L2 used by every paper: Pavlakos L_keyp (Sec. 3.2, D = 2, weight
  `PAVLAKOS_LAMBDA`) and the reconstruction loss (eq. 6, D = 3); Habibie L3Dpose and
  L2Dpose (supplement eq. 3, 6); supervised Martinez-style lifting; DRPose3D's MSEs
  (eq. 6, `average=True`).

  Args:
    pred: [B, J, D] predictions; target: [B, J, D].
    mask: bool [B, J], true for joints with an annotation (default: all).
    average: False -> sum_j |pred_j - target_j|^2; True -> that sum divided by
      D times the number of unmasked joints (mean squared error of an example).
    reduction: False -> per-example values [B].
  """
  checks.shapes(pred=(pred, "B J D"), target=(target, "B J D"), mask=(mask, "B J"))
  _float(pred=pred, target=target)
  m = _mask(mask, pred.shape[:2])
  per = _masked_sum(jnp.sum(jnp.square(pred - target), axis=-1), m, [1])
  if average:
    per = per / jnp.maximum(jnp.sum(m, axis=1) * pred.shape[-1], 1).astype(per.dtype)
  return _reduce(per, jnp.any(m, axis=1), reduction)


def heatmap_l2(*, pred: Array, target: Array, mask: Array | None = None,
               average: bool = False, reduction: bool = True) -> Array:
  """Squared L2 between predicted and target heatmaps, per joint channel.

  Pavlakos L_heat (Sec. 3.3, weight `PAVLAKOS_LAMBDA`, usually with `average=True` as in
  the hourglass MSE) and Habibie L2Dheatmap (supplement eq. 1, `sum_k b_k |m_k - m_k^GT|^2`).

  Args:
    pred: [B, H, W, J]; target: [B, H, W, J] (e.g. `gaussian_heatmaps`).
    mask: bool [B, J], the paper's b_k (default: all).
    average: True -> divide each example's sum by H * W * (number of unmasked joints).
    reduction: False -> per-example values [B].
  """
  checks.shapes(pred=(pred, "B H W J"), target=(target, "B H W J"), mask=(mask, "B J"))
  _float(pred=pred, target=target)
  m = _mask(mask, (pred.shape[0], pred.shape[3]))
  per = _masked_sum(jnp.sum(jnp.square(pred - target), axis=(1, 2)), m, [1])
  if average:
    cells = pred.shape[1] * pred.shape[2]
    per = per / jnp.maximum(jnp.sum(m, axis=1) * cells, 1).astype(per.dtype)
  return _reduce(per, jnp.any(m, axis=1), reduction)


def gaussian_heatmaps(keypoints: Array, *, size: tuple[int, int], sigma: float,
                      stride: int = 1, mask: Array | None = None) -> Array:
  """Unnormalised Gaussian target heatmaps (peak 1 at the keypoint).

  Pixel convention (DESIGN.md, as `geometry`, the renderer and augmentation): the origin
  is the top-left CORNER, pixel (u, v) covers [u, u + 1) x [v, v + 1). Heatmap cell (row
  r, col c) covers `stride` x `stride` image pixels and its centre is at image
  `((c + 0.5) * stride, (r + 0.5) * stride)`; with stride 1, pixel (x=c, y=r)'s centre.

  Args:
    keypoints: [B, J, 2] image pixels (x, y).
    size: (H, W) of the heatmap.
    sigma: standard deviation in heatmap cells.
    stride: image pixels per heatmap cell (e.g. 4 for a 256 -> 64 hourglass).
    mask: optional bool [B, J]; masked joints get all-zero maps.

  Returns:
    [B, H, W, J] heatmaps in [0, 1].
  """
  checks.shapes(keypoints=(keypoints, "B J 2"), mask=(mask, "B J"))
  _float(keypoints=keypoints)
  checks.positive("sigma", sigma)
  checks.positive("stride", stride)
  if len(size) != 2 or min(size) < 1:
    raise ValueError(f"size: expected (H, W) with positive ints, got {size!r}")
  cells = keypoints / stride - 0.5  # [B, J, 2] in heatmap cell indices (centres).
  ys = jnp.arange(size[0], dtype=cells.dtype)[None, :, None, None]
  xs = jnp.arange(size[1], dtype=cells.dtype)[None, None, :, None]
  d2 = (jnp.square(xs - cells[:, None, None, :, 0]) +
        jnp.square(ys - cells[:, None, None, :, 1]))
  maps = jnp.exp(-d2 / (2.0 * sigma ** 2))
  return jnp.where(_mask(mask, keypoints.shape[:2])[:, None, None, :], maps, 0.0)


# ------------------------------------------------------------ Ronchi geometry ---


def root_loss(*, pose: Array, root: int = 0, mask: Array | None = None,
              reduction: bool = True) -> Array:
  """Ronchi et al. 2018 root loss, eq. 3: `sqrt(|P_root|^2 + 1e-8)`.

  Args:
    pose: [B, J, 3] predicted 3D pose; root: index of the root joint.
    mask: bool [B], examples the term applies to (default: all).
    reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), mask=(mask, "B"))
  _float(pose=pose)
  if not 0 <= root < pose.shape[1]:
    raise ValueError(f"root: expected a joint index in [0, {pose.shape[1]}), got {root}")
  m = _mask(mask, pose.shape[:1])
  return _reduce(jnp.where(m, _safe_norm(pose[:, root]), 0.0), m, reduction)


def _reprojection(proj: Array, keypoints2d: Array, visible: Array | None,
                  reduction: bool) -> Array:
  """sum_j v_j sqrt(|proj_j - p_j|^2 + 1e-8) (Ronchi eq. 4-5)."""
  m = _mask(visible, proj.shape[:2])
  per = _masked_sum(_safe_norm(proj - keypoints2d), m, [1])
  return _reduce(per, jnp.any(m, axis=1), reduction)


def ortho_reprojection_loss(*, pose: Array, scale: Array, keypoints2d: Array,
                            visible: Array | None = None, root: int = 0,
                            reduction: bool = True) -> Array:
  """Ronchi et al. 2018 scaled-orthographic reprojection loss, eq. 4.

  `sum_j v_j sqrt(|s (x_j, y_j) - (p_j - p_root)|^2 + 1e-8)`: the predicted pose is
  projected as it is (L_root keeps its root at the origin), the 2D keypoints are made
  root-relative in pixels, as in the public code. `keypoints2d[:, root]` is used for the
  centring whether or not it is visible (loaders fill it, e.g. the mid-hip for LSP).

  Args:
    pose: [B, J, 3] predicted pose; scale: [B] or [B, 1] predicted s.
    keypoints2d: [B, J, 2] pixels; visible: bool [B, J] (v_j; default all).
    root: joint subtracted from the 2D keypoints.
    reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), keypoints2d=(keypoints2d, "B J 2"),
                visible=(visible, "B J"))
  _float(pose=pose, scale=scale, keypoints2d=keypoints2d)
  proj = geometry.scaled_orthographic_project(pose, scale=scale)
  return _reprojection(proj, geometry.root_center(keypoints2d, root=root), visible,
                       reduction)


def perspective_reprojection_loss(*, pose: Array, distance: Array, keypoints2d: Array,
                                  focal: Array, center: Array,
                                  visible: Array | None = None,
                                  reduction: bool = True) -> Array:
  """Ronchi et al. 2018 perspective reprojection loss, eq. 5.

  `P~_j = (x_j / (z_j + s), y_j / (z_j + s))`, projected with the focal length and
  compared with the 2D keypoints relative to the principal point (equivalently: the
  pose translated by s along z is projected with `geometry.perspective_project`);
  per joint `sqrt(d^2 + 1e-8)`, visibility-masked, summed.

  Args:
    pose: [B, J, 3] root-relative predicted pose (metres).
    distance: [B] predicted camera-to-person distance s (metres).
    keypoints2d: [B, J, 2] pixels; focal, center: [B, 2] intrinsics (pixels).
    visible: bool [B, J] (default all).
    reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), distance=(distance, "B"),
                keypoints2d=(keypoints2d, "B J 2"), focal=(focal, "B 2"),
                center=(center, "B 2"), visible=(visible, "B J"))
  _float(pose=pose, distance=distance, keypoints2d=keypoints2d, focal=focal, center=center)
  shifted = jnp.asarray(pose).at[..., 2].add(distance[:, None])
  proj = geometry.perspective_project(shifted, focal=focal, center=center)
  return _reprojection(proj, keypoints2d, visible, reduction)


def _bones(joint_set: skeleton.JointSet, num_joints: int, arg: str) -> np.ndarray:
  if joint_set.num_joints != num_joints:
    raise ValueError(f"{arg}: expected {joint_set.num_joints} joints of {joint_set.name}, "
                     f"got {num_joints}")
  return joint_set.bones


def _reference(reference_lengths: Array, batch: int, num_bones: int) -> Array:
  """[K] or [B, K] reference bone lengths -> [B, K]."""
  ref = jnp.asarray(reference_lengths)
  if ref.shape not in ((num_bones,), (batch, num_bones)):
    raise ValueError(f"reference_lengths: expected shape [{num_bones}] or "
                     f"[{batch}, {num_bones}] (one per bone), got {ref.shape}")
  _float(reference_lengths=ref)
  return jnp.broadcast_to(ref, (batch, num_bones))


def bone_ratio_loss(*, pose: Array, reference_lengths: Array, mask: Array | None = None,
                    joint_set: skeleton.JointSet = skeleton.H36M17,
                    reference_bone: tuple[str, str] = ("r_knee", "r_ankle"),
                    reduction: bool = True) -> Array:
  """Ronchi et al. 2018 skeleton loss, eq. 6, on bone-length RATIOS.

  Every predicted bone length is divided by the predicted `reference_bone` length (both
  in the `sqrt(|v|^2 + 1e-8)` form, finite at 0), every reference length by the
  reference's `reference_bone`, and per bone `sqrt((ratio - ratio_ref)^2 + 1e-8)` is
  summed (the reference bone's own term is the constant 1e-4).

  Args:
    pose: [B, J, 3] predicted pose.
    reference_lengths: [K] or [B, K] reference bone lengths (e.g. training means), in
      `joint_set.bones` order, any unit.
    mask: bool [B, J] joint mask; a bone counts when both its joints do and the
      reference bone is present.
    joint_set: skeleton of `pose`; reference_bone: the two joint names of the unit bone.
    reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), mask=(mask, "B J"))
  _float(pose=pose)
  bones = _bones(joint_set, pose.shape[1], "pose")
  ends = {joint_set.index(n) for n in reference_bone}
  unit = [k for k, (c, p) in enumerate(bones) if {int(c), int(p)} == ends]
  if not unit:
    raise ValueError(f"reference_bone: {reference_bone} is not a bone of {joint_set.name}")
  ref = _reference(reference_lengths, pose.shape[0], len(bones))
  lengths = _safe_norm(pose[:, bones[:, 0]] - pose[:, bones[:, 1]])  # [B, K]
  ratio = lengths / lengths[:, unit]
  ratio_ref = ref / ref[:, unit]
  m = _mask(mask, pose.shape[:2])
  mb = m[:, bones[:, 0]] & m[:, bones[:, 1]]
  mb = mb & mb[:, unit]
  terms = jnp.sqrt(jnp.square(ratio - ratio_ref) + SQRT_EPS)
  return _reduce(_masked_sum(terms, mb, [1]), jnp.any(mb, axis=1), reduction)


def ronchi_total(*, pose: Array, scale: Array, relations: Array,
                 keypoints2d: Array, relation_mask: Array | None = None,
                 reference_lengths: Array, visible: Array | None = None,
                 joint_mask: Array | None = None, focal: Array | None = None,
                 center: Array | None = None, lam: float = RONCHI_LAMBDA,
                 weights: dict[str, float] | None = None,
                 joint_set: skeleton.JointSet = skeleton.H36M17,
                 reduction: bool = True) -> tuple[Array, dict[str, Array]]:
  """Ronchi et al. 2018 total loss, eq. 7: `L_root + alpha L_rel + beta L_proj + gamma L_skel`.

  L_proj is the scaled-orthographic eq. 4 (`scale` = s) when `focal` is None, else the
  perspective eq. 5 (`scale` = the predicted distance s, with `focal`, `center`).
  Weights default to `RONCHI_WEIGHTS` (1, 0.1, 1).

  Args:
    pose: [B, J, 3]; scale: [B]; relations: int [B, P, 3]; relation_mask: bool [B, P];
    keypoints2d: [B, J, 2]; reference_lengths: [K] or [B, K]; visible, joint_mask:
    bool [B, J]; focal, center: [B, 2] or None; lam: eq. 2's lambda; weights: dict with
    'alpha', 'beta', 'gamma'; joint_set: skeleton of `pose`.
    reduction: False -> per-example values [B] (combined per example).

  Returns:
    (total, {'root', 'rel', 'proj', 'skel'}) — each unweighted term, reduced alike.
  """
  w = dict(RONCHI_WEIGHTS if weights is None else weights)
  if set(w) != set(RONCHI_WEIGHTS):
    raise ValueError(f"weights: expected keys {sorted(RONCHI_WEIGHTS)}, got {sorted(w)}")
  scale = jnp.asarray(scale)
  scale = scale.reshape(scale.shape[:1]) if scale.ndim == 2 and scale.shape[1] == 1 else scale
  if focal is None:
    proj = ortho_reprojection_loss(pose=pose, scale=scale, keypoints2d=keypoints2d,
                                   visible=visible, root=joint_set.root, reduction=reduction)
  else:
    proj = perspective_reprojection_loss(pose=pose, distance=scale, keypoints2d=keypoints2d,
                                         focal=focal, center=center, visible=visible,
                                         reduction=reduction)
  terms = {
      "root": root_loss(pose=pose, root=joint_set.root, reduction=reduction),
      "rel": relative_depth_loss(depth=pose[..., 2], relations=relations,
                                 mask=relation_mask, lam=lam, reduction=reduction),
      "proj": proj,
      "skel": bone_ratio_loss(pose=pose, reference_lengths=reference_lengths,
                              mask=joint_mask, joint_set=joint_set, reduction=reduction),
  }
  total = (terms["root"] + w["alpha"] * terms["rel"] + w["beta"] * terms["proj"] +
           w["gamma"] * terms["skel"])
  return total, terms


# --------------------------------------------------------------- DPNet, Habibie ---


def dpnet_loss(*, coarse_depth: Array, coarse_depth_target: Array, pose_stage1: Array,
               pose_stage2: Array, pose_target: Array, mask: Array | None = None,
               reduction: bool = True) -> Array:
  """DRPose3D DPNet loss (Wang et al. 2018, eq. 6): `L = L_O + L_S3D + L'_S3D`.

  Three mean squared errors (`joint_l2(average=True)`): DepthNet's coarse depth O, and
  PoseNet's stage-1 and stage-2 poses, each against its target. The paper normalises
  targets (and so the outputs) to mean 0, standard deviation 1; pass normalised arrays.

  Args:
    coarse_depth, coarse_depth_target: [B, J] (the target: normalised depth ranks).
    pose_stage1, pose_stage2, pose_target: [B, J, 3] normalised poses.
    mask: bool [B, J] joints with an annotation (default: all).
    reduction: False -> per-example values [B].
  """
  checks.shapes(coarse_depth=(coarse_depth, "B J"),
                coarse_depth_target=(coarse_depth_target, "B J"),
                pose_stage1=(pose_stage1, "B J 3"), pose_stage2=(pose_stage2, "B J 3"),
                pose_target=(pose_target, "B J 3"), mask=(mask, "B J"))
  kw = dict(mask=mask, average=True, reduction=reduction)
  return (joint_l2(pred=coarse_depth[..., None], target=coarse_depth_target[..., None], **kw)
          + joint_l2(pred=pose_stage1, target=pose_target, **kw)
          + joint_l2(pred=pose_stage2, target=pose_target, **kw))


def _bone_setup(pose: Array, mask: Array | None, joint_set: skeleton.JointSet):
  """(parent - child vectors [B, K, 3], bone mask [B, K], bones [K, 2] (child, parent))."""
  bones = _bones(joint_set, pose.shape[1], "pose")
  m = _mask(mask, pose.shape[:2])
  return (pose[:, bones[:, 1]] - pose[:, bones[:, 0]], m[:, bones[:, 0]] & m[:, bones[:, 1]],
          bones)


def bone_vector_loss(*, pose: Array, target: Array, mask: Array | None = None,
                     joint_set: skeleton.JointSet = skeleton.H36M17,
                     reduction: bool = True) -> Array:
  """Habibie et al. 2019 bone loss for 3D data (supplement eq. 4).

  `sum_k |(parent(J_k) - J_k) - (parent(J_k^GT) - J_k^GT)|^2` over the bones of
  `joint_set` (weight `HABIBIE_LAMBDA_BONE_3D`).

  Args:
    pose, target: [B, J, 3]; mask: bool [B, J] (a bone counts when both joints do).
    joint_set: skeleton of the poses; reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), target=(target, "B J 3"), mask=(mask, "B J"))
  _float(pose=pose, target=target)
  vec, mb, bones = _bone_setup(pose, mask, joint_set)
  vec_gt = target[:, bones[:, 1]] - target[:, bones[:, 0]]
  per = _masked_sum(jnp.sum(jnp.square(vec - vec_gt), axis=-1), mb, [1])
  return _reduce(per, jnp.any(mb, axis=1), reduction)


def bone_length_loss(*, pose: Array, reference_lengths: Array, mask: Array | None = None,
                     joint_set: skeleton.JointSet = skeleton.H36M17,
                     reduction: bool = True) -> Array:
  """Habibie et al. 2019 bone loss for 2D-only data (supplement eq. 5).

  `sum_k (|parent(J_k) - J_k| - l_k)^2` with l_k the bone lengths of a training subject
  (the paper draws one at random per instance: pass [B, K]). The length is
  `sqrt(|v|^2 + 1e-8)`, so the gradient stays finite at zero length (weight
  `HABIBIE_LAMBDA_BONE_2D`).

  Args:
    pose: [B, J, 3]; reference_lengths: [K] or [B, K] in `joint_set.bones` order
      (same unit as `pose`); mask: bool [B, J].
    joint_set: skeleton of the pose; reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), mask=(mask, "B J"))
  _float(pose=pose)
  vec, mb, bones = _bone_setup(pose, mask, joint_set)
  ref = _reference(reference_lengths, pose.shape[0], len(bones))
  per = _masked_sum(jnp.square(_safe_norm(vec) - ref), mb, [1])
  return _reduce(per, jnp.any(mb, axis=1), reduction)


def weak_perspective_loss(*, pose: Array, alpha: Array, center: Array, keypoints2d: Array,
                          mask: Array | None = None, reduction: bool = True) -> Array:
  """Habibie et al. 2019 projection loss (eq. 2 and supplement eq. 3).

  `sum_j |alpha * (x_j, y_j) + c - p_j^GT|^2` with the camera net's (alpha_x, alpha_y)
  and (c_x, c_y) (`geometry.weak_perspective_project`, then `joint_l2`; weight
  `HABIBIE_LAMBDA_2D`).

  Args:
    pose: [B, J, 3] root-relative pose; alpha, center: [B, 2];
    keypoints2d: [B, J, 2] ground-truth 2D (same unit as alpha * x + c);
    mask: bool [B, J]; reduction: False -> per-example values [B].
  """
  checks.shapes(pose=(pose, "B J 3"), alpha=(alpha, "B 2"), center=(center, "B 2"),
                keypoints2d=(keypoints2d, "B J 2"))
  proj = geometry.weak_perspective_project(pose, alpha=alpha, center=center)
  return joint_l2(pred=proj, target=keypoints2d, mask=mask, reduction=reduction)
