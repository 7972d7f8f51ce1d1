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
  model = base.model_from_config(lifting_models.get_model, config.model, num_joints=J,
                                 use_ranking=use_ranking)
  inputs = lambda batch: (ranking_input(batch), lifting.lifter_input(batch))  # noqa: E731

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(model, key, *inputs(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    out, batch_stats = base.apply_train(model, variables, *inputs(batch), key=key)
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
