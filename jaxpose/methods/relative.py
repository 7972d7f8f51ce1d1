"""Ronchi et al. BMVC'18 "It's all Relative": lifting trained from sparse relative depth labels.

The network (`models.lifting.RonchiLifter`: Martinez trunk, per-coordinate output
multiplier, sigmoid scale head) reads root-centred *pixel* 2D (Ronchi Sec. 5: "we center
the input 2D keypoints by setting the root location to (0,0)"; no scale normalisation, so
the scale head can see the person's pixel size) and is trained with eq. 7,
`L_root + α L_rel + β L_proj + γ L_skel` (`losses.ronchi_total`: batch-mean-normalised
relative depth loss with λ = 2.5, scaled-orthographic reprojection against root-centred
pixel 2D, bone-length-ratio skeleton loss against the mean training skeleton), with no 3D
supervision at all.

The prediction has no metric scale (only ratios are constrained); `predict` rescales each
pose so its summed bone length equals the reference skeleton's, giving metres. Ronchi
evaluate with Procrustes (protocol #2), i.e. PA-MPJPE, which does not depend on this.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import geometry, losses, skeleton
from jaxpose.data import mocap
from jaxpose.methods import base
from jaxpose.models import lifting as lifting_models

Array = jax.Array
JOINTS = skeleton.H36M17
ROOT = JOINTS.root


def _bone_lengths(mocap_path: str, test_subjects: tuple[str, ...],
                  test_sequences: tuple[str, ...]) -> tuple[dict, np.ndarray, np.ndarray]:
  """(MoCap, f32 [frames, J-1] every frame's H36M17 bone lengths, bool [frames] training)."""
  data = mocap.load_canonical(mocap_path or mocap.default_mocap_path())
  pose = data["positions_3d"]
  child, parent = JOINTS.bones[:, 0], JOINTS.bones[:, 1]
  lengths = np.linalg.norm(pose[:, child] - pose[:, parent], axis=-1)
  return data, lengths, ~mocap.held_out(data, test_subjects, test_sequences)


@functools.lru_cache(maxsize=4)
def mean_bone_lengths(mocap_path: str = "", test_subjects: tuple[str, ...] = (),
                      test_sequences: tuple[str, ...] = ()) -> np.ndarray:
  """f32 [J-1] mean H36M17 bone lengths (metres) of the MoCap file's training poses
  (`mocap.held_out` excluded).

  Ronchi's skeleton loss compares with "the training set mean" bone ratios.
  """
  _, lengths, train = _bone_lengths(mocap_path, test_subjects, test_sequences)
  return lengths[train].mean(0).astype(np.float32)


@functools.lru_cache(maxsize=4)
def subject_bone_lengths(mocap_path: str = "", test_subjects: tuple[str, ...] = (),
                         test_sequences: tuple[str, ...] = ()) -> np.ndarray:
  """f32 [frames, J-1]: for every frame of the MoCap file, the mean bone lengths (metres)
  of its subject's training poses (Ronchi Table 1's subject-specific "H36 Subject"
  skeleton); a subject without training poses gets the training-set mean.
  """
  data, lengths, train = _bone_lengths(mocap_path, test_subjects, test_sequences)
  table = np.broadcast_to(lengths[train].mean(0), lengths.shape).copy()
  for s in np.unique(data["subject"]):
    mine = data["subject"] == s
    if (mine & train).any():
      table[mine] = lengths[mine & train].mean(0)
  return table.astype(np.float32)


def reference_bones(config: Any) -> np.ndarray:
  """`config.loss.reference_bones` if set, else the training MoCap's mean bone lengths."""
  given = tuple(config.loss.get("reference_bones", ()) or ())
  if given:
    if len(given) != len(JOINTS.bones):
      raise ValueError(f"config.loss.reference_bones: expected {len(JOINTS.bones)} lengths "
                       f"(H36M17 bones), got {len(given)}")
    return np.asarray(given, np.float32)
  return mean_bone_lengths(*mocap_split_args(config))


def mocap_split_args(config: Any) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
  """(mocap_path, test_subjects, test_sequences) of `config.data`: hashable, for the
  cached training-set statistics."""
  d = config.data
  return (d.get("mocap_path", ""), tuple(d.get("test_subjects", ())),
          tuple(d.get("test_sequences", ())))


def centered_pixels(batch: base.Batch) -> Array:
  """[B, J, 2] root-centred 2D pixels; masked joints zero."""
  kp = geometry.root_center(batch["keypoints2d"], root=ROOT)
  return jnp.where(base.input_mask(batch)[..., None], kp, 0.0)


def to_metres(pose: Array, bones: Array) -> Array:
  """Rescales [B, J, 3] so each pose's summed bone length equals sum(bones)."""
  child, parent = JOINTS.bones[:, 0], JOINTS.bones[:, 1]
  total = jnp.sum(jnp.sqrt(jnp.sum((pose[:, child] - pose[:, parent]) ** 2, -1) + 1e-12), -1)
  return pose * (jnp.sum(bones) / jnp.maximum(total, 1e-9))[:, None, None]


def relative_lifting(config: Any) -> base.Method:
  """Ronchi et al. eq. 7 (see the module docstring); weights from `config.loss`."""
  model = base.model_from_config(lifting_models.get_model, config.model,
                                 num_joints=JOINTS.num_joints)
  bones = jnp.asarray(reference_bones(config))
  weights = {"rel": config.loss.alpha, "proj": config.loss.beta, "skel": config.loss.gamma}
  by_subject = bool(config.loss.get("subject_bones", False))
  if by_subject:
    if config.data.source != "mocap_resample" or config.loss.get("reference_bones", ()):
      raise ValueError(f"config.loss.subject_bones: needs data.source 'mocap_resample' (its "
                       f"batches index MoCap frames) and no reference_bones; got "
                       f"{config.data.source!r}")
    per_frame = jnp.asarray(subject_bone_lengths(*mocap_split_args(config)))  # (N, J-1)

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(model, key, centered_pixels(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    (pose, scale), batch_stats = base.apply_train(model, variables, centered_pixels(batch),
                                                  key=key)
    joints = batch["joint_mask"] & batch["valid"][:, None]
    _, terms = losses.ronchi_total(
        pose=pose, scale=scale, relations=batch["relations"],
        relation_mask=base.relation_mask(batch), keypoints2d=batch["keypoints2d"],
        visible=batch["visible"] & joints, joint_mask=joints,
        reference_lengths=per_frame[jnp.maximum(batch["index"], 0)] if by_subject else bones,
        lam=config.loss.lam)
    return base.total_loss(terms, batch_stats, weights=weights,
                           extra={"scale_mean": jnp.mean(scale)})

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    pose, _ = base.apply_eval(model, variables, centered_pixels(batch))
    return to_metres(geometry.root_center(pose, root=ROOT), bones)

  return base.Method("relative_lifting", "lifting", init, loss, predict, model)
