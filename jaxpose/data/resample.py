"""Lifting batches straight from canonical MoCap, with virtual cameras resampled every draw.

DRPose3D Sec. 3.3 augmentation for lifting models: each stream position sees its pose
through a fresh virtual camera (`jaxpose.data.virtual`), then gets Gaussian 2D noise and
per-entry ranking flips (`AugmentConfig.noise_2d_px`, `rank_flip_prob`; a [J, J] matrix
of probabilities = 1 - PRCNN's per-entry accuracy). The stream, sharding, seeding and
iterator state are those of `jaxpose.data.pipeline` (same batch layout, no `image`), so
resumed runs see the same cameras and noise.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import ordinal
from jaxpose.data import augment as augment_lib
from jaxpose.data import pipeline, virtual


@jax.jit
def _keys(seed: jax.Array, positions: jax.Array) -> jax.Array:
  return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(jax.random.key(seed), positions)


@dataclasses.dataclass(frozen=True, eq=False)
class _ViewBatch:
  """A list of (stream position, frame index or -1) -> one batch of lifting examples."""
  data: dict
  cameras: virtual.CameraRange
  num_pairs: int
  augment: augment_lib.AugmentConfig | None
  train: bool
  seed: int
  tie_tol: float

  def __call__(self, items: list[tuple[int, int]]) -> dict:
    positions = np.array([p for p, _ in items], np.int64)
    index = np.array([i for _, i in items], np.int64)
    valid = index >= 0
    frames = np.where(valid, index, 0)
    # Per-position keys: a pose's camera does not depend on its batch or host.
    draw = positions if self.train else frames
    keys = _keys(np.uint32(self.seed), jnp.asarray(draw % 2**31, jnp.int32))
    views = virtual.views(keys, self.data["positions_3d"][frames], self.cameras,
                          num_views=1, tie_tol=self.tie_tol)
    views = {k: v[:, 0] for k, v in views.items()}
    return self._assemble(views, draw, index, valid, frames)

  def _assemble(self, views, draw, index, valid, frames) -> dict:
    b, num_joints = views["keypoints3d"].shape[:2]
    kp2d = views["keypoints2d"].astype(np.float32)
    rel = np.zeros((b, self.num_pairs, 3), np.int8)
    rel_mask = np.zeros((b, self.num_pairs), bool)
    aug = self.augment
    for k in range(b):
      rng = np.random.default_rng([self.seed, int(draw[k]), 1])
      if aug is not None and aug.noise_2d_px > 0:
        kp2d[k] = augment_lib.add_2d_noise(kp2d[k], rng, aug.noise_2d_px)
      r = views["relations"][k]
      if aug is not None and np.any(np.asarray(aug.rank_flip_prob) > 0):
        r = augment_lib.flip_relations(rng, r, np.asarray(aug.rank_flip_prob))
      rel[k], rel_mask[k] = ordinal.pad_relations(r, self.num_pairs, rng=rng,
                                                  num_joints=num_joints)
    rel_mask &= valid[:, None]
    names = lambda key, ids: [str(self.data[key][i]) if v else ""  # noqa: E731
                              for i, v in zip(ids, valid)]
    return {
        "keypoints2d": np.where(valid[:, None, None], kp2d, 0).astype(np.float32),
        "visible": np.repeat(valid[:, None], num_joints, 1),
        "joint_mask": np.repeat(valid[:, None], num_joints, 1),
        "keypoints3d": views["keypoints3d"].astype(np.float32),
        "has_3d": valid.copy(),
        "relations": rel,
        "relation_mask": rel_mask,
        "has_ordinal": valid.copy(),
        "camera": {"focal": views["focal"].astype(np.float32),
                   "center": views["center"].astype(np.float32)},
        "bbox": {"center": views["center"].astype(np.float32),
                 "scale": np.zeros(b, np.float32)},
        "index": np.where(valid, index, -1).astype(np.int32),
        "valid": valid.copy(),
        "meta": {"dataset": ["mocap" if v else "" for v in valid],
                 "subject": names("subject_names", self.data["subject"][frames]),
                 "action": names("sequence_names", self.data["sequence"][frames]),
                 "camera_id": np.full(b, -1, np.int32),
                 "frame": np.where(valid, frames, -1).astype(np.int32)},
    }


def make_mocap_pipeline(data: dict, frames: np.ndarray, *, batch_size: int, seed: int,
                        num_pairs: int, cameras: virtual.CameraRange = virtual.CameraRange(),
                        augment: augment_lib.AugmentConfig | None = None,
                        train: bool = True, tie_tol: float = 0.1,
                        shard_index: int | None = None, shard_count: int | None = None,
                        num_epochs: int | None = None, num_threads: int = 0,
                        prefetch_batches: int = 4) -> Any:
  """Iterator of lifting batches (the `pipeline` layout) drawn from MoCap poses.

  Args:
    data: a canonical MoCap dict (`mocap.load_canonical`).
    frames: int [N] frame indices of `data` forming the split (e.g. training subjects).
    batch_size, seed, train, shard_index, shard_count, num_epochs, num_threads,
      prefetch_batches: as in `pipeline.make_pipeline`.
    num_pairs: P relation slots; fewer than J(J-1)/2 samples P random pairs per example
      (Ronchi et al.: P = 1).
    cameras: where virtual cameras stand (evaluation draws one fixed camera per frame).
    augment: `noise_2d_px` and `rank_flip_prob` are used; in evaluation (`train=False`)
      they corrupt each frame deterministically (e.g. DRPose3D's test condition of a
      PRCNN that gets 9 % of ranking entries wrong).
    tie_tol: ordinal tie band, metres.
  """
  frames = np.asarray(frames, np.int64)
  if frames.ndim != 1 or frames.size == 0:
    raise ValueError(f"frames: expected a non-empty 1-D index array, got shape {frames.shape}")
  n_total = len(data["positions_3d"])
  if frames.min() < 0 or frames.max() >= n_total:
    raise ValueError(f"frames: expected indices in [0, {n_total}), got [{frames.min()}, "
                     f"{frames.max()}]")
  num_pairs = pipeline.check_int("num_pairs", num_pairs, 1)
  ds, example_seed = pipeline.sharded_stream(
      len(frames), batch_size=batch_size, seed=seed, train=train, shard_index=shard_index,
      shard_count=shard_count, num_epochs=num_epochs)
  ds = ds.map(_FrameOf(frames))
  ds = ds.batch(batch_size, drop_remainder=train,
                batch_fn=_ViewBatch(data, cameras, num_pairs, augment, train, example_seed,
                                    tie_tol))
  return pipeline.to_iterator(ds, num_threads=pipeline.check_int("num_threads", num_threads, 0),
                              prefetch_batches=prefetch_batches, worker_count=0)


@dataclasses.dataclass(frozen=True, eq=False)
class _FrameOf:
  """(position, split index or -1) -> (position, frame index of `data` or -1)."""
  frames: np.ndarray

  def __call__(self, item: tuple[int, int]) -> tuple[int, int]:
    position, index = item
    return position, int(self.frames[index]) if index >= 0 else -1
