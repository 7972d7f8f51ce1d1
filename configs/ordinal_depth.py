r"""Pavlakos et al. CVPR'18 Sec. 3.1: one hourglass + a fully connected layer -> joint depths.

Trained by the ranking loss alone (eq. 1-2); the 2D the reconstruction MLP needs comes
from the batch (`keypoints2d`). Embedded default, paper settings (Sec. 4.2):

  python launch/train.py --config=configs/ordinal_depth.py --workdir=/tmp/ordinal_depth

Variants: `quick` (64x64 crops, 2 CPU cores), `full` (metric depth, L2 on root-relative
depth: Table 1's fully supervised row).
"""

import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top
from configs import ordinal_volumetric  # noqa: E402  pylint: disable=g-import-not-at-top


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, full."""
  arg = common.parse_arg(arg, quick=False, full=False)
  config = ordinal_volumetric.image_config("ordinal_depth", full=arg.full, num_stacks=1)
  if arg.quick:
    ordinal_volumetric.quick_image(config)
  return config
