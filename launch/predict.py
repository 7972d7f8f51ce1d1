r"""Predicts 3D poses with a trained run: 2D keypoints JSON in, 3D poses JSON + figures out.

  python launch/predict.py --config=configs/supervised_lifting.py --workdir=/tmp/sl \
      --input=walk.json --output=/tmp/walk_3d     # or --input=FOLDER_OF_JSON_FILES

For lifting methods each input `<stem>.json` (2D keypoints JSON, `jaxpose.interchange`)
gives `<stem>_3d.json` (H36M17, metres, root-relative, camera frame) and one PNG per pose
(`<stem>_<id>.png`: the 2D input beside the 3D pose), at most --max_figures in all.
Restores the best checkpoint (or --which=latest, --step=N). Existing outputs are never
replaced: the run stops before writing anything. Errors are one line `error: ...`.
"""

import os
import re

import jax
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxpose import interchange, methods, viz
from jaxpose.data import pipeline
from jaxpose.train import sharding, steps, train_lib

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file, e.g. configs/supervised_lifting.py[:quick].",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The trained run's folder.")
_INPUT = flags.DEFINE_string("input", None, "A 2D keypoints JSON file, or a folder of them.")
_OUTPUT = flags.DEFINE_string("output", None, "Folder for the 3D JSON files and figures.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: --which).",
                             lower_bound=0)
_WHICH = flags.DEFINE_enum("which", "best", ["best", "latest"], "Checkpoint to use.")
_MAX_FIGURES = flags.DEFINE_integer("max_figures", 8, "Figures to write at most (0: none).",
                                    lower_bound=0)
flags.mark_flags_as_required(["config", "workdir", "input", "output"])

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def _input_files(path, method_name):
  """The 2D keypoint JSON files of --input; images are an error for a lifting model."""
  if not os.path.exists(path):
    raise ValueError(f"--input: {path}: no such file or folder")
  if os.path.isdir(path):
    names = sorted(os.listdir(path))
    jsons = [os.path.join(path, f) for f in names if f.lower().endswith(".json")]
    images = any(f.lower().endswith(IMAGE_EXTENSIONS) for f in names)
  else:
    images = path.lower().endswith(IMAGE_EXTENSIONS)
    jsons = [] if images else [path]
  if images and not jsons:
    what = "holds images and no .json files" if os.path.isdir(path) else "is an image"
    raise ValueError(f"--input: {path} {what}, but {method_name} is a lifting model: it needs "
                     "2D keypoint JSON (jaxpose.interchange; README 'Interchange formats')")
  if not jsons:
    raise ValueError(f"--input: {path}: no .json files (2D keypoint JSON) in the folder")
  return jsons


def _plan(inputs, out):
  """Output paths: {input index: 3D JSON}, [(input, pose, png)]; none may exist yet."""
  jsons, figures, used = {}, [], set()
  for k, kp in enumerate(inputs):
    stem = os.path.splitext(os.path.basename(kp.path))[0]
    jsons[k] = os.path.join(out, f"{stem}_3d.json")
    for p, pid in enumerate(kp.ids):
      if len(figures) < _MAX_FIGURES.value:
        name = f"{stem}_{re.sub(r'[^A-Za-z0-9._-]+', '_', pid)}"
        name = name if name not in used else f"{name}-{p}"
        used.add(name)
        figures.append((k, p, os.path.join(out, f"{name}.png")))
  existing = [f for f in [*jsons.values(), *(f for *_, f in figures)] if os.path.exists(f)]
  if existing:
    raise ValueError(f"--output: {existing[0]} exists ({len(existing)} of the outputs do); "
                     "refusing to overwrite: choose another --output or move them away")
  return jsons, figures


def _pad(x, size):
  """x [n, ...] -> [size, ...] with zero rows (valid False, every mask False)."""
  return np.concatenate([x, np.zeros((size - len(x), *x.shape[1:]), x.dtype)])


def _predict(method, variables, batches, max_size):
  """Root-relative poses [N, 17, 3] of each batch, in zero-padded chunks of one size."""
  mesh = sharding.make_mesh()
  step = steps.jit_eval_step(method, mesh)
  n_dev = mesh.devices.size
  size = min(max(len(b["valid"]) for b in batches), max_size)
  size = -(-size // n_dev) * n_dev
  out = []
  for batch in batches:
    fields, n, poses = pipeline.device_fields(batch), len(batch["valid"]), []
    for lo in range(0, n, size):
      chunk = jax.tree.map(lambda x, lo=lo: _pad(x[lo:lo + size], size), fields)
      pred = step(variables, sharding.shard_global_batch(chunk, mesh))
      poses.append(np.asarray(jax.device_get(pred))[:n - lo])
    out.append(np.concatenate(poses))
  return out


def _figure(batch, pose, p, title):
  """`viz.prediction_figure`; absent joints are left out of the 2D panel."""
  kp, mask = batch["keypoints2d"][p], batch["joint_mask"][p]
  shown = np.where(mask[:, None], kp, kp[mask].mean(axis=0))  # inside the drawn extent
  fig = viz.prediction_figure(shown, pose, visible=batch["visible"][p], title=title)
  if not mask.all():
    for line in list(fig.axes[0].lines):
      line.remove()
    viz.draw_skeleton_2d(fig.axes[0], kp, visible=batch["visible"][p], joint_mask=mask)
  return fig


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  train_lib.quiet_library_logs()
  config, out = _CONFIG.value, _OUTPUT.value
  try:
    method = methods.get_method(config)
    if method.data_kind != "lifting":
      raise ValueError(f"--config: {method.name} is an image model; predict.py reads 2D "
                       "keypoint JSON for lifting models only")
    inputs = [interchange.read_keypoints2d(f) for f in _input_files(_INPUT.value, method.name)]
    batches = [interchange.lifting_batch(kp, num_pairs=config.data.num_pairs,
                                         default_focal=config.data.cameras.focal)
               for kp in inputs]
    jsons, figures = _plan(inputs, out)
    method, variables, step = train_lib.restore(config, _WORKDIR.value, step=_STEP.value,
                                                which=_WHICH.value)
    poses = _predict(method, variables, batches, config.eval_batch_size)
    for k, kp in enumerate(inputs):
      interchange.write_poses3d(jsons[k], kp.ids, poses[k])
    for k, p, path in figures:
      viz.save_figure(_figure(batches[k], poses[k][p], p, f"{os.path.basename(inputs[k].path)}"
                              f": {inputs[k].ids[p]}"), path)
  except (ValueError, OSError) as e:
    logging.debug("Traceback:", exc_info=True)
    raise SystemExit(f"error: {e}") from None
  print(f"step={step} poses={sum(len(kp.ids) for kp in inputs)} files={len(inputs)} "
        f"figures={len(figures)} -> {out}")


if __name__ == "__main__":
  app.run(main, flags_parser=train_lib.parse_flags)
