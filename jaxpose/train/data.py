"""Train and eval iterators from `config.data`: tfds datasets, resampled MoCap, MoCap folders.

`config.data.source` picks where batches come from:

  * a tfds dataset name (`jaxpose.data.datasets`), e.g. `mocap_lifting` (the embedded
    default, built on first use), `mocap_images`, `h36m_videopose3d/protocol1`: splits
    `train_split` / `eval_split`, read with `jaxpose.data.pipeline.make_pipeline`;
  * `mocap_resample`: poses of the canonical MoCap npz `mocap_path` ('' = the embedded
    default) split by subject and sequence (`test_subjects`, `test_sequences`:
    `mocap.held_out`), each
    training draw seen by a fresh virtual camera from `cameras`
    (`jaxpose.data.resample`); evaluation sees every held-out pose through one fixed
    camera (seed `eval_seed`).

`mocap_dir_iterator` evaluates on any folder of MoCap files (BVH, ASF/AMC, DeepMimic)
the same way. Training iterators yield this process's slice of the global batch;
evaluation iterators yield whole global batches on every process (read the split once,
padded with `valid = False` rows).
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

import numpy as np

from jaxpose import skeleton
from jaxpose.data import augment as augment_lib
from jaxpose.data import datasets, mocap, pipeline, resample, virtual
from jaxpose.train import sharding

MOCAP_RESAMPLE = "mocap_resample"


def augment_config(config: Any) -> augment_lib.AugmentConfig:
  """`config.data.augment` as an `AugmentConfig` (all zeros: records pass through)."""
  return augment_lib.AugmentConfig(**config.data.augment.to_dict())


def camera_range(config: Any) -> virtual.CameraRange:
  """`config.data.cameras` as a `CameraRange`."""
  return virtual.CameraRange(**config.data.cameras.to_dict())


def _tfds_source(config: Any, split: str) -> Any:
  d = config.data
  kwargs = {"allow_pickle": True} if d.allow_pickle else {}
  return datasets.data_source(d.source, split, data_dir=d.data_dir or None,
                              manual_dir=d.manual_dir or None, **kwargs)


@functools.lru_cache(maxsize=2)
def _load_mocap(path: str) -> dict[str, np.ndarray]:
  return mocap.load_canonical(path)


def mocap_split(config: Any) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
  """(canonical MoCap, training frame indices, held-out frame indices): `mocap.held_out`
  of `config.data.test_subjects` and `test_sequences`."""
  d = config.data
  path = d.mocap_path or mocap.default_mocap_path()
  data = _load_mocap(os.path.abspath(os.path.expanduser(path)))
  is_test = mocap.held_out(data, d.test_subjects, d.get("test_sequences", ()),
                           where=f"{path}: config.data.test")
  return data, np.flatnonzero(~is_test), np.flatnonzero(is_test)


def train_iterator(config: Any, *, seed: int) -> Any:
  """This process's endless, shuffled, augmented training batches (grain iterator).

  Args:
    config: the experiment config (`config.data`, `config.batch_size` = global batch).
    seed: data seed in [0, 2**32) (the loop derives it from `config.seed`).
  """
  d = config.data
  batch_size = sharding.process_batch_size(config.batch_size)
  if d.source == MOCAP_RESAMPLE:
    data, train, _ = mocap_split(config)
    return resample.make_mocap_pipeline(
        data, train, batch_size=batch_size, seed=seed, num_pairs=d.num_pairs,
        cameras=camera_range(config), augment=augment_config(config), train=True,
        tie_tol=d.tie_tol, num_threads=d.num_threads)
  return pipeline.make_pipeline(
      _tfds_source(config, d.train_split), batch_size=batch_size, seed=seed,
      num_pairs=d.num_pairs, augment=augment_config(config), train=True,
      worker_count=d.worker_count, num_threads=d.num_threads)


def eval_iterator(config: Any, *, split: str | None = None) -> Any:
  """One ordered pass over the evaluation split in global batches of `eval_batch_size`.

  Args:
    config: the experiment config.
    split: a split of a tfds source (default `config.data.eval_split`); for
      `mocap_resample` the only split is the held-out subjects.
  """
  d = config.data
  if d.source == MOCAP_RESAMPLE:
    data, _, test = mocap_split(config)
    return _mocap_eval(config, data, test)
  return pipeline.make_pipeline(
      _tfds_source(config, split or d.eval_split), batch_size=config.eval_batch_size,
      seed=d.eval_seed, num_pairs=d.num_pairs, augment=augment_config(config), train=False,
      shard_index=0, shard_count=1, num_threads=d.num_threads)


def mocap_dir_iterator(config: Any, mocap_dir: str) -> Any:
  """Evaluation batches from every MoCap file under `mocap_dir`, one fixed camera per pose.

  Clips are read at `config.data.mocap_fps`, mapped to H36M17, and seen through cameras
  drawn from `config.data.cameras` with seed `config.data.eval_seed`; `meta.action` is
  the file's path relative to `mocap_dir`.
  """
  with tempfile.TemporaryDirectory() as tmp:
    data = mocap.build_canonical([mocap_dir], os.path.join(tmp, "mocap.npz"),
                                 target_fps=config.data.mocap_fps)
  return _mocap_eval(config, data, np.arange(len(data["positions_3d"])))


def _mocap_eval(config: Any, data: dict, frames: np.ndarray) -> Any:
  d = config.data
  corrupt = None
  if d.eval_noise_2d_px > 0 or d.eval_rank_flip_prob > 0:
    corrupt = augment_lib.AugmentConfig(noise_2d_px=d.eval_noise_2d_px,
                                        rank_flip_prob=d.eval_rank_flip_prob)
  return resample.make_mocap_pipeline(
      data, frames, batch_size=config.eval_batch_size, seed=d.eval_seed,
      num_pairs=d.num_pairs, cameras=camera_range(config), augment=corrupt, train=False,
      tie_tol=d.tie_tol, shard_index=0, shard_count=1, num_threads=d.num_threads)


def dummy_batch(config: Any, batch_size: int, *, with_image: bool = False) -> dict:
  """An all-zero device batch of the pipeline layout (for `Method.init` and shapes).

  `image` (uint8 [B, S, S, 3], S = `config.data.augment.output_size`) only with
  `with_image`. The root joint is marked valid so input normalisation is well defined.
  """
  num_joints, num_pairs = skeleton.H36M17.num_joints, config.data.num_pairs
  zeros = lambda shape, dtype=np.float32: np.zeros((batch_size, *shape), dtype)  # noqa: E731
  batch = {
      "keypoints2d": zeros((num_joints, 2)),
      "visible": zeros((num_joints,), bool),
      "joint_mask": zeros((num_joints,), bool),
      "keypoints3d": zeros((num_joints, 3)),
      "has_3d": zeros((), bool),
      "relations": zeros((num_pairs, 3), np.int8),
      "relation_mask": zeros((num_pairs,), bool),
      "has_ordinal": zeros((), bool),
      "camera": {"focal": zeros((2,)), "center": zeros((2,))},
      "bbox": {"center": zeros((2,)), "scale": zeros(())},
      "index": zeros((), np.int32),
      "valid": np.ones((batch_size,), bool),
  }
  batch["joint_mask"][:, skeleton.H36M17.root] = True
  if with_image:
    size = config.data.augment.output_size
    batch["image"] = zeros((size, size, 3), np.uint8)
  return batch
