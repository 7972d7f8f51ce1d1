r"""Pavlakos et al. CVPR'18 Sec. 3.4: the reconstruction MLP from 2D + ordinal depths.

Trained on MoCap only: projected 2D plus noisy depths that keep most ordinal relations
(`jaxpose.methods.reconstruction`), L2 on the 3D pose (eq. 6); two bilinear units
(Martinez blocks), width 1024. Embedded default, held-out subjects:

  python launch/train.py --config=configs/ordinal_reconstruction.py --workdir=/tmp/recon

Variants: `quick`, `noise=S` (depth noise in standard deviations of the pose's depths),
`direct` (the baseline: the ordinal depths used directly as z, no network; evaluate with
`launch/eval.py` on a workdir trained with any variant).
"""

import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, noise=S, direct."""
  arg = common.parse_arg(arg, quick=False, noise=0.25, direct=False)
  config = common.base_config()
  config.method = "ordinal_reconstruction"
  config.model = ml_collections.ConfigDict(dict(
      name="reconstruction",  # jaxpose.models.lifting.ReconstructionMLP
      width=1024,  # hidden units
      num_stages=2,  # "two bilinear units" (Martinez residual blocks)
      dropout=0.5,  # dropout rate
      dtype="float32",  # compute dtype
  ))
  config.reconstruction = ml_collections.ConfigDict(dict(
      depth_noise=arg.noise,  # Gaussian noise on the standardised depths (std units)
      noise_seed=1,  # noise is drawn per example index from this seed
      direct=arg.direct,  # predict [x, y, z_ordinal] itself (the no-network baseline)
  ))
  config.data.source = "mocap_resample"
  config.batch_size = 64
  config.num_steps = 100_000
  config.optimizer.update(name="adam", learning_rate=1e-3, decay_steps=100_000,
                          decay_rate=0.96, clip_norm=1.0)
  if arg.quick:
    common.quick(config)
    config.model.width = 128
    config.model.num_stages = 1
  return config
