"""Throughput measurements behind `launch/benchmark.py`: input pipelines (and train steps).

Every figure is measured after warm-up, in examples (samples) per second of wall time,
as the median of several timed windows so one slow window (another process, GC) does not
decide it.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Iterator

import numpy as np

from jaxpose.data import augment, datasets, mocap, pipeline, resample


def median_rate(step: Callable[[], int], *, windows: int, warmup: int) -> dict:
  """Calls `step` (returns items done) `warmup` times, then times `windows` calls."""
  for _ in range(warmup):
    step()
  rates = []
  for _ in range(windows):
    start = time.perf_counter()
    n = step()
    rates.append(n / (time.perf_counter() - start))
  return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
          "windows": windows}


def _batches(it: Iterator[dict], num_batches: int) -> Callable[[], int]:
  def step():
    return sum(int(np.sum(next(it)["valid"])) for _ in range(num_batches))
  return step


def image_loader(*, dataset: str = "mocap_images", data_dir: str | None = None,
                 batch_size: int = 64, output_size: int = 128, worker_count: int = 0,
                 num_threads: int = 0, windows: int = 5, batches_per_window: int = 10,
                 seed: int = 0) -> dict:
  """Examples/s of image records with full augmentation (crop, rotation, scale, flip,
  colour jitter), batched and padded, as training reads them."""
  source = datasets.data_source(dataset, "train", data_dir=data_dir)
  it = pipeline.make_pipeline(source, batch_size=batch_size, seed=seed, num_pairs=136,
                              augment=augment.AugmentConfig(output_size=output_size),
                              train=True, worker_count=worker_count, num_threads=num_threads)
  try:
    return median_rate(_batches(it, batches_per_window), windows=windows, warmup=3)
  finally:
    if hasattr(it, "close"):
      it.close()


def lifting_loader(*, resample_cameras: bool, data_dir: str | None = None,
                   batch_size: int = 64, num_pairs: int = 136, windows: int = 5,
                   batches_per_window: int = 20, seed: int = 0) -> dict:
  """Examples/s of lifting batches: tfds `mocap_lifting` records with flip + 2D noise, or
  (`resample_cameras`) poses drawn from the MoCap file with a fresh virtual camera,
  2D noise and 10 % ranking flips (DRPose3D 3.3)."""
  aug = augment.AugmentConfig(noise_2d_px=5.0, rank_flip_prob=0.1 if resample_cameras else 0)
  if resample_cameras:
    data = mocap.load_canonical(mocap.default_mocap_path())
    frames = np.flatnonzero(~mocap.held_out(data))
    it = resample.make_mocap_pipeline(data, frames, batch_size=batch_size, seed=seed,
                                      num_pairs=num_pairs, augment=aug)
  else:
    source = datasets.data_source("mocap_lifting", "train", data_dir=data_dir)
    it = pipeline.make_pipeline(source, batch_size=batch_size, seed=seed,
                                num_pairs=num_pairs, augment=aug, train=True)
  return median_rate(_batches(it, batches_per_window), windows=windows, warmup=3)
