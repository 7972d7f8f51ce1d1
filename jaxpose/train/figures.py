"""Figures of an evaluation, written by the training loop: PNGs in `WORKDIR/figures` and
the same images in TensorBoard's Images tab.

  poses_step{N}.png   predicted vs true 3D skeletons of the first evaluation examples
                      (front and side views, MPJPE per example)
  inputs_step{N}.png  image methods: the network's input crops with the predicted 2D
                      skeleton (coloured by side) over the annotated one (white)
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from matplotlib.backends import backend_agg
from matplotlib.figure import Figure

from jaxpose import skeleton, viz

FOLDER = "figures"


def inputs_figure(images: np.ndarray, predicted: np.ndarray, annotated: np.ndarray, *,
                  titles: list[str] | None = None) -> Figure:
  """Crops with predicted (side colours) over annotated (white) 2D skeletons.

  Args:
    images: uint8 [N, S, S, 3]; predicted, annotated: [N, J, 2] crop pixels (corner origin).
    titles: N titles.
  """
  n = len(images)
  cols = min(n, 4)
  rows = -(-n // cols)
  fig = Figure(figsize=(2.4 * cols, 2.5 * rows), layout="constrained")
  for k in range(n):
    ax = fig.add_subplot(rows, cols, k + 1)
    side = images.shape[1]
    ax.imshow(images[k], extent=(0, side, side, 0))  # pixel (u, v) covers [u, u+1)
    for child, parent in skeleton.H36M17.bones:
      ax.plot(*annotated[k][[child, parent]].T, color="white", linewidth=1.0, alpha=0.8)
    viz.draw_skeleton_2d(ax, predicted[k], linewidth=1.5, markersize=2.5)
    ax.set_xlim(0, side)
    ax.set_ylim(side, 0)
    ax.axis("off")
    if titles:
      ax.set_title(titles[k], fontsize=7)
  return fig


def _to_array(fig: Figure) -> np.ndarray:
  """uint8 [H, W, 3] of a rendered figure (for TensorBoard)."""
  canvas = backend_agg.FigureCanvasAgg(fig)
  canvas.draw()
  return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_eval_figures(result: dict[str, Any], workdir: str, step: int, *,
                       writer: Any = None) -> list[str]:
  """Writes the figures of `train_lib.evaluate`'s `result` (its 'samples') for `step`.

  Only process 0 writes. A figure already on disk for this step (a resumed run evaluating
  the same step again) is left as it is.

  Returns:
    The paths of the figures written.
  """
  samples = result.get("samples") or {}
  if jax.process_index() or not len(samples.get("pred", ())):
    return []
  titles = [f"{a} #{i}" for a, i in zip(samples["action"], samples["index"])]
  figs = {"poses": viz.pose_comparison_figure(samples["pred"], samples["target"],
                                              titles=titles)}
  if "image" in samples and "pred_keypoints2d" in samples:
    figs["inputs"] = inputs_figure(samples["image"], samples["pred_keypoints2d"],
                                   samples["keypoints2d"], titles=titles)
  written = []
  for name, fig in figs.items():
    if writer is not None:
      writer.write_images(step, {f"eval/{name}": _to_array(fig)[None]})
    path = os.path.join(workdir, FOLDER, f"{name}_step{step}.png")
    if not os.path.exists(path):
      written.append(viz.save_figure(fig, path))
  return written
