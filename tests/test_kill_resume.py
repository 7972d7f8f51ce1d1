"""Training survives being killed or preempted: SIGTERM saves the current step, and
scripts/kill_resume.py's SIGKILLs at random moments leave readable checkpoints and a
final state bit-identical to an uninterrupted run."""

import importlib.util
import os
import pathlib
import re
import signal
import subprocess
import sys

import grain
import jax
import pytest

from jaxpose.train import checkpoint, preemption, train_lib
from jaxpose.train import data as data_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "supervised_lifting.py") + ":quick"
# A width-16 lifter: 200 steps take seconds, a checkpoint every 10, evaluations at 100, 200.
OVERRIDES = {"data.source": "mocap_resample", "model.width": 16, "model.num_stages": 1,
             "batch_size": 16, "eval_batch_size": 32, "num_eval_batches": 1,
             "num_steps": 200, "log_every": 10, "eval_every": 100, "checkpoint_every": 10}


def _config(**overrides):
  spec = importlib.util.spec_from_file_location("sl_config", CONFIG.split(":")[0])
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.update_from_flattened_dict({**OVERRIDES, **overrides})
  return config


class _Counting(grain.DatasetIterator):
  """A grain iterator that counts the batches taken from it."""

  def __init__(self, it):
    super().__init__(it)
    self.it, self.count = it, 0

  def __next__(self):
    self.count += 1
    return next(self.it)

  def get_state(self):
    return self.it.get_state()

  def set_state(self, state):
    self.it.set_state(state)


@pytest.fixture
def sigterm_handler():
  """Restores this process's SIGTERM handler and the preemption flag after the test."""
  before = signal.getsignal(signal.SIGTERM)
  preemption.reset()
  yield
  signal.signal(signal.SIGTERM, before)
  preemption.reset()


def test_sigterm_sets_the_flag_once(sigterm_handler):
  del sigterm_handler
  assert preemption.install() and not preemption.requested()
  os.kill(os.getpid(), signal.SIGTERM)
  assert preemption.requested()
  assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # a second one kills


def test_several_processes_keep_jax_preemption_sync(sigterm_handler, monkeypatch):
  del sigterm_handler
  monkeypatch.setattr(jax, "process_count", lambda: 2)
  before = signal.getsignal(signal.SIGTERM)
  assert not preemption.install()
  assert signal.getsignal(signal.SIGTERM) is before


def test_preemption_saves_the_current_step_and_resumes_there(tmp_path, monkeypatch):
  config = _config(num_steps=12, checkpoint_every=5, eval_every=12, log_every=5,
                   **{"data.num_threads": 0})
  polls = []
  monkeypatch.setattr(preemption, "requested", lambda: polls.append(1) or len(polls) >= 7)
  out = train_lib.train_and_evaluate(config, str(tmp_path))
  assert out["preempted"] and out["step"] == 7 and out["eval"] is None
  manager = checkpoint.make_manager(str(tmp_path), read_only=True)
  assert list(manager.all_steps()) == [5, 7]  # step 7 is no periodic checkpoint
  manager.close()

  monkeypatch.setattr(preemption, "requested", lambda: False)
  make, counted = data_lib.train_iterator, []
  monkeypatch.setattr(data_lib, "train_iterator", lambda config, seed: counted.append(
      _Counting(make(config, seed=seed))) or counted[-1])
  out = train_lib.train_and_evaluate(config, str(tmp_path))
  assert not out["preempted"] and out["step"] == 12 and out["eval"]["num_examples"] == 32
  assert counted[0].count == 5  # steps 8..12: it went on from the saved step 7
  assert train_lib.restore(config, str(tmp_path), which="latest")[2] == 12


def test_sigterm_to_the_launcher_saves_and_exits_75(tmp_path):
  """A real SIGTERM once training runs: exit status 75 and a checkpoint of the step it was
  on (checkpoint_every and eval_every beyond the run: no other checkpoint exists)."""
  flags = [f"--config={CONFIG}", *(f"--config.{k}={v}" for k, v in OVERRIDES.items()),
           "--config.checkpoint_every=1000", "--config.eval_every=1000",
           f"--workdir={tmp_path}"]
  proc = subprocess.Popen([sys.executable, str(ROOT / "launch" / "train.py"), *flags],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
  try:
    for line in proc.stderr:  # the loop logs progress every 10 steps
      if "(20/200)" in line:
        proc.send_signal(signal.SIGTERM)
        break
    out, err = proc.communicate(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()
  assert proc.returncode == preemption.EXIT_CODE, err[-3000:]
  saved = re.fullmatch(r"preempted: saved step (\d+); run the same command to resume\n", out)
  assert saved, out
  manager = checkpoint.make_manager(str(tmp_path), read_only=True)
  assert list(manager.all_steps()) == [int(saved.group(1))] and 20 <= int(saved.group(1)) < 200
  manager.close()


def test_kill_anywhere_harness(tmp_path):
  """10 SIGKILLs and one SIGTERM at seeded moments of a 200-step run (scripts/kill_resume.py
  prints what every kill left and what it compared)."""
  flags = [f"--config={CONFIG}", *(f"--config.{k}={v}" for k, v in OVERRIDES.items())]
  proc = subprocess.run(
      [sys.executable, str(ROOT / "scripts" / "kill_resume.py"), *flags,
       f"--workdir={tmp_path / 'kr'}", "--kills=10", "--seed=0"],
      capture_output=True, text=True, timeout=600, cwd=ROOT)
  report = proc.stdout
  assert proc.returncode == 0, report + proc.stderr[-2000:]
  assert "interrupted run: 10 kills, 12 processes" in report
  assert report.count(" restored") == 10 and "unreadable" not in report
  assert "SIGTERM: " in report and "exit status 75, preempted: saved step" in report
  compared = re.search(r"final train state: (\d+) arrays compared, 0 differ", report)
  assert compared and int(compared.group(1)) > 20, report  # params, BN stats, Adam moments
  assert report.strip().endswith("OK: bit-identical to the uninterrupted run")
