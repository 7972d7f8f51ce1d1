r"""DRPose3D (Wang et al. IJCAI'18) DPNet: ranking matrix + 2D -> 3D (DepthNet + PoseNet).

Loss eq. 6 (L_O + L_S3D + L'_S3D), Adam, batch 64; trained with DRPose3D's augmentation:
a fresh virtual camera per draw (Sec. 3.3, eq. 7), 2D noise and per-entry ranking flips.
Embedded default, held-out subjects:

  python launch/train.py --config=configs/drpose_dpnet.py --workdir=/tmp/dpnet

Variants: `quick`; `ranking=none` (the same network fed no ranking: the 2D-only baseline
of equal size); `flip=P` (ranking entries flipped with probability P in training AND at
test, as a PRCNN of accuracy 1-P would give them; DRPose3D: 91 % -> 0.09);
`noise2d=PX` (training 2D noise, pixels); `flip_from=PATH` (Sec. 3.3's statistical
augmentation: each ranking entry flipped with probability 1 - accuracy_ij, the trained
PRCNN's per-entry accuracy in PATH, a `jaxpose.methods.prcnn.write_accuracy` JSON; at
test the mean of those probabilities, or P when `flip=P` is given too):

  python launch/train.py --config=configs/drpose_dpnet.py:flip_from=/tmp/prcnn/acc.json \
      --workdir=/tmp/dpnet_stat

`depth_noise=M` (jaxpose's): training matrices rebuilt from the true depths plus
N(0, M^2) per joint in metres, whose errors are consistent like a PRCNN's
(methods/dpnet.py); the held-out test keeps its true (or `flip`-ped) matrices.
"""

import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top
from jaxpose.methods import dpnet, prcnn  # noqa: E402  pylint: disable=g-import-not-at-top


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, ranking=relations|none, flip=P, noise2d=PX, flip_from=PATH,
  depth_noise=M."""
  # flip < 0: not given (0 without flip_from; the mean PRCNN error at test with it).
  arg = common.parse_arg(arg, quick=False, ranking="relations", flip=-1.0, noise2d=0.0,
                         flip_from="", depth_noise=0.0)
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
      # PRCNN per-entry accuracy JSON whose 1 - accuracy_ij is the training flip
      # probability of entry (i, j) (Sec. 3.3); set it with the `flip_from=PATH` variant,
      # which also writes that matrix into data.augment.rank_flip_prob.
      flip_accuracy=arg.flip_from,
      # > 0: training matrices from the true depths plus this Gaussian noise per joint
      # (metres): consistent, depth-dependent errors like a PRCNN's (methods/dpnet.py)
      depth_noise=arg.depth_noise,
  ))
  config.data.source = "mocap_resample"
  config.data.tie_tol = 0.1  # epsilon of eq. 1 (metres)
  flip = max(arg.flip, 0.0)
  config.data.augment.rank_flip_prob = flip  # training flips (Sec. 3.3)
  config.data.augment.noise_2d_px = arg.noise2d  # training 2D noise
  config.data.eval_rank_flip_prob = flip  # the same PRCNN error rate at test
  if arg.flip_from:
    probs = prcnn.flip_probability(arg.flip_from)  # [J, J] nested tuple, 1 - accuracy
    # The float field cannot take the matrix: the augment block is rebuilt with it.
    config.data.augment = ml_collections.ConfigDict(
        {**config.data.augment.to_dict(), "rank_flip_prob": probs})
    if arg.flip < 0:  # test: the PRCNN's mean error rate (a scalar; see dpnet.py)
      config.data.eval_rank_flip_prob = dpnet.mean_flip_probability(probs)
  config.batch_size = 64
  config.num_steps = 100_000
  config.optimizer.update(name="adam", learning_rate=1e-3, decay_steps=100_000,
                          decay_rate=0.96, clip_norm=1.0)
  if arg.quick:
    common.quick(config)
    config.model.width = 128
    config.model.num_stages = 1
  return config
