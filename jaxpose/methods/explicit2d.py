"""Habibie et al. CVPR'19 as a trainable method: explicit 2D heatmaps, FC lifting, camera net.

The network is `jaxpose.models.explicit2d.Explicit2D` (F3D whose first J channels are 2D
heatmaps, f3D lifting, fc weak-perspective camera). The loss is supplement eq. 6:

  L = l_3D L3Dpose + l_heat L2Dheatmap + l_2D L2Dpose + l_bone Lbone

with the supplement's weights (`losses.HABIBIE_*`): l_3D = 10, l_heat = 0.1, l_2D = 10,
l_bone = 10 for bone vectors (examples with 3D, supp. eq. 4) and 100 for bone lengths
(2D-only examples, supp. eq. 5). Terms and masks, per example:

  * 'pose' (L3Dpose, supp. eq. 2) and 'bone_vector' (supp. eq. 4): examples with 3D
    (`has_3d`, `joint_mask`), on the root-centred pose in metres;
  * 'heat' (L2Dheatmap, supp. eq. 1) on h2D and 'heat_inter' on the res4d / res5a
    intermediate heatmaps (Sec. 3.3, "the same intermediate supervision is also used
    later when finetuning"): annotated joints inside the crop (b_k); Gaussian targets of
    peak 1 (`losses.gaussian_heatmaps`, std `heatmap_sigma` cells);
  * 'proj' (L2Dpose, eq. 2, supp. eq. 3): every example with 2D (`joint_mask`), when
    `config.explicit2d.projection_loss`: `alpha * (x, y) + c` of the root-centred 3D pose
    against the 2D annotation. 2D is measured in CROP SIDES (crop pixels / S), so the
    term is O(1) like the 3D term in metres at any input size (the paper gives no unit);
  * 'bone_length' (supp. eq. 5): 2D-only examples; the reference lengths are those of a
    training subject drawn per example and per step from the loss key ("we randomly pick
    the bone length of one of the training subjects ... for every training instance",
    Sec. 3.2). Subjects' lengths are the per-subject medians over the training frames of
    the MoCap named by `config.data` (`train.data.mocap_split`: the embedded default
    unless `mocap_path` is set, minus `test_subjects`).

2D-only data (Table 5's "outdoor data"). The embedded default has 3D everywhere, so
`config.explicit2d.share_2d_only` sets aside a fixed pool of training examples (chosen
by a hash of `index`, the same every epoch) that never gives its 3D to the loss. With
`use_2d_only` the pool trains as 2D-only data (heatmap, projection, bone-length terms);
without it the pool is left out of the loss, as are examples that have no 3D at all, so
the 3D training data are the same in every row of the ablation. Padding rows (`valid`
False) contribute nothing.

f3D's output is read in units of `UNIT_M` (0.1 m). Outputs: `predict` gives the
root-centred pose (camera frame, metres); `predict_outputs` adds 'keypoints2d' in crop
pixels decoded from the h2D heatmaps (argmax with a local 3x3
soft-argmax refinement) -- not from the projection: the heatmaps are supervised in every
setting of the ablation while the camera net is only trained with the projection loss,
and they are the paper's 2D representation -- and 'depth' (the pose's z, metres).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks, geometry, losses, metrics, skeleton
from jaxpose.methods import base, image, lifting
from jaxpose.models import explicit2d as explicit2d_models
from jaxpose.models import heads
from jaxpose.train import data as data_lib

Array = jax.Array
JOINTS = skeleton.H36M17
ROOT = JOINTS.root
# Loss-term names -> `config.loss` weight fields.
WEIGHT_FIELDS = {"pose": "pose_weight", "heat": "heat_weight",
                 "heat_inter": "inter_heat_weight", "proj": "proj_weight",
                 "bone_vector": "bone_vector_weight", "bone_length": "bone_length_weight"}
_HASH = np.uint32(2654435761)  # Knuth's multiplicative hash
# Metres per unit of f3D's output (as the lifting methods read theirs), so the LeCun-
# initialised output layer starts at poses of decimetres, not metres.
UNIT_M = lifting.OUTPUT_SCALE_M


# ---------------------------------------------------------------------- data helpers


def subject_bone_lengths(config: Any) -> np.ndarray:
  """[S, K] median bone lengths (metres, `JOINTS.bones` order) of each training subject
  of the MoCap that `config.data` names (`train.data.mocap_split`)."""
  data, train, _ = data_lib.mocap_split(config)
  bones = np.asarray(JOINTS.bones)
  pos = np.asarray(data["positions_3d"][train], np.float64)
  lengths = np.linalg.norm(pos[:, bones[:, 0]] - pos[:, bones[:, 1]], axis=-1)  # [N, K]
  subject = np.asarray(data["subject"])[train]
  return np.stack([np.median(lengths[subject == s], axis=0)
                   for s in np.unique(subject)]).astype(np.float32)


def in_2d_pool(index: Array, share: float) -> Array:
  """bool [B]: examples of the fixed 2D-only pool, a `share` of the split by index hash."""
  h = (jnp.asarray(index).astype(jnp.uint32) * _HASH) >> 16  # uint32 wraps
  return h.astype(jnp.float32) < share * 65536.0


def example_masks(batch: base.Batch, *, share_2d_only: float,
                  use_2d_only: bool) -> dict[str, Array]:
  """Per-example supervision (module docstring): bool [B] each.

  Returns:
    {'used': examples in the loss, 'has_3d': examples whose 3D is used, 'only_2d': used
     examples without 3D}.
  """
  valid = batch["valid"]
  has_3d = batch["has_3d"] & valid & ~in_2d_pool(batch["index"], share_2d_only)
  used = valid if use_2d_only else has_3d
  return {"used": used, "has_3d": has_3d, "only_2d": used & ~has_3d}


def decode_heatmaps(heatmaps: Array, *, image_size: tuple[int, int]) -> Array:
  """[B, h, w, J] heatmaps -> [B, J, 2] image pixels: the argmax cell refined by the
  soft-argmax of the non-negative values in its 3x3 neighbourhood (corner origin)."""
  checks.shapes(heatmaps=(heatmaps, "B H W J"))
  b, h, w, j = heatmaps.shape
  flat = jnp.argmax(heatmaps.reshape(b, h * w, j), axis=1)  # (B, J)
  row, col = flat // w, flat % w
  rows = jnp.arange(h)[None, :, None, None]
  cols = jnp.arange(w)[None, None, :, None]
  near = ((jnp.abs(rows - row[:, None, None, :]) <= 1) &
          (jnp.abs(cols - col[:, None, None, :]) <= 1))
  weights = jnp.where(near, jnp.maximum(heatmaps, 0.0), 0.0)
  weights = jnp.where(jnp.sum(weights, axis=(1, 2), keepdims=True) > 0, weights,
                      near.astype(heatmaps.dtype))  # all <= 0: the argmax cell's centre
  xy = heads.soft_argmax_2d(weights)
  return heads.heatmap_to_image_coords(xy, heatmap_size=(h, w), image_size=image_size)


# ---------------------------------------------------------------------- loss terms


def pose_metres(out: dict[str, Array]) -> Array:
  """[B, J, 3] root-centred camera-frame pose in metres from the network's outputs."""
  return geometry.root_center(UNIT_M * out["pose3d"], root=ROOT)


