r"""Times jaxpose: input pipelines (and, with a config, its train step). Warm-up excluded.

  python launch/benchmark.py --mode=image_loader [--worker_count=2] [--batch_size=64]
  python launch/benchmark.py --mode=lifting_loader [--out=bench.json]

Prints one JSON line per measurement and, last, `samples_per_sec=<float>` of the main
figure (examples/s for loaders).
"""

import json
import os

from absl import app, flags

from jaxpose import bench

MODES = ("image_loader", "lifting_loader")
_MODE = flags.DEFINE_enum("mode", "image_loader", MODES, "What to time.")
_BATCH = flags.DEFINE_integer("batch_size", 64, "Batch size.")
_WORKERS = flags.DEFINE_integer("worker_count", 2, "grain worker processes (image loader).")
_THREADS = flags.DEFINE_integer("num_threads", 0, "grain threads per process.")
_WINDOWS = flags.DEFINE_integer("steps", 5, "Timed windows (the median is reported).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (~/tensorflow_datasets).")
_OUT = flags.DEFINE_string("out", None, "Write the results as JSON here (not overwritten).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _OUT.value and os.path.exists(_OUT.value):
    raise SystemExit(f"error: --out: {_OUT.value} exists; choose another path")
  results = {}
  if _MODE.value == "image_loader":
    results["image_loader"] = bench.image_loader(
        data_dir=_DATA_DIR.value, batch_size=_BATCH.value, worker_count=_WORKERS.value,
        num_threads=_THREADS.value, windows=_WINDOWS.value)
    main_figure = results["image_loader"]["median"]
  else:
    for resample in (False, True):
      name = "lifting_loader_resample" if resample else "lifting_loader_records"
      results[name] = bench.lifting_loader(resample_cameras=resample, data_dir=_DATA_DIR.value,
                                           batch_size=_BATCH.value, windows=_WINDOWS.value)
      results[name]["batches_per_sec"] = results[name]["median"] / _BATCH.value
    main_figure = results["lifting_loader_records"]["median"]
  for name, r in results.items():
    print(json.dumps({"name": name, "batch_size": _BATCH.value, **r}))
  if _OUT.value:
    with open(_OUT.value, "x") as f:
      json.dump(results, f, indent=2)
  print(f"samples_per_sec={main_figure:.1f}")


if __name__ == "__main__":
  app.run(main)
