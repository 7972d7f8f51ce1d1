"""The training loop `train_and_evaluate`, `evaluate`, and `restore` of a trained run.

  metrics = train_and_evaluate(config, workdir)      # launch/train.py, notebooks
  method, variables, step = restore(config, workdir)  # best checkpoint (or which='latest')
  result = evaluate(method, variables, data.eval_iterator(config))

A run is fully determined by its config: `config.seed` is split into the init, dropout
and data keys, so the same config gives the same run (bit for bit on CPU), and a run
resumed from its checkpoint (state + data-iterator position) continues exactly as if it
had not stopped. The workdir holds `checkpoints/` and the metric logs (clu writers:
TensorBoard event files, via tensorboardX when TensorFlow is absent, and
`metrics.jsonl`).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging as std_logging
import os
import re
import sys
import types
from typing import Any, Iterable

import jax
import numpy as np
import tqdm
from absl import flags, logging

from jaxpose import metrics as metrics_lib
from jaxpose import methods, skeleton
from jaxpose.data import pipeline
from jaxpose.train import checkpoint, figures, optim, preemption, sharding, steps, writers
from jaxpose.train import data as data_lib


ROOT = skeleton.H36M17.root


def _import_clu() -> tuple[types.ModuleType, types.ModuleType]:
  """clu's `metric_writers` imports TensorFlow for its TensorBoard writer; jaxpose needs
  no TensorFlow, so without it `writers.EventWriter` (tensorboardX) stands in for
  `SummaryWriter`: the same TensorBoard event files, plus `metrics.jsonl`."""
  if importlib.util.find_spec("tensorflow") is None:
    stub = types.ModuleType("clu.metric_writers.summary_writer")
    stub.SummaryWriter = writers.EventWriter
    sys.modules.setdefault(stub.__name__, stub)
  from clu import metric_writers, periodic_actions  # pylint: disable=g-import-not-at-top
  return metric_writers, periodic_actions


metric_writers, periodic_actions = _import_clu()


# ---------------------------------------------------------------------- randomness


def rngs(seed: int) -> dict[str, Any]:
  """`seed` -> {'init': key, 'dropout': key, 'data': int seed for the input pipeline}."""
  init, dropout, data = jax.random.split(jax.random.key(seed), 3)
  return {"init": init, "dropout": dropout,
          "data": int(jax.random.randint(data, (), 0, np.iinfo(np.int32).max))}


def _describe_model(config: Any) -> str:
  """config.model as one line of JSON, for error messages."""
  return json.dumps(config.model.to_dict(), sort_keys=True, default=str)


def _abstract_state(config: Any, method: methods.Method, mesh: jax.sharding.Mesh,
                    tx: Any) -> Any:
  """Shapes, dtypes and (replicated) shardings of the config's train state: restore target."""
  init = steps.jit_init_state(method, tx, mesh)
  batch = data_lib.dummy_batch(config, 2, with_image=method.data_kind == "image")
  shapes = jax.eval_shape(init, jax.random.key(0), batch)
  rep = sharding.replicated(mesh)
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=rep), shapes)


def restore(config: Any, workdir: str, *, step: int | None = None,
            which: str = "best") -> tuple[methods.Method, dict[str, Any], int]:
  """The method of `config` and the variables of a trained run.

  Args:
    config: the run's config (its model and optimizer define the checkpoint's shapes).
    workdir: the run's folder.
    step: a specific step; default the `which` one.
    which: 'best' (lowest `config.best_metric`; the latest when no checkpoint has
      metrics) or 'latest'.

  Returns:
    (method, variables {'params', 'batch_stats'?} replicated on all devices, step).

  Raises:
    ValueError (one line): no checkpoint in `workdir`, no such step, or a checkpoint
      whose variables do not match the config's model (both named).
  """
  if config.method == "drpose_full":  # trained stages named by the config, no checkpoint
    from jaxpose.methods import drpose_full  # pylint: disable=g-import-not-at-top
    return drpose_full.restore(config)  # (it restores each stage with this function)
  mesh = sharding.make_mesh()
  method = methods.get_method(config)
  manager = checkpoint.make_manager(workdir, best_metric=config.best_metric,
                                    best_mode=config.best_mode, read_only=True)
  try:
    step = checkpoint.select_step(manager, step=step, which=which)
    abstract = _abstract_state(config, method, mesh, optim.from_config(config.optimizer))
    checkpoint.check_variables(manager, step, abstract, _describe_model(config))
    state = checkpoint.restore(manager, step, abstract)
  finally:
    manager.close()
  return method, state["variables"], step


