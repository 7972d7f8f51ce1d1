"""Lifting MLPs (Martinez, Ronchi, Pavlakos Sec. 3.4, DRPose3D DPNet) and their input normalisation.

All models are Flax Linen modules applied functionally:

    variables = model.init({'params': key}, x, train=False)
    y = model.apply(variables, x, train=False)                         # eval
    y, updates = model.apply(variables, x, train=True,                 # train
                             rngs={'dropout': key}, mutable=['batch_stats'])

`train=True` uses batch statistics, updates the running ones (so `mutable=['batch_stats']`
is required) and needs a `'dropout'` rng. Parameters are float32 (`param_dtype`); the
matmuls and batch norm run in `dtype` (e.g. `jnp.bfloat16` on accelerators, with batch-norm
statistics reduced in float32) and every model returns float32.

Choices shared by all models (papers/README.md, /work/shared/bench/torch_lifting_ref.py):
- Batch norm momentum 0.9 (Flax convention: running = 0.9 running + 0.1 batch), i.e.
  PyTorch `BatchNorm1d`'s default 0.1 used by the torch reference and Ronchi's code;
  epsilon 1e-5 as PyTorch. (Flax keeps the biased batch variance in the running
  statistics where PyTorch keeps the unbiased one; the difference is O(1/B).)
- Dense kernels: He / Kaiming truncated normal, std sqrt(2 / fan_in), as Martinez et al.'s
  public code; biases start at zero (Martinez also draws them from the Kaiming normal).
  A Linear followed by batch norm has no bias (BN's mean subtraction cancels it; its
  shift `beta` plays that role), unlike the papers' code and the torch reference, which
  keep these dead parameters.
- Martinez's optional max-norm weight clipping is not part of the module (an optimiser
  concern).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks
from jaxpose import geometry
from jaxpose.models import registry

Array = jax.Array
Dtype = Any

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


# ------------------------------------------------------------------ input helpers


def standardize(x: Array, axis: int | tuple[int, ...] = -1, *, eps: float = 1e-8) -> Array:
  """Shifts and scales `x` to zero mean and unit (population, ddof=0) std along `axis`.

  Where the std is below `eps` (a constant slice) the slice is only centred, so the result
  and its gradient stay finite.

  Args:
    x: any floating array.
    axis: axis or axes to standardise over.
    eps: std threshold below which the scale is 1.

  Returns:
    Array of `x`'s shape.
  """
  x = jnp.asarray(x)
  mean = jnp.mean(x, axis=axis, keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=axis, keepdims=True)
  safe = jnp.where(var > eps * eps, var, 1.0)
  return (x - mean) / jnp.sqrt(safe)


def normalize_2d(keypoints2d: Array, *, root: int = 0, mask: Array | None = None,
                 eps: float = 1e-8) -> tuple[Array, Array]:
  """Root-centres 2D poses and divides each by its RMS joint distance to the root.

  `x = (p - p_root) / s` with `s = sqrt(mean_{j valid, j != root} |p_j - p_root|^2)`, so
  the output is invariant to translating the 2D pose and to scaling it by any s > 0 (the
  one 2D normalisation of every lifting model here; Pavlakos' released code divides by
  max(|x|, |y|) instead, Ronchi only centres). Masked joints are excluded from `s` and
  set to 0 in `x`. A pose with `s < eps` (all valid joints on the root) gets `s = 1`.

  Args:
    keypoints2d: [..., J, 2] 2D joints (pixels, any unit).
    root: index of the root joint; it must be valid in every pose.
    mask: optional bool [..., J], true where the joint is valid.
    eps: scale threshold.

  Returns:
    (x [..., J, 2], scale [...]) with `keypoints2d ~ x * scale + p_root` on valid joints.
  """
  dims = checks.shapes(keypoints2d=(keypoints2d, "... J 2"), mask=(mask, "... J"))
  if not 0 <= root < dims["J"]:
    raise ValueError(f"root: expected a joint index in [0, {dims['J']}), got {root}")
  p = jnp.asarray(keypoints2d)
  if not jnp.issubdtype(p.dtype, jnp.floating):
    p = p.astype(jnp.float32)
  w = jnp.ones(p.shape[:-1], p.dtype)  # (..., J)
  if mask is not None:
    if checks.is_concrete(mask) and not np.all(np.asarray(mask)[..., root]):
      raise ValueError(f"mask: the root joint {root} must be valid in every pose")
    w = jnp.asarray(mask).astype(p.dtype)
  x = geometry.root_center(p, root=root) * w[..., None]  # (..., J, 2)
  w_other = w.at[..., root].set(0.0)
  ms = jnp.sum(jnp.sum(x * x, axis=-1) * w_other, axis=-1) / jnp.maximum(
      jnp.sum(w_other, axis=-1), 1.0)  # (...)
  scale = jnp.sqrt(jnp.where(ms > eps * eps, ms, 1.0))  # (...)
  return x / scale[..., None, None], scale


def depth_rank_target(depth: Array) -> Array:
  """DRPose3D's coarse-depth target O (Wang et al. 2018, Sec. 3.2): normalised depth ranks.

  Each joint gets its rank in ascending depth (0 = closest to the camera; ties broken by
  joint index, lower index first), and the ranks, a permutation of 0..J-1, are shifted and
  scaled to zero mean and unit population std: `(rank - (J-1)/2) / sqrt((J^2-1)/12)`.

  Args:
    depth: [..., J] camera-frame depths (z, larger = farther).

  Returns:
    [..., J] floating ranks (0 when J = 1), not differentiable in `depth`.
  """
  checks.shapes(depth=(depth, "... J"))
  depth = jnp.asarray(depth)
  num = depth.shape[-1]
  dtype = depth.dtype if jnp.issubdtype(depth.dtype, jnp.floating) else jnp.float32
  order = jnp.argsort(depth, axis=-1, stable=True)  # (..., J) joint indices, closest first
  rank = jnp.argsort(order, axis=-1, stable=True).astype(dtype)  # (..., J)
  if num == 1:
    return jnp.zeros_like(rank)
  return (rank - (num - 1) / 2.0) / np.sqrt((num * num - 1) / 12.0)


def stack_coordinates(x: Array) -> Array:
  """Flattens [B, J, C] coordinate-major: [x(J), y(J), ...] -> [B, C*J] (Pavlakos' input)."""
  checks.shapes(x=(x, "B J C"))
  return jnp.swapaxes(x, -1, -2).reshape(x.shape[0], -1)  # (B, C*J)


def unstack_coordinates(y: Array, num_coords: int) -> Array:
  """Inverse of `stack_coordinates`: [B, C*J] -> [B, J, C]."""
  checks.shapes(y=(y, "B D"))
  if y.shape[1] % num_coords:
    raise ValueError(f"y: expected shape [B, {num_coords}*J], got {tuple(y.shape)}")
  return jnp.swapaxes(y.reshape(y.shape[0], num_coords, -1), -1, -2)  # (B, J, C)


def _flatten(x: Array, name: str) -> Array:
  """[B, ...] -> [B, D] row-major (a [B, J, 2] pose becomes [x0, y0, x1, y1, ...])."""
  if jnp.ndim(x) < 2:
    raise ValueError(f"{name}: expected shape [B, D] or [B, J, C], got {tuple(jnp.shape(x))}")
  return jnp.reshape(x, (x.shape[0], -1))


def _check_config(module: nn.Module) -> None:
  """Validates the hyper-parameters a module has (one-line ValueErrors)."""
  for field in ("width", "num_joints", "out_dim"):
    if hasattr(module, field):
      checks.positive(field, getattr(module, field))
  if hasattr(module, "num_stages") and not module.num_stages >= 0:
    raise ValueError(f"num_stages: expected an integer >= 0, got {module.num_stages!r}")
  if not 0.0 <= module.dropout < 1.0:
    raise ValueError(f"dropout: expected a rate in [0, 1), got {module.dropout!r}")


# ------------------------------------------------------------------ building blocks


def _dense(features: int, dtype: Dtype, name: str, use_bias: bool = True) -> nn.Dense:
  return nn.Dense(features, use_bias=use_bias, dtype=dtype, param_dtype=jnp.float32,
                  kernel_init=KERNEL_INIT, name=name)


def bernoulli_half(key: Array, shape: tuple[int, ...]) -> Array:
  """bool[shape], each entry True with probability 1/2 independently: one random bit each.

  `jax.random.bernoulli` draws a 32-bit word per entry; unpacking the 32 bits of each
  word draws the same distribution from 32x fewer words (on CPU, threefry for the five
  [256, 1024] dropout masks of the 2-stage Martinez MLP took ~10 ms of a 48 ms step).
  """
  n = int(np.prod(shape))
  words = jax.random.bits(key, (-(-n // 32),), jnp.uint32)  # (ceil(n / 32),)
  bits = (words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1  # (words, 32)
  return bits.reshape(-1)[:n].reshape(shape).astype(bool)


class Dropout(nn.Module):
  """Inverted dropout as `nn.Dropout` (keep with probability 1 - rate, scale by
  1 / (1 - rate)), drawing rate-1/2 masks with `bernoulli_half`; rng stream 'dropout'."""
  rate: float
  deterministic: bool = False

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if self.deterministic or self.rate == 0.0:
      return x
    key = self.make_rng("dropout")
    keep_prob = 1.0 - self.rate
    if self.rate == 0.5:
      keep = bernoulli_half(key, x.shape)
    else:
      keep = jax.random.bernoulli(key, keep_prob, x.shape)
    return jnp.where(keep, x / keep_prob, 0.0).astype(x.dtype)


def _linear_bn_relu_dropout(x: Array, *, width: int, dropout: float, use_bn: bool,
                            momentum: float, dtype: Dtype, train: bool, suffix: str) -> Array:
  """Linear -> BN -> ReLU -> Dropout (called inside a compact module, which owns the layers).

  The Linear has no bias when BN follows: BN subtracts the batch mean, which cancels it.
  """
  x = _dense(width, dtype, f"dense_{suffix}", use_bias=not use_bn)(x)  # (B, W)
  if use_bn:
    x = nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=BN_EPSILON,
                     dtype=dtype, param_dtype=jnp.float32, name=f"bn_{suffix}")(x)
  x = nn.relu(x)
  return Dropout(dropout, deterministic=not train)(x)  # (B, W)


class ResidualBlock(nn.Module):
  """Martinez et al. 2017 block: 2 x (Linear -> BN -> ReLU -> Dropout), plus the input.

  Attributes:
    width: feature size (input and output).
    dropout: dropout rate.
    use_bn: batch norm after each Linear.
  """
  width: int
  dropout: float
  use_bn: bool = True
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    """x: [B, width] -> [B, width]."""
    if x.shape[-1] != self.width:
      raise ValueError(f"x: expected shape [B, {self.width}], got {tuple(x.shape)}")
    y = x
    for i in range(2):
      y = _linear_bn_relu_dropout(y, width=self.width, dropout=self.dropout,
                                  use_bn=self.use_bn, momentum=self.bn_momentum,
                                  dtype=self.dtype, train=train, suffix=str(i))  # (B, W)
    return x + y


class MLPTrunk(nn.Module):
  """Linear(width) -> BN -> ReLU -> Dropout -> num_stages x ResidualBlock: [B, D] -> [B, width]."""
  width: int = 1024
  num_stages: int = 2
  dropout: float = 0.5
  use_bn: bool = True
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    _check_config(self)
    y = _linear_bn_relu_dropout(x, width=self.width, dropout=self.dropout, use_bn=self.use_bn,
                                momentum=self.bn_momentum, dtype=self.dtype, train=train,
                                suffix="in")  # (B, W)
    for i in range(self.num_stages):
      y = ResidualBlock(width=self.width, dropout=self.dropout, use_bn=self.use_bn,
                        bn_momentum=self.bn_momentum, dtype=self.dtype,
                        name=f"block_{i}")(y, train=train)  # (B, W)
    return y


def _trunk(module: nn.Module) -> MLPTrunk:
  """The trunk named 'trunk' with `module`'s hyper-parameters (after validating them)."""
  _check_config(module)
  return MLPTrunk(width=module.width, num_stages=module.num_stages, dropout=module.dropout,
                  use_bn=module.use_bn, bn_momentum=module.bn_momentum, dtype=module.dtype,
                  name="trunk")


# ------------------------------------------------------------------ models


class MartinezLifter(nn.Module):
  """The supervised lifting baseline of Martinez et al. 2017 (and the torch benchmark reference).

  Linear(D_in -> width) -> BN -> ReLU -> Dropout -> num_stages x ResidualBlock ->
  Linear(width -> out_dim). With width 1024 and 2 stages on 34 inputs: 4,291,635 params,
  `torch_lifting_ref.Lifter`'s 4,296,755 less the 5 x 1024 biases of its Linears before
  batch norm, which BN cancels.
  """
  width: int = 1024
  num_stages: int = 2
  dropout: float = 0.5
  use_bn: bool = True
  out_dim: int = 51
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    """x: [B, D_in] (or [B, J, C], flattened row-major) -> [B, out_dim] float32."""
    x = _flatten(x, "x")  # (B, D_in)
    h = _trunk(self)(x, train=train)  # (B, W)
    return _dense(self.out_dim, self.dtype, "dense_out")(h).astype(jnp.float32)  # (B, out)


class RonchiLifter(nn.Module):
  """Ronchi et al. 2018 lifter: the Martinez trunk, a 3D head and a sigmoid scale head.

  pose = reshape(Linear(3J)(h) * m) with `m` a learnable per-coordinate multiplier [3J]
  initialised to `scale_init` (Ronchi's public code: it brings the unit-scale network
  output to the size of the root-centred pixel 2D that `s * (x, y)` is compared with);
  scale `s = sigmoid(Linear(1)(h))`, the extra FC on the penultimate features `h`
  (supplementary Sec. 7.1). One residual stage by default, as the paper.
  """
  width: int = 1024
  num_stages: int = 1
  dropout: float = 0.5
  num_joints: int = 17
  scale_init: float = 100.0
  use_bn: bool = True
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> tuple[Array, Array]:
    """x: [B, 2J] (or [B, J, 2]) -> (pose [B, J, 3], scale [B] in (0, 1)), float32."""
    x = _flatten(x, "x")  # (B, D_in)
    num = self.num_joints
    h = _trunk(self)(x, train=train)  # (B, W)
    out = _dense(3 * num, self.dtype, "dense_out")(h).astype(jnp.float32)  # (B, 3J)
    mult = self.param("output_multiplier", nn.initializers.constant(self.scale_init),
                      (3 * num,), jnp.float32)  # (3J,)
    pose = (out * mult).reshape(x.shape[0], num, 3)  # (B, J, 3)
    logit = _dense(1, self.dtype, "dense_scale")(h).astype(jnp.float32)  # (B, 1)
    return pose, jax.nn.sigmoid(logit[:, 0])


class ReconstructionMLP(nn.Module):
  """Pavlakos et al. 2018 Sec. 3.4 reconstruction component: (x, y, ordinal depth) -> 3D pose.

  A Martinez MLP with two "bilinear units" (= residual blocks). The input [B, J, 3] is fed
  as [x(J), y(J), z(J)] (`stack_coordinates`, the layout of Pavlakos' released code) and
  the output is read back in the same layout. Trained with the L2 loss of eq. 6 on MoCap.
  """
  width: int = 1024
  num_stages: int = 2
  dropout: float = 0.5
  num_joints: int = 17
  use_bn: bool = True
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    """x: [B, J, 3] normalised (x, y) and ordinal depth -> [B, J, 3] float32."""
    checks.shapes(x=(x, f"B {self.num_joints} 3"))
    h = _trunk(self)(stack_coordinates(x), train=train)  # (B, W)
    out = _dense(3 * self.num_joints, self.dtype, "dense_out")(h)  # (B, 3J)
    return unstack_coordinates(out.astype(jnp.float32), 3)  # (B, J, 3)


class DPNet(nn.Module):
  """DRPose3D's DPNet (Wang et al. 2018, Sec. 3.2): DepthNet + two-stage cascaded PoseNet.

  - DepthNet: flattened ranking matrix [J*J] -> Martinez MLP -> coarse depth O [J]
    (target: `depth_rank_target`).
  - PoseNet stage 1: [O, S2D] -> Martinez MLP -> S3D [3J].
  - PoseNet stage 2: [O, S2D, S3D_1] -> Martinez MLP -> residual [3J]; S3D_2 = S3D_1 + res.
  Each MLP has `num_stages` (paper: two) residual blocks. All three outputs are supervised
  by the summed MSE of eq. 6, so the whole net is trained end to end: coarse depth and
  stage-1 pose feed the later parts without `stop_gradient`.

  `use_ranking=False` drops DepthNet and feeds O = 0: the same PoseNet with 2D only (the
  paper's "2D pose only" comparison at equal PoseNet size; `ranking` is then ignored).
  """
  width: int = 1024
  dropout: float = 0.5
  num_joints: int = 17
  num_stages: int = 2
  use_ranking: bool = True
  bn_momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  def _mlp(self, out_dim: int, name: str) -> MartinezLifter:
    return MartinezLifter(width=self.width, num_stages=self.num_stages, dropout=self.dropout,
                          out_dim=out_dim, bn_momentum=self.bn_momentum, dtype=self.dtype,
                          name=name)

  @nn.compact
  def __call__(self, ranking: Array, keypoints2d: Array, *, train: bool) -> dict[str, Array]:
    """Predicts coarse depth and the two cascaded poses.

    Args:
      ranking: [B, J, J] ranking matrix P (P_ij ~ probability that joint i is behind j,
        DESIGN.md), e.g. PRCNN's sigmoid output.
      keypoints2d: [B, J, 2] normalised 2D pose (`normalize_2d`).
      train: training mode (batch statistics, dropout).

    Returns:
      dict(coarse_depth [B, J], pose1 [B, J, 3], pose2 [B, J, 3]), float32.
    """
    num = self.num_joints
    checks.shapes(ranking=(ranking, f"B {num} {num}"), keypoints2d=(keypoints2d, f"B {num} 2"))
    _check_config(self)
    batch = ranking.shape[0]
    if self.use_ranking:
      depth = self._mlp(num, "depth_net")(_flatten(ranking, "ranking"), train=train)  # (B, J)
    else:
      depth = jnp.zeros((batch, num), jnp.float32)  # (B, J)
    kp = _flatten(keypoints2d, "keypoints2d").astype(jnp.float32)  # (B, 2J)
    pose1 = self._mlp(3 * num, "pose_stage1")(
        jnp.concatenate([depth, kp], axis=-1), train=train)  # (B, 3J)
    residual = self._mlp(3 * num, "pose_stage2")(
        jnp.concatenate([depth, kp, pose1], axis=-1), train=train)  # (B, 3J)
    return {"coarse_depth": depth, "pose1": pose1.reshape(batch, num, 3),
            "pose2": (pose1 + residual).reshape(batch, num, 3)}


# ------------------------------------------------------------------ variants and registry

MartinezLifterTiny = functools.partial(MartinezLifter, width=32, num_stages=1)
RonchiLifterTiny = functools.partial(RonchiLifter, width=32)
ReconstructionMLPTiny = functools.partial(ReconstructionMLP, width=32, num_stages=1)
DPNetTiny = functools.partial(DPNet, width=32, num_stages=1)

LIFTING_MODELS = {
    "martinez": MartinezLifter,
    "martinez_tiny": MartinezLifterTiny,
    "ronchi": RonchiLifter,
    "ronchi_tiny": RonchiLifterTiny,
    "reconstruction": ReconstructionMLP,
    "reconstruction_tiny": ReconstructionMLPTiny,
    "dpnet": DPNet,
    "dpnet_tiny": DPNetTiny,
}


def get_model(name: str, **kwargs: Any) -> nn.Module:
  """Builds the lifting model registered as `name` with attribute overrides `kwargs`.

  Raises:
    ValueError: for an unknown name (listing the known ones) or an unknown attribute.
  """
  return registry.build(LIFTING_MODELS, name, "model", **kwargs)
