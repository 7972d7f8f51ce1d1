"""ResNet-18/34/50 backbones (He et al. 2016) returning per-stage features, and their registry.

The image backbones of DRPose3D's PRCNN (ResNet-34 on image + heatmaps) and Habibie et
al.'s 2D/3D feature extractor (ResNet-50 truncated after res4f). NHWC, applied as

    variables = model.init({'params': key}, x, train=False)
    stages = model.apply(variables, x, train=False)                  # list, one per stage
    stages, updates = model.apply(variables, x, train=True, mutable=['batch_stats'])

Layout follows torchvision's `resnet18/34/50` without the classifier ("ResNet v1.5": a
bottleneck block strides in its 3x3 conv, not its first 1x1; same parameter count as He
et al.'s v1), so the parameter counts match torchvision exactly: 11,176,512 / 21,284,672 /
23,508,032 for 3 input channels. Also as torchvision: bias-free convs with Kaiming-normal
(fan_out) kernels, explicit torch-style padding (so spatial sizes match PyTorch), batch
norm momentum 0.9 in Flax convention (PyTorch 0.1) and epsilon 1e-5, a 1x1 projection
shortcut (conv + BN) only where a block changes shape. Parameters are float32; convs and
batch norm compute in `dtype`.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks
from jaxpose.models import registry

Array = jax.Array
Dtype = Any

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
CONV_INIT = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def conv(features: int, kernel: int, strides: int, dtype: Dtype, name: str) -> nn.Conv:
  """Bias-free square conv with PyTorch padding `kernel // 2` on each side (NHWC)."""
  pad = kernel // 2
  return nn.Conv(features, (kernel, kernel), strides=(strides, strides),
                 padding=((pad, pad), (pad, pad)), use_bias=False, dtype=dtype,
                 param_dtype=jnp.float32, kernel_init=CONV_INIT, name=name)


def batch_norm(train: bool, dtype: Dtype, name: str) -> nn.BatchNorm:
  """Batch norm in the torchvision configuration; running statistics unless training."""
  return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                      epsilon=BN_EPSILON, dtype=dtype, param_dtype=jnp.float32, name=name)


def _shortcut(x: Array, y: Array, strides: int, dtype: Dtype, train: bool) -> Array:
  """Identity, or 1x1 conv + BN projection of `x` when the block changes the shape."""
  if x.shape == y.shape:
    return x
  x = conv(y.shape[-1], 1, strides, dtype, "conv_proj")(x)
  return batch_norm(train, dtype, "bn_proj")(x)


class BasicBlock(nn.Module):
  """Two 3x3 convs (ResNet-18/34): [B, H, W, C] -> [B, H/s, W/s, filters]."""
  filters: int
  strides: int = 1
  dtype: Dtype = jnp.float32
  expansion: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    y = conv(self.filters, 3, self.strides, self.dtype, "conv_0")(x)  # (B, H', W', F)
    y = nn.relu(batch_norm(train, self.dtype, "bn_0")(y))
    y = conv(self.filters, 3, 1, self.dtype, "conv_1")(y)  # (B, H', W', F)
    y = batch_norm(train, self.dtype, "bn_1")(y)
    return nn.relu(y + _shortcut(x, y, self.strides, self.dtype, train))


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (strided) -> 1x1 convs (ResNet-50): [B, H, W, C] -> [B, H/s, W/s, out].

  Attributes:
    filters: width of the inner 1x1 and 3x3 convs.
    strides: stride of the 3x3 conv.
    out_features: output channels; default `4 * filters` (He et al.); Habibie et al.'s
      res5a uses 1024 instead of 2048.
  """
  filters: int
  strides: int = 1
  out_features: int | None = None
  dtype: Dtype = jnp.float32
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    out = self.out_features or self.expansion * self.filters
    y = conv(self.filters, 1, 1, self.dtype, "conv_0")(x)  # (B, H, W, F)
    y = nn.relu(batch_norm(train, self.dtype, "bn_0")(y))
    y = conv(self.filters, 3, self.strides, self.dtype, "conv_1")(y)  # (B, H', W', F)
    y = nn.relu(batch_norm(train, self.dtype, "bn_1")(y))
    y = conv(out, 1, 1, self.dtype, "conv_2")(y)  # (B, H', W', out)
    y = batch_norm(train, self.dtype, "bn_2")(y)
    return nn.relu(y + _shortcut(x, y, self.strides, self.dtype, train))