def loss_terms(out: dict[str, Array], batch: base.Batch, masks: dict[str, Array], *,
               reference_lengths: Array, sigma: float,
               projection_loss: bool) -> dict[str, Array]:
  """The terms of supplement eq. 6 (module docstring), each masked per example.

  Args:
    out: the network's outputs (`Explicit2D.__call__`).
    batch: the device batch (crop pixels, metres).
    masks: `example_masks`.
    reference_lengths: [B, K] bone lengths (metres) for the 2D-only examples.
    sigma: heatmap target std in heatmap cells.
    projection_loss: include 'proj'.
  """
  size = image.crop_size(batch)
  pose = pose_metres(out)
  target = geometry.root_center(batch["keypoints3d"], root=ROOT)
  mask3d = batch["joint_mask"] & masks["has_3d"][:, None]
  mask2d = batch["joint_mask"] & masks["used"][:, None]
  heat_mask = mask2d & image.inside_crop(batch["keypoints2d"], size)
  hm_size = out["heatmaps"].shape[1:3]
  hm_kp = heads.image_to_heatmap_coords(batch["keypoints2d"], heatmap_size=hm_size,
                                        image_size=(size, size))
  heat_target = losses.gaussian_heatmaps(hm_kp, size=hm_size, sigma=sigma, mask=heat_mask)
  terms = {
      "pose": losses.joint_l2(pred=pose, target=target, mask=mask3d),
      "bone_vector": losses.bone_vector_loss(pose=pose, target=target, mask=mask3d),
      "heat": losses.heatmap_l2(pred=out["heatmaps"], target=heat_target, mask=heat_mask),
      "heat_inter": sum(losses.heatmap_l2(pred=h, target=heat_target, mask=heat_mask)
                        for h in out["intermediate_heatmaps"]),
      "bone_length": losses.bone_length_loss(
          pose=pose, reference_lengths=reference_lengths,
          mask=jnp.broadcast_to(masks["only_2d"][:, None], pose.shape[:2])),
  }
  if projection_loss:
    camera = out["camera"]
    terms["proj"] = losses.weak_perspective_loss(
        pose=pose, center=camera[:, :2], alpha=camera[:, 2:],
        keypoints2d=batch["keypoints2d"] / size, mask=mask2d)
  return terms


