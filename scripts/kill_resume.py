r"""Kill-anywhere check: SIGKILLs launch/train.py at random moments, resumes it, compares.

  python scripts/kill_resume.py --config=configs/supervised_lifting.py:quick \
      --workdir=/tmp/kill_resume --kills=10 --seed=0 [--config.FIELD=VALUE ...]

1. Trains the config uninterrupted in WORKDIR/uninterrupted.
2. Trains it again in WORKDIR/interrupted with the same command, interrupting the
   process `--kills` times with SIGKILL (and, with --sigterm, once more with SIGTERM at
   a random place among them), restarting it each time, then lets it finish.
   Interruption k waits for a target step t_k (seeded draws among the checkpointed steps
   before 90 % of the run, sorted, so that they spread over the whole run) and for the
   process to be up (its `JAX processes:` log line: the imports before it touch no
   file), then strikes a random d_k in [--min_delay, --max_delay] seconds after this
   process's checkpoint folder of step >= t_k appears: during an asynchronous save, the
   deletion of old checkpoints, an evaluation or training steps; when t_k is saved
   already, during the restore and compilation of the restarted process.
3. After every SIGKILL, copies the checkpoint folder as the kill left it and restores
   every checkpoint orbax lists there: the train state into the config's model, the
   data-iterator position, and the choice of the best checkpoint (their metrics).
   After the SIGTERM, requires exit status 75 and a checkpoint of the step it was on.
4. Compares the final checkpoints of both runs: every array of the train state (step,
   params, batch-norm statistics, optimiser state) bit for bit, the data positions, and
   the launchers' final evaluation lines.

Prints a summary; exit status 0 when all of it holds, 1 on a mismatch, an unreadable
checkpoint or a failed run, 2 when the training finished before every interruption
landed (train longer or lower --max_delay). All runs share a persistent XLA compilation
cache (WORKDIR/jax_cache): restarts do not compile again. Config overrides must be
written `--config.FIELD=VALUE`; logs of every process are in WORKDIR/logs.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import filecmp
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import grain.checkpoint as grain_checkpoint
import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import app, flags, logging
from ml_collections import config_flags

from jaxpose.train import checkpoint, preemption, train_lib
from jaxpose.train import data as data_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "launch", "train.py")
READY = "JAX processes:"  # launch/train.py logs this once its imports are done
PREEMPTED = re.compile(r"^preempted: saved step (\d+);", re.M)  # launch/train.py's line

_CONFIG = config_flags.DEFINE_config_file("config", None, "Experiment config file[:variant].",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "A new (or empty) folder for both runs.")
_KILLS = flags.DEFINE_integer("kills", 10, "SIGKILLs to deliver before letting it finish.")
_SIGTERM = flags.DEFINE_boolean("sigterm", True, "Also preempt it once with SIGTERM.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the interruption schedule.")
_MIN_DELAY = flags.DEFINE_float("min_delay", 0.0, "Earliest strike, seconds after the "
                                "target step's checkpoint folder appears.")
_MAX_DELAY = flags.DEFINE_float("max_delay", 0.5, "Latest strike, seconds after the "
                                "target step's checkpoint folder appears.")
_TIMEOUT = flags.DEFINE_float("timeout", 600.0, "Seconds one training process may run.")
_CACHE = flags.DEFINE_boolean("compilation_cache", True,
                              "Share a persistent XLA compilation cache between the runs.")
flags.mark_flags_as_required(["config", "workdir"])


@dataclasses.dataclass
class Run:
  """One launcher process: how it ended and what it printed."""
  returncode: int
  signal: str  # 'SIGKILL' / 'SIGTERM' when the harness interrupted it, else ''
  stdout: str
  log: str
  seconds: float


def _command(workdir: str) -> list[str]:
  config_args = [a for a in sys.argv[1:] if a.startswith(("--config=", "--config."))]
  return [sys.executable, TRAIN, *config_args, f"--workdir={workdir}"]


def _env(root: str) -> dict[str, str]:
  env = dict(os.environ)
  if _CACHE.value:
    env.update(JAX_COMPILATION_CACHE_DIR=os.path.join(root, "jax_cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return env


def _reached(workdir: str, since: float) -> int:
  """The highest step with a finished checkpoint folder, or a temporary one created after
  `since` (wall time: not one a killed process left behind); -1 when none."""
  folder = checkpoint.directory(workdir)
  try:
    names = os.listdir(folder)
  except FileNotFoundError:
    return -1
  steps = []
  for name in names:
    step = name.split(".")[0]
    try:  # orbax renames and deletes folders meanwhile
      if step.isdigit() and (name == step or
                             os.stat(os.path.join(folder, name)).st_mtime >= since):
        steps.append(int(step))
    except FileNotFoundError:
      continue
  return max(steps, default=-1)


def run_train(workdir: str, root: str, log: str,
              strike: tuple[int, float, signal.Signals] | None = None) -> Run:
  """Runs launch/train.py on `workdir` (stderr to `log`). With `strike` = (step, delay,
  signal), sends `signal` `delay` seconds after the process is up and a checkpoint
  folder of `step` or later appeared; then waits for the process to end."""
  up = threading.Event()
  start, since = time.monotonic(), time.time()
  with open(log, "w") as log_file, open(log + ".stdout", "w+") as out:
    proc = subprocess.Popen(_command(workdir), env=_env(root), cwd=ROOT, text=True,
                            stdout=out, stderr=subprocess.PIPE)

    def copy_stderr():
      for line in proc.stderr:
        log_file.write(line)
        if READY in line:
          up.set()

    reader = threading.Thread(target=copy_stderr, daemon=True)
    reader.start()
    sent, deadline = "", None
    try:
      while proc.poll() is None and time.monotonic() - start < _TIMEOUT.value:
        now = time.monotonic()
        if strike and deadline is None and up.is_set() and _reached(workdir, since) >= strike[0]:
          deadline = now + strike[1]
        if deadline is not None and now >= deadline and not sent:
          proc.send_signal(strike[2])
          sent = strike[2].name
        time.sleep(0.005)
    finally:
      if proc.poll() is None:  # ran past --timeout
        proc.kill()
      proc.wait()
      reader.join()
    out.seek(0)
    return Run(proc.returncode, sent, out.read(), log, time.monotonic() - start)


def check_checkpoints(config: Any, workdir: str, iterator: Any) -> tuple[list[int], list[str]]:
  """Restores every checkpoint orbax lists in `workdir`: (steps, problems)."""
  if not os.path.isdir(checkpoint.directory(workdir)):
    return [], []
  manager = checkpoint.make_manager(workdir, best_metric=config.best_metric,
                                    best_mode=config.best_mode, read_only=True)
  steps, problems = list(manager.all_steps()), []
  try:
    for step in steps:
      try:
        train_lib.restore(config, workdir, step=step)
        manager.restore(step, args=ocp.args.Composite(
            **{checkpoint.DATA: grain_checkpoint.CheckpointRestore(iterator)}))
      except Exception as e:  # pylint: disable=broad-except  # reported, not raised
        problems.append(f"step {step}: {type(e).__name__}: {_first_line(e)}")
    if steps:
      checkpoint.select_step(manager, which="best")
  except Exception as e:  # pylint: disable=broad-except
    problems.append(f"best checkpoint: {type(e).__name__}: {_first_line(e)}")
  finally:
    manager.close()
  return steps, problems


def _first_line(e: Exception) -> str:
  return (str(e).strip().splitlines() or [""])[0][:200]


def _temporary(workdir: str) -> list[str]:
  """Checkpoint folders a kill left half-written (orbax's temporary names)."""
  folder = checkpoint.directory(workdir)
  return sorted(n for n in os.listdir(folder) if "tmp" in n) if os.path.isdir(folder) else []


def _latest(workdir: str) -> int | None:
  manager = checkpoint.make_manager(workdir, read_only=True)
  try:
    return manager.latest_step()
  finally:
    manager.close()


def compare_final(a: str, b: str) -> tuple[int, list[str]]:
  """(number of arrays compared, differences) between the latest checkpoints of two runs."""
  steps = [_latest(a), _latest(b)]
  if steps[0] != steps[1] or steps[0] is None:
    return 0, [f"latest checkpoints differ: step {steps[0]} vs {steps[1]}"]
  paths = [os.path.join(checkpoint.directory(w), str(steps[0])) for w in (a, b)]
  states = [ocp.StandardCheckpointer().restore(os.path.join(p, checkpoint.STATE))
            for p in paths]
  if jax.tree.structure(states[0]) != jax.tree.structure(states[1]):
    return 0, ["the train states have different structures"]
  leaves = [jax.tree_util.tree_flatten_with_path(s)[0] for s in states]
  diffs = []
  for (path, x), (_, y) in zip(*leaves):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
      diffs.append(f"state{jax.tree_util.keystr(path)} differs")
  data = [os.path.join(p, checkpoint.DATA) for p in paths]
  names = sorted(n for n in os.listdir(data[0]) if n.startswith("process_"))
  _, mismatch, errors = filecmp.cmpfiles(*data, names, shallow=False)
  diffs += [f"data position {name} differs" for name in mismatch + errors]
  return len(leaves[0]), diffs


def _schedule(config: Any, rng: np.random.Generator) -> list[tuple[int, float, signal.Signals]]:
  """The interruptions: (target step, delay, signal), by increasing target."""
  targets = [s for s in range(1, config.num_steps) if s < 0.9 * config.num_steps and (
      s % config.checkpoint_every == 0 or s % config.eval_every == 0)] or [0]
  count = _KILLS.value + _SIGTERM.value
  signals = [signal.SIGKILL] * count
  if _SIGTERM.value:
    signals[rng.integers(count)] = signal.SIGTERM
  return list(zip(np.sort(rng.choice(targets, count)).tolist(),
                  rng.uniform(_MIN_DELAY.value, _MAX_DELAY.value, count).tolist(), signals))


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = os.path.abspath(_WORKDIR.value)
  if os.path.isdir(root) and os.listdir(root):
    raise app.UsageError(f"--workdir: {root} is not empty; give a new folder")
  if not 0 <= _MIN_DELAY.value <= _MAX_DELAY.value:
    raise app.UsageError("--min_delay, --max_delay: expected 0 <= min_delay <= max_delay")
  logging.set_verbosity(logging.WARNING)
  train_lib.quiet_library_logs()
  reference, interrupted = (os.path.join(root, n) for n in ("uninterrupted", "interrupted"))
  logs = os.path.join(root, "logs")
  os.makedirs(logs)
  config = _CONFIG.value
  schedule = _schedule(config, np.random.default_rng(_SEED.value))

  ref = run_train(reference, root, os.path.join(logs, "uninterrupted.log"))
  if ref.returncode != 0:
    print(f"FAIL: the uninterrupted run exited with {ref.returncode}; see {ref.log}")
    return 1
  print(f"uninterrupted run: {ref.seconds:.1f} s")

  iterator = data_lib.train_iterator(config, seed=train_lib.rngs(config.seed)["data"])
  checker = concurrent.futures.ThreadPoolExecutor(1)  # checks overlap the next process
  reports, problems, runs = [], [], []
  while True:
    strike = schedule[len(runs)] if len(runs) < len(schedule) else None
    run = run_train(interrupted, root, os.path.join(logs, f"interrupted_{len(runs)}.log"),
                    strike)
    runs.append(run)
    if run.signal == "SIGKILL":
      snapshot = os.path.join(root, "after_kills", str(len(runs)))  # as the kill left it
      os.makedirs(snapshot)
      if os.path.isdir(checkpoint.directory(interrupted)):
        shutil.copytree(checkpoint.directory(interrupted), checkpoint.directory(snapshot))
      reports.append((len(runs), strike, _temporary(snapshot),
                      checker.submit(check_checkpoints, config, snapshot, iterator)))
    elif run.signal == "SIGTERM":
      saved, latest = PREEMPTED.search(run.stdout), _latest(interrupted)
      reports.append((len(runs), strike, [], f"exit status {run.returncode}, "
                      f"{saved.group(0).rstrip(';') if saved else 'no preemption line'}, latest "
                      f"checkpoint {latest}"))
      if run.returncode != preemption.EXIT_CODE or not saved or int(saved.group(1)) != latest:
        problems.append(f"SIGTERM: expected exit status {preemption.EXIT_CODE} and a "
                        f"checkpoint of the step it was on; see {run.log}")
    else:
      break
  checker.shutdown()
  _summarize(runs, reports, problems)
  last = runs[-1]
  if last.returncode != 0:
    problems.append(f"the final run exited with {last.returncode}; see {last.log}")
  elif len(runs) <= len(schedule):
    print(f"INCOMPLETE: the training finished after {len(runs) - 1} of {len(schedule)} "
          "interruptions (train longer or lower --max_delay)")
    return 2
  else:
    count, diffs = compare_final(reference, interrupted)
    problems += diffs
    print(f"final train state: {count} arrays compared, {len(diffs)} differ")
    final = [r.stdout.strip().splitlines()[-1:] for r in (ref, last)]
    if final[0] != final[1]:
      problems.append(f"final evaluations differ: {final[0]} vs {final[1]}")
  for p in problems:
    print(f"  {p}")
  print("FAIL" if problems else "OK: bit-identical to the uninterrupted run")
  return 1 if problems else 0


def _summarize(runs: list[Run], reports: list, problems: list[str]) -> None:
  kills = sum(r.signal == "SIGKILL" for r in runs)
  print(f"interrupted run: {kills} kills, {len(runs)} processes, "
        f"{sum(r.seconds for r in runs):.1f} s")
  for number, (target, delay, sig), temporary, outcome in reports:
    head = f"  {number:2d} {sig.name}: {delay:.2f} s after step >= {target}:"
    if isinstance(outcome, str):  # SIGTERM
      print(f"{head} {outcome}")
      continue
    steps, bad = outcome.result()
    problems += [f"after kill {number}: {p}" for p in bad]
    print(f"{head} checkpoints {steps} restored{f' ({len(bad)} unreadable)' if bad else ''}"
          f"{'; half-written: ' + ', '.join(temporary) if temporary else ''}")


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)), flags_parser=train_lib.parse_flags)
