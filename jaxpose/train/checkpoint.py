"""Orbax checkpoints of the train state plus the grain iterator state: last N, best, resume.

Layout: `<workdir>/checkpoints/<step>/{state, data, metrics}`. `state` is the whole train
state (`ocp.args.StandardSave`, shardings preserved), `data` the grain iterator position
(one JSON file per process, `grain.checkpoint`), `metrics` the evaluation metrics the
best checkpoint is chosen by. Orbax writes each step into a temporary folder and renames
it when complete, so a run killed at any moment leaves only whole checkpoints behind.
Kept: the `keep` latest steps and the best one by `best_metric`.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import grain.checkpoint as grain_checkpoint
import jax
import orbax.checkpoint as ocp

STATE, DATA = "state", "data"
SUBDIR = "checkpoints"
_policies = ocp.checkpoint_managers


def directory(workdir: str) -> str:
  """Where a run's checkpoints live: <workdir>/checkpoints (absolute)."""
  return os.path.join(os.path.abspath(os.path.expanduser(workdir)), SUBDIR)


TRASH = "deleted"  # where orbax moves checkpoints it drops, before deleting them


def make_manager(workdir: str, *, keep: int = 3, best_metric: str = "",
                 best_mode: str = "min", read_only: bool = False) -> ocp.CheckpointManager:
  """A CheckpointManager keeping the `keep` latest steps and the best by `best_metric`.

  Args:
    workdir: the run's folder (checkpoints go to its `checkpoints/`).
    keep: how many of the latest checkpoints to keep (>= 1).
    best_metric: key of the metrics dict passed to `save`; '' = no best tracking
      ('best' then means 'latest').
    best_mode: 'min' (errors) or 'max' (accuracies).
    read_only: open for restoring only (creates nothing).
  """
  if keep < 1:
    raise ValueError(f"keep: expected at least 1 checkpoint to keep, got {keep}")
  if best_mode not in ("min", "max"):
    raise ValueError(f"best_mode: expected 'min' or 'max', got {best_mode!r}")
  policies = [_policies.LatestN(n=keep)]
  best_fn = None
  if best_metric:
    best_fn = lambda metrics: metrics[best_metric]  # noqa: E731
    policies.append(_policies.BestN(get_metric_fn=best_fn, reverse=best_mode == "min", n=1,
                                    keep_checkpoints_without_metrics=False))
  options = ocp.CheckpointManagerOptions(
      preservation_policy=None if read_only else _policies.AnyPreservationPolicy(policies),
      best_fn=best_fn, best_mode=best_mode, create=not read_only, read_only=read_only,
      save_interval_steps=0 if read_only else 1,
      # A dropped step is renamed into TRASH in one atomic move (then emptied at the next
      # save), so a kill mid-deletion never leaves a listed but unreadable checkpoint;
      # temporary folders of killed saves are cleaned when the manager opens.
      todelete_subdir=None if read_only else TRASH, cleanup_tmp_directories=not read_only)
  handlers = {STATE: ocp.StandardCheckpointHandler(), DATA: grain_checkpoint.CheckpointHandler()}
  return ocp.CheckpointManager(directory(workdir), options=options, item_handlers=handlers)


def save(manager: ocp.CheckpointManager, step: int, state: Any, iterator: Any = None, *,
         metrics: dict[str, float] | None = None) -> bool:
  """Saves (asynchronously) the state and the iterator position at `step`, unless that
  step is already saved. Returns whether it saved."""
  if step in manager.all_steps():
    return False
  shutil.rmtree(os.path.join(manager.directory, TRASH), ignore_errors=True)
  args = {STATE: ocp.args.StandardSave(state)}
  if iterator is not None:
    args[DATA] = grain_checkpoint.CheckpointSave(iterator)
  return manager.save(step, args=ocp.args.Composite(**args), metrics=metrics, force=True)


def select_step(manager: ocp.CheckpointManager, *, step: int | None = None,
                which: str = "latest") -> int:
  """The step to restore: `step` if given (must exist), else the 'latest' or 'best' one."""
  steps = manager.all_steps()
  where = manager.directory
  if not steps:
    raise ValueError(f"{where}: no checkpoint found (train first with launch/train.py "
                     "--workdir=...)")
  if step is not None:
    if step not in steps:
      raise ValueError(f"step: no checkpoint at step {step} in {where}; saved: {list(steps)}")
    return step
  if which not in ("latest", "best"):
    raise ValueError(f"which: expected 'best' or 'latest', got {which!r}")
  best = manager.best_step() if which == "best" else None
  return best if best is not None else manager.latest_step()


def abstract(state: Any) -> Any:
  """Shape/dtype/sharding stand-ins of a state pytree (the restore target)."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, state)


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(path): tuple(leaf.shape) for path, leaf in leaves}


def check_variables(manager: ocp.CheckpointManager, step: int, abstract_state: Any,
                    model: str) -> None:
  """One-line ValueError unless the checkpoint's variables have the expected shapes.

  Args:
    manager: the checkpoint manager.
    step: the checkpoint step.
    abstract_state: the restore target (its 'variables' are compared).
    model: a description of the configured model, for the message.
  """
  where = os.path.join(manager.directory, str(step))
  meta = manager.item_metadata(step)
  meta = meta[STATE] if meta is not None else None
  if meta is None:
    raise ValueError(f"{where}: incomplete checkpoint (no state metadata); remove it or "
                     "choose another --step")
  saved = _shapes(getattr(meta, "tree", meta)["variables"])
  wanted = _shapes(abstract_state["variables"])
  order = lambda k: (not k.startswith("['params']"), k)  # noqa: E731  params first
  extra = sorted(set(saved) - set(wanted), key=order)
  missing = sorted(set(wanted) - set(saved), key=order)
  prefix = f"{where}: the checkpoint does not match the config's model {model}:"
  if extra or missing:
    parts = []
    if extra:
      parts.append(f"has {len(extra)} arrays the model lacks (e.g. variables{extra[0]})")
    if missing:
      parts.append(f"lacks {len(missing)} the model needs (e.g. variables{missing[0]})")
    raise ValueError(f"{prefix} it {' and '.join(parts)}")
  for key in sorted(wanted, key=order):
    if saved[key] != wanted[key]:
      raise ValueError(f"{prefix} variables{key} is {saved[key]} in the checkpoint, "
                       f"{wanted[key]} for the config")


def restore(manager: ocp.CheckpointManager, step: int, abstract_state: Any,
            iterator: Any = None) -> Any:
  """The state saved at `step` (laid out like `abstract_state`); with `iterator`, also
  moves that grain iterator to the saved position."""
  args = {STATE: ocp.args.StandardRestore(abstract_state)}
  if iterator is not None:
    args[DATA] = grain_checkpoint.CheckpointRestore(iterator)
  try:
    restored = manager.restore(step, args=ocp.args.Composite(**args))
  except (ValueError, KeyError, TypeError) as e:
    where = os.path.join(manager.directory, str(step))
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ValueError(f"{where}: cannot restore into the config's train state (model or "
                     f"optimizer differ?): {first}") from None
  return restored[STATE]
