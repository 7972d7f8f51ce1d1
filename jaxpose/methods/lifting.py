"""Lifting methods (2D keypoints -> 3D pose) as `Method`s: supervised Martinez lifting.

Every lifter reads the 2D pose through `lifter_input` (root-centred, scale-normalised:
`jaxpose.models.lifting.normalize_2d`) and predicts root-relative camera-frame poses in
metres (`pose_from_output`).
"""

from __future__ import annotations

from typing import Any

import jax

from jaxpose import geometry, losses, metrics, skeleton
from jaxpose.methods import base
from jaxpose.models import lifting as lifting_models

Array = jax.Array
JOINTS = skeleton.H36M17
ROOT = JOINTS.root
# Metres per unit of network output. Martinez et al. standardise the 3D targets by their
# training statistics (per-coordinate std ~0.1-0.4 m); a fixed 0.1 m keeps He-initialised
# outputs (std ~1.4) at the size of real poses without dataset statistics in the model.
OUTPUT_SCALE_M = 0.1


def lifter_input(batch: base.Batch) -> Array:
  """[B, J, 2] normalised 2D (root-centred, RMS scale 1) from `keypoints2d` pixels."""
  x, _ = lifting_models.normalize_2d(batch["keypoints2d"], root=ROOT,
                                     mask=base.input_mask(batch))
  return x


def pose_from_output(out: Array, scale: float = OUTPUT_SCALE_M) -> Array:
  """[B, 3J] network output -> [B, J, 3] pose in metres, the root exactly at the origin."""
  return geometry.root_center(scale * out.reshape(out.shape[0], -1, 3), root=ROOT)


def pose_target(batch: base.Batch) -> Array:
  """[B, J, 3] root-relative camera-frame ground truth, metres."""
  return geometry.root_center(batch["keypoints3d"], root=ROOT)


def supervised_lifting(config: Any) -> base.Method:
  """Martinez et al. 2017: normalised 2D -> root-relative 3D in metres, L2 loss.

  Loss: `losses.joint_l2` (sum over joints of the squared 3D error, mean over examples
  with a 3D target; Martinez Sec. 3.1). Martinez standardises inputs and targets by
  training statistics; here the 2D input is normalised per pose and the output is read
  in units of `OUTPUT_SCALE_M`, so no dataset statistics travel with the checkpoint. The
  network outputs all J joints and the pose is re-centred on the root (Martinez outputs
  the J - 1 others).
  """
  model = base.model_from_config(lifting_models.get_model, config.model,
                                 out_dim=3 * JOINTS.num_joints)

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(model, key, lifter_input(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    out, batch_stats = base.apply_train(model, variables, lifter_input(batch), key=key)
    pose, target, mask = pose_from_output(out), pose_target(batch), base.pose_mask(batch)
    l2 = losses.joint_l2(pred=pose, target=target, mask=mask)
    mpjpe = metrics.mpjpe(pose, target, mask=mask, root=ROOT)
    return base.total_loss({"pose3d_l2": l2}, batch_stats, extra={"mpjpe_mm": mpjpe})

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    return pose_from_output(base.apply_eval(model, variables, lifter_input(batch)))

  return base.Method("supervised_lifting", "lifting", init, loss, predict, model)
