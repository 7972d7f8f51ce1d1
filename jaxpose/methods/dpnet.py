"""DRPose3D (Wang et al. IJCAI'18) DPNet: ranking matrix + 2D pose -> 3D pose.

DepthNet turns the pairwise ranking matrix into coarse depth O (its target: the joints'
depth ranks normalised to mean 0, std 1, `models.lifting.depth_rank_target`); the
two-stage cascaded PoseNet regresses the pose from O and the 2D pose, stage 2 predicting
stage 1's residual; the loss is eq. 6, `L = L_O + L_S3D + L'_S3D` (`losses.dpnet_loss`).
The 3D targets are root-relative poses in units of `lifting.OUTPUT_SCALE_M` (the paper
standardises them by dataset statistics).

The ranking matrix comes from the batch's relations (`ordinal.ranking_matrix_from_relations`,
M_ij = (1 - r_ij) / 2, 1 <=> i behind j); with all J(J-1)/2 relations it is complete, and
the data pipeline's `rank_flip_prob` flips entries as a PRCNN would get them wrong (Sec.
3.3). `config.dpnet.ranking = 'none'` drops DepthNet and its loss term and feeds PoseNet
O = 0 (`DPNet(use_ranking=False)`): the same PoseNet with no ranking information, the
paper's "2D pose only" comparison at equal size.

Statistical ranking augmentation (Sec. 3.3): `config.dpnet.flip_accuracy` names a
trained PRCNN's per-entry accuracy JSON (`methods.prcnn.write_accuracy`); entry (i, j)
is then flipped with probability 1 - accuracy_ij (`prcnn.flip_probability`) by the lifting
data path, which reads it from `config.data.augment.rank_flip_prob` ([J, J]). The config
variant `flip_from=PATH` sets both; the method checks they agree, so a path that never
reached the data pipeline (a bare `--config.dpnet.flip_accuracy=` override) is an error.

Depth-noise ranking augmentation (`config.dpnet.depth_noise`, metres; jaxpose's, not the
paper's): in training the matrix is rebuilt from the true camera depths plus Gaussian
noise of that standard deviation per joint (eq. 1 with the data's tie band), so its
errors are the kind a PRCNN makes: one scalar per joint ranks all pairs (eq. 2-4), so
a wrong joint is wrong against every joint near it in depth, consistently, and close
pairs flip far more often than distant ones. Independent per-entry flips (Sec. 3.3)
give inconsistent matrices a network learns to see through; measured on the embedded
default (docs/results_drpose_explicit2d.md), a DPNet trained with them is hurt by a
real PRCNN's matrix.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks, geometry, losses, metrics, ordinal
from jaxpose.methods import base, lifting, prcnn
from jaxpose.models import lifting as lifting_models

Array = jax.Array
ROOT = lifting.ROOT
J = lifting.JOINTS.num_joints
RANKING_INPUTS = ("relations", "none")


def ranking_input(batch: base.Batch) -> Array:
  """[B, J, J] ranking matrix fed to DepthNet (0.5 where a pair is unknown)."""
  m, _ = ordinal.ranking_matrix_from_relations(batch["relations"], base.relation_mask(batch), J)
  return m.astype(jnp.float32)


def noisy_depth_ranking(batch: base.Batch, key: Array, *, noise: float,
                        tie_tol: float) -> Array:
  """[B, J, J] eq. 1 matrix of the camera depths plus N(0, noise^2) per joint (metres),
  tie band `tie_tol`; 0.5 where the batch's relations leave a pair unknown."""
  z = batch["keypoints3d"][..., 2]
  z = z + noise * jax.random.normal(key, z.shape, z.dtype)
  m = ordinal.ranking_matrix_from_depth(z, tol=tie_tol)
  _, known = ordinal.ranking_matrix_from_relations(batch["relations"],
                                                   base.relation_mask(batch), J)
  return jnp.where(known, m, 0.5).astype(jnp.float32)


def mean_flip_probability(probs: Any) -> float:
  """Mean off-diagonal flip probability of a [J, J] matrix (a PRCNN's mean error rate)."""
  p = np.asarray(probs, np.float64)
  return float(p[~np.eye(len(p), dtype=bool)].mean())


def _check_flip_accuracy(config: Any) -> None:
  """`config.dpnet.flip_accuracy` (if set) must be what the data pipeline flips with."""
  path = config.dpnet.get("flip_accuracy", "")
  if not path:
    return
  want = np.asarray(prcnn.flip_probability(path))
  have = np.asarray(config.data.augment.rank_flip_prob, np.float64)
  if have.shape != want.shape or not np.allclose(have, want, atol=1e-9):
    raise ValueError(f"config.dpnet.flip_accuracy: {path} is not in "
                     "config.data.augment.rank_flip_prob; set it with the config variant "
                     "flip_from=PATH (configs/drpose_dpnet.py), not a field override")


def drpose_dpnet(config: Any) -> base.Method:
  """DPNet trained with eq. 6 (module docstring)."""
  _check_flip_accuracy(config)
  mode = config.dpnet.ranking
  checks.one_of("config.dpnet.ranking", mode, RANKING_INPUTS)
  use_ranking = mode == "relations"
  depth_noise = float(config.dpnet.get("depth_noise", 0.0))
  tie_tol = float(config.data.tie_tol)
  if depth_noise < 0:
    raise ValueError(f"config.dpnet.depth_noise: expected a standard deviation >= 0 in "
                     f"metres, got {depth_noise}")
  if depth_noise > 0 and np.any(np.asarray(config.data.augment.rank_flip_prob) > 0):
    raise ValueError("config.dpnet.depth_noise: the training matrix is rebuilt from noisy "
                     "depths, so data.augment.rank_flip_prob would be ignored; set one of them")
  model = base.model_from_config(lifting_models.get_model, config.model, num_joints=J,
                                 use_ranking=use_ranking)
  inputs = lambda batch: (ranking_input(batch), lifting.lifter_input(batch))  # noqa: E731

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(model, key, *inputs(batch))

  def train_inputs(batch: base.Batch, key: Array) -> tuple[Array, Array]:
    if not (use_ranking and depth_noise > 0):
      return inputs(batch)
    return noisy_depth_ranking(batch, key, noise=depth_noise, tie_tol=tie_tol), (
        lifting.lifter_input(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    noise_key, key = jax.random.split(key)
    out, batch_stats = base.apply_train(model, variables, *train_inputs(batch, noise_key),
                                        key=key)
    target = lifting.pose_target(batch) / lifting.OUTPUT_SCALE_M
    mask = base.pose_mask(batch)
    rank_target = lifting_models.depth_rank_target(target[..., 2])
    l = losses.dpnet_loss(coarse_depth=out["coarse_depth"],
                          coarse_depth_target=rank_target if use_ranking else 0 * rank_target,
                          pose_stage1=out["pose1"], pose_stage2=out["pose2"],
                          pose_target=target, mask=mask)
    scale = lifting.OUTPUT_SCALE_M
    mpjpe = metrics.mpjpe(scale * out["pose2"], scale * target, mask=mask, root=ROOT)
    return base.total_loss({"dpnet": l}, batch_stats, extra={"mpjpe_mm": mpjpe})

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    out = base.apply_eval(model, variables, *inputs(batch))
    return geometry.root_center(lifting.OUTPUT_SCALE_M * out["pose2"], root=ROOT)

  return base.Method("drpose_dpnet", "lifting", init, loss, predict, model)
