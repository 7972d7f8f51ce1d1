"""Evaluation of a method on batches: pose metrics, what it predicts besides 3D, samples.

  result = evaluate(method, variables, data.eval_iterator(config))

Used by the training loop (`train_lib`), `launch/eval.py`, the results suites and
notebooks; `train_lib.evaluate` is this function.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

import jax
import numpy as np

from jaxpose import metrics as metrics_lib
from jaxpose import methods, skeleton
from jaxpose.data import pipeline
from jaxpose.train import sharding, steps

ROOT = skeleton.H36M17.root


def evaluate(method: methods.Method, variables: dict[str, Any], iterator: Iterable[dict], *,
             mesh: jax.sharding.Mesh | None = None, num_samples: int = 8,
             max_batches: int = 0, ordinal_tol: float = 0.0) -> dict[str, Any]:
  """Metrics of `method` over the valid examples of an evaluation iterator.

  Args:
    method: the method (its `predict`).
    variables: its variables.
    iterator: evaluation batches (`data.eval_iterator`, `data.mocap_dir_iterator`):
      whole global batches with `meta` and `valid`.
    mesh: device mesh (default: all devices).
    num_samples: how many predictions to keep for figures.
    max_batches: stop after this many batches (0 = the whole iterator).
    ordinal_tol: tie band in metres for the ordinal metrics; pass the labels' band
      (`config.data.tie_tol`) so that a predicted tie can match a tie label.

  Returns:
    `metrics.MetricAccumulator.result()` ({'num_examples', 'overall', 'action_mean',
    'per_action', 'per_joint'}; distances in mm) plus, for methods with
    `predict_outputs` (`_OutputMetrics`), 'pck2d' and 'depth_ordinal_accuracy' in
    'overall', 'action_mean' and 'per_action'; and 'samples': NumPy arrays of the
    first `num_samples` valid examples: 'pred' and 'target' [n, J, 3] root-relative
    metres, 'keypoints2d' [n, J, 2], 'index' [n], 'action'/'subject' lists,
    'image' [n, S, S, 3] for image batches and 'pred_keypoints2d' [n, J, 2] for methods
    that predict 2D.
  """
  mesh = mesh or sharding.make_mesh()
  predict = _jit_outputs(method, mesh)
  acc = metrics_lib.MetricAccumulator(tol=ordinal_tol)
  extra = _OutputMetrics()
  samples: dict[str, list] = {}
  num_valid = 0
  for i, batch in enumerate(iterator):
    if max_batches and i >= max_batches:
      break
    valid = np.asarray(batch["valid"], bool)
    outputs = jax.device_get(
        predict(variables, sharding.shard_global_batch(pipeline.device_fields(batch), mesh)))
    if not valid.any():
      continue
    num_valid += int(valid.sum())
    sel = lambda x: np.asarray(x)[valid]  # noqa: E731
    actions = [a for a, v in zip(batch["meta"]["action"], valid) if v]
    if "pose3d" in outputs:
      pred = np.asarray(outputs["pose3d"])
      acc.update(pred[valid], sel(batch["keypoints3d"]), actions=actions,
                 mask=sel(batch["joint_mask"] & batch["has_3d"][:, None]),
                 relations=sel(batch["relations"]),
                 relation_mask=sel(batch["relation_mask"] & batch["has_ordinal"][:, None]))
    else:  # a method that predicts no 3D (e.g. PRCNN's rankings)
      pred = np.full(np.shape(batch["keypoints3d"]), np.nan, np.float32)
    extra.update(outputs, batch, valid, actions)
    _keep_samples(samples, batch, pred, valid, num_samples, outputs)
  if not num_valid:
    raise ValueError("iterator: no valid evaluation examples")
  result = acc.result() if len(acc) else {
      "num_examples": num_valid, "overall": {}, "action_mean": {}, "per_action": {},
      "per_joint": {}}
  extra.add_to(result)
  result["samples"] = {k: v if k in ("action", "subject") else np.concatenate(v)
                       for k, v in samples.items()}
  if not len(acc):
    result["samples"].pop("pred", None)  # no poses: no pose figure
  return result


@functools.lru_cache(maxsize=8)
def _jit_outputs(method: methods.Method, mesh: jax.sharding.Mesh) -> Any:
  """(variables, batch) -> {'pose3d', ...}: `method.predict_outputs` jitted like
  `steps.jit_eval_step` (batch sharded, outputs replicated), or `predict` alone."""
  if method.predict_outputs is None:
    step = steps.jit_eval_step(method, mesh)
    return lambda variables, batch: {"pose3d": step(variables, batch)}
  rep, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  return jax.jit(method.predict_outputs, in_shardings=(rep, data), out_shardings=rep,
                 compiler_options=sharding.compiler_options(mesh))


class _OutputMetrics:
  """Metrics of what a method predicts besides 3D (`Method.predict_outputs`):

  * 'pck2d': `metrics.pck2d` at 0.1 x the box side (`bbox.scale` in the crop's pixels;
    the image side where it is 0), over annotated joints (`joint_mask`);
  * 'depth_ordinal_accuracy': fraction of the strict annotated pairs (r != 0) that the
    network's own depth orders correctly. Its depth has no metric unit for ordinal
    supervision, so tie labels, which need a tie band, are left out ('ordinal_accuracy'
    scores the 3D pose with the labels' band, ties included).
  """

  def __init__(self):
    self._values: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    self._actions: list[str] = []

  def update(self, outputs: dict, batch: dict, valid: np.ndarray, actions: list) -> None:
    sel = lambda x: np.asarray(x)[valid]  # noqa: E731
    found = {}
    if "keypoints2d" in outputs:
      mask = sel(batch["joint_mask"])
      side = sel(batch["bbox"]["scale"]).astype(np.float64)
      side = np.where(side > 0, side, np.shape(batch["image"])[1] if "image" in batch else 1.0)
      found["pck2d"] = (metrics_lib.pck2d(sel(outputs["keypoints2d"]), sel(batch["keypoints2d"]),
                                          size=side, mask=mask, reduction="none"),
                        mask.sum(axis=1))
    if "depth" in outputs:
      rel = sel(batch["relations"])
      mask = sel(batch["relation_mask"] & batch["has_ordinal"][:, None]) & (rel[..., 2] != 0)
      found["depth_ordinal_accuracy"] = (
          metrics_lib.ordinal_accuracy(sel(outputs["depth"]), rel, mask, reduction="none"),
          mask.sum(axis=1))
    for name, (value, weight) in found.items():
      self._values.setdefault(name, []).append((np.asarray(value, np.float64),
                                                np.asarray(weight, np.float64)))
    self._actions.extend(actions)

  def add_to(self, result: dict) -> None:
    for name, parts in self._values.items():
      values = np.concatenate([v for v, _ in parts])
      weights = np.concatenate([w for _, w in parts])
      ok = weights > 0  # examples without pairs are NaN with weight 0
      total = weights[ok].sum()
      result["overall"][name] = float(values[ok] @ weights[ok] / total) if total else float("nan")
      result["action_mean"][name] = metrics_lib.mean_over_actions(values, self._actions,
                                                                  weights=weights)
      per = metrics_lib.per_action_means(values, self._actions, weights=weights)
      for action, value in per.items():
        result["per_action"].setdefault(action, {})[name] = value


def _keep_samples(samples: dict, batch: dict, pred: np.ndarray, valid: np.ndarray,
                  num_samples: int, outputs: dict) -> None:
  have = sum(len(x) for x in samples.get("index", []))
  take = np.flatnonzero(valid)[:max(0, num_samples - have)]
  if not len(take):
    return
  target = np.asarray(batch["keypoints3d"])[take]
  fields = {"pred": pred[take], "target": target - target[:, ROOT:ROOT + 1],
            "keypoints2d": np.asarray(batch["keypoints2d"])[take],
            "index": np.asarray(batch["index"])[take]}
  if "image" in batch:
    fields["image"] = np.asarray(batch["image"])[take]
  if "keypoints2d" in outputs:
    fields["pred_keypoints2d"] = np.asarray(outputs["keypoints2d"])[take]
  for k, v in fields.items():
    samples.setdefault(k, []).append(v)
  for k in ("action", "subject"):
    samples.setdefault(k, []).extend(batch["meta"][k][t] for t in take)
