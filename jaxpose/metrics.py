"""Evaluation metrics: MPJPE, PA-MPJPE, N-MPJPE, 3DPCK, AUC, 2D PCK, ordinal accuracy, aggregation.

Conventions (DESIGN.md "Evaluation protocols"): poses come in METRES, camera frame,
`[B, J, 3]` (H36M17, root = pelvis 0); every distance is RETURNED IN MILLIMETRES; PCK, AUC
and the ordinal metrics are fractions in [0, 1].

One reduction scheme everywhere, over the valid entries of the optional `mask`:
  * 'mean'  -> scalar: sum over all valid (example, joint) entries / their count;
  * 'none'  -> [B]: per example, mean over its valid joints (0 where it has none);
  * 'joint' -> [J]: per joint, mean over the examples where it is valid (0 where none).
The ordinal metrics count annotated pairs instead of joints and accept 'mean' and 'none'.
Without a mask, 'mean' is the plain mean; with one it weights examples by their number of
valid joints, which is what `MetricAccumulator` reproduces when streaming.

Array functions are pure `jnp`, jit-able (`reduction`, `root`, `alignment` static); value
checks (NaN/inf, relation labels) run on concrete inputs only. Aggregation is host NumPy.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks
from jaxpose import geometry
from jaxpose import skeleton

Array = jax.Array

REDUCTIONS = ("mean", "none", "joint")
ALIGNMENTS = ("root", "scale", "procrustes")
PCK_THRESHOLD_MM = 150.0
AUC_THRESHOLDS_MM = np.arange(0, 151, 5, dtype=np.float64)  # 0:5:150 mm (MPI-INF-3DHP)
AUC_THRESHOLDS_MM.flags.writeable = False
_M_TO_MM = 1000.0


def _safe_div(num: Array, den: Array) -> Array:
  """num / den, with 0 where den == 0."""
  return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0)


def _check_poses(pred: Any, target: Any, mask: Any, root: int | None) -> int:
  """Validates pose arguments; returns J."""
  sizes = checks.shapes(pred=(pred, "B J 3"), target=(target, "B J 3"), mask=(mask, "B J"))
  checks.finite(pred=pred, target=target)
  if root is not None and not 0 <= root < sizes["J"]:
    raise ValueError(f"root: expected a joint index in [0, {sizes['J']}) or None, got {root}")
  return sizes["J"]


def _check_thresholds(name: str, thresholds: Any) -> Array:
  """[T] thresholds in mm as a float array (a scalar becomes [1])."""
  t = jnp.asarray(thresholds, jnp.result_type(float))
  t = t.reshape(1) if t.ndim == 0 else t
  if t.ndim != 1 or t.shape[0] == 0:
    raise ValueError(f"{name}: expected a non-empty 1-D array of thresholds in mm, "
                     f"got shape {t.shape}")
  if checks.is_concrete(t) and not np.all(np.asarray(t) >= 0):
    raise ValueError(f"{name}: expected thresholds >= 0 mm, got {thresholds}")
  return t


def _reduce(values: Array, mask: Array | None, reduction: str) -> Array:
  """Masked mean of per-joint values [B, J] under the module's reduction scheme."""
  w = jnp.ones_like(values) if mask is None else jnp.asarray(mask, bool).astype(values.dtype)
  axis = {"mean": None, "none": 1, "joint": 0}[reduction]
  return _safe_div(jnp.sum(values * w, axis=axis), jnp.sum(w, axis=axis))


def _optimal_scale(pred: Array, target: Array, mask: Array | None) -> Array:
  """Scales each pred by s = sum(t . p) / sum(p . p) (VideoPose3D N-MPJPE), valid joints."""
  w = jnp.ones(pred.shape[:2], pred.dtype) if mask is None else jnp.asarray(mask, pred.dtype)
  num = jnp.sum(w * jnp.sum(target * pred, axis=-1), axis=-1)
  den = jnp.sum(w * jnp.sum(pred * pred, axis=-1), axis=-1)
  return _safe_div(num, den)[:, None, None] * pred


