r"""Pavlakos et al. CVPR'18 Sec. 3.3: volumetric hourglass, `L = L_rank + 100 L_heat` (headline).

Embedded default (rendered images of real MoCap, held-out subjects; built on first use),
the paper's settings (two hourglasses, 256x256 input, 64 depth bins, RMSprop 2.5e-4,
batch 4, rotation / scale / flip augmentation):

  python launch/train.py --config=configs/ordinal_volumetric.py --workdir=/tmp/ordinal_volumetric

The headline command: a small network on 64x64 crops, sized for 2 CPU cores (builds the
dataset, trains, evaluates; within 15 minutes):

  python launch/train.py --config=configs/ordinal_volumetric.py:quick --workdir=/tmp/ov_quick

Variants: `quick`; `full` (Table 1's fully supervised baseline: metric depth with an L2
on root-relative depth instead of the ranking loss). `image_config` is shared with
`configs/ordinal_depth.py` and `configs/ordinal_coordinates.py`.
"""

import dataclasses
import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top
from jaxpose.data import augment  # noqa: E402  pylint: disable=g-import-not-at-top


def image_config(method: str, *, full: bool, num_stacks: int) -> ml_collections.ConfigDict:
  """The paper configuration of one Pavlakos image method (Sec. 4.2)."""
  config = common.base_config()
  config.method = method  # jaxpose.methods: ordinal_depth / _coordinates / _volumetric
  # 'ordinal': depth trained by the ranking loss (eq. 1-2) alone; 'full': metric depth,
  # L2 on root-relative depth where an example has 3D (Table 1's comparison).
  config.supervision = "full" if full else "ordinal"
  config.model = ml_collections.ConfigDict(dict(
      name=f"hourglass{num_stacks}",  # jaxpose.models.hourglass.get_model name
      num_stacks=num_stacks,  # Sec. 4.2: 2 hourglasses (volumetric), else 1
      depth=4,  # downsamplings per hourglass (64x64 -> 4x4 at 256x256 input)
      features=256,  # hourglass width
      dtype="float32",  # compute dtype ('bfloat16' on accelerators)
  ))
  config.head = ml_collections.ConfigDict(dict(
      depth_bins=64,  # volumetric: depth bins D (the 64x64x64 volume)
      depth_range_m=1.0,  # volumetric 'full': the bins span +-this many metres
      heatmap_sigma=1.0,  # volumetric: std of the 2D Gaussian targets, heatmap cells
      pooling="avg",  # depth / coordinate heads: 'avg' or 'flatten' before the FC layer
      # evaluate the head's own [x, y, z] without the reconstruction MLP (Sec. 3.4's
      # ablation; methods.image.direct_pose) - an evaluation switch, nothing to train
      skip_reconstruction=False,
  ))
  # Sec. 3.4 reconstruction MLP (jaxpose.models.lifting.ReconstructionMLP), trained in the
  # same step on the examples with 3D (jaxpose/methods/image.py).
  config.reconstruction = ml_collections.ConfigDict(dict(
      name="reconstruction",  # jaxpose.models.lifting.get_model name
      width=1024,  # hidden units
      num_stages=2,  # "two bilinear units"
      dropout=0.5,  # dropout rate
      dtype="float32",  # compute dtype
  ))
  config.loss = ml_collections.ConfigDict(dict(
      keyp_weight=100.0,  # lambda of L_keyp (Sec. 3.2)
      heat_weight=100.0,  # lambda of L_heat (Sec. 3.3)
      depth_weight=100.0,  # 'full': weight of the metric depth L2 (metres^2)
      recon_weight=1.0,  # reconstruction L2 (eq. 6, metres^2); reaches the MLP only
  ))
  config.data.source = "mocap_images"  # rendered crops of the embedded MoCap
  config.data.augment = dataclasses.asdict(augment.AugmentConfig(
      output_size=256,  # network input side, pixels
      rotation_deg=30.0,  # Sec. 4.2: rotation +-30 degrees
      scale=(0.75, 1.25),  # Sec. 4.2: scale 0.75-1.25
      flip_prob=0.5,  # Sec. 4.2: left-right flipping
      color_jitter=0.2))  # brightness / contrast / saturation +-20 %
  config.data.num_threads = 2  # threads decoding and augmenting images
  config.batch_size = 4  # Sec. 4.2
  config.eval_batch_size = 32
  config.num_steps = 300_000  # Sec. 4.2: 300k iterations (Human3.6M only)
  config.eval_every = 10_000
  config.checkpoint_every = 2_000
  config.best_metric = "mpjpe"  # Table 1 reports MPJPE
  config.optimizer.update(name="rmsprop", learning_rate=2.5e-4, decay_steps=0,
                          decay_rate=1.0, clip_norm=0.0)  # Sec. 4.2
  return config


def quick_image(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks an image config for 2 CPU cores: 64x64 crops, one narrow hourglass."""
  common.quick(config)
  config.model.update(name="hourglass_small", num_stacks=1, depth=2, features=64)
  config.data.augment.output_size = 64
  config.reconstruction.update(width=256, num_stages=1, dropout=0.25)
  config.batch_size = 8
  config.eval_batch_size = 256
  config.num_eval_batches = 4  # 1024 held-out crops
  config.optimizer.update(name="adam", learning_rate=1e-3)
  return config


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, full."""
  arg = common.parse_arg(arg, quick=False, full=False)
  config = image_config("ordinal_volumetric", full=arg.full, num_stacks=2)
  if arg.quick:
    quick_image(config)
    config.head.depth_bins = 16
    config.num_steps = 1_200
    config.eval_every = 1_200
    config.checkpoint_every = 400
    config.log_every = 100
  return config
