r"""Predicts 3D poses with a trained run: 2D keypoints JSON or images in, 3D JSON + figures out.

  python launch/predict.py --config=configs/supervised_lifting.py --workdir=/tmp/sl \
      --input=walk.json --output=/tmp/walk_3d     # or --input=FOLDER_OF_JSON_FILES
  python launch/predict.py --config=configs/ordinal_volumetric.py:quick --workdir=/tmp/ov \
      --input=person.jpg --output=/tmp/person_3d  # or a folder of images; --bbox=x,y,w,h

For lifting methods each input `<stem>.json` (2D keypoints JSON, `jaxpose.interchange`)
gives `<stem>_3d.json` (H36M17, metres, root-relative, camera frame) and one PNG per pose
(`<stem>_<id>.png`: the 2D input beside the 3D pose), at most --max_figures in all.
For image methods each image is cropped to the network's square input around --bbox
(default: the whole image) and gives `<stem>_3d.json` and `<stem>.png` (the predicted 2D
over the image beside the 3D pose from two viewpoints).
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
from jaxpose.data.builders import common as builders_common
from jaxpose.methods import image as image_methods
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
_BBOX = flags.DEFINE_list("bbox", None, "Image methods: the person box x,y,w,h in pixels of "
                          "every input image (default: the whole image); at least half of "
                          "its area must lie inside each image, else it is an error.")
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


def _image_files(path, method_name):
  """The image files of --input (a file or a folder)."""
  if not os.path.exists(path):
    raise ValueError(f"--input: {path}: no such file or folder")
  names = sorted(os.listdir(path)) if os.path.isdir(path) else [path]
  files = [os.path.join(path, f) if os.path.isdir(path) else f for f in names
           if f.lower().endswith(IMAGE_EXTENSIONS)]
  if not files:
    raise ValueError(f"--input: {path}: no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                     f"{method_name} is an image model")
  return files


def _read_rgb(path):
  """RGB uint8 [H, W, 3]; a corrupt, truncated or non-image file is a one-line error."""
  with open(path, "rb") as f:
    data = f.read()
  formats = ", ".join(e[1:].upper() for e in IMAGE_EXTENSIONS)
  bgr = builders_common.decode_image(f"--input: {path}", data,
                                     expected=f"an image file ({formats})")
  return np.ascontiguousarray(bgr[..., ::-1])


def _boxes(images, files):
  """`image_methods.person_box` of --bbox in each image (named in the error)."""
  return [image_methods.person_box(
      im.shape, _BBOX.value, name=f"--bbox={','.join(_BBOX.value or [])} for {f}")
          for im, f in zip(images, files)]


def _predict_images(config, method):
  """Crops, predicts and writes the outputs of every --input image; returns a summary."""
  files, out, size = _image_files(_INPUT.value, method.name), _OUTPUT.value, (
      config.data.augment.output_size)
  stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
  paths = [(os.path.join(out, f"{s}_3d.json"), os.path.join(out, f"{s}.png")) for s in stems]
  existing = [p for k, pair in enumerate(paths) for p in pair[:1 + (k < _MAX_FIGURES.value)]
              if os.path.exists(p)]
  if len(set(stems)) < len(stems) or existing:
    raise ValueError(f"--output: {existing[0] if existing else 'two inputs share a name'}; "
                     "refusing to overwrite: choose another --output or move them away")
  images = [_read_rgb(f) for f in files]
  boxes = _boxes(images, files)
  batch = image_methods.image_batch(images, boxes, output_size=size,
                                    num_pairs=config.data.num_pairs)
  method, variables, step = train_lib.restore(config, _WORKDIR.value, step=_STEP.value,
                                              which=_WHICH.value)
  mesh = sharding.make_mesh()
  fn = jax.jit(method.predict_outputs, in_shardings=(sharding.replicated(mesh),
                                                     sharding.batch_sharding(mesh)),
               compiler_options=sharding.compiler_options(mesh))
  chunk = -(-min(len(files), config.eval_batch_size) // mesh.devices.size) * mesh.devices.size
  outs = []
  for lo in range(0, len(files), chunk):
    part = jax.tree.map(lambda x, lo=lo: _pad(x[lo:lo + chunk], chunk),
                        pipeline.device_fields(batch))
    outs.append(jax.device_get(fn(variables, sharding.shard_global_batch(part, mesh))))
  if "pose3d" not in outs[0]:
    raise ValueError(f"--config: {method.name} predicts no 3D (PRCNN ranks joint depths); "
                     "predict 3D with the whole pipeline, configs/drpose_full.py")
  if "keypoints2d" not in outs[0]:
    raise ValueError(f"--config: {method.name} predicts no 2D from images (it reads 2D from "
                     "its batch); use ordinal_coordinates or ordinal_volumetric")
  poses = np.concatenate([o["pose3d"] for o in outs])[:len(files)]
  kp2d = np.concatenate([o["keypoints2d"] for o in outs])[:len(files)]
  for k, (json_path, png) in enumerate(paths):
    interchange.write_poses3d(json_path, [stems[k]], poses[k:k + 1])
    if k < _MAX_FIGURES.value:
      kp = image_methods.to_image_pixels(kp2d[k], boxes[k], size)
      viz.save_figure(viz.prediction_figure(kp, poses[k], image=images[k],
                                            title=os.path.basename(files[k])), png)
  return (f"step={step} poses={len(files)} files={len(files)} "
          f"figures={min(len(files), _MAX_FIGURES.value)} -> {out}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  train_lib.quiet_library_logs()
  config, out = _CONFIG.value, _OUTPUT.value
  try:
    method = methods.get_method(config)
    if method.data_kind == "image":
      print(_predict_images(config, method))
      return
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
