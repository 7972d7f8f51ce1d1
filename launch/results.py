r"""Regenerates a results page: trains and evaluates a suite of experiments, writes markdown.

  python launch/results.py --suite=lifting --root=/tmp/jaxpose_results \
      --out=docs/results_lifting.md [--steps=4000] [--only=relative,supervised]

Finished experiments are cached in ROOT/<name>/result.json (and checkpoints resume), so
an interrupted run picks up where it stopped. The page is not overwritten unless
`--overwrite`.
"""

import os
import sys
import time

from absl import app, flags

from jaxpose import results
from jaxpose.train import preemption, train_lib

_SUITE = flags.DEFINE_enum("suite", "lifting", list(results.SUITES), "Experiment suite.")
_ROOT = flags.DEFINE_string("root", None, "Folder of the experiments' workdirs.", required=True)
_OUT = flags.DEFINE_string("out", None, "Markdown page to write.")
_STEPS = flags.DEFINE_integer("steps", 4000, "Training steps per experiment.")
_ONLY = flags.DEFINE_list("only", [], "Run only these experiments (no page).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --out page.")


def main(argv):
  del argv
  preemption.install()  # SIGTERM: the running experiment saves its step and exits 75
  train_lib.quiet_library_logs()
  if _OUT.value and os.path.exists(_OUT.value) and not _OVERWRITE.value:
    raise SystemExit(f"error: --out: {_OUT.value} exists; pass --overwrite to replace it")
  exps, claims = results.SUITES[_SUITE.value](_STEPS.value)
  unknown = sorted(set(_ONLY.value) - {e.name for e in exps})
  if unknown:
    raise SystemExit(f"error: --only: unknown {unknown}; known: {[e.name for e in exps]}")
  start, done = time.time(), {}
  for exp in exps:
    if _ONLY.value and exp.name not in _ONLY.value:
      continue
    done[exp.name] = results.run(exp, os.path.abspath(os.path.expanduser(_ROOT.value)))
    r = done[exp.name]["action_mean"]
    print(f"{exp.name}: step={done[exp.name]['step']} mpjpe={r['mpjpe']:.1f} "
          f"pa_mpjpe={r['pa_mpjpe']:.1f}", flush=True)
  if _OUT.value and not _ONLY.value:
    command = "python launch/results.py " + " ".join(sys.argv[1:])
    with open(_OUT.value, "w") as f:
      f.write(results.page(_SUITE.value, done, claims, command, time.time() - start))
    print(f"wrote {_OUT.value}")


if __name__ == "__main__":
  app.run(main, flags_parser=train_lib.parse_flags)
