"""Shared config defaults (loop, data, optimiser) and `parse_arg` for `--config=FILE:variant`.

Experiment configs start from `base_config()` and change what their paper says; every
field is commented here once. Variants come from the text after the colon:
`--config=configs/x.py:quick,h36m` -> `parse_arg('quick,h36m', quick=False, h36m=False)`.
"""

import dataclasses
from typing import Any

import ml_collections

from jaxpose.data import augment, mocap, virtual

NUM_JOINTS = 17  # H36M17, the canonical joint set


def parse_arg(arg: str | None, **defaults: Any) -> ml_collections.ConfigDict:
  """'quick,width=256' -> ConfigDict(quick=True, width=256, <other defaults>).

  A bare name sets a bool default to True; `name=value` parses `value` as the default's
  type. Unknown names raise a one-line ValueError listing the known ones.
  """
  out = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, has_value, value = item.partition("=")
    if key not in defaults:
      raise ValueError(f"config variant: unknown {key!r} in {arg!r}; known: "
                       f"{', '.join(sorted(defaults))}")
    default = defaults[key]
    if not has_value:
      if not isinstance(default, bool):
        raise ValueError(f"config variant: {key!r} needs a value ({key}=...)")
      out[key] = True
    elif isinstance(default, bool):
      if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"config variant: {key}={value!r}: expected true or false")
      out[key] = value.lower() in ("true", "1")
    else:
      out[key] = type(default)(value)
  return out


def data_config() -> ml_collections.ConfigDict:
  """`config.data`: where batches come from (jaxpose/train/data.py)."""
  d = ml_collections.ConfigDict()
  # 'mocap_resample' (fresh virtual cameras every draw from a canonical MoCap npz) or a
  # tfds dataset name: 'mocap_lifting' (embedded default, built on first use),
  # 'mocap_images', 'h36m_videopose3d/protocol1', ... (jaxpose/data/datasets.py).
  d.source = "mocap_lifting"
  d.train_split = "train"  # tfds split to train on
  d.eval_split = "test"  # tfds split to evaluate on ('test_cameras': held-out cameras)
  d.data_dir = ""  # tfds data dir; '' = ~/tensorflow_datasets
  d.manual_dir = ""  # folder of manually downloaded files (real datasets; see README)
  d.allow_pickle = False  # opt in to unpickling Human3.6M VideoPose3D npz files you trust
  d.mocap_path = ""  # canonical MoCap npz for 'mocap_resample'; '' = the embedded default
  # Poses held out of training ('mocap_resample' splits and the training-set statistics
  # some losses use; a tfds source's builder config fixes its own split, so keep them
  # alike: `hold_out_motions`): subject names and sequence-name patterns (mocap.held_out).
  d.test_subjects = mocap.DEFAULT_TEST_SUBJECTS
  d.test_sequences = ()
  d.mocap_fps = 20.0  # frame rate MoCap folders are read at (eval --mocap_dir)
  # Virtual cameras for 'mocap_resample' and --mocap_dir (data.virtual.CameraRange:
  # distance_mean/std metres, elevation_deg/azimuth_deg ranges, focal px, image_size px).
  d.cameras = dataclasses.asdict(virtual.CameraRange())
  d.tie_tol = 0.1  # ordinal tie band in metres (Pavlakos Sec. 4.3: 100 mm)
  d.num_pairs = NUM_JOINTS * (NUM_JOINTS - 1) // 2  # relation slots per example (all pairs)
  # Host-side augmentation (data.augment.AugmentConfig); these values leave lifting
  # records unchanged: no flip, no 2D noise, no ranking flips (image crop 128 px).
  d.augment = dataclasses.asdict(augment.AugmentConfig(
      rotation_deg=0.0, scale=(1.0, 1.0), flip_prob=0.0, color_jitter=0.0))
  d.num_threads = 1  # grain threads preparing batches ahead of the training step
  d.worker_count = 0  # grain worker processes (image augmentation); 0 = in-process
  d.eval_seed = 0  # seed of evaluation cameras / crops: fixed, so evaluations compare
  # Test-time corruption of 'mocap_resample' / --mocap_dir evaluation batches, fixed per
  # frame: 2D noise (pixels) and ranking-entry flips (DRPose3D: a PRCNN with 91 %
  # per-pair accuracy ~ 0.09).
  d.eval_noise_2d_px = 0.0
  d.eval_rank_flip_prob = 0.0
  return d


def hold_out_motions(config: ml_collections.ConfigDict, *,
                     two_d_only: bool = False) -> ml_collections.ConfigDict:
  """Holds out a motion type (`mocap.DEFAULT_TEST_MOTIONS`: dance) instead of subjects:
  the embedded tfds sources switch to their `motions` builder config, or with
  `two_d_only` (images only) to `motions2d`, whose training split also holds part of the
  dance (`embedded.DEFAULT_2D_ONLY_MOTIONS`) as 2D-only examples. The training-set
  statistics leave all of the dance out either way (2D-only examples have no 3D)."""
  d = config.data
  base, _, _ = d.source.partition("/")
  if two_d_only and base != "mocap_images":
    raise ValueError(f"config.data.source: 2D-only held-out motions need 'mocap_images', got "
                     f"{d.source!r}")
  if base in ("mocap_lifting", "mocap_images"):
    d.source = f"{base}/{'motions2d' if two_d_only else 'motions'}"
  elif base != "mocap_resample":
    raise ValueError(f"config.data.source: held-out motions need the embedded default "
                     f"(mocap_lifting, mocap_images or mocap_resample), got {d.source!r}")
  d.test_subjects = ()
  d.test_sequences = mocap.DEFAULT_TEST_MOTIONS
  return config


def base_config() -> ml_collections.ConfigDict:
  """The training-loop fields every experiment has (jaxpose/train/train_lib.py)."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # the one seed: init, dropout and data keys are split from it
  c.method = ""  # jaxpose.methods.METHODS name
  c.model = ml_collections.ConfigDict()  # `name` + model attributes (method's registry)
  c.loss = ml_collections.ConfigDict()  # loss weights and options (method-specific)
  c.batch_size = 64  # global batch over all devices (must divide evenly over them)
  c.eval_batch_size = 256  # global evaluation batch
  c.num_steps = 100_000  # optimiser steps
  c.log_every = 100  # steps per training-metric summary (and NaN/inf check)
  c.eval_every = 5_000  # steps per evaluation (evaluated steps are checkpointed)
  c.checkpoint_every = 1_000  # steps per checkpoint
  c.keep_checkpoints = 3  # latest checkpoints kept, plus the best one
  c.best_metric = "pa_mpjpe"  # eval metric (mean over actions) picking the best checkpoint
  c.best_mode = "min"  # 'min' for errors, 'max' for accuracies
  c.num_eval_batches = 0  # evaluate on the first N batches only; 0 = the whole split
  c.num_samples = 8  # predictions kept per evaluation for figures
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam",  # optax name (jaxpose/train/optim.py)
      learning_rate=1e-3,  # initial learning rate
      decay_steps=0,  # lr * decay_rate ** (step / decay_steps); 0 = constant
      decay_rate=1.0,  # see decay_steps
      clip_norm=0.0,  # clip gradients to this global norm; 0 = off
  ))
  c.data = data_config()
  return c


def quick(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks a config for a smoke run on 2 CPU cores (well under a minute)."""
  config.num_steps = 300
  config.log_every = 50
  config.eval_every = 300
  config.checkpoint_every = 100
  config.eval_batch_size = 256
  config.num_eval_batches = 4
  config.num_samples = 4
  return config
