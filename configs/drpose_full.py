r"""DRPose3D (Wang et al. IJCAI'18) full pipeline: image -> 2D estimator -> PRCNN -> DPNet -> 3D.

Nothing is trained here: train the three stages, then evaluate the chain on the
embedded image test split (held-out subjects) or on `test_cameras` (held-out subjects
seen from 30-60 degree elevation; DPNet trained on lifting data from the -10-30 degree
band: the protocol #3 comparison of Sec. 4.1 / Fig. 5b):

  python launch/train.py --config=configs/ordinal_volumetric.py:quick --workdir=/tmp/ov_quick
  python launch/train.py --config=configs/drpose_prcnn.py:quick --workdir=/tmp/prcnn_quick
  python launch/train.py --config=configs/drpose_dpnet.py:quick --workdir=/tmp/dpnet_quick
  python launch/train.py --config=configs/drpose_dpnet.py:quick,ranking=none \
      --workdir=/tmp/dpnet_quick_none
  python launch/eval.py --config=configs/drpose_full.py:quick --workdir=/tmp/full_quick \
      --split=test_cameras
  python launch/eval.py --config=configs/drpose_full.py:quick,ranking=none \
      --workdir=/tmp/full_quick_none --split=test_cameras

(`--workdir` is where the evaluation is written; the stages' folders are
`config.full.*_workdir`, defaults below. The crops are resized to each stage's input
side: with a PRCNN trained on 128x128 crops, evaluate on 128x128 crops,
`--config.data.augment.output_size=128`; upsampling is warned about.)

Variants: `quick` (the stages' quick configs and the /tmp folders above),
`ranking=none` (the same pipeline without ranking input), `ranking=ground_truth`
(DPNet reads the annotated 3D's ranking matrix: an upper bound),
`cameras` (evaluate on `test_cameras` by default), `gt2d` (no estimator: PRCNN and DPNet
read the annotated 2D, DRPose3D Table 1's "GT 2D" rows).
"""

import dataclasses
import os
import sys

import ml_collections

sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import common  # noqa: E402  pylint: disable=g-import-not-at-top
from jaxpose.data import augment  # noqa: E402  pylint: disable=g-import-not-at-top


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Variants: quick, ranking=prcnn|none|ground_truth, cameras, gt2d."""
  arg = common.parse_arg(arg, quick=False, ranking="prcnn", cameras=False, gt2d=False)
  q = ":quick" if arg.quick else ""
  tag = "_quick" if arg.quick else ""
  none = arg.ranking == "none"
  dpnet = ",".join(v for v in ("quick" if arg.quick else "", "ranking=none" if none else "") if v)
  config = common.base_config()
  config.method = "drpose_full"
  config.full = ml_collections.ConfigDict(dict(
      # 'prcnn': PRCNN's ranking matrix into DPNet; 'none': no ranking; 'ground_truth':
      # the annotated 3D's matrix (an upper bound)
      ranking=arg.ranking,
      # 2D into PRCNN and DPNet: 'estimator' (predicted) or 'ground_truth' (annotated)
      keypoints2d="ground_truth" if arg.gt2d else "estimator",
      # Each stage: the folder of its trained run, the config spec it was trained with,
      # and the `--config.FIELD=VALUE` overrides it was trained with ('a.b=1,c=2').
      estimator_workdir=f"/tmp/ov{tag}",
      estimator_config=f"configs/ordinal_volumetric.py{q}",  # any image method with 2D
      estimator_overrides="",
      prcnn_workdir=f"/tmp/prcnn{tag}",
      prcnn_config=f"configs/drpose_prcnn.py{q}",  # its prcnn.epsilon discretises P
      prcnn_overrides="",
      dpnet_workdir=f"/tmp/dpnet{tag}" + ("_none" if none else ""),
      dpnet_config="configs/drpose_dpnet.py" + (f":{dpnet}" if dpnet else ""),
      dpnet_overrides="",
      which="best",  # checkpoint of every stage: 'best' or 'latest'
  ))
  config.data.source = "mocap_images"  # rendered crops of the embedded MoCap
  config.data.eval_split = "test_cameras" if arg.cameras else "test"
  config.data.tie_tol = 0.1  # tie band of the ordinal metrics, metres
  # Evaluation only crops; each stage sees the crop resized to its own input side.
  config.data.augment = dataclasses.asdict(augment.AugmentConfig(
      output_size=64 if arg.quick else 128, rotation_deg=0.0, scale=(1.0, 1.0),
      flip_prob=0.0, color_jitter=0.0))
  config.data.num_threads = 2
  config.eval_batch_size = 256 if arg.quick else 64
  config.best_metric = ""  # nothing is trained
  config.num_steps = 0
  if arg.quick:
    config.num_eval_batches = 4  # 1024 held-out crops
  return config