# ---------------------------------------------------------------------- evaluation


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
  return jax.jit(method.predict_outputs, in_shardings=(rep, data), out_shardings=rep)


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


# ---------------------------------------------------------------------- training


def _summarize(pending: list[tuple[int, dict[str, jax.Array]]], where: str) -> dict[str, float]:
  """Means of the metrics of the steps since the last summary (one host sync).

  Raises:
    FloatingPointError: naming the first step with a non-finite term, and its terms.
  """
  fetched = jax.device_get(pending)
  for step, values in fetched:
    bad = sorted(k for k, v in values.items() if not np.isfinite(v))
    if bad:
      terms = ", ".join(f"{k}={float(values[k])}" for k in bad)
      raise FloatingPointError(f"step {step}: non-finite training metrics {terms}; stopped "
                               f"without saving (last good checkpoint: {where})")
  return {k: float(np.mean([v[k] for _, v in fetched])) for k in fetched[0][1]}


def _eval_scalars(result: dict[str, Any], best_metric: str) -> dict[str, float]:
  """Flat scalars of an evaluation result ('eval/<action mean>', 'eval/overall_<metric>')
  for the writer and the checkpoint metrics; checks that `best_metric` is one of them."""
  out = {f"eval/{k}": v for k, v in result["action_mean"].items()}
  out.update({f"eval/overall_{k}": v for k, v in result["overall"].items()})
  if best_metric and f"eval/{best_metric}" not in out:
    raise ValueError(f"config.best_metric: {best_metric!r} is not an evaluation metric; "
                     f"known: {', '.join(k.split('/', 1)[1] for k in out)}")
  return out


def _check_config(config: Any, mesh: jax.sharding.Mesh) -> None:
  """One-line ValueErrors for loop settings the loop cannot run with."""
  sharding.check_batch_size("batch_size", config.batch_size, mesh)
  sharding.check_batch_size("eval_batch_size", config.eval_batch_size, mesh)
  lowest = {"num_steps": 0, "log_every": 1, "eval_every": 1, "checkpoint_every": 1}
  for name, low in lowest.items():
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
      raise ValueError(f"config.{name}: expected an int >= {low}, got {value!r}")


def _init_or_resume(config: Any, workdir: str, method: methods.Method, tx: Any,
                    mesh: jax.sharding.Mesh, manager: Any, train_iter: Any,
                    init_key: jax.Array) -> tuple[Any, int]:
  """(train state, step): restored from the latest checkpoint (also moving `train_iter`
  to its saved position), or fresh at step 0."""
  start = manager.latest_step() or 0
  if not start:
    batch = data_lib.dummy_batch(config, 2, with_image=method.data_kind == "image")
    return steps.jit_init_state(method, tx, mesh)(init_key, batch), 0
  abstract = _abstract_state(config, method, mesh, tx)
  checkpoint.check_variables(manager, start, abstract, _describe_model(config))
  state = checkpoint.restore(manager, start, abstract, train_iter)
  logging.info("Resumed from %s at step %d", checkpoint.directory(workdir), start)
  return state, start


class _Evaluator:
  """Periodic evaluation on one evaluation iterator, rewound before every pass."""

  def __init__(self, config: Any, method: methods.Method, mesh: jax.sharding.Mesh):
    self._config, self._method, self._mesh = config, method, mesh
    self._iter, self._start = None, None

  def __call__(self, variables: Any) -> dict[str, Any]:
    if self._iter is None:
      self._iter = data_lib.eval_iterator(self._config)
      self._start = self._iter.get_state()
    self._iter.set_state(self._start)
    return evaluate(self._method, variables, self._iter, mesh=self._mesh,
                    num_samples=self._config.num_samples,
                    max_batches=self._config.num_eval_batches,
                    ordinal_tol=self._config.data.tie_tol)


