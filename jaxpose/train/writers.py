"""Metric writers: TensorBoard event files without TensorFlow (tensorboardX) + a JSONL log.

clu's `metric_writers.SummaryWriter` needs TensorFlow, which jaxpose does not depend on.
`EventWriter` implements the same clu `MetricWriter` methods with tensorboardX, so
`clu.metric_writers.create_default_writer` (console logging + TensorBoard) and
`clu.periodic_actions.ReportProgress` work unchanged and `tensorboard --logdir=WORKDIR`
shows the curves. Every scalar also goes to `WORKDIR/metrics.jsonl` (one JSON object per
write), which scripts read without TensorBoard.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import numpy as np
import tensorboardX


class EventWriter:
  """clu MetricWriter on tensorboardX + `metrics.jsonl` (module docstring)."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    self._logdir = logdir
    self._tb = tensorboardX.SummaryWriter(logdir)
    self._jsonl = open(os.path.join(logdir, "metrics.jsonl"), "a")

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    for name, value in scalars.items():
      self._tb.add_scalar(name, float(value), int(step))
    line = {"step": int(step), **{k: float(v) for k, v in scalars.items()}}
    self._jsonl.write(json.dumps(line) + "\n")

  def write_images(self, step: int, images: Mapping[str, Any]) -> None:
    """images: {name: [N, H, W, C] or [H, W, C] uint8/float in [0, 1]}."""
    for name, image in images.items():
      image = np.asarray(image)
      fmt = "NHWC" if image.ndim == 4 else "HWC"
      self._tb.add_images(name, image, int(step), dataformats=fmt) if fmt == "NHWC" else (
          self._tb.add_image(name, image, int(step), dataformats=fmt))

  def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
    for name, text in texts.items():
      self._tb.add_text(name, str(text), int(step))

  def write_histograms(self, step: int, arrays: Mapping[str, Any],
                       num_buckets: Mapping[str, int] | None = None) -> None:
    for name, values in arrays.items():
      bins = (num_buckets or {}).get(name, "tensorflow")
      self._tb.add_histogram(name, np.asarray(values), int(step), bins=bins)

  def write_hparams(self, hparams: Mapping[str, Any]) -> None:
    with open(os.path.join(self._logdir, "hparams.json"), "w") as f:
      json.dump(dict(hparams), f, indent=1, default=str)
    self._tb.add_text("hparams", json.dumps(dict(hparams), indent=1, default=str), 0)

  def write_summaries(self, step: int, values: Mapping[str, Any],
                      metadata: Mapping[str, Any] | None = None) -> None:
    del metadata
    self.write_scalars(step, {k: v for k, v in values.items() if np.ndim(v) == 0})

  def write_videos(self, step: int, videos: Mapping[str, Any]) -> None:
    del step, videos  # not used by jaxpose

  def write_audios(self, step: int, audios: Mapping[str, Any], *, sample_rate: int) -> None:
    del step, audios, sample_rate  # not used by jaxpose

  def write_pointcloud(self, step: int, point_clouds: Mapping[str, Any], **kwargs: Any) -> None:
    del step, point_clouds, kwargs  # not used by jaxpose

  def flush(self) -> None:
    self._tb.flush()
    self._jsonl.flush()

  def close(self) -> None:
    self._tb.close()
    self._jsonl.close()