def _aligned_errors(pred: Array, target: Array, mask: Array | None, alignment: str,
                    root: int | None) -> Array:
  """`joint_errors` without the checks."""
  pred, target = jnp.asarray(pred), jnp.asarray(target)
  if alignment == "procrustes":
    pred = geometry.procrustes_align(pred, target, mask=mask, scale=True)
  elif root is not None:
    pred = geometry.root_center(pred, root=root)
    target = geometry.root_center(target, root=root)
  if alignment == "scale":
    pred = _optimal_scale(pred, target, mask)
  return jnp.linalg.norm(pred - target, axis=-1) * _M_TO_MM


def _pck_scores(errors: Array, thresholds_mm: Array) -> Array:
  """[B, J] errors (mm) -> [B, J] fraction of thresholds with error < threshold."""
  return jnp.mean((errors[..., None] < thresholds_mm).astype(errors.dtype), axis=-1)


@functools.partial(jax.jit, static_argnames=("alignment", "root"))
def _errors(pred: Array, target: Array, mask: Array | None, *, alignment: str,
            root: int | None) -> Array:
  return _aligned_errors(pred, target, mask, alignment, root)


@functools.partial(jax.jit, static_argnames=("reduction",))
def _score(errors: Array, mask: Array | None, thresholds_mm: Array | None, *,
           reduction: str | None) -> Array:
  """PCK scores of the errors when thresholds are given, reduced unless reduction is None."""
  values = errors if thresholds_mm is None else _pck_scores(errors, thresholds_mm)
  return values if reduction is None else _reduce(values, mask, reduction)


def _metric(pred: Array, target: Array, *, mask: Array | None, alignment: str,
            root: int | None, reduction: str | None,
            thresholds_mm: Array | None = None) -> Array:
  """Validates, then computes one pose metric (two compiled calls, cached by shape)."""
  _check_poses(pred, target, mask, root)
  checks.one_of("alignment", alignment, ALIGNMENTS)
  if reduction is not None:
    checks.one_of("reduction", reduction, REDUCTIONS)
  errors = _errors(pred, target, mask, alignment=alignment,
                   root=None if alignment == "procrustes" else root)
  if reduction is None and thresholds_mm is None:
    return errors
  return _score(errors, mask, thresholds_mm, reduction=reduction)


def joint_errors(pred: Array, target: Array, *, alignment: str = "root",
                 mask: Array | None = None, root: int | None = 0) -> Array:
  """Per-joint Euclidean errors IN MILLIMETRES after aligning `pred` to `target`.

  Args:
    pred: [B, J, 3] predicted poses, metres, camera frame.
    target: [B, J, 3] ground-truth poses, metres, camera frame.
    alignment: 'root' (both root-centred; MPJPE), 'scale' (root-centred, then pred scaled
      by the least-squares s = sum(t . p) / sum(p . p); N-MPJPE) or 'procrustes'
      (similarity Procrustes with reflection fix, `geometry.procrustes_align`; PA-MPJPE;
      `root` is then irrelevant).
    mask: [B, J] valid joints; alignment fits use valid joints only.
    root: joint subtracted from both poses for 'root' and 'scale' (None: no centring).
      The root is used for centring whether or not it is valid in `mask`.

  Returns:
    [B, J] errors in millimetres (entries of invalid joints are computed but meaningless).
  """
  return _metric(pred, target, mask=mask, alignment=alignment, root=root, reduction=None)


def mpjpe(pred: Array, target: Array, *, mask: Array | None = None, root: int | None = 0,
          reduction: str = "mean") -> Array:
  """Mean per-joint position error IN MILLIMETRES on root-centred poses (protocol #1).

  Both poses are centred on `root`; all joints count, the (zero-error) root included,
  as in VideoPose3D.

  Args:
    pred: [B, J, 3] predictions, metres.
    target: [B, J, 3] ground truth, metres.
    mask: [B, J] valid joints (default all).
    root: root joint index, or None to compare the poses as given.
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J] (module docstring).

  Returns:
    MPJPE in millimetres.
  """
  return _metric(pred, target, mask=mask, alignment="root", root=root, reduction=reduction)


