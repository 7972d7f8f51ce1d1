r"""Times jaxpose: a config's train step (vs PyTorch), every model family, the loaders, sgemm.

  python launch/benchmark.py --config=configs/supervised_lifting.py [--batch_size=64] \
      [--config.model.num_stages=1] [--steps=100] [--rounds=5] \
      [--compare_torch --torch_python=/path/to/python] [--with_sgemm] [--out=train.json]
  python launch/benchmark.py --mode=all [--out=all.json]   # one table: every family + loaders
  python launch/benchmark.py --mode=image_loader [--worker_count=2] [--batch_size=64]
  python launch/benchmark.py --mode=lifting_loader
  python launch/benchmark.py --mode=sgemm [--compare_torch --torch_python=...]

With --config (mode 'train', the default then) the config's jitted train step is timed on
device-resident batches after warm-up, the median of --rounds rounds of --steps steps;
--compare_torch alternates those rounds with the matching reference script of
--torch_ref_dir (../shared/bench: the Martinez MLP for supervised_lifting, the stacked
hourglass with the volumetric output for ordinal_volumetric). Warm-up is excluded.

Prints one JSON line per measurement (--mode=all: a Markdown table) and, last,
`samples_per_sec=<float>` of the main figure (examples/s for loaders, jaxpose's median
train samples/s otherwise; `--mode=sgemm` ends with `gflops=<float>`).
"""

import json
import os

from absl import app, flags
from ml_collections import config_flags

from jaxpose import bench, bench_train, results
from jaxpose.train import train_lib

MODES = ("train", "all", "image_loader", "lifting_loader", "sgemm")
# (family, config, steps per round): --mode=all times each config's train step.
FAMILIES = (
    ("Martinez lifting MLP (supervised)", "configs/supervised_lifting.py", 50),
    ("Ronchi relative lifting", "configs/relative_lifting.py", 50),
    ("Pavlakos reconstruction MLP", "configs/ordinal_reconstruction.py", 50),
    ("DRPose3D DPNet", "configs/drpose_dpnet.py", 50),
    ("Pavlakos depth hourglass (:quick)", "configs/ordinal_depth.py:quick", 10),
    ("Pavlakos coordinate hourglass (:quick)", "configs/ordinal_coordinates.py:quick", 10),
    ("Pavlakos volumetric hourglass (:quick)", "configs/ordinal_volumetric.py:quick", 10),
    ("Pavlakos volumetric hourglass (paper)", "configs/ordinal_volumetric.py", 2),
    ("DRPose3D PRCNN (:quick)", "configs/drpose_prcnn.py:quick", 10),
    ("DRPose3D PRCNN (paper: ResNet-34, 128²)", "configs/drpose_prcnn.py", 2),
    ("Habibie explicit-2D (:quick)", "configs/explicit2d.py:quick", 10),
    ("Habibie explicit-2D (paper: ResNet-50, 256²)", "configs/explicit2d.py", 2),
)
_MODE = flags.DEFINE_enum("mode", None, MODES, "What to time (default: 'train' with "
                          "--config, else 'image_loader').")
_CONFIG = config_flags.DEFINE_config_file("config", None, "Config whose train step to time.",
                                          lock_config=True)
_BATCH = flags.DEFINE_integer("batch_size", None, "Batch size (loaders: 64; train: config's).")
_WORKERS = flags.DEFINE_integer("worker_count", 2, "grain worker processes (image loader).")
_THREADS = flags.DEFINE_integer("num_threads", 0, "grain threads per process.")
_STEPS = flags.DEFINE_integer("steps", None, "Loaders: timed windows (default 5; the median "
                              "is reported). Train: timed steps per round (default 100).")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Train: timed rounds (the median is reported).")
_PER_CALL = flags.DEFINE_integer("steps_per_call", 1, "Train: steps per jitted call (scan).")
_TORCH = flags.DEFINE_bool("compare_torch", False, "Train/sgemm: also run the torch reference.")
_TORCH_PYTHON = flags.DEFINE_string("torch_python", "python", "Interpreter with torch.")
_TORCH_DIR = flags.DEFINE_string("torch_ref_dir", bench_train.DEFAULT_REFERENCE_DIR,
                                 "Folder of torch_lifting_ref.py / torch_hourglass_ref.py.")