class ResNet(nn.Module):
  """ResNet trunk without the classifier; returns every stage's feature map.

  Stem: conv 7x7/2 -> BN -> ReLU -> max-pool 3x3/2 (stride 4); stage i (0-based) has
  `stage_sizes[i]` blocks of width `num_filters * 2**i`, the first block of every stage
  but the first striding by 2. Truncate by passing fewer stages (e.g. ResNet-50 up to
  res4f: `stage_sizes=(3, 4, 6)`).

  Attributes:
    stage_sizes: blocks per stage ((2, 2, 2, 2) ResNet-18, (3, 4, 6, 3) ResNet-34/50).
    block_cls: `BasicBlock` or `Bottleneck`.
    num_filters: width of the stem and the first stage.
    in_channels: expected input channels (3 for RGB; PRCNN: 3 + J heatmaps); None
      accepts any (the first conv adapts at `init`).
    dtype: compute dtype.
  """
  stage_sizes: Sequence[int]
  block_cls: type[nn.Module]
  num_filters: int = 64
  in_channels: int | None = None
  dtype: Dtype = jnp.float32

  @property
  def out_channels(self) -> int:
    """Channels of the last stage's output."""
    return self.num_filters * 2 ** (len(self.stage_sizes) - 1) * self.block_cls.expansion

  def _check(self, x: Array) -> None:
    checks.positive("num_filters", self.num_filters)
    if not self.stage_sizes or min(self.stage_sizes) < 1:
      raise ValueError(f"stage_sizes: expected positive block counts, got {self.stage_sizes}")
    channels = "C" if self.in_channels is None else str(self.in_channels)
    checks.shapes(x=(x, f"B H W {channels}"))

  @nn.compact
  def __call__(self, x: Array, *, train: bool,
               return_blocks: bool = False) -> list[Array] | list[list[Array]]:
    """Runs the trunk.

    Args:
      x: [B, H, W, C] input (any float dtype; cast to `dtype`).
      train: use and update batch statistics (`mutable=['batch_stats']`).
      return_blocks: also return every block's output.

    Returns:
      One [B, H / 2**(i + 2), W / 2**(i + 2), C_i] array per stage i (rounded up as in
      PyTorch), or with `return_blocks` one list of block outputs per stage.
    """
    self._check(x)
    x = jnp.asarray(x).astype(self.dtype)
    x = conv(self.num_filters, 7, 2, self.dtype, "conv_init")(x)  # (B, H/2, W/2, F)
    x = nn.relu(batch_norm(train, self.dtype, "bn_init")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))  # (B, H/4, W/4, F)
    stages = []
    for i, size in enumerate(self.stage_sizes):
      blocks = []
      for j in range(size):
        strides = 2 if i > 0 and j == 0 else 1
        x = self.block_cls(filters=self.num_filters * 2 ** i, strides=strides,
                           dtype=self.dtype, name=f"stage{i + 1}_block{j}")(x, train=train)
        blocks.append(x)  # (B, H_i, W_i, C_i)
      stages.append(blocks if return_blocks else x)
    return stages


ResNet18 = functools.partial(ResNet, stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock)
ResNet34 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=BasicBlock)
ResNet50 = functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block_cls=Bottleneck)
ResNetTiny = functools.partial(ResNet, stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock,
                               num_filters=4)

BACKBONES = {
    "resnet18": ResNet18,
    "resnet34": ResNet34,
    "resnet50": ResNet50,
    "resnet_tiny": ResNetTiny,
}


def get_backbone(name: str, /, **kwargs: Any) -> ResNet:
  """Builds the backbone registered in `BACKBONES` as `name` (e.g. 'resnet34')."""
  return registry.build(BACKBONES, name, "backbone", **kwargs)