def pa_mpjpe(pred: Array, target: Array, *, mask: Array | None = None,
             reduction: str = "mean") -> Array:
  """Procrustes-aligned MPJPE IN MILLIMETRES (protocol #2, VideoPose3D's P-MPJPE).

  `pred` is aligned to `target` by the similarity transform (rotation with reflection
  fixed, translation, scale) that minimises the squared error over the valid joints.

  Args:
    pred: [B, J, 3] predictions, metres.
    target: [B, J, 3] ground truth, metres.
    mask: [B, J] valid joints (default all).
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J].

  Returns:
    PA-MPJPE in millimetres.
  """
  return _metric(pred, target, mask=mask, alignment="procrustes", root=None,
                 reduction=reduction)


def n_mpjpe(pred: Array, target: Array, *, mask: Array | None = None, root: int | None = 0,
            reduction: str = "mean") -> Array:
  """Scale-normalised MPJPE IN MILLIMETRES (VideoPose3D's N-MPJPE).

  Both poses are root-centred, then pred is scaled by s = sum(t . p) / sum(p . p) over
  the valid joints (the least-squares scale), and MPJPE is taken.

  Args:
    pred: [B, J, 3] predictions, metres.
    target: [B, J, 3] ground truth, metres.
    mask: [B, J] valid joints (default all).
    root: root joint index, or None for no centring.
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J].

  Returns:
    N-MPJPE in millimetres.
  """
  return _metric(pred, target, mask=mask, alignment="scale", root=root, reduction=reduction)


def pck3d(pred: Array, target: Array, *, threshold_mm: float = PCK_THRESHOLD_MM,
          mask: Array | None = None, root: int | None = 0, alignment: str = "root",
          reduction: str = "mean") -> Array:
  """3D PCK: fraction (in [0, 1]) of joints whose error is below `threshold_mm`.

  The error is the per-joint distance IN MILLIMETRES of `joint_errors` (root-centred by
  default); a joint is correct when error < threshold, strictly, as in the MPI-INF-3DHP
  evaluation code (Mehta et al.), so PCK at 0 mm is 0.

  Args:
    pred: [B, J, 3] predictions, metres.
    target: [B, J, 3] ground truth, metres.
    threshold_mm: threshold in millimetres (150 mm by convention).
    mask: [B, J] valid joints (default all).
    root: root joint for centring, or None.
    alignment: 'root', 'scale' or 'procrustes' (see `joint_errors`).
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J].

  Returns:
    PCK as a fraction in [0, 1].
  """
  thresholds = _check_thresholds("threshold_mm", threshold_mm)
  return _metric(pred, target, mask=mask, alignment=alignment, root=root,
                 reduction=reduction, thresholds_mm=thresholds)


def auc(pred: Array, target: Array, *, thresholds_mm: Any = AUC_THRESHOLDS_MM,
        mask: Array | None = None, root: int | None = 0, alignment: str = "root",
        reduction: str = "mean") -> Array:
  """Area under the 3D PCK curve: mean PCK (in [0, 1]) over `thresholds_mm` (0:5:150 mm).

  Distances are compared IN MILLIMETRES, as in `pck3d` (strict <).

  Args:
    pred: [B, J, 3] predictions, metres.
    target: [B, J, 3] ground truth, metres.
    thresholds_mm: [T] thresholds in millimetres.
    mask: [B, J] valid joints (default all).
    root: root joint for centring, or None.
    alignment: 'root', 'scale' or 'procrustes' (see `joint_errors`).
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J].

  Returns:
    AUC as a fraction in [0, 1].
  """
  thresholds = _check_thresholds("thresholds_mm", thresholds_mm)
  return _metric(pred, target, mask=mask, alignment=alignment, root=root,
                 reduction=reduction, thresholds_mm=thresholds)