def train_and_evaluate(config: Any, workdir: str) -> dict[str, Any]:
  """Trains `config`'s method, evaluating and checkpointing periodically; resumes from the
  latest checkpoint in `workdir` when there is one.

  Args:
    config: the experiment config (`configs/*.py`).
    workdir: folder for checkpoints and metric logs.

  Returns:
    {'step': last step, 'train': mean training metrics of the last logging interval,
     'eval': the last `evaluate` result (None when preempted before any evaluation),
     'preempted': whether it stopped early on a preemption (orbax's multi-process
     sync, or SIGTERM after `preemption.install()`), having saved the step it was on}.

  Raises:
    FloatingPointError: a non-finite training metric (the step and terms are named; no
      checkpoint is written after it).
    ValueError: bad config, data, or a checkpoint that does not match the config.
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  mesh = sharding.make_mesh()
  _check_config(config, mesh)
  method = methods.get_method(config)
  tx = optim.from_config(config.optimizer)
  lr_fn = optim.learning_rate_fn(config.optimizer)
  keys = rngs(config.seed)
  train_iter = data_lib.train_iterator(config, seed=keys["data"])
  manager = checkpoint.make_manager(workdir, keep=config.keep_checkpoints,
                                    best_metric=config.best_metric, best_mode=config.best_mode)
  writer = metric_writers.create_default_writer(workdir, just_logging=jax.process_index() > 0)
  bar = tqdm.tqdm(total=config.num_steps, unit="step", dynamic_ncols=True,
                  disable=not sys.stdout.isatty() or jax.process_index() > 0)
  try:
    state, start = _init_or_resume(config, workdir, method, tx, mesh, manager, train_iter,
                                   keys["init"])
    if not start:
      writer.write_hparams(_flat(config.to_dict()))
    bar.update(start)
    report = periodic_actions.ReportProgress(num_train_steps=config.num_steps, writer=writer,
                                             every_steps=config.log_every)
    train_step = steps.jit_train_step(method, tx, mesh)
    evaluator = _Evaluator(config, method, mesh)
    dropout_key = jax.make_array_from_callback(  # device_put cannot span processes
        (), sharding.replicated(mesh), lambda index: keys["dropout"][index])
    pending, summary, result, last_saved, preempted = [], {}, None, start, False
    for step in range(start + 1, config.num_steps + 1):
      batch = sharding.shard_batch(pipeline.device_fields(next(train_iter)), mesh)
      state, step_metrics = train_step(state, batch, dropout_key)
      pending.append((step, step_metrics))
      report(step)
      bar.update()
      preempted = ((manager.reached_preemption(step) or preemption.requested())
                   and step < config.num_steps)  # SIGTERM: save this step and stop
      do_eval = step == config.num_steps or step % config.eval_every == 0
      do_save = do_eval or preempted or step % config.checkpoint_every == 0
      if do_save or step % config.log_every == 0:  # the NaN/inf check precedes every save
        summary = _summarize(pending, os.path.join(manager.directory, str(last_saved))
                             if last_saved else "none")
        pending = []
        writer.write_scalars(step, {**{f"train/{k}": v for k, v in summary.items()},
                                    "train/learning_rate": float(lr_fn(step - 1))})
        bar.set_postfix(loss=f"{summary['loss']:.4g}")
      scalars = None
      if do_eval:
        with report.timed("eval"):
          result = evaluator(state["variables"])
        scalars = _eval_scalars(result, config.best_metric)
        writer.write_scalars(step, scalars)
        figures.write_eval_figures(result, workdir, step, writer=writer)
      if do_save:  # evaluated steps carry their metrics (best-checkpoint tracking)
        metrics = {k.split("/", 1)[1]: v for k, v in scalars.items()} if scalars else None
        checkpoint.save(manager, step, state, train_iter, metrics=metrics)
        last_saved = step
      if preempted:
        logging.warning("Preempted: saved step %d; run again to resume", step)
        break
    if result is None and not preempted:  # nothing left to train: evaluate the restored state
      result = evaluator(state["variables"])
      figures.write_eval_figures(result, workdir, start, writer=writer)
  finally:  # also on errors: the last good checkpoint finishes writing
    manager.wait_until_finished()
    manager.close()
    bar.close()
    writer.close()
  return {"step": int(jax.device_get(state["step"])), "train": summary, "eval": result,
          "preempted": preempted}


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': 1}} -> {'a.b': 1} (hparams for the writers)."""
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
  return out


