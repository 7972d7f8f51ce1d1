"""The training loop `train_and_evaluate`, `restore` of a trained run, and `evaluate`
(`jaxpose.train.evaluation`).

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

import importlib.util
import json
import logging as std_logging
import os
import re
import sys
import types
from typing import Any

import jax
import numpy as np
import tqdm
from absl import flags, logging

from jaxpose import methods
from jaxpose.data import pipeline
from jaxpose.train import checkpoint, figures, optim, preemption, sharding, steps, writers
from jaxpose.train.evaluation import evaluate  # noqa: F401  (train_lib.evaluate, the API)
from jaxpose.train import data as data_lib


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