def pck2d(pred: Array, target: Array, *, threshold: float = 0.1, size: Any,
          mask: Array | None = None, reduction: str = "mean") -> Array:
  """2D PCK: fraction (in [0, 1]) of joints within `threshold * size` pixels of the target.

  `size` is the person's box side in pixels (PCK@0.1 of the box side; for the embedded
  `mocap_images` crops, whose box is the whole crop, that is the crop side S). A joint
  is correct when its error is strictly below the threshold, as `pck3d`.

  Args:
    pred: [B, J, 2] predicted 2D keypoints, pixels.
    target: [B, J, 2] ground truth, pixels.
    threshold: fraction of `size`.
    size: box side in pixels, a scalar or [B].
    mask: [B, J] annotated joints (default all).
    reduction: 'mean' -> scalar, 'none' -> [B], 'joint' -> [J] (module docstring).

  Returns:
    PCK as a fraction in [0, 1].
  """
  sizes = checks.shapes(pred=(pred, "B J 2"), target=(target, "B J 2"), mask=(mask, "B J"))
  checks.finite(pred=pred, target=target)
  checks.one_of("reduction", reduction, REDUCTIONS)
  side = jnp.broadcast_to(jnp.asarray(size, jnp.result_type(float)), (sizes["B"],))
  if checks.is_concrete(side) and not np.all(np.asarray(side) > 0):
    raise ValueError(f"size: expected box sides > 0 pixels (a scalar or [B]), got {size!r}")
  if checks.is_concrete(threshold) and not threshold >= 0:
    raise ValueError(f"threshold: expected a fraction of the box side >= 0, got {threshold!r}")
  errors = jnp.linalg.norm(jnp.asarray(pred) - jnp.asarray(target), axis=-1)  # (B, J)
  hits = (errors < threshold * side[:, None]).astype(side.dtype)
  return _reduce(hits, mask, reduction)


def _check_ordinal(depth: Any, relations: Any, mask: Any, tol: float,
                   reduction: str | None) -> None:
  """Validates the ordinal metrics' arguments (shapes, finite depth, relation triples)."""
  sizes = checks.shapes(depth=(depth, "B J"), relations=(relations, "B P 3"),
                        mask=(mask, "B P"))
  checks.finite(depth=depth)
  checks.relations("relations", relations, sizes["J"], mask=mask)
  if checks.is_concrete(tol) and not tol >= 0:
    raise ValueError(f"tol: expected a depth tolerance >= 0 (metres), got {tol!r}")
  if reduction is not None:
    checks.one_of("reduction", reduction, ("mean", "none"))


@jax.jit
def _ordinal_counts(depth: Array, relations: Array, mask: Array | None,
                    tol: float) -> Array:
  """Per-example pair counts [B, 4]: (correct, annotated, wrong, strict)."""
  depth = jnp.asarray(depth)
  rel = jnp.asarray(relations).astype(jnp.int32)
  z_i = jnp.take_along_axis(depth, rel[..., 0], axis=1, mode="clip")
  z_j = jnp.take_along_axis(depth, rel[..., 1], axis=1, mode="clip")
  predicted = jnp.where(z_i < z_j - tol, 1, jnp.where(z_i > z_j + tol, -1, 0))
  label = rel[..., 2]
  annotated = jnp.ones(label.shape, bool) if mask is None else jnp.asarray(mask, bool)
  strict = annotated & (label != 0)
  correct = annotated & (predicted == label)
  wrong = strict & (predicted == -label)
  return jnp.stack([jnp.sum(x, axis=1) for x in (correct, annotated, wrong, strict)], -1)


