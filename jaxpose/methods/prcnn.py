"""DRPose3D (Wang et al. IJCAI'18) PRCNN as a `Method`: image (+ 2D heatmaps) -> ranking matrix.

The network is `jaxpose.models.prcnn.PRCNN` (ResNet on the image concatenated with J
joint heatmaps, one feature F_i per joint, `P_ij = sigmoid(F_i - F_j)`, eq. 2-4). This
module owns what feeds and supervises it:

  * heatmaps (`config.prcnn.heatmaps`): 'ground_truth' renders peak-1 Gaussians at the
    batch's `keypoints2d` (`input_heatmaps`; in training jittered by
    `config.prcnn.heatmap_noise_px`, so they look like a 2D estimator's); 'none' is the
    paper's image-only ablation (Sec. 4.5: 88.86 % vs. 91.22 %). The full pipeline
    (`methods.drpose_full`) puts a trained 2D estimator's keypoints in `keypoints2d`, so
    at inference the same rendering gives the estimator's heatmaps.
  * targets (`ranking_target`): M of eq. 1 from the 3D depths with the tie band
    `config.data.tie_tol` where an example has 3D, else from its annotated relations.
  * loss: RankNet cross-entropy (eq. 5, `losses.ranknet_loss`) averaged over the
    supervised entries (module note below).

PRCNN predicts rankings, not 3D: `predict_outputs` gives {'depth': F [B, J] (larger =
farther, so evaluation scores its pair ordering), 'ranking': P [B, J, J]}, and
`predict` raises. `pair_accuracy` measures the per-entry accuracy of the discretised
matrix on a split (Sec. 3.3's statistics for DPNet's ranking flips); `write_accuracy` /
`read_accuracy` keep it as JSON `{"joint_names": [...], "accuracy": [[...]]}`.

Loss normalisation: eq. 5 sums C_ij over all pairs; the paper trains it as "binary cross
entropy" with SGD at learning rate 0.1 (Sec. 4.2), i.e. a mean over entries (PyTorch's
BCELoss), so the loss here is the per-entry mean (eq. 5's sum / number of supervised
entries), averaged over the examples with any.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks, losses, ordinal, skeleton
from jaxpose.data import pipeline
from jaxpose.methods import base, image
from jaxpose.models import prcnn as prcnn_models
from jaxpose.train import sharding

Array = jax.Array
JOINTS = skeleton.H36M17
J = JOINTS.num_joints
HEATMAP_SOURCES = ("ground_truth", "none")


def input_heatmaps(keypoints2d: Array, mask: Array, *, image_size: int, stride: int,
                   sigma: float) -> Array:
  """[B, S / stride, S / stride, J] Gaussians of peak 1 at the keypoints (PRCNN input).

  Peak 1 (not sum 1) so the maps are on the image's scale whatever their resolution;
  masked joints (absent or outside the crop) get zero maps.

  Args:
    keypoints2d: [B, J, 2] crop pixels (corner origin).
    mask: bool [B, J] joints to draw.
    image_size: S, the crop side.
    stride: crop pixels per heatmap cell (4: a 256 -> 64 hourglass' resolution).
    sigma: Gaussian std in heatmap cells.
  """
  checks.shapes(keypoints2d=(keypoints2d, "B J 2"), mask=(mask, "B J"))
  side = -(-image_size // stride)
  return losses.gaussian_heatmaps(jnp.asarray(keypoints2d, jnp.float32), size=(side, side),
                                  sigma=sigma, stride=stride, mask=mask)


def ranking_target(batch: base.Batch, *, tie_tol: float) -> tuple[Array, Array]:
  """Ground-truth ranking matrix M (eq. 1) and which entries supervise.

  Examples with 3D: M from the camera depths with tie band `tie_tol` (metres), entries
  where both joints are annotated (`joint_mask`). Examples with relations but no 3D: M
  from the relations (`ordinal.ranking_matrix_from_relations`), the annotated entries.
  Padding rows (`valid` False) supervise nothing; the diagonal never does.

  Returns:
    (M float32 [B, J, J] in {0, 0.5, 1}, mask bool [B, J, J]).
  """
  valid = batch["valid"]
  has_3d = batch["has_3d"] & valid
  z = batch["keypoints3d"][..., 2]
  m3d = ordinal.ranking_matrix_from_depth(jnp.where(batch["joint_mask"], z, 0.0),
                                          tol=tie_tol)
  jm = batch["joint_mask"]
  mask3d = has_3d[:, None, None] & jm[:, :, None] & jm[:, None, :]
  mrel, known = ordinal.ranking_matrix_from_relations(
      batch["relations"], base.relation_mask(batch), J)
  mask_rel = known & (batch["has_ordinal"] & valid & ~has_3d)[:, None, None]
  off = ~jnp.eye(J, dtype=bool)
  target = jnp.where(has_3d[:, None, None], m3d, mrel).astype(jnp.float32)
  return target, (mask3d | mask_rel) & off


def mean_ranknet(features: Array, target: Array, mask: Array) -> Array:
  """Eq. 5 averaged over each example's supervised entries, then over examples with any."""
  per = losses.ranknet_loss(features=features, target=target, mask=mask, reduction=False)
  count = jnp.sum(mask, axis=(1, 2))
  has = count > 0
  return jnp.sum(jnp.where(has, per / jnp.maximum(count, 1), 0.0)) / jnp.maximum(
      jnp.sum(has), 1)


def _hits(probabilities: Array, target: Array, epsilon: float) -> Array:
  """bool [..., J, J]: the discretised P (`discretize`, threshold eps) equals M."""
  return prcnn_models.discretize(probabilities, epsilon=epsilon) == target


def drpose_prcnn(config: Any) -> base.Method:
  """PRCNN trained with eq. 5 on image (+ heatmap) batches (module docstring)."""
  pc = config.prcnn
  checks.one_of("config.prcnn.heatmaps", pc.heatmaps, HEATMAP_SOURCES)
  use_heatmaps = pc.heatmaps != "none"
  net = base.model_from_config(prcnn_models.get_model, config.model, num_joints=J,
                               use_heatmaps=use_heatmaps)
  stride, sigma, noise = int(pc.heatmap_stride), float(pc.heatmap_sigma), float(
      pc.heatmap_noise_px)
  checks.positive("config.prcnn.heatmap_stride", stride)
  checks.positive("config.prcnn.heatmap_sigma", sigma)
  if noise < 0:
    raise ValueError(f"config.prcnn.heatmap_noise_px: expected >= 0, got {noise}")
  epsilon, tie_tol = float(pc.epsilon), float(config.data.tie_tol)
  prcnn_models.discretize(jnp.full((1, 1), 0.5), epsilon=epsilon)  # validates epsilon

  def inputs(batch: base.Batch, key: Array | None = None) -> tuple[Array, Array | None]:
    img = image.image_input(batch)
    if not use_heatmaps:
      return img, None
    size = image.crop_size(batch)
    kp = jnp.asarray(batch["keypoints2d"], jnp.float32)
    mask = batch["joint_mask"] & batch["valid"][:, None] & image.inside_crop(kp, size)
    if key is not None and noise > 0:  # a 2D estimator's error (training only)
      kp = kp + noise * jax.random.normal(key, kp.shape, kp.dtype)
    return img, input_heatmaps(kp, mask, image_size=size, stride=stride, sigma=sigma)

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(net, key, *inputs(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    noise_key, dropout_key = jax.random.split(key)
    f, batch_stats = base.apply_train(net, variables, *inputs(batch, noise_key),
                                      key=dropout_key)
    target, mask = ranking_target(batch, tie_tol=tie_tol)
    hits = _hits(prcnn_models.pairwise_probabilities(f), target, epsilon) & mask
    acc = jnp.sum(hits) / jnp.maximum(jnp.sum(mask), 1)
    return base.total_loss({"ranknet": mean_ranknet(f, target, mask)}, batch_stats,
                           extra={"pair_accuracy": acc})

  def predict_outputs(variables: base.Variables, batch: base.Batch) -> dict[str, Array]:
    f = base.apply_eval(net, variables, *inputs(batch))
    return {"depth": f, "ranking": prcnn_models.pairwise_probabilities(f)}

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    raise ValueError("drpose_prcnn: PRCNN predicts ranking matrices, not 3D poses; use "
                     "predict_outputs, or configs/drpose_full.py for 3D")

  return base.Method("drpose_prcnn", "image", init, loss, predict, net, predict_outputs)


# ---------------------------------------------------------------------- accuracy


def pair_accuracy(method: base.Method, variables: base.Variables, iterator: Iterable[dict], *,
                  epsilon: float, tie_tol: float, max_batches: int = 0,
                  mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """Per-entry accuracy of PRCNN's discretised ranking matrix on a split (Sec. 3.3, Fig. 6).

  Entry (i, j) is right when `discretize(P, epsilon)_ij` equals M_ij of `ranking_target`;
  the accuracy is over the examples supervising that entry. The diagonal is 1.

  Args:
    method: a `drpose_prcnn` method.
    variables: its trained variables.
    iterator: evaluation batches (`data.eval_iterator`) with `valid`.
    epsilon: discretisation threshold (`config.prcnn.epsilon`).
    tie_tol: the labels' tie band in metres (`config.data.tie_tol`).
    max_batches: stop after this many batches (0 = all).
    mesh: device mesh (default: all devices).

  Returns:
    float64 [J, J] in [0, 1].

  Raises:
    ValueError: `method` has no ranking output, or some pair is never supervised.
  """
  if method.predict_outputs is None:
    raise ValueError(f"method: {method.name} predicts no ranking matrix")
  prcnn_models.discretize(jnp.full((1, 1), 0.5), epsilon=epsilon)
  mesh = mesh or sharding.make_mesh()

  def counts(variables, batch):
    p = method.predict_outputs(variables, batch)["ranking"]
    target, mask = ranking_target(batch, tie_tol=tie_tol)
    return (jnp.sum(_hits(p, target, epsilon) & mask, axis=0), jnp.sum(mask, axis=0))

  rep, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  fn = jax.jit(counts, in_shardings=(rep, data), out_shardings=rep,
               compiler_options=sharding.compiler_options(mesh))
  hits, total = np.zeros((J, J)), np.zeros((J, J))
  for k, batch in enumerate(iterator):
    if max_batches and k >= max_batches:
      break
    fields = pipeline.device_fields(batch)
    h, n = jax.device_get(fn(variables, sharding.shard_global_batch(fields, mesh)))
    hits, total = hits + h, total + n
  off = ~np.eye(J, dtype=bool)
  if np.any(total[off] == 0):
    i, j = np.argwhere((total == 0) & off)[0]
    raise ValueError(f"iterator: no example supervises the pair ({i}, {j}) "
                     f"({JOINTS.joint_names[i]}, {JOINTS.joint_names[j]})")
  return np.where(off, hits / np.maximum(total, 1), 1.0)


def write_accuracy(path: str, accuracy: np.ndarray,
                   joint_names: Sequence[str] = JOINTS.joint_names) -> None:
  """Writes `{"joint_names": [...], "accuracy": [[...]]}` (the [J, J] per-entry accuracy)."""
  acc = _check_accuracy(path, accuracy, joint_names)
  with open(os.path.expanduser(path), "w", encoding="utf-8") as f:
    json.dump({"joint_names": list(joint_names), "accuracy": acc.tolist()}, f, indent=1)
    f.write("\n")


def read_accuracy(path: str) -> np.ndarray:
  """The [J, J] per-entry accuracy of a `write_accuracy` file, in H36M17 joint order.

  Raises:
    ValueError (one line, naming the file): unreadable JSON, missing keys, joint names
      that are not the H36M17 names, or a matrix that is not [J, J] in [0, 1].
  """
  try:
    with open(os.path.expanduser(path), encoding="utf-8") as f:
      doc = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"{path}: expected a PRCNN accuracy JSON file ({type(e).__name__}: "
                     f"{e})") from None
  if not isinstance(doc, dict) or set(doc) != {"joint_names", "accuracy"}:
    raise ValueError(f"{path}: expected an object with keys 'joint_names' and 'accuracy'")
  names = doc["joint_names"]
  if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
    raise ValueError(f"{path}: joint_names: expected a list of joint names")
  try:
    canonical = [skeleton.canonical_name(n) for n in names]
  except (ValueError, KeyError):
    canonical = names
  if canonical != list(JOINTS.joint_names):
    raise ValueError(f"{path}: joint_names: expected the {J} {JOINTS.name} joints in order "
                     f"({', '.join(JOINTS.joint_names)}), got {names}")
  try:
    acc = np.asarray(doc["accuracy"], np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{path}: accuracy: expected a {J}x{J} list of numbers") from None
  return _check_accuracy(path, acc, names)


def _check_accuracy(where: str, accuracy: Any, joint_names: Sequence[str]) -> np.ndarray:
  n = len(joint_names)
  acc = np.asarray(accuracy, np.float64)
  if acc.shape != (n, n):
    raise ValueError(f"{where}: accuracy: expected a {n}x{n} matrix (one row per joint "
                     f"name), got shape {acc.shape}")
  if not np.all(np.isfinite(acc)) or np.any((acc < 0) | (acc > 1)):
    raise ValueError(f"{where}: accuracy: expected finite values in [0, 1]")
  return acc


def flip_probability(path: str) -> tuple[tuple[float, ...], ...]:
  """DRPose3D Sec. 3.3: per-entry flip probability 1 - accuracy_ij of an accuracy JSON,
  as the [J, J] nested tuple `AugmentConfig.rank_flip_prob` takes."""
  return tuple(tuple(float(v) for v in row) for row in 1.0 - read_accuracy(path))