# ---------------------------------------------------------------------- the method


def _settings(config: Any) -> dict[str, Any]:
  """Validated `config.explicit2d` and `config.loss` (one-line ValueErrors)."""
  e = config.explicit2d
  for name in ("projection_loss", "use_2d_only"):
    if not isinstance(e[name], bool):
      raise ValueError(f"config.explicit2d.{name}: expected true or false, got {e[name]!r}")
  share = e.share_2d_only
  if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
    raise ValueError(f"config.explicit2d.share_2d_only: expected a fraction in [0, 1), "
                     f"got {share!r}")
  if e.use_2d_only and share == 0:
    raise ValueError("config.explicit2d.use_2d_only: needs share_2d_only > 0 (the 2D-only "
                     "pool); got share_2d_only=0")
  checks.positive("config.explicit2d.heatmap_sigma", e.heatmap_sigma)
  weights = {}
  for term, field in WEIGHT_FIELDS.items():
    value = config.loss[field]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
      raise ValueError(f"config.loss.{field}: expected a number >= 0, got {value!r}")
    weights[term] = float(value)
  return {"projection_loss": e.projection_loss, "use_2d_only": e.use_2d_only,
          "share_2d_only": float(share), "sigma": float(e.heatmap_sigma), "weights": weights}


def explicit2d(config: Any) -> base.Method:
  """Habibie et al. 2019 (module docstring) from `config.model`, `config.explicit2d`,
  `config.loss` and `config.data` (training subjects' bone lengths)."""
  s = _settings(config)
  net = base.model_from_config(explicit2d_models.get_model, config.model,
                               num_joints=JOINTS.num_joints)
  subject_lengths = jnp.asarray(subject_bone_lengths(config))  # (S, K)
  weights = {k: v for k, v in s["weights"].items()
             if k != "proj" or s["projection_loss"]}

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(net, key, image.image_input(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    out, batch_stats = base.apply_train(net, variables, image.image_input(batch), key=key)
    pick = jax.random.randint(jax.random.fold_in(key, 1), batch["valid"].shape, 0,
                              subject_lengths.shape[0])
    masks = example_masks(batch, share_2d_only=s["share_2d_only"],
                          use_2d_only=s["use_2d_only"])
    terms = loss_terms(out, batch, masks, reference_lengths=subject_lengths[pick],
                       sigma=s["sigma"], projection_loss=s["projection_loss"])
    mask3d = batch["joint_mask"] & masks["has_3d"][:, None]
    mpjpe = metrics.mpjpe(pose_metres(out), geometry.root_center(batch["keypoints3d"], root=ROOT),
                          mask=mask3d, root=ROOT)
    return base.total_loss(terms, batch_stats, weights=weights, extra={"mpjpe_mm": mpjpe})

  def predict_outputs(variables: base.Variables, batch: base.Batch) -> dict[str, Array]:
    out = base.apply_eval(net, variables, image.image_input(batch))
    size = image.crop_size(batch)
    pose = pose_metres(out)
    return {"pose3d": pose, "depth": pose[..., 2],
            "keypoints2d": decode_heatmaps(out["heatmaps"], image_size=(size, size))}

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    return predict_outputs(variables, batch)["pose3d"]

  return base.Method("explicit2d", "image", init, loss, predict, net, predict_outputs)