def _pair_fraction(counts: Array, hits: int, counted: int, reduction: str) -> Array:
  """hits / counted pairs; NaN where nothing was counted (no score, not a score of 0)."""
  num, den = counts[:, hits], counts[:, counted]
  if reduction == "mean":
    num, den = jnp.sum(num), jnp.sum(den)
  return jnp.where(den > 0, _safe_div(num.astype(jnp.result_type(float)), den), jnp.nan)


def ordinal_accuracy(depth: Array, relations: Array, mask: Array | None = None, *,
                     tol: float = 0.0, reduction: str = "mean") -> Array:
  """Fraction (in [0, 1]) of annotated pairs whose predicted relation matches the label.

  The predicted relation of a pair (i, j) follows DESIGN.md / Pavlakos et al. 2018:
  +1 if z_i < z_j - tol (i closer), -1 if z_i > z_j + tol, 0 otherwise. It must equal
  the label exactly: a tie label (r = 0) is correct only when |z_i - z_j| <= tol (so with
  tol = 0 only for exactly equal depths; use the tie band of the labels, e.g. 0.1 m), and
  a predicted tie is wrong for a strict label.

  Args:
    depth: [B, J] predicted depths (z, metres; larger = farther).
    relations: [B, P, 3] int (i, j, r) triples, r = +1 <=> joint i closer.
    mask: [B, P] annotated pairs (default all).
    tol: tie band in metres (the unit of `depth`).
    reduction: 'mean' -> scalar over all annotated pairs, 'none' -> [B].

  Returns:
    Accuracy as a fraction in [0, 1]; NaN with no annotated pair (per example for
    'none'), which `per_action_means` / `mean_over_actions` skip.
  """
  _check_ordinal(depth, relations, mask, tol, reduction)
  return _pair_fraction(_ordinal_counts(depth, relations, mask, tol), 0, 1, reduction)


def wrongly_ordered_fraction(depth: Array, relations: Array, mask: Array | None = None, *,
                             tol: float = 0.0, reduction: str = "mean") -> Array:
  """Ronchi et al. 2018's test error (Sec. 5.2): fraction of pairs ordered wrongly.

  Only strict pairs (label r != 0) count. A pair is wrong when the predicted order is
  the opposite of the label (r = +1 but z_i > z_j + tol, or r = -1 but z_i < z_j - tol);
  a predicted tie (|z_i - z_j| <= tol) is not counted as wrong. In [0, 1].

  Args:
    depth: [B, J] predicted depths (z, metres).
    relations: [B, P, 3] int (i, j, r) triples, r = +1 <=> joint i closer.
    mask: [B, P] annotated pairs (default all).
    tol: tie band in metres.
    reduction: 'mean' -> scalar over all strict annotated pairs, 'none' -> [B].

  Returns:
    Fraction of wrongly ordered strict pairs; NaN with no strict annotated pair (per
    example for 'none').
  """
  _check_ordinal(depth, relations, mask, tol, reduction)
  return _pair_fraction(_ordinal_counts(depth, relations, mask, tol), 2, 3, reduction)


def per_action_means(values: Any, actions: Sequence[str], *,
                     weights: Any = None) -> dict[str, float]:
  """Host-side weighted mean of per-example `values` [N] for each action (sorted keys).

  `weights` [N] (default ones) are e.g. numbers of valid joints. NaN values (nothing to
  score, e.g. `ordinal_accuracy` of an example without annotated pairs) are skipped, as
  are zero weights; an action with nothing left gets NaN.
  """
  values = np.asarray(values, np.float64)
  if values.ndim != 1 or len(actions) != values.shape[0]:
    raise ValueError(f"actions: expected {values.shape[0]} labels for values of shape "
                     f"{values.shape} (1-D), got {len(actions)}")
  weights = np.ones_like(values) if weights is None else np.asarray(weights, np.float64)
  if weights.shape != values.shape:
    raise ValueError(f"weights: expected shape {values.shape}, got {weights.shape}")
  names, index = np.unique(np.asarray(actions, dtype=str), return_inverse=True)
  weights = np.where(np.isnan(values), 0.0, weights)
  values = np.where(weights > 0, values, 0.0)
  num = np.bincount(index, weights=weights * values, minlength=len(names))
  den = np.bincount(index, weights=weights, minlength=len(names))
  with np.errstate(invalid="ignore", divide="ignore"):
    means = np.where(den > 0, num / den, np.nan)
  return {str(a): float(m) for a, m in zip(names, means)}


