"""The grain input pipeline: shuffled, host-sharded, augmented, fixed-shape batches.

`make_pipeline(source, ...)` reads a random-access source of schema records (a tfds
array_record split: `tfds.data_source(name, split=...)` or
`builder.as_data_source()[split]`) and returns a grain iterator of batches, with
`get_state()` / `set_state()` for checkpoints.

Order. Training reads one global stream, the same on every host: epoch e is a
permutation of the split seeded by (seed, e), epochs follow each other, and host k of
n takes stream positions k, k + n, k + 2n, ... So hosts read disjoint examples, all of
them together read every example of an epoch, and the global batch sequence does not
depend on how many hosts there are. Each example's augmentation is seeded by (seed,
stream position), so epochs differ and the draw does not depend on the host count
either. A finite `num_epochs` is cut to a whole number of global batches, so every host
yields the same number of batches. Evaluation reads the split once in order, padded
with `valid = False` rows to the same whole number of batches on every host.

Batch (B = batch_size, J joints, P = num_pairs, S = augment.output_size):
  image        uint8 [B, S, S, 3]  (only for image records; normalise on device: 4x less
                                     host-to-device traffic than float32)
  keypoints2d  f32 [B, J, 2]        pixels of the (cropped) image
  visible, joint_mask  bool [B, J]
  keypoints3d  f32 [B, J, 3]        camera frame, metres;  has_3d bool [B]
  relations    int8 [B, P, 3]       (i, j, r);  relation_mask bool [B, P];  has_ordinal [B]
  camera       {focal f32 [B, 2], center f32 [B, 2]}   of the (cropped) image
  bbox         {center f32 [B, 2], scale f32 [B]}
  index        int32 [B]            example index in the split (-1 for padding)
  valid        bool [B]             False only for evaluation padding (all masks and
                                     flags False, meta "" and -1)
  meta         {dataset, subject, action: list[str]; camera_id, frame: int32 [B]}
               host only: `device_fields(batch)` drops it before `jax.device_put`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Iterator, Sequence

import grain
import jax
import numpy as np

from jaxpose import checks, ordinal
from jaxpose.data import augment as augment_lib

HOST_ONLY = ("meta",)
_META_TEXT = ("dataset", "subject", "action")
_META_INT = ("camera_id", "frame")


def device_fields(batch: dict) -> dict:
  """The batch without its host-only fields (`meta`): what goes to the devices."""
  return {k: v for k, v in batch.items() if k not in HOST_ONLY}


def _text(x: Any) -> str:
  return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def prepare_example(record: dict, *, index: int, rng: np.random.Generator, num_pairs: int,
                    augment: augment_lib.AugmentConfig | None, train: bool,
                    valid: bool = True) -> dict:
  """One decoded record -> one fixed-shape example (the batch layout without B).

  Args:
    record: a decoded schema record (dict of NumPy arrays, Python scalars, bytes).
    index: the record's index in its split, kept for tracing.
    rng: per-example generator: augmentation, then relation subsampling when K > P.
    num_pairs: P, the fixed number of relation slots.
    augment: augmentation settings; None passes the record through unchanged.
    train: draw random augmentation (else only crop to the output size).
    valid: False makes a padding row: every mask and flag False, meta "" / -1.
  """
  ex = (record if augment is None else
        augment_lib.augment_example(record, rng, augment, train=train))
  J = np.shape(ex["keypoints2d"])[0]
  has_ordinal = bool(ex["has_ordinal"]) and valid
  rel = np.asarray(ex["relations"], np.int8).reshape(-1, 3)
  rel, rel_mask = ordinal.pad_relations(rel if has_ordinal else rel[:0], num_pairs, rng=rng,
                                        num_joints=J)
  out = {
      "keypoints2d": np.asarray(ex["keypoints2d"], np.float32),
      "visible": np.asarray(ex["visible"], bool) & valid,
      "joint_mask": np.asarray(ex["joint_mask"], bool) & valid,
      "keypoints3d": np.asarray(ex["keypoints3d"], np.float32),
      "has_3d": np.bool_(bool(ex["has_3d"]) and valid),
      "relations": rel,
      "relation_mask": rel_mask,
      "has_ordinal": np.bool_(has_ordinal),
      "camera": {k: np.asarray(ex["camera"][k], np.float32) for k in ("focal", "center")},
      "bbox": {"center": np.asarray(ex["bbox"]["center"], np.float32),
               "scale": np.float32(ex["bbox"]["scale"])},
      "index": np.int32(index),
      "valid": np.bool_(valid),
      "meta": {**{k: _text(ex["meta"][k]) if valid else "" for k in _META_TEXT},
               **{k: np.int32(ex["meta"][k] if valid else -1) for k in _META_INT}},
  }
  if "image" in ex:
    out["image"] = np.asarray(ex["image"], np.uint8)
  return out


def _stack(name: str, leaves: Sequence[Any]) -> np.ndarray:
  shapes = {np.shape(x) for x in leaves}
  if len(shapes) > 1:
    hint = " (pass augment=AugmentConfig(...) to crop images to one size)" if (
        name == "image") else ""
    raise ValueError(f"{name}: examples in a batch have different shapes "
                     f"{sorted(shapes)}{hint}")
  return np.stack(leaves)


def collate(examples: Sequence[dict]) -> dict:
  """Stacks `prepare_example` outputs into a batch; `meta` text stays lists of str."""
  batch = {}
  for key, first in examples[0].items():
    if key == "meta":
      batch[key] = {k: [e[key][k] for e in examples] if k in _META_TEXT
                    else np.array([e[key][k] for e in examples], np.int32) for k in first}
    elif isinstance(first, dict):
      batch[key] = {k: _stack(f"{key}.{k}", [e[key][k] for e in examples]) for k in first}
    else:
      batch[key] = _stack(key, [e[key] for e in examples])
  return batch


@dataclasses.dataclass(frozen=True)
class _Prepare:
  """Stream element (position, example index or -1) -> prepared example."""
  source: Any
  num_pairs: int
  augment: augment_lib.AugmentConfig | None
  train: bool
  seed: int

  def __call__(self, item: tuple[int, int]) -> dict:
    position, index = item
    valid = index >= 0
    # Training draws per stream position (epochs differ); evaluation per example.
    rng = np.random.default_rng([self.seed, position if self.train else max(index, 0)])
    record = self.source[index if valid else 0]
    return prepare_example(record, index=index, rng=rng, num_pairs=self.num_pairs,
                           augment=self.augment, train=self.train, valid=valid)


def _with_position(position: int, index: int) -> tuple[int, int]:
  return position, index


@dataclasses.dataclass(frozen=True)
class _PadBeyond:
  """Stream position k -> example k, or -1 (padding) past the end of the split."""
  n: int

  def __call__(self, k: int) -> int:
    return k if k < self.n else -1


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
      high is not None and value >= high):
    bound = f"[{low}, {high})" if high is not None else f">= {low}"
    raise ValueError(f"{name}: expected an int {bound}, got {value!r}")
  return int(value)


def index_stream(n: int, *, global_batch: int, shuffle_seed: int, train: bool,
            num_epochs: int | None) -> grain.MapDataset:
  """Global stream of example indices (-1 = padding) before per-host slicing."""
  if train:
    ds = grain.MapDataset.range(n).shuffle(seed=shuffle_seed).repeat(num_epochs)
    if num_epochs is not None:
      ds = ds[: len(ds) // global_batch * global_batch]
    return ds
  total = math.ceil(n / global_batch) * global_batch
  return grain.MapDataset.range(total).map(_PadBeyond(n))


def sharded_stream(n: int, *, batch_size: int, seed: int, train: bool,
                   shard_index: int | None, shard_count: int | None,
                   num_epochs: int | None) -> tuple[grain.MapDataset, int]:
  """This host's stream of (stream position, example index or -1), and the example seed.

  Validates the shared arguments of the pipelines (see `make_pipeline`).
  """
  batch_size = check_int("batch_size", batch_size, 1)
  seed = check_int("seed", seed, 0, 2**32)
  shard_count = check_int("shard_count", jax.process_count() if shard_count is None
                          else shard_count, 1)
  shard_index = check_int("shard_index", jax.process_index() if shard_index is None
                          else shard_index, 0, shard_count)
  if num_epochs is not None:
    num_epochs = check_int("num_epochs", num_epochs, 1)
    if not train and num_epochs != 1:
      raise ValueError(f"num_epochs: evaluation reads one pass, got {num_epochs}")
  global_batch = batch_size * shard_count
  if train and num_epochs is not None and n * num_epochs < global_batch:
    raise ValueError(f"batch_size: {n} records x {num_epochs} epochs do not fill one global "
                     f"batch of {batch_size} x {shard_count} hosts")
  shuffle_seed, example_seed = np.random.SeedSequence(seed).generate_state(2)
  ds = index_stream(n, global_batch=global_batch, shuffle_seed=int(shuffle_seed),
                    train=train, num_epochs=num_epochs)
  ds = ds.map_with_index(_with_position)
  return ds[shard_index::shard_count], int(example_seed)


def make_pipeline(source: Sequence[dict], *, batch_size: int, seed: int, num_pairs: int,
                  augment: augment_lib.AugmentConfig | None = None, train: bool = True,
                  shard_index: int | None = None, shard_count: int | None = None,
                  num_epochs: int | None = None, worker_count: int = 0,
                  num_threads: int = 0, prefetch_batches: int = 4
                  ) -> grain.DatasetIterator:
  """A deterministic, checkpointable iterator of fixed-shape batches (module docstring).

  Args:
    source: random-access records (`len` and `__getitem__`), e.g. a tfds data source.
    batch_size: per-host batch size B.
    seed: one seed for the shuffle and every example's augmentation, in [0, 2**32).
    num_pairs: P relation slots per example; more relations are subsampled per example.
    augment: augmentation settings; None passes records unchanged (their images must
      then already share one size).
    train: shuffled, repeated, augmented, whole batches; False: one ordered pass,
      padded with `valid = False` rows, images only cropped.
    shard_index, shard_count: this host's shard; default jax.process_index() / count().
    num_epochs: training epochs, None = forever. Evaluation always reads one pass.
    worker_count: grain worker processes (need absl flags parsed: run under
      `absl.app.run`); 0 = in this process.
    num_threads: threads preparing batches in each process; 0 = on demand in `next`.
    prefetch_batches: batches buffered ahead by those threads.

  Returns:
    A grain `DatasetIterator`: iterate for batches; `get_state()` / `set_state(state)`
    save and restore the position exactly (also mid-epoch).
  """
  n = len(source)
  if n == 0:
    raise ValueError("source: expected a non-empty data source, got 0 records")
  num_pairs = check_int("num_pairs", num_pairs, 0)
  worker_count = check_int("worker_count", worker_count, 0)
  num_threads = check_int("num_threads", num_threads, 0)
  prefetch_batches = check_int("prefetch_batches", prefetch_batches, 1)
  ds, example_seed = sharded_stream(n, batch_size=batch_size, seed=seed, train=train,
                                    shard_index=shard_index, shard_count=shard_count,
                                    num_epochs=num_epochs)
  ds = ds.map(_Prepare(source, num_pairs, augment, train, int(example_seed)))
  ds = ds.batch(batch_size, drop_remainder=train, batch_fn=collate)
  return to_iterator(ds, num_threads=num_threads, prefetch_batches=prefetch_batches,
                     worker_count=worker_count)


def to_iterator(ds: grain.MapDataset, *, num_threads: int, prefetch_batches: int,
                worker_count: int) -> grain.DatasetIterator:
  """A batched MapDataset -> checkpointable iterator (threads / worker processes)."""
  it = ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads,
                                            prefetch_buffer_size=prefetch_batches))
  if worker_count:
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=worker_count))
  return iter(it)


def measure_throughput(iterator: Iterator[dict], num_batches: int, warmup: int = 2) -> float:
  """Valid examples per second over `num_batches` batches, after `warmup` batches."""
  num_batches = check_int("num_batches", num_batches, 1)
  for _ in range(check_int("warmup", warmup, 0)):
    next(iterator)
  count, start = 0, time.perf_counter()
  for _ in range(num_batches):
    count += int(np.sum(next(iterator)["valid"]))
  return count / (time.perf_counter() - start)
