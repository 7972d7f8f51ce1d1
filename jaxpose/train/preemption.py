"""SIGTERM in a one-process run: a flag the training loop polls to checkpoint and stop.

Schedulers announce preemption with SIGTERM and kill the process a grace period later.
`launch/train.py` calls `install()`; `train_and_evaluate` then saves a checkpoint at the
step it is on, stops, and the launcher exits with `EXIT_CODE`, so that the same command
resumes from there. A second SIGTERM kills at once (the default action).

Runs of several processes are left to JAX's preemption sync service (orbax
`CheckpointManager.reached_preemption`): it makes every process stop at the same step,
which a flag local to one process could not; `install` does nothing there.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import jax

# sysexits.h EX_TEMPFAIL, "try again later": the run stopped early on purpose and the
# same command resumes it. Not 0, so that job controllers (Kubernetes Jobs, retry
# loops) do not take a preempted run for a finished one.
EXIT_CODE = 75

_requested = threading.Event()


def _handle(signum: int, frame: Any) -> None:
  del frame
  _requested.set()
  signal.signal(signum, signal.SIG_DFL)  # a second signal kills at once


def install(signals: tuple[int, ...] = (signal.SIGTERM,)) -> bool:
  """Makes `signals` set the preemption flag (main thread, one-process runs only).

  Returns:
    Whether the handler was installed (False when several JAX processes run).
  """
  if jax.process_count() > 1:
    return False
  for signum in signals:
    signal.signal(signum, _handle)
  return True


def requested() -> bool:
  """Whether a preemption signal arrived since `install` (or the last `reset`)."""
  return _requested.is_set()


def reset() -> None:
  """Clears the flag (a process that trains again after a preemption, tests)."""
  _requested.clear()