def mean_over_actions(values: Any, actions: Sequence[str], *, weights: Any = None) -> float:
  """H36M protocol: mean per action, then the unweighted mean over actions (NaN skipped)."""
  means = [m for m in per_action_means(values, actions, weights=weights).values()
           if not np.isnan(m)]
  return float(np.mean(means)) if means else float("nan")


_POSE_METRICS = ("mpjpe", "pa_mpjpe", "n_mpjpe", "pck3d", "auc")
_ALIGNMENT_OF = {"mpjpe": "root", "pa_mpjpe": "procrustes", "n_mpjpe": "scale"}


def _ratio(num: float, den: float) -> float:
  return float(num / den) if den > 0 else float("nan")


class MetricAccumulator:
  """Streams evaluation batches; `result()` equals the one-shot metrics on their union.

  Keeps per-example, per-joint scores on the host (NumPy float64), so results do not
  depend on how the examples were split into batches. Distances are IN MILLIMETRES,
  PCK / AUC / ordinal values are fractions in [0, 1].

  Usage:
    acc = MetricAccumulator()
    for batch in batches:
      acc.update(pred, batch['keypoints3d'], actions=batch['action'])
    metrics = acc.result()  # metrics['action_mean']['mpjpe'] is H36M protocol #1

  Args:
    joint_names: names of the J joints, keys of the per-joint results.
    root: root joint for centring (MPJPE, N-MPJPE, PCK, AUC), or None.
    pck_threshold_mm: 3DPCK threshold in millimetres.
    auc_thresholds_mm: [T] AUC thresholds in millimetres.
    tol: ordinal tie band in metres (see `ordinal_accuracy`).
  """

  def __init__(self, *, joint_names: Sequence[str] = skeleton.H36M17.joint_names,
               root: int | None = 0, pck_threshold_mm: float = PCK_THRESHOLD_MM,
               auc_thresholds_mm: Any = AUC_THRESHOLDS_MM, tol: float = 0.0):
    self._joint_names = tuple(joint_names)
    if root is not None and not 0 <= root < len(self._joint_names):
      raise ValueError(f"root: expected a joint index in [0, {len(self._joint_names)}) or "
                       f"None, got {root}")
    if not tol >= 0:
      raise ValueError(f"tol: expected a depth tolerance >= 0 (metres), got {tol!r}")
    self._root = root
    self._pck_thresholds = _check_thresholds("pck_threshold_mm", pck_threshold_mm)
    self._auc_thresholds = _check_thresholds("auc_thresholds_mm", auc_thresholds_mm)
    self._tol = tol
    self._scores: dict[str, list[np.ndarray]] = {m: [] for m in _POSE_METRICS}
    self._masks: list[np.ndarray] = []
    self._ordinal: list[np.ndarray] = []  # [B, 4]: correct, annotated, wrong, strict
    self._actions: list[str] = []
    self._has_ordinal = False

  def __len__(self) -> int:
    return len(self._actions)

  def update(self, pred: Any, target: Any, *, actions: Sequence[str], mask: Any = None,
             depth: Any = None, relations: Any = None, relation_mask: Any = None) -> None:
    """Adds one batch.

    Args:
      pred: [B, J, 3] predicted poses, metres, camera frame.
      target: [B, J, 3] ground truth, metres, camera frame.
      actions: B action names (per-action aggregation).
      mask: [B, J] valid joints (default all).
      depth: [B, J] depths to score the relations with (default `pred[..., 2]`).
      relations: [B, P, 3] (i, j, r) ordinal triples, r = +1 <=> i closer; optional.
      relation_mask: [B, P] annotated pairs (default all).
    """
    num_joints = _check_poses(pred, target, mask, self._root)
    batch = np.shape(pred)[0]
    if num_joints != len(self._joint_names):
      raise ValueError(f"pred: expected {len(self._joint_names)} joints (joint_names), "
                       f"got shape {tuple(np.shape(pred))}")
    if isinstance(actions, str) or len(actions) != batch:
      raise ValueError(f"actions: expected a sequence of {batch} action names, got "
                       f"{actions!r:.80}")
    if relations is None and (depth is not None or relation_mask is not None):
      raise ValueError("relations: required when depth or relation_mask is given")
    counts = np.zeros((batch, 4), np.int64)
    if relations is not None:
      depth = jnp.asarray(pred)[..., 2] if depth is None else depth
      checks.shapes(pred=(pred, "B J 3"), depth=(depth, "B J"))
      _check_ordinal(depth, relations, relation_mask, self._tol, None)
      counts = np.asarray(_ordinal_counts(depth, relations, relation_mask, self._tol))
    scores = {m: _errors(pred, target, mask, alignment=a,
                         root=None if a == "procrustes" else self._root)
              for m, a in _ALIGNMENT_OF.items()}
    scores["pck3d"] = _score(scores["mpjpe"], mask, self._pck_thresholds, reduction=None)
    scores["auc"] = _score(scores["mpjpe"], mask, self._auc_thresholds, reduction=None)
    for m in _POSE_METRICS:
      self._scores[m].append(np.asarray(scores[m], np.float64))
    self._masks.append(np.ones((batch, num_joints), bool) if mask is None
                       else np.asarray(mask, bool))
    self._ordinal.append(counts)
    self._actions.extend(str(a) for a in actions)
    self._has_ordinal |= relations is not None

  def result(self) -> dict[str, Any]:
    """Returns the metrics over every example seen.

    Returns:
      {'num_examples': N,
       'overall': {metric: value},       # mean over all valid joints (annotated pairs)
       'action_mean': {metric: value},   # mean per action, then over actions (H36M)
       'per_action': {action: {metric: value}},
       'per_joint': {metric: {joint_name: value}}}  # pose metrics only
      with metrics 'mpjpe', 'pa_mpjpe', 'n_mpjpe' (mm), 'pck3d', 'auc' (fractions) and,
      when relations were given, 'ordinal_accuracy' and 'wrongly_ordered_fraction'.
      Values with nothing to average over are NaN (and skipped in 'action_mean').
    """
    if not self._actions:
      raise ValueError("MetricAccumulator: no examples; call update() before result()")
    w = np.concatenate(self._masks).astype(np.float64)
    nums = {m: np.concatenate(self._scores[m]) * w for m in _POSE_METRICS}
    dens = {m: w for m in _POSE_METRICS}
    if self._has_ordinal:
      correct, annotated, wrong, strict = np.concatenate(self._ordinal).T.astype(np.float64)
      nums.update(ordinal_accuracy=correct[:, None], wrongly_ordered_fraction=wrong[:, None])
      dens.update(ordinal_accuracy=annotated[:, None],
                  wrongly_ordered_fraction=strict[:, None])
    out: dict[str, Any] = {"num_examples": len(self._actions), "overall": {},
                           "action_mean": {}, "per_action": {}, "per_joint": {}}
    for m in nums:
      num, den = nums[m].sum(axis=1), dens[m].sum(axis=1)
      out["overall"][m] = _ratio(num.sum(), den.sum())
      values = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
      for action, value in per_action_means(values, self._actions, weights=den).items():
        out["per_action"].setdefault(action, {})[m] = value
      out["action_mean"][m] = mean_over_actions(values, self._actions, weights=den)
      if m in _POSE_METRICS:
        out["per_joint"][m] = {
            name: _ratio(n, d) for name, n, d in
            zip(self._joint_names, nums[m].sum(axis=0), dens[m].sum(axis=0))}
    return out
