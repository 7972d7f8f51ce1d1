r"""Trains a jaxpose config; resumes from the latest checkpoint in --workdir when there is one.

  python launch/train.py --config=configs/supervised_lifting.py --workdir=/tmp/sl
  python launch/train.py --config=configs/supervised_lifting.py:quick --workdir=/tmp/sl_quick \
      --config.seed=1

Multi-host: launch the same command on every host with JAX's coordinator flags (or the
cluster's environment, e.g. SLURM, TPU pods): `jax.distributed.initialize()` runs when
--coordinator_address is given or the environment names more than one process.

Bad configs, data or checkpoints and non-finite losses end the run with one line
`error: ...` (exit status 1); --verbosity=1 also logs the traceback. SIGTERM (a
scheduler's preemption notice) saves a checkpoint at the current step and exits with
status 75 (EX_TEMPFAIL): run the same command again to resume.
"""

import os

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jaxpose.train import preemption, train_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/supervised_lifting.py[:quick].",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for checkpoints and metric logs.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "Multi-host: host:port of process 0 (with the two below).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: process count.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
flags.mark_flags_as_required(["config", "workdir"])


def _multi_process() -> bool:
  """Whether this is one process of several (flags, or a cluster's environment)."""
  env = os.environ
  return bool(_COORDINATOR.value or env.get("JAX_COORDINATOR_ADDRESS")
              or env.get("SLURM_NTASKS", "1") != "1"
              or env.get("OMPI_COMM_WORLD_SIZE", "1") != "1"
              or "," in env.get("TPU_WORKER_HOSTNAMES", ""))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _multi_process():
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  preemption.install()  # one process; several use JAX's preemption sync
  train_lib.quiet_library_logs()
  logging.info("JAX processes: %d, devices: %s", jax.process_count(), jax.devices())
  try:
    result = train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (ValueError, FloatingPointError) as e:
    logging.debug("Traceback:", exc_info=True)
    raise SystemExit(f"error: {e}") from None
  if result["preempted"]:
    print(f"preempted: saved step {result['step']}; run the same command to resume")
    raise SystemExit(preemption.EXIT_CODE)
  overall = result["eval"]["action_mean"]
  print(f"step={result['step']} " + " ".join(f"{k}={v:.4g}" for k, v in overall.items()))


if __name__ == "__main__":
  app.run(main, flags_parser=train_lib.parse_flags)