# ---------------------------------------------------------------------- launchers


def parse_flags(argv: list[str]) -> list[str]:
  """absl `flags_parser` for launchers (`app.run(main, flags_parser=parse_flags)`): flag
  errors exit with one line, also those inside a config file (absl would print the
  config's traceback) and a `--config.FIELD=...` naming no field."""
  try:
    rest = flags.FLAGS(argv)
    if "config" in flags.FLAGS:  # a config file that failed to load only errs when read
      getattr(flags.FLAGS["config"].value, "keys", None)
    return rest
  except OSError as e:
    _exit_flags_error(f"--config: {str(e).strip().splitlines()[-1].strip()}")
  except flags.Error as e:  # the last line of an embedded traceback is the error itself
    _exit_flags_error(str(e).strip().splitlines()[-1].strip())
  except (AttributeError, KeyError) as e:  # ml_collections: unknown field of a locked config
    text = str(e)
    name = re.search(r"[A-Za-z_]\w*", text)
    name = name.group(0) if name else ""
    arg = next((a for a in argv[1:] if a.startswith("--config.") and
                name in a.split("=", 1)[0].split(".")), f"--config.{name}")
    path = arg.split("=", 1)[0][len("--"):]
    hint = re.search(r'Did you mean "([^"]+)"', text)
    hint = f" (did you mean {path.rsplit('.', 1)[0]}.{hint.group(1)}?)" if hint else ""
    _exit_flags_error(f"{arg}: {path} names no config field{hint}{_known_fields(path, argv)}")


def _exit_flags_error(message: str) -> None:
  sys.stderr.write(f"FATAL Flags parsing error: {message}\n")
  sys.exit(1)


def _known_fields(path: str, argv: list[str]) -> str:
  """' (config.data has: a, b, ...)' for the deepest existing parent of `path`, from the
  `--config=FILE[:ARG]` in `argv` (loaded again: absl kept no value after the error)."""
  spec = next((a.split("=", 1)[1] for a in argv if a.startswith("--config=")), "")
  file, _, arg = spec.partition(":")
  try:
    loader = importlib.util.spec_from_file_location("_jaxpose_config_for_error", file)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    node = module.get_config(arg) if arg else module.get_config()
  except Exception:  # pylint: disable=broad-except  # only a hint: never mask the error
    return ""
  parent = "config"
  for part in path.split(".")[1:-1]:
    if not hasattr(node, "keys") or part not in node:
      break
    node, parent = node[part], f"{parent}.{part}"
  return f" ({parent} has: {', '.join(sorted(node.keys()))})" if hasattr(node, "keys") else ""


# Libraries whose INFO records (per-checkpoint orbax chatter, tfds dataset loading) drown
# the training log; their warnings and errors still show, except orbax's warning that a
# checkpoint between evaluations carries no metrics (by design).
_QUIET = ("/orbax/", "/tensorflow_datasets/")
_EXPECTED = "Requested `tracked_metric`"


def _loud(record: Any) -> bool:
  """False for INFO/DEBUG records of the quiet libraries."""
  if str(record.msg).startswith(_EXPECTED):
    return False
  return record.levelno >= std_logging.WARNING or not any(q in record.pathname for q in _QUIET)


def quiet_library_logs() -> None:
  """Hides the INFO logs of `_QUIET` libraries and of JAX's backend probing (launchers)."""
  logger = logging.get_absl_logger()
  if _loud not in logger.filters:
    logger.addFilter(_loud)
  std_logging.getLogger("jax._src.xla_bridge").setLevel(std_logging.WARNING)
