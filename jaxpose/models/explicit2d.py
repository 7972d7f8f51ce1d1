"""Habibie et al. CVPR'19 network: explicit 2D heatmaps in F3D, FC lifting f3D, camera net fc.

In the Wild Human Pose Estimation using Explicit 2D Features and Intermediate 3D
Representations (papers/habibie2019_explicit_2d_features.txt):

- f_RGB (Sec. 3.3): ResNet-50 up to res4f (stride 16), then res5a "trained from scratch
  without striding while also reducing its number of output channels to 1024".
- F3D = [h2D, d] (Sec. 3): a conv map of 64 channels (16 x 16 for a 256 x 256 crop,
  heatmap down-sampling s = 16, supplement eq. 1) whose first K channels are the 2D joint
  heatmaps, supervised with `losses.heatmap_l2` (weight 0.1); the rest are free. The
  paper gives no kernel size: a linear 1x1 conv on res5a here.
- Intermediate supervision (Sec. 3.3) on "the first 14 channels of the res4d and res5a
  feature maps": returned as `intermediate_heatmaps`.
- z = ReLU(FC(flatten(F3D))) in R^1024 ("a simple fully connected layer"; the ReLU is
  ours, like every hidden layer of the paper's MLPs).
- f3D (Sec. 3): "four fully connected layers with the width of 1024 and ReLU
  activations", "a residual connection ... to connect z with the output of the second
  layer of f3D"; all four are 1024 wide, so a linear Dense(3J) follows them.
- fc (Sec. 3.2, eq. 2): an MLP on z -> c = (c_x, c_y, alpha_x, alpha_y) of the weak
  perspective camera `p2D = alpha * p3D(x, y) + c` (`losses.weak_perspective_loss`).
  No batch norm or dropout in f3D and fc (the paper names none). Initialisation (not in
  the paper): He for ReLU layers, LeCun for the linear F3D conv and pose output (so
  heatmaps and poses start O(1)), zeros for the camera output (see `CameraNet`).

Losses: `jaxpose.losses.heatmap_l2`, `joint_l2`, `bone_vector_loss`, `bone_length_loss`,
`weak_perspective_loss` with the supplement's weights.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks
from jaxpose.models import registry, resnet

Array = jax.Array
Dtype = Any

DENSE_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")  # He: ReLU
LINEAR_INIT = nn.initializers.lecun_normal()  # linear outputs (F3D, pose): unit gain
ALPHA_FLOOR = 1e-4  # alpha >= alpha_init * ALPHA_FLOOR / (ln 2 + ALPHA_FLOOR) > 0


def _dense(features: int, dtype: Dtype, name: str, kernel_init: Any = DENSE_INIT) -> nn.Dense:
  return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, kernel_init=kernel_init,
                  name=name)


class Extractor(nn.Module):
  """f_RGB up to res5a: [B, H, W, 3] -> (res5a [B, H/16, W/16, res5a_features], res4 aux).

  Attributes:
    stage_sizes: bottleneck blocks per ResNet-50 stage kept ((3, 4, 6): up to res4f).
    num_filters: ResNet stem width (64).
    res5a_features: output channels of the unstrided res5a (paper: 1024; its inner
      width stays ResNet-50's 512; input and output both 1024, so its shortcut is the
      identity, the standard ResNet rule).
    aux_block: 0-based block of the last kept stage whose output gets intermediate
      supervision (3 = res4d).
  """
  stage_sizes: Sequence[int] = (3, 4, 6)
  num_filters: int = 64
  res5a_features: int = 1024
  aux_block: int = 3
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, image: Array, *, train: bool) -> tuple[Array, Array]:
    if not 0 <= self.aux_block < self.stage_sizes[-1]:
      raise ValueError(f"aux_block: expected a block index in [0, {self.stage_sizes[-1]}), "
                       f"got {self.aux_block!r}")
    stages = resnet.ResNet(stage_sizes=self.stage_sizes, block_cls=resnet.Bottleneck,
                           num_filters=self.num_filters, in_channels=3, dtype=self.dtype,
                           name="backbone")(image, train=train, return_blocks=True)
    aux = stages[-1][self.aux_block]  # (B, H/16, W/16, 1024) res4d
    width = self.num_filters * 2 ** len(self.stage_sizes)  # 512: ResNet-50's res5 width
    x = resnet.Bottleneck(filters=width, strides=1, out_features=self.res5a_features,
                          dtype=self.dtype, name="res5a")(stages[-1][-1], train=train)
    return x, aux  # (B, H/16, W/16, res5a_features)


class CameraNet(nn.Module):
  """fc (Sec. 3.2): MLP z [B, D] -> (c_x, c_y, alpha_x, alpha_y) [B, 4] float32.

  Activations (the paper gives none): ReLU hidden layers; the centre is linear,
  `c = center_init + center_scale * o_c`; the scale is
  `alpha = alpha_init * (softplus(o_a) + 1e-4) / (ln 2 + 1e-4)`, positive for every
  input (also where softplus underflows) with a non-zero gradient. The output layer
  starts at zero weights, so training starts from c = center_init, alpha = alpha_init:
  set them to the 2D keypoints' unit (e.g. crop pixels: centre ~ (W/2, H/2), alpha ~
  pixels per metre of a person at the crop's scale).
  """
  width: int = 1024
  num_layers: int = 2
  center_init: tuple[float, float] = (0.0, 0.0)
  center_scale: float = 1.0
  alpha_init: float = 1.0
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    checks.positive("alpha_init", self.alpha_init)
    checks.positive("center_scale", self.center_scale)
    h = z
    for i in range(self.num_layers):
      h = nn.relu(_dense(self.width, self.dtype, f"dense_{i}")(h))  # (B, W)
    o = _dense(4, self.dtype, "dense_out", nn.initializers.zeros)(h).astype(jnp.float32)
    center = jnp.asarray(self.center_init, jnp.float32) + self.center_scale * o[:, :2]
    alpha = self.alpha_init * (jax.nn.softplus(o[:, 2:]) + ALPHA_FLOOR) / (
        math.log(2.0) + ALPHA_FLOOR)
    return jnp.concatenate([center, alpha], axis=-1)  # (B, 4)


class LiftingFC(nn.Module):
  """f3D (Sec. 3): 4 x (Dense(width) -> ReLU), z added to the 2nd layer's output, Dense(3J).

  z must have `width` features (the paper: z in R^1024, width 1024).
  """
  num_joints: int = 17
  width: int = 1024
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, z: Array) -> Array:
    """z: [B, width] -> root-relative pose [B, J, 3] float32."""
    checks.shapes(z=(z, f"B {self.width}"))
    h = z
    for i in range(4):
      h = nn.relu(_dense(self.width, self.dtype, f"dense_{i}")(h))  # (B, W)
      if i == 1:
        h = h + z  # residual connection z -> output of the second layer
    out = _dense(3 * self.num_joints, self.dtype, "dense_out", LINEAR_INIT)(h)  # (B, 3J)
    return out.astype(jnp.float32).reshape(z.shape[0], self.num_joints, 3)


class Explicit2D(nn.Module):
  """Habibie et al. 2019: image [B, H, W, 3] -> heatmaps, 3D pose, weak-perspective camera.

  Attributes:
    num_joints: K heatmap channels and 3D joints (paper: 14 heatmaps / 21 3D joints with
      one joint set; here one set of J joints for both).
    feature_channels: channels of F3D (paper: 64 = K heatmaps + d).
    width: size of z and of f3D's layers (1024).
    stage_sizes, num_filters, res5a_features, aux_block: the extractor (`Extractor`).
    camera_width, camera_layers, camera_center_init, camera_center_scale,
      camera_alpha_init: the camera net (`CameraNet`).
    dtype: compute dtype; outputs are float32.
  """
  num_joints: int = 17
  feature_channels: int = 64
  width: int = 1024
  stage_sizes: Sequence[int] = (3, 4, 6)
  num_filters: int = 64
  res5a_features: int = 1024
  aux_block: int = 3
  camera_width: int = 1024
  camera_layers: int = 2
  camera_center_init: tuple[float, float] = (0.0, 0.0)
  camera_center_scale: float = 1.0
  camera_alpha_init: float = 1.0
  dtype: Dtype = jnp.float32

  def _check(self, image: Array) -> None:
    for field in ("num_joints", "feature_channels", "width", "res5a_features"):
      checks.positive(field, getattr(self, field))
    if self.feature_channels < self.num_joints:
      raise ValueError(f"feature_channels: expected >= num_joints={self.num_joints} (F3D "
                       f"holds the heatmaps first), got {self.feature_channels}")
    res4_channels = resnet.Bottleneck.expansion * self.num_filters * 2 ** (
        len(self.stage_sizes) - 1)
    if min(self.res5a_features, res4_channels) < self.num_joints:
      raise ValueError(f"res5a_features/num_filters: res5a ({self.res5a_features}) and res4 "
                       f"({res4_channels}) need >= num_joints={self.num_joints} channels "
                       "(intermediate heatmaps)")
    checks.shapes(image=(image, "B H W 3"))

  @nn.compact
  def __call__(self, image: Array, *, train: bool) -> dict[str, Array]:
    """Runs the whole network.

    Args:
      image: [B, H, W, 3] normalised crop (paper: 256 x 256 -> 16 x 16 heatmaps); H, W
        are fixed at `init`, as dense_z reads the h * w * feature_channels of F3D.
      train: use and update batch statistics (`mutable=['batch_stats']`).

    Returns:
      dict, all float32, with h = ceil(H / 16), w = ceil(W / 16):
        heatmaps [B, h, w, J]: h2D, the first J channels of F3D;
        intermediate_heatmaps [2, B, h, w, J]: first J channels of res4d and res5a;
        pose3d [B, J, 3]: root-relative 3D pose (unit of the 3D targets);
        camera [B, 4]: (c_x, c_y, alpha_x, alpha_y), alpha > 0.
    """
    self._check(image)
    num = self.num_joints
    x, aux = Extractor(stage_sizes=self.stage_sizes, num_filters=self.num_filters,
                       res5a_features=self.res5a_features, aux_block=self.aux_block,
                       dtype=self.dtype, name="extractor")(image, train=train)
    f3d = nn.Conv(self.feature_channels, (1, 1), dtype=self.dtype, param_dtype=jnp.float32,
                  kernel_init=LINEAR_INIT, name="f3d_conv")(x)  # (B, h, w, C) = [h2D, d]
    z = nn.relu(_dense(self.width, self.dtype, "dense_z")(
        f3d.reshape(f3d.shape[0], -1)))  # (B, 1024)
    pose = LiftingFC(num_joints=num, width=self.width, dtype=self.dtype, name="f3d")(z)
    camera = CameraNet(width=self.camera_width, num_layers=self.camera_layers,
                       center_init=self.camera_center_init,
                       center_scale=self.camera_center_scale,
                       alpha_init=self.camera_alpha_init, dtype=self.dtype,
                       name="camera")(z)
    inter = jnp.stack([aux[..., :num], x[..., :num]]).astype(jnp.float32)  # (2, B, h, w, J)
    return {"heatmaps": f3d[..., :num].astype(jnp.float32), "intermediate_heatmaps": inter,
            "pose3d": pose, "camera": camera}


Explicit2DTiny = functools.partial(
    Explicit2D, feature_channels=24, width=32, stage_sizes=(1, 1, 2), num_filters=4,
    res5a_features=24, aux_block=1, camera_width=16, camera_layers=1)

MODELS = {
    "explicit2d": Explicit2D,
    "explicit2d_tiny": Explicit2DTiny,
}


def get_model(name: str, /, **kwargs: Any) -> Explicit2D:
  """Builds the model registered in `MODELS` as `name` with attribute overrides.

  Raises:
    ValueError: for an unknown name (listing the known ones) or an unknown attribute.
  """
  return registry.build(MODELS, name, "model", **kwargs)
