"""Pavlakos et al. CVPR'18 Sec. 3.4: the reconstruction MLP, 2D + ordinal depths -> 3D pose.

"For the training of this component we require only MoCap data [...] we simply project
each 3D pose skeleton to the 2D image plane. To simulate the input, we use the projected
2D joint locations and a noisy version of the depths of the joints, such that the
majority of their ordinal relations are preserved, while their values might not
necessarily match the actual depth" (Sec. 3.4), with an L2 loss on the 3D pose (eq. 6).

Input `[x(J), y(J), z(J)]` (`models.lifting.ReconstructionMLP`): x, y are the shared
normalised 2D (`lifting.lifter_input`: root-centred, RMS scale 1; Pavlakos' released
code divides by max(|x|, |y|) instead), z the simulated ordinal depths
`ordinal_depths(...)`: the root-relative depths standardised per pose (mean 0, std 1:
ordinal supervision fixes no scale), plus Gaussian noise of `depth_noise` standard
deviations, standardised again. The noise is drawn per example from its `index`, so
evaluation sees the same noisy depths every time. In the image pipeline (Sec. 3.4, Fig.
3b) z comes from the ConvNet's ordinal depth instead.

`config.reconstruction.direct = True` gives the "ordinal depths used directly" baseline:
the pose is `[x, y, k z]` itself, scaled to the reference skeleton (no network is
trained; compare with PA-MPJPE). Ordinal depths carry no scale, so `k` is the one number
fitted on the training MoCap: the mean ratio of a pose's depth spread to its image-plane
spread (`depth_to_plane_ratio`), the best a per-joint reading of ordinal depth can do.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import geometry, losses
from jaxpose.data import mocap
from jaxpose.methods import base, lifting, relative
from jaxpose.models import lifting as lifting_models

Array = jax.Array
ROOT = lifting.ROOT


@functools.lru_cache(maxsize=4)
def depth_to_plane_ratio(mocap_path: str = "", test_subjects: tuple[str, ...] = (),
                         test_sequences: tuple[str, ...] = (), num_views: int = 8) -> float:
  """Mean over training poses and horizontal view directions of std(depth) / RMS(x, y)
  of the root-relative pose (the scale between standardised depth and `lifter_input`)."""
  data = mocap.load_canonical(mocap_path or mocap.default_mocap_path())
  pose = data["positions_3d"][~mocap.held_out(data, test_subjects, test_sequences)]
  pose = pose - pose[:, :1]
  ratios = []
  for a in np.linspace(0, np.pi, num_views, endpoint=False):  # world y up, camera level
    depth = pose[..., 0] * np.sin(a) + pose[..., 2] * np.cos(a)
    across = pose[..., 0] * np.cos(a) - pose[..., 2] * np.sin(a)
    plane = np.sqrt(np.mean(across ** 2 + pose[..., 1] ** 2, -1))
    ratios.append(np.std(depth, -1) / np.maximum(plane, 1e-6))
  return float(np.mean(ratios))


def ordinal_depths(batch: base.Batch, *, noise: float, seed: int) -> Array:
  """[B, J] simulated ordinal depth estimates (module docstring), deterministic per index."""
  z = lifting.pose_target(batch)[..., 2]
  mask = base.input_mask(batch)
  z = lifting_models.standardize(jnp.where(mask, z, 0.0), axis=-1)
  keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(seed),
                                                          batch["index"])
  eps = jax.vmap(lambda k: jax.random.normal(k, z.shape[-1:]))(keys)
  return jnp.where(mask, lifting_models.standardize(z + noise * eps, axis=-1), 0.0)


def reconstruction_input(batch: base.Batch, *, noise: float, seed: int) -> Array:
  """[B, J, 3]: normalised 2D and simulated ordinal depth per joint."""
  return jnp.concatenate([lifting.lifter_input(batch),
                          ordinal_depths(batch, noise=noise, seed=seed)[..., None]], -1)


def ordinal_reconstruction(config: Any) -> base.Method:
  """Pavlakos Sec. 3.4 reconstruction MLP (module docstring)."""
  rc = config.reconstruction
  model = base.model_from_config(lifting_models.get_model, config.model,
                                 num_joints=lifting.JOINTS.num_joints)
  inputs = lambda batch: reconstruction_input(  # noqa: E731
      batch, noise=rc.depth_noise, seed=rc.noise_seed)
  bones = jnp.asarray(relative.reference_bones(config))

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(model, key, inputs(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    out, batch_stats = base.apply_train(model, variables, inputs(batch), key=key)
    pose = geometry.root_center(lifting.OUTPUT_SCALE_M * out, root=ROOT)
    target, mask = lifting.pose_target(batch), base.pose_mask(batch)
    l2 = losses.joint_l2(pred=pose, target=target, mask=mask)
    return base.total_loss({"pose3d_l2": l2}, batch_stats)

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    if rc.direct:
      k = depth_to_plane_ratio(*relative.mocap_split_args(config))
      direct = inputs(batch) * jnp.asarray([1.0, 1.0, k], jnp.float32)
      return relative.to_metres(direct, bones)
    out = base.apply_eval(model, variables, inputs(batch))
    return geometry.root_center(lifting.OUTPUT_SCALE_M * out, root=ROOT)

  return base.Method("ordinal_reconstruction", "lifting", init, loss, predict, model)
