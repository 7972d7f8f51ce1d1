"""Newell et al.'s stacked hourglass network (the image backbone of Pavlakos et al. 2018).

A Flax Linen port of /work/shared/bench/torch_hourglass_ref.py, layer for layer (same
parameter count for the same settings), NHWC:

  stem:  Conv7x7/2(64) -> BN -> ReLU -> Residual(64->128) -> MaxPool2 -> Residual(128)
         -> Residual(128->F)                                         # (B, H/4, W/4, F)
  stack: Hourglass(depth) -> Residual(F) -> Conv1x1(F) -> BN -> ReLU = f
         o = Conv1x1(out_channels)(f)                                 # (B, H/4, W/4, out)
         x = x + Conv1x1(F)(f) + Conv1x1(F)(o)       (between stacks: `StackMerge`)

`Residual` is the pre-activation bottleneck BN-ReLU-Conv1x1(cout/2)-BN-ReLU-Conv3x3-BN-ReLU-
Conv1x1(cout) plus the input (through a 1x1 conv when cin != cout); `Hourglass(depth)`
adds `up1(x)` to the ×2 nearest-upsampled `low3(low2(low1(maxpool2(x))))`, `low2` being
an `Hourglass(depth - 1)` or, at depth 1, a `Residual`. Every stack's output is returned
for intermediate supervision (Newell et al. 2016, Sec. 3.4).

Usage (same functional pattern as `jaxpose.models.lifting`):

    model = StackedHourglass(out_channels=17 * 64)
    variables = model.init(key, images, train=False)        # {'params', 'batch_stats'}
    outs = model.apply(variables, images, train=False)      # [(B, H/4, W/4, out)] * stacks
    outs, updates = model.apply(variables, images, train=True, mutable=['batch_stats'])

Choices:
- Batch norm as PyTorch's default: momentum 0.1 (Flax 0.9), epsilon 1e-5, statistics in
  float32 whatever `dtype` is. Every BN here is followed by a ReLU, so the two are one
  `BatchNormReLU` module (the variables of `nn.BatchNorm`) with a hand-written backward
  pass; XLA:CPU's autodiff of batch norm was the largest avoidable cost of a train step.
- Conv kernels as PyTorch's default `Conv2d` init (Torch7's, which Newell's code used):
  U(±1/sqrt(fan_in)) (`variance_scaling(1/3, 'fan_in', 'uniform')`); biases start at zero
  (PyTorch draws them from the same uniform). 1×1 convs are dots on the channel axis
  (`Pointwise`: `nn.Dense`'s parameters, faster than convolutions on CPU, with a backward
  pass that keeps XLA:CPU from transposing the 17×64-channel volume gradient); k×k convs
  (`SpatialConv`: `nn.Conv`'s parameters) become one im2col dot on maps of ≤ 4 pixels.
- Max pooling is a reshape + max over each 2×2 block (H, W must be divisible by
  4·2^depth, checked): the same forward values as `nn.max_pool`, and its gradient is an
  elementwise select that XLA fuses, where `nn.max_pool`'s is a select-and-scatter ~8×
  slower on CPU. (A tie in a block shares the gradient between the tied inputs; PyTorch
  gives it to the first. Ties have probability zero here: every pooled tensor is a
  residual sum.)
- Nearest ×2 upsampling is a broadcast + reshape, no gather.
- The merge between stacks is evaluated as one 1×1 conv of f (`StackMerge`: o is affine
  in f), the same function of the same parameters.
- Convolutions and batch norm run in `dtype` (e.g. `jnp.bfloat16` on accelerators) with
  float32 parameters; every output is float32.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks
from jaxpose.models import registry

Array = jax.Array
Dtype = Any

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# PyTorch / Torch7 default conv init: U(-b, b), b = 1 / sqrt(fan_in).
KERNEL_INIT = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


@jax.custom_vjp
def pointwise(x: Array, kernel: Array) -> Array:
  """A 1×1 convolution as a dot over the channel axis: [..., C] x [C, D] -> [..., D].

  Same values and gradients as `x @ kernel`. When the output is wider than the input
  (D > C) the backward pass computes the kernel gradient as `x^T [C, N] @ dy [N, D]`,
  transposing the smaller operand x explicitly: left to itself, XLA:CPU lays the product
  out as `x^T dy^T` and fuses the transposition of dy into its producer, which for the
  volumetric output (dy [B·64·64, 17·64] behind the volume softmax's backward pass) took
  0.3 s of a 2.7 s paper-config step. Otherwise the layout is XLA's choice.
  """
  return jnp.einsum("...c,cd->...d", x, kernel)


def _pointwise_fwd(x, kernel):
  return pointwise(x, kernel), (x, kernel)


def _pointwise_bwd(res, dy):
  x, kernel = res
  x2 = x.reshape(-1, x.shape[-1])  # (N, C)
  dy2 = dy.reshape(-1, dy.shape[-1])  # (N, D)
  if dy2.shape[-1] > x2.shape[-1]:  # transpose the smaller operand, x, explicitly
    dkernel = x2.T @ dy2  # (C, N) @ (N, D)
  else:
    dkernel = jnp.einsum("nc,nd->cd", x2, dy2)
  dkernel = dkernel.astype(kernel.dtype)  # (C, D)
  dx = jnp.einsum("...d,cd->...c", dy, kernel).astype(x.dtype)
  return dx, dkernel


pointwise.defvjp(_pointwise_fwd, _pointwise_bwd)


class Pointwise(nn.Module):
  """A biased 1×1 conv (`pointwise`) with the parameters of `nn.Dense` (kernel [cin, cout],
  bias [cout], float32) and PyTorch's conv init."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """x: [..., cin] -> [..., features] in `dtype`."""
    kernel = self.param("kernel", KERNEL_INIT, (x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    y = pointwise(jnp.asarray(x, self.dtype), kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)


# Maps of at most this many pixels (the 2x2 floor of a depth-4 hourglass on 64x64 crops)
# run a k x k conv as one dot over im2col patches: XLA:CPU's convolution and its gradients
# took 2.6 ms there for batch 8 and 128 channels, the dot form 0.44 ms.
TINY_MAP_PIXELS = 4


class SpatialConv(nn.Module):
  """A biased `kernel`×`kernel`, stride-1 conv with 'same' zero padding: the parameters of
  `nn.Conv` (kernel [k, k, cin, cout], bias [cout], float32) and PyTorch's init.

  Maps of at most `TINY_MAP_PIXELS` pixels are computed as im2col patches [.., k·k·cin]
  times the reshaped kernel (the same sums); larger ones by `lax.conv_general_dilated`.
  """
  features: int
  kernel_size: int = 3
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    """x: [B, H, W, cin] -> [B, H, W, features] in `dtype`."""
    k, (_, h, w, cin) = self.kernel_size, x.shape
    kernel = self.param("kernel", KERNEL_INIT, (k, k, cin, self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    x, kernel = jnp.asarray(x, self.dtype), kernel.astype(self.dtype)
    pad = k // 2
    if h * w <= TINY_MAP_PIXELS:
      xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
      patches = jnp.concatenate([xp[:, i:i + h, j:j + w] for i in range(k) for j in range(k)],
                                axis=-1)  # (B, H, W, k*k*cin), tap-major like the kernel
      y = jnp.einsum("bhwk,kd->bhwd", patches, kernel.reshape(k * k * cin, self.features))
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), ((pad, pad), (pad, pad)),
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + bias.astype(self.dtype)  # (B, H, W, features)


def conv(features: int, kernel: int, *, dtype: Dtype, stride: int = 1,
         name: str | None = None) -> nn.Module:
  """A biased `kernel`×`kernel` conv with PyTorch's 'same' padding (k // 2) and init.

  A 1×1 conv is an `nn.Dense` over the channel axis (kernel [cin, cout]: the same
  function, parameter count and init): XLA:CPU runs its backward pass faster as a dot
  than as a convolution.
  """
  if kernel == 1 and stride == 1:
    return Pointwise(features, dtype=dtype, name=name)
  if stride == 1:
    return SpatialConv(features, kernel, dtype=dtype, name=name)
  pad = kernel // 2
  return nn.Conv(features, (kernel, kernel), strides=(stride, stride),
                 padding=((pad, pad), (pad, pad)), dtype=dtype, param_dtype=jnp.float32,
                 kernel_init=KERNEL_INIT, name=name)


def _wide(x: Array) -> Array:
  """`x` in float32, or wider (float64 stays float64)."""
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _batch_stats(x: Array) -> tuple[Array, Array]:
  """float32 mean and biased variance over all axes but the last: [..., C] -> [C], [C]."""
  xf = _wide(x)
  axes = tuple(range(x.ndim - 1))
  mean = jnp.mean(xf, axis=axes)
  return mean, jnp.maximum(jnp.mean(jnp.square(xf), axis=axes) - jnp.square(mean), 0.0)


@jax.custom_vjp
def bn_relu_train(x: Array, scale: Array, bias: Array) -> tuple[Array, Array, Array]:
  """Train-mode batch norm + ReLU with a hand-written VJP.

  `y = relu((x - mean) / sqrt(var + 1e-5) * scale + bias)` with the batch's mean and
  biased variance over all axes but the last, in float32 (flax's default "fast variance"
  E[x^2] - E[x]^2). The backward pass is the textbook one: two channel reductions and one
  fused elementwise pass, where XLA:CPU's autodiff of the same forward is ~2.5× slower.

  Args:
    x: [..., C] activations (any float dtype; y has the same dtype).
    scale, bias: [C] float32.

  Returns:
    (y [..., C], mean [C], var [C]), all differentiable.
  """
  return _bn_relu_fwd(x, scale, bias)[0]


def _bn_relu_fwd(x, scale, bias):
  mean, var = _batch_stats(x)
  inv = jax.lax.rsqrt(var + BN_EPSILON)  # (C,)
  y = nn.relu((_wide(x) - mean) * (inv * scale) + bias).astype(x.dtype)
  return (y, mean, var), (x, mean, inv, scale, y)


def _bn_relu_bwd(res, cotangents):
  x, mean, inv, scale, y = res
  dy, dmean, dvar = cotangents
  axes = tuple(range(x.ndim - 1))
  n = x.size // x.shape[-1]
  g = jnp.where(y > 0, _wide(dy), 0.0)  # (..., C) gradient before the ReLU
  centred = _wide(x) - mean
  xhat = centred * inv
  dbias = jnp.sum(g, axis=axes)
  dscale = jnp.sum(g * xhat, axis=axes)
  dx = (inv * scale) * (g - dbias / n - xhat * (dscale / n)) + (dmean + 2.0 * dvar * centred) / n
  return dx.astype(x.dtype), dscale, dbias


bn_relu_train.defvjp(_bn_relu_fwd, _bn_relu_bwd)


class BatchNormReLU(nn.Module):
  """`nn.BatchNorm` (PyTorch's defaults) followed by `nn.relu`, fused.

  Same variables as `nn.BatchNorm` (params `scale`, `bias`; batch_stats `mean`, `var`;
  all float32), same float32 statistics with the biased variance, same running update
  `running = momentum * running + (1 - momentum) * batch` (not at init). Train mode uses
  `bn_relu_train`'s hand-written backward pass; eval mode the running statistics.
  """
  momentum: float = BN_MOMENTUM
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    """x: [..., C] -> [..., C] in `dtype`."""
    c = x.shape[-1]
    x = jnp.asarray(x, self.dtype)
    scale = self.param("scale", nn.initializers.ones, (c,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (c,), jnp.float32)
    ra_mean = self.variable("batch_stats", "mean", jnp.zeros, (c,), jnp.float32)
    ra_var = self.variable("batch_stats", "var", jnp.ones, (c,), jnp.float32)
    if not train:
      mul = jax.lax.rsqrt(ra_var.value + BN_EPSILON) * scale  # (C,)
      return nn.relu((x - ra_mean.value) * mul + bias).astype(self.dtype)
    y, mean, var = bn_relu_train(x, scale, bias)
    if not self.is_initializing():
      m = self.momentum
      ra_mean.value = m * ra_mean.value + (1.0 - m) * jax.lax.stop_gradient(mean)
      ra_var.value = m * ra_var.value + (1.0 - m) * jax.lax.stop_gradient(var)
    return y


def max_pool_2x2(x: Array) -> Array:
  """2×2 max pooling with stride 2 as a reshape + max: (B, H, W, C) -> (B, H/2, W/2, C)."""
  b, h, w, c = x.shape
  return jnp.max(x.reshape(b, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def upsample_nearest_2x(x: Array) -> Array:
  """Nearest-neighbour ×2 upsampling as a broadcast: (B, H, W, C) -> (B, 2H, 2W, C)."""
  b, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))  # (B, H, 2, W, 2, C)
  return x.reshape(b, 2 * h, 2 * w, c)


class Residual(nn.Module):
  """Newell's pre-activation bottleneck: (B, H, W, cin) -> (B, H, W, features)."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    mid = self.features // 2
    bn_relu = functools.partial(BatchNormReLU, dtype=self.dtype)
    y = bn_relu(name="bn0")(x, train=train)
    y = conv(mid, 1, dtype=self.dtype, name="conv0")(y)  # (B, H, W, mid)
    y = bn_relu(name="bn1")(y, train=train)
    y = conv(mid, 3, dtype=self.dtype, name="conv1")(y)  # (B, H, W, mid)
    y = bn_relu(name="bn2")(y, train=train)
    y = conv(self.features, 1, dtype=self.dtype, name="conv2")(y)  # (B, H, W, F)
    if x.shape[-1] != self.features:
      x = conv(self.features, 1, dtype=self.dtype, name="skip")(x)  # (B, H, W, F)
    return x + y


class Hourglass(nn.Module):
  """One hourglass of `depth` ×2 downsamplings: (B, H, W, F) -> (B, H, W, F)."""
  depth: int
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: Array, *, train: bool) -> Array:
    res = functools.partial(Residual, self.features, self.dtype)
    up = res(name="up1")(x, train=train)  # (B, H, W, F)
    low = res(name="low1")(max_pool_2x2(x), train=train)  # (B, H/2, W/2, F)
    if self.depth > 1:
      low = Hourglass(self.depth - 1, self.features, self.dtype, name="low2")(low, train=train)
    else:
      low = res(name="low2")(low, train=train)
    low = res(name="low3")(low, train=train)  # (B, H/2, W/2, F)
    return up + upsample_nearest_2x(low)


class StackMerge(nn.Module):
  """The features passed to the next stack: `Conv1x1(F)(f) + Conv1x1(F)(o)`, o = out(f).

  Newell's merge adds two 1x1 convs, of the stack's features f [.., F] and of its output
  o = f W_out + b_out [.., out_channels]. Since o is affine in f, the sum is computed as
  ONE 1x1 conv of f, `f (W_f + W_out W_o) + (b_f + b_out W_o + b_o)`: the same function
  of the same parameters (so the same gradients, up to round-off), without the
  F x out_channels conv of o and its backward pass (~10% of a 2-stack train step with
  the 17 x 64 volume).
  """
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, f: Array, out_params: dict[str, Array]) -> Array:
    """f: [B, H, W, F]; out_params: the output conv's {'kernel' [F, O], 'bias' [O]}."""
    w_out, b_out = out_params["kernel"], out_params["bias"]
    f_kernel = self.param("f_kernel", KERNEL_INIT, (f.shape[-1], self.features), jnp.float32)
    f_bias = self.param("f_bias", nn.initializers.zeros, (self.features,), jnp.float32)
    o_kernel = self.param("o_kernel", KERNEL_INIT, (w_out.shape[-1], self.features),
                          jnp.float32)
    o_bias = self.param("o_bias", nn.initializers.zeros, (self.features,), jnp.float32)
    kernel = f_kernel + w_out @ o_kernel  # (F, F)
    bias = f_bias + b_out @ o_kernel + o_bias  # (F,)
    y = jnp.einsum("bhwc,cd->bhwd", jnp.asarray(f, self.dtype), kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)  # (B, H, W, F)


class StackedHourglass(nn.Module):
  """Newell et al. 2016 stacked hourglass, as `torch_hourglass_ref.StackedHourglass`.

  Parameters (`num_params`, checked against the reference): 7,395,840 with the defaults
  and `out_channels = 17 * 64` (Pavlakos' volumetric net), 3,426,705 with one stack and
  `out_channels = 17`.

  Attributes:
    out_channels: channels of every stack's output (e.g. J heatmaps, or J·D volume logits).
    num_stacks: number of hourglasses (Pavlakos: 1 for coordinate heads, 2 volumetric).
    depth: downsamplings per hourglass (4: 64×64 -> 4×4 at 256×256 input).
    features: hourglass width F.
    dtype: computation dtype (parameters are float32; outputs are float32).
  """
  out_channels: int
  num_stacks: int = 2
  depth: int = 4
  features: int = 256
  dtype: Dtype = jnp.float32

  def _check(self, x: Array) -> None:
    for field in ("out_channels", "num_stacks", "depth", "features"):
      checks.positive(field, getattr(self, field))
    if self.features % 2:
      raise ValueError(f"features: expected an even number, got {self.features}")
    unit = 4 * 2 ** self.depth
    if x.ndim != 4 or x.shape[1] % unit or x.shape[2] % unit or not x.shape[1]:
      raise ValueError(f"x: expected shape [B, H, W, C] with H and W positive multiples of "
                       f"{unit} (4·2^depth), got {tuple(x.shape)}")

  @nn.compact
  def __call__(self, x: Array, *, train: bool,
               return_features: bool = False) -> list[Array] | tuple[list[Array], Array]:
    """Runs the network.

    Args:
      x: [B, H, W, C] images (any channel count, e.g. 3), H and W multiples of 4·2^depth.
      train: batch statistics (and their running update: `mutable=['batch_stats']`).
      return_features: also return the last stack's features f.

    Returns:
      `outs`, a list of `num_stacks` float32 [B, H/4, W/4, out_channels], or
      `(outs, features [B, H/4, W/4, F] float32)` with `return_features`.
    """
    self._check(x)
    dt, nf = self.dtype, self.features
    x = jnp.asarray(x, dt)
    x = conv(64, 7, dtype=dt, stride=2, name="stem_conv")(x)  # (B, H/2, W/2, 64)
    x = BatchNormReLU(dtype=dt, name="stem_bn")(x, train=train)
    x = Residual(128, dt, name="stem_res0")(x, train=train)  # (B, H/2, W/2, 128)
    x = max_pool_2x2(x)  # (B, H/4, W/4, 128)
    x = Residual(128, dt, name="stem_res1")(x, train=train)
    x = Residual(nf, dt, name="stem_res2")(x, train=train)  # (B, H/4, W/4, F)
    outs = []
    for i in range(self.num_stacks):
      f = Hourglass(self.depth, nf, dt, name=f"hourglass_{i}")(x, train=train)
      f = Residual(nf, dt, name=f"feat_res_{i}")(f, train=train)
      f = conv(nf, 1, dtype=dt, name=f"feat_conv_{i}")(f)
      f = BatchNormReLU(dtype=dt, name=f"feat_bn_{i}")(f, train=train)  # (B, H/4, W/4, F)
      out = conv(self.out_channels, 1, dtype=dt, name=f"out_{i}")
      outs.append(out(f).astype(jnp.float32))  # (B, H/4, W/4, out)
      if i < self.num_stacks - 1:
        x = x + StackMerge(nf, dt, name=f"merge_{i}")(f, out.variables["params"])
    if return_features:
      return outs, f.astype(jnp.float32)
    return outs


def residual_params(cin: int, cout: int) -> int:
  """Parameters of `Residual(cin -> cout)`: 3 BN (scale, bias), 3 convs (+ a 1x1 skip)."""
  mid = cout // 2
  n = 2 * cin + (cin * mid + mid) + 2 * mid + (9 * mid * mid + mid) + 2 * mid + (
      mid * cout + cout)
  return n + (cin * cout + cout if cin != cout else 0)


def num_params(*, out_channels: int, num_stacks: int = 2, depth: int = 4,
               features: int = 256, in_channels: int = 3) -> int:
  """Closed-form parameter count of `StackedHourglass` (= the PyTorch reference's)."""
  f = features
  stem = (49 * in_channels * 64 + 64) + 2 * 64 + residual_params(64, 128) + residual_params(
      128, 128) + residual_params(128, f)
  hourglass = (3 * depth + 1) * residual_params(f, f)
  stack = hourglass + residual_params(f, f) + (f * f + f) + 2 * f + (
      f * out_channels + out_channels)
  merge = (f * f + f) + (out_channels * f + f)
  return stem + num_stacks * stack + (num_stacks - 1) * merge


# ------------------------------------------------------------------ variants

# Pavlakos et al. 2018 Sec. 4.2: two hourglasses for the volumetric net, one otherwise.
StackedHourglass2 = functools.partial(StackedHourglass, num_stacks=2)
StackedHourglass1 = functools.partial(StackedHourglass, num_stacks=1)
# A `:quick`-sized variant and a tiny one for tests.
StackedHourglassSmall = functools.partial(StackedHourglass, num_stacks=1, depth=3,
                                          features=128)
StackedHourglassTiny = functools.partial(StackedHourglass, num_stacks=1, depth=2, features=16)

HOURGLASS_MODELS = {
    "hourglass2": StackedHourglass2,
    "hourglass1": StackedHourglass1,
    "hourglass_small": StackedHourglassSmall,
    "hourglass_tiny": StackedHourglassTiny,
}


def get_model(name: str, **kwargs: Any) -> nn.Module:
  """Builds the hourglass registered as `name` with attribute overrides `kwargs`.

  Raises:
    ValueError: for an unknown name (listing the known ones) or an unknown attribute.
  """
  return registry.build(HOURGLASS_MODELS, name, "model", **kwargs)
