"""DRPose3D's PRCNN (Wang et al. 2018, Sec. 3.1): per-joint ranking features from image + heatmaps.

PRCNN is a ResNet on the image concatenated with the J 2D-joint heatmaps (paper: 19
channels = 3 + 16; here 3 + J), trained from scratch, global average pooling and one FC
layer of size J: one scalar feature F_i per joint (eq. 2). The ranking matrix is
`P_ij = sigmoid(F_i - F_j)` (eq. 3-4), the probability that joint i is BEHIND joint j
(DESIGN.md: `M_ij = (1 - r_ij) / 2`), so F grows with depth. Training uses
`jaxpose.losses.ranknet_loss(features=F, target=M)` (eq. 5); inference discretises P to
{0, 0.5, 1} (`discretize`).

    model = get_model('prcnn', num_joints=17)
    variables = model.init({'params': key}, image, heatmaps, train=False)
    features = model.apply(variables, image, heatmaps, train=False)   # [B, J]
    ranking = discretize(pairwise_probabilities(features), epsilon=0.1)
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks
from jaxpose.models import registry, resnet

Array = jax.Array
Dtype = Any


def pairwise_probabilities(features: Array) -> Array:
  """DRPose3D ranking matrix `P_ij = sigmoid(F_i - F_j)` (Wang et al. 2018, eq. 3-4).

  `P_ij` estimates the probability that joint i is behind joint j. Computed in (at least)
  float32 with the saturating sigmoid, so `P_ii = 0.5` exactly, `P_ij + P_ji = 1` up to
  rounding and large |F| give 0 or 1, never NaN (the diagonal is set to 0.5 even for
  infinite features).

  Args:
    features: [B, J] per-joint features F (PRCNN output).

  Returns:
    [B, J, J] probabilities in [0, 1].
  """
  checks.shapes(features=(features, "B J"))
  f = jnp.asarray(features)
  f = f.astype(jnp.promote_types(f.dtype, jnp.float32))
  diff = f[:, :, None] - f[:, None, :]  # (B, J, J) F_ij = F_i - F_j
  eye = jnp.eye(f.shape[1], dtype=bool)
  return jnp.where(eye, jnp.asarray(0.5, f.dtype), jax.nn.sigmoid(diff))


def discretize(probabilities: Array, *, epsilon: float) -> Array:
  """Inference-time ranking matrix (Wang et al. 2018, text after eq. 5).

  Maps `P` to 0 on [0, 0.5 - eps), 0.5 on [0.5 - eps, 0.5 + eps] and 1 on (0.5 + eps, 1].

  Args:
    probabilities: [..., J, J] ranking probabilities P.
    epsilon: half-width of the tie interval, in [0, 0.5).

  Returns:
    Array of `probabilities`' shape and dtype with entries in {0, 0.5, 1}.
  """
  if not 0.0 <= epsilon < 0.5:
    raise ValueError(f"epsilon: expected a threshold in [0, 0.5), got {epsilon!r}")
  checks.shapes(probabilities=(probabilities, "... J J"))
  p = jnp.asarray(probabilities)
  checks.floating(probabilities=p)
  low, high = 0.5 - epsilon, 0.5 + epsilon
  return jnp.where(p < low, 0.0, jnp.where(p > high, 1.0, 0.5)).astype(p.dtype)


class PRCNN(nn.Module):
  """Pairwise Ranking CNN: [B, H, W, 3] image (+ [B, h, w, J] heatmaps) -> F [B, J].

  Wang et al. 2018 Sec. 3.1 and 4.2: ResNet-34 backbone from scratch (ResNet-18/50 were
  worse in their ablation), global average pooling, one FC of size J. Heatmaps are
  resized (bilinearly) to the image size before the concatenation, so a 64x64 hourglass
  output can be fed with a 256x256 crop. `use_heatmaps=False` is the paper's "w/o
  heatmaps" ablation (88.86% vs. 91.22% pair accuracy): the backbone then takes the 3
  image channels only and any heatmaps passed in are ignored.

  Attributes:
    num_joints: J (paper: 16 MPII joints; here 17 H36M17).
    backbone: name in `resnet.BACKBONES`.
    use_heatmaps: concatenate the J heatmaps with the image.
    num_filters: the backbone's stem / first-stage width (0: the backbone's own, 64 for
      the ResNets, 4 for the tiny one; each later stage doubles it).
    dtype: compute dtype; the features are returned in float32.
  """
  num_joints: int = 17
  backbone: str = "resnet34"
  use_heatmaps: bool = True
  num_filters: int = 0
  dtype: Dtype = jnp.float32

  @property
  def in_channels(self) -> int:
    """Input channels of the backbone's first conv: 3 (+ J with heatmaps)."""
    return 3 + (self.num_joints if self.use_heatmaps else 0)

  def _inputs(self, image: Array, heatmaps: Array | None) -> Array:
    """Validated backbone input [B, H, W, in_channels] in `dtype`."""
    checks.positive("num_joints", self.num_joints)
    dims = checks.shapes(image=(image, "B H W 3"))
    x = jnp.asarray(image).astype(self.dtype)  # (B, H, W, 3)
    if not self.use_heatmaps:
      return x
    if heatmaps is None:
      raise ValueError("heatmaps: required when use_heatmaps=True, expected [B, h, w, "
                       f"{self.num_joints}]")
    checks.shapes(image=(image, "B H W 3"), heatmaps=(heatmaps, f"B h w {self.num_joints}"))
    h = jnp.asarray(heatmaps).astype(self.dtype)
    if h.shape[1:3] != x.shape[1:3]:
      h = jax.image.resize(h, (dims["B"], dims["H"], dims["W"], self.num_joints),
                           "bilinear")  # (B, H, W, J)
    return jnp.concatenate([x, h], axis=-1)  # (B, H, W, 3 + J)

  @nn.compact
  def __call__(self, image: Array, heatmaps: Array | None = None, *,
               train: bool) -> Array:
    """Per-joint ranking features.

    Args:
      image: [B, H, W, 3] normalised image.
      heatmaps: [B, h, w, J] 2D-joint heatmaps (required iff `use_heatmaps`).
      train: use and update batch statistics (`mutable=['batch_stats']`).

    Returns:
      F: [B, J] float32, larger = farther from the camera (eq. 2).
    """
    x = self._inputs(image, heatmaps)  # (B, H, W, C_in)
    if self.num_filters < 0:
      raise ValueError(f"num_filters: expected 0 (the backbone's own) or a positive width, "
                       f"got {self.num_filters}")
    width = {"num_filters": self.num_filters} if self.num_filters else {}
    net = resnet.get_backbone(self.backbone, in_channels=self.in_channels, dtype=self.dtype,
                              name="backbone", **width)
    x = net(x, train=train)[-1]  # (B, H/32, W/32, C)
    x = jnp.mean(x, axis=(1, 2))  # (B, C)
    f = nn.Dense(self.num_joints, dtype=self.dtype, param_dtype=jnp.float32,
                 name="dense_out")(x)  # (B, J)
    return f.astype(jnp.float32)


PRCNNTiny = functools.partial(PRCNN, backbone="resnet_tiny")

MODELS = {
    "prcnn": PRCNN,
    "prcnn_resnet18": functools.partial(PRCNN, backbone="resnet18"),
    "prcnn_resnet50": functools.partial(PRCNN, backbone="resnet50"),
    "prcnn_tiny": PRCNNTiny,
}


def get_model(name: str, /, **kwargs: Any) -> PRCNN:
  """Builds the PRCNN variant registered in `MODELS` as `name` with attribute overrides.

  Raises:
    ValueError: for an unknown name (listing the known ones) or an unknown attribute.
  """
  return registry.build(MODELS, name, "model", **kwargs)
