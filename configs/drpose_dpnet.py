r"""DRPose3D (Wang et al. IJCAI'18) DPNet: ranking matrix + 2D -> 3D (DepthNet + PoseNet).

Loss eq. 6 (L_O + L_S3D + L'_S3D), Adam, batch 64; trained with DRPose3D's augmentation:
a fresh virtual camera per draw (Sec. 3.3, eq. 7), 2D noise and per-entry ranking flips.
Embedded default, held-out subjects:

  python launch/train.py --config=configs/drpose_dpnet.py --workdir=/tmp/dpnet

Variants: `quick`; `ranking=none` (the same network fed no ranking: the 2D-only baseline
of equal size); `flip=P` (ranking entries flipped with probability P in training AND at
test, as a PRCNN of accuracy 1-P would give them; DRPose3D: 91 % -> 0.09);
`noise2d=PX` (training 2D noise, pixels).
"""

import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, ranking=relations|none, flip=P, noise2d=PX."""
  arg = common.parse_arg(arg, quick=False, ranking="relations", flip=0.0, noise2d=0.0)
  config = common.base_config()
  config.method = "drpose_dpnet"
  config.model = ml_collections.ConfigDict(dict(
      name="dpnet",  # jaxpose.models.lifting.DPNet
      width=1024,  # hidden units of DepthNet and both PoseNet stages
      num_stages=2,  # residual blocks per sub-network (paper: two)
      dropout=0.5,  # dropout rate
      dtype="float32",  # compute dtype
  ))
  config.dpnet = ml_collections.ConfigDict(dict(
      ranking=arg.ranking,  # 'relations': ranking matrix from the batch; 'none': all 0.5
  ))
  config.data.source = "mocap_resample"
  config.data.tie_tol = 0.1  # epsilon of eq. 1 (metres)
  config.data.augment.rank_flip_prob = arg.flip  # training flips (Sec. 3.3)
  config.data.augment.noise_2d_px = arg.noise2d  # training 2D noise
  config.data.eval_rank_flip_prob = arg.flip  # the same PRCNN error rate at test
  config.batch_size = 64
  config.num_steps = 100_000
  config.optimizer.update(name="adam", learning_rate=1e-3, decay_steps=100_000,
                          decay_rate=0.96, clip_norm=1.0)
  if arg.quick:
    common.quick(config)
    config.model.width = 128
    config.model.num_stages = 1
  return config