_TORCH_THREADS = flags.DEFINE_integer("torch_threads", 0, "OMP_NUM_THREADS for torch; 0 = default.")
_PRNG = flags.DEFINE_string("prng_impl", "", "Train: dropout-key PRNG impl; '' = JAX default.")
_SGEMM = flags.DEFINE_bool("with_sgemm", False, "Train: also measure the sgemm peak (%).")
_KEEP = flags.DEFINE_bool("keep_freed_memory", True, "glibc malloc keeps freed blocks "
                          "(bench_train.keep_freed_memory; also for the torch subprocess).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (~/tensorflow_datasets).")
_OUT = flags.DEFINE_string("out", None, "Write the results as JSON here (not overwritten).")


def _loaders(mode: str, batch_size: int, windows: int) -> tuple[dict, float]:
  if mode == "image_loader":
    r = bench.image_loader(data_dir=_DATA_DIR.value, batch_size=batch_size,
                           worker_count=_WORKERS.value, num_threads=_THREADS.value,
                           windows=windows)
    return {"image_loader": r}, r["median"]
  out = {}
  for resample in (False, True):
    name = "lifting_loader_resample" if resample else "lifting_loader_records"
    out[name] = bench.lifting_loader(resample_cameras=resample, data_dir=_DATA_DIR.value,
                                     batch_size=batch_size, windows=windows)
    out[name]["batches_per_sec"] = out[name]["median"] / batch_size
  return out, out["lifting_loader_records"]["median"]


def _all(emit) -> tuple[dict, str]:
  """Every family's train step and the loaders, as records and one Markdown table."""
  rows = ["| what | config | batch | samples/s | steps/s | params |", "|---|---|---|---|---|---|"]
  out = {}
  for family, spec, steps in FAMILIES:
    if not os.path.exists(os.path.join(results.REPO, spec.split(":")[0])):
      continue
    config = results.load_config(spec)
    r = bench_train.train_rate(config, steps=steps, rounds=3, warmup_steps=2)
    out[spec] = {"name": family, "config": spec, **r}
    emit(out[spec])
    rows.append(f"| {family} | `{spec}` | {r['batch_size']} | {r['samples_per_sec']:.1f} | "
                f"{r['samples_per_sec'] / r['batch_size']:.2f} | {r['params'] / 1e6:.2f} M |")
  for mode in ("image_loader", "lifting_loader"):
    loaders, _ = _loaders(mode, 64, 5)
    for name, r in loaders.items():
      out[name] = {"name": name, **r}
      emit(out[name])
      rows.append(f"| loader: {name} (augmented, 64 per batch) | - | 64 | {r['median']:.0f} | "
                  f"{r['median'] / 64:.1f} | - |")
  return out, "\n".join(rows)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _OUT.value and os.path.exists(_OUT.value):
    raise SystemExit(f"error: --out: {_OUT.value} exists; choose another path")
  mode = _MODE.value or ("train" if _CONFIG.value is not None else "image_loader")
  train_lib.quiet_library_logs()
  if _KEEP.value:
    bench_train.keep_freed_memory()
  torch_python = _TORCH_PYTHON.value if _TORCH.value else None
  emit = lambda record: print(json.dumps(record, default=float), flush=True)  # noqa: E731
  try:
    if mode == "train":
      if _CONFIG.value is None:
        raise ValueError("--config: required with --mode=train")
      out = bench_train.train_report(
          _CONFIG.value, batch_size=_BATCH.value, steps=_STEPS.value or 100,
          rounds=_ROUNDS.value, steps_per_call=_PER_CALL.value, torch_python=torch_python,
          torch_threads=_TORCH_THREADS.value, prng_impl=_PRNG.value or None,
          with_sgemm=_SGEMM.value, reference_dir=_TORCH_DIR.value, emit=emit)
      last = f"samples_per_sec={out['jaxpose_train']['samples_per_sec']:.1f}"
    elif mode == "all":
      out, table = _all(emit)
      print(table)
      last = (f"samples_per_sec={out['configs/supervised_lifting.py']['samples_per_sec']:.1f}")
    elif mode == "sgemm":
      out = {"sgemm": bench_train.sgemm_peak(torch_python=torch_python)}
      emit({"name": "sgemm", **out["sgemm"]})
      last = f"gflops={out['sgemm']['peak_gflops']:.1f}"
    else:
      out, figure = _loaders(mode, _BATCH.value or 64, _STEPS.value or 5)
      for name, r in out.items():
        emit({"name": name, "batch_size": _BATCH.value or 64, **r})
      last = f"samples_per_sec={figure:.1f}"
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None
  if _OUT.value:
    with open(_OUT.value, "x") as f:
      json.dump(out, f, indent=2, default=float)
  print(last)


if __name__ == "__main__":
  app.run(main, flags_parser=train_lib.parse_flags)
