r"""Evaluates a trained run: metrics JSON and a predicted-vs-true figure under --workdir/eval.

  python launch/eval.py --config=configs/supervised_lifting.py --workdir=/tmp/sl
  python launch/eval.py --config=configs/supervised_lifting.py --workdir=/tmp/sl \
      --mocap_dir=~/my_bvh_files --which=latest

Restores the best checkpoint (or --which=latest, or --step=N) and evaluates it on the
config's evaluation split (--split) or on every MoCap file under --mocap_dir (seen by
the config's virtual cameras). Writes `eval/metrics.json` (MPJPE, PA-MPJPE, N-MPJPE in
mm, 3DPCK, AUC, ordinal accuracy: mean over actions, overall, per action, per joint)
and `eval/poses.png`. Nothing is overwritten: when either exists, the pair is named
`metrics-<step>[-mocap|-<split>][-<n>].json` / `poses-<same>.png`. Errors are one line.

DRPose3D: for `drpose_prcnn` (rankings, no 3D) it also writes the per-entry accuracy of
the discretised ranking matrix, `eval/pair_accuracy*.json` (the file DPNet's statistical
augmentation reads: `configs/drpose_dpnet.py:flip_from=FILE`); `drpose_full` evaluates
the whole pipeline (2D estimator -> PRCNN -> DPNet, stages named in its config; --split
test_cameras for the held-out camera range).
"""

import json
import math
import os

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxpose import viz
from jaxpose.methods import prcnn
from jaxpose.train import data as data_lib
from jaxpose.train import train_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/supervised_lifting.py[:quick].",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The trained run's folder.")
_MOCAP_DIR = flags.DEFINE_string("mocap_dir", None, "Evaluate on this folder of MoCap files.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default config.data.eval_split).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: --which).",
                             lower_bound=0)
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Checkpoint to evaluate.")
_NUM_BATCHES = flags.DEFINE_integer("num_batches", 0, "Stop after N batches; 0 = all.",
                                    lower_bound=0)
flags.mark_flags_as_required(["config", "workdir"])


def _json_safe(x):
  """NaN/inf -> null (strict JSON), NumPy scalars -> Python numbers, recursively."""
  if isinstance(x, dict):
    return {str(k): _json_safe(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_json_safe(v) for v in x]
  if hasattr(x, "item"):
    x = x.item()
  return None if isinstance(x, float) and not math.isfinite(x) else x


def _free_names(folder, step, tag):
  """(metrics name, figure name): `metrics.json` / `poses.png` when both are free, else
  the first free pair `-<step><tag>`, `-<step><tag>-2`, `-<step><tag>-3`, ..."""
  for suffix in ["", f"-{step}{tag}", *(f"-{step}{tag}-{n}" for n in range(2, 1000))]:
    names = f"metrics{suffix}.json", f"poses{suffix}.png"
    if not any(os.path.exists(os.path.join(folder, x)) for x in names):
      return names
  raise ValueError(f"{folder}: too many evaluations of step {step}; move some away")


def _report(config, result, step, evaluated, figure):
  return _json_safe({
      "step": step, "checkpoint": "step" if _STEP.value is not None else _WHICH.value,
      "workdir": os.path.abspath(_WORKDIR.value), "method": config.method,
      "config": config_flags.get_config_filename(flags.FLAGS["config"]),
      "overrides": config_flags.get_override_values(flags.FLAGS["config"]),
      "evaluated": evaluated, "num_batches": _NUM_BATCHES.value or "all",
      "units": {"mpjpe": "mm", "pa_mpjpe": "mm", "n_mpjpe": "mm",
                "pck3d": "fraction of joints within 150 mm",
                "auc": "mean 3DPCK over thresholds 0:5:150 mm",
                "ordinal_accuracy": "fraction of annotated pairs ordered right, ties "
                                    f"within {config.data.tie_tol} m"},
      "figure": figure, **{k: v for k, v in result.items() if k != "samples"}})


def _data(config):
  """(evaluation iterator, name tag, what it is) for --mocap_dir or the config's split."""
  if _MOCAP_DIR.value:
    mocap_dir = os.path.abspath(os.path.expanduser(_MOCAP_DIR.value))
    return data_lib.mocap_dir_iterator(config, mocap_dir), "-mocap", {
        "mocap_dir": mocap_dir, "fps": config.data.mocap_fps,
        "cameras": config.data.cameras.to_dict(), "seed": config.data.eval_seed}
  split = _SPLIT.value or config.data.eval_split
  if config.data.source == data_lib.MOCAP_RESAMPLE and split != config.data.eval_split:
    raise ValueError(f"--split: {data_lib.MOCAP_RESAMPLE} has one evaluation split, the "
                     "held-out subjects (config.data.test_subjects); use --mocap_dir")
  tag = "" if split == config.data.eval_split else f"-{split}"
  return (data_lib.eval_iterator(config, split=split), tag,
          {"source": config.data.source, "split": split})


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  train_lib.quiet_library_logs()
  config, folder = _CONFIG.value, os.path.join(_WORKDIR.value, "eval")
  try:
    method, variables, step = train_lib.restore(config, _WORKDIR.value, step=_STEP.value,
                                                which=_WHICH.value)
    iterator, tag, evaluated = _data(config)
    result = train_lib.evaluate(method, variables, iterator, num_samples=config.num_samples,
                                max_batches=_NUM_BATCHES.value,
                                ordinal_tol=config.data.tie_tol)
    os.makedirs(folder, exist_ok=True)
    metrics_name, figure_name = _free_names(folder, step, tag)
    samples = result["samples"]
    titles = [f"{a} #{i}" for a, i in zip(samples["action"], samples["index"])]
    if "pred" in samples:  # methods that predict 3D
      fig = viz.pose_comparison_figure(samples["pred"], samples["target"], titles=titles)
      viz.save_figure(fig, os.path.join(folder, figure_name))
    else:
      figure_name = None
    if config.method == "drpose_prcnn":  # DRPose3D 3.3: per-entry accuracy for DPNet's flips
      accuracy = prcnn.pair_accuracy(method, variables, _data(config)[0],
                                     epsilon=config.prcnn.epsilon,
                                     tie_tol=config.data.tie_tol,
                                     max_batches=_NUM_BATCHES.value)
      result["pair_accuracy_file"] = os.path.join(
          folder, metrics_name.replace("metrics", "pair_accuracy"))
      result["mean_pair_accuracy"] = float(accuracy[~np.eye(len(accuracy), dtype=bool)].mean())
      prcnn.write_accuracy(result["pair_accuracy_file"], accuracy)
    path = os.path.join(folder, metrics_name)
    text = json.dumps(_report(config, result, step, evaluated, figure_name), indent=1,
                      allow_nan=False)
    with open(path, "x", encoding="utf-8") as f:
      f.write(text + "\n")
  except (ValueError, OSError) as e:
    logging.debug("Traceback:", exc_info=True)
    raise SystemExit(f"error: {e}") from None
  means = " ".join(f"{k}={v:.4g}" for k, v in result["action_mean"].items())
  if "mean_pair_accuracy" in result:
    means += f" mean_pair_accuracy={result['mean_pair_accuracy']:.4g}"
  print(f"step={step} examples={result['num_examples']} {means} -> {path}")


if __name__ == "__main__":
  app.run(main, flags_parser=train_lib.parse_flags)
