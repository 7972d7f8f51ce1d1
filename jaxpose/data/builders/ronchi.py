"""Ronchi's Relative Depth LSP builder: crowd-sourced ordinal pairs (relative_depth_lsp_v1.json).

Manual download (builder `ronchi_lsp`):
  1. Download relative_depth_lsp_v1.json.zip (Ronchi et al., BMVC'18; links in
     matteorr/rel_3d_pose mturk_data/readme.md, data at https://data.caltech.edu/records/20096)
     and unzip it, and the Leeds Sports Pose images (http://sam.johnson.io/research/lsp.html).
  2. Arrange the manual folder so each image's `im_file` resolves against it:
       <manual_dir>/relative_depth_lsp_v1.json
       <manual_dir>/<im_file of each image>, e.g. <manual_dir>/images/im0001.jpg
     (an `im_file` that does not resolve is also looked up as images/<its file name>).

Then build with `download_and_prepare(download_config=tfds.download.DownloadConfig(
manual_dir=<manual_dir>))` and read with `as_data_source()`.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from jaxpose import ordinal, skeleton
from jaxpose.data import schema
from jaxpose.data.builders import common

_INSTRUCTIONS = __doc__
JSON_FILE = "relative_depth_lsp_v1.json"
# The JSON's 14 keypoints are LSP's annotations under COCO-style names; LSP has no nose,
# and the point Ronchi's code calls 'nose' (lsp_14k_config.py) sits where LSP's 14th
# joint, the head top, is. So it maps to H36M `head`, not `neck_nose`.
NAME_ALIASES = {"nose": "head_top"}


def _fail(msg: str) -> None:
  raise ValueError(f"{JSON_FILE}: {msg}")


def _joint_names(data: dict) -> list[str]:
  names = data.get("joint_names")
  if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
    _fail("expected a top-level 'joint_names' list of strings and an 'images' list")
  names = [NAME_ALIASES.get(n, n) for n in names]
  try:
    skeleton.remap_indices(names, skeleton.H36M17, strict=True)
  except ValueError as e:
    _fail(str(e))
  return names


def _parse_image(im: dict, k: int, num_joints: int) -> dict:
  """One `images[k]` entry: keypoints, occluded, is_train, im_file, anns -> arrays."""
  if not isinstance(im, dict) or not {"keypoints", "occluded", "anns", "im_file",
                                      "is_train"} <= set(im):
    _fail(f"images[{k}] expected keys keypoints, occluded, anns, im_file, is_train")
  try:
    kp = np.asarray(im["keypoints"], np.float64).ravel()
  except (TypeError, ValueError):
    kp = np.zeros(0)
  if kp.size not in (2 * num_joints, 3 * num_joints) or not np.all(np.isfinite(kp)):
    _fail(f"images[{k}].keypoints expected {2 * num_joints} finite numbers (x, y per "
          f"joint), got {im['keypoints']!r:.80}")
  kp = kp.reshape(num_joints, -1)[:, :2]
  occluded = np.asarray(im["occluded"]).ravel()
  if occluded.size != num_joints:
    _fail(f"images[{k}].occluded expected {num_joints} flags, got {occluded.size}")
  pairs = []
  for ann in im["anns"] if isinstance(im["anns"], list) else [None]:
    ann = ann if isinstance(ann, dict) else {}
    i, j, label = ann.get("kp0"), ann.get("kp1"), ann.get("label")
    if not (isinstance(i, int) and isinstance(j, int) and 0 <= i < num_joints
            and 0 <= j < num_joints and i != j and label in (0, 1)):
      _fail(f"images[{k}].anns expected kp0 != kp1 in [0, {num_joints}) and label 0/1, "
            f"got {ann!r}")
    pairs.append((i, j, label))
  # label 1 <=> kp0 farther; 2 * label - 1 is Ronchi's sign (+1 <=> first joint farther).
  rel = np.array(pairs, np.int64).reshape(-1, 3)
  rel[:, 2] = ordinal.from_ronchi_sign(2 * rel[:, 2] - 1)
  return {"keypoints": kp, "visible": occluded == 0, "relations": rel,
          "im_file": str(im["im_file"]), "is_train": bool(im["is_train"])}


def _image_path(root: pathlib.Path, im_file: str) -> pathlib.Path:
  path = root / im_file
  fallback = root / "images" / pathlib.PurePath(im_file).name
  return fallback if not path.exists() and fallback.exists() else path


class RonchiLsp(tfds.core.GeneratorBasedBuilder):
  """LSP images with Ronchi et al.'s merged crowd relative-depth pairs.

  JSON layout (matteorr/rel_3d_pose, src/data_loading/lsp_dataset.py and
  paper_plots/lsp_annotations.py): top-level `joint_names` and `images[]`, each image
  with `keypoints` (flat x0, y0, x1, y1, ... in `joint_names` order; COCO triplets are
  accepted too), `occluded` (1 = occluded), `is_train`, `im_file` (relative to the LSP
  folder) and `anns[{kp0, kp1, label, ...}]` with label 1 <=> kp0 farther than kp1. Other
  keys (prob, risk, ...) are ignored.

  Records: `keypoints2d` mapped by joint name to H36M17 (`NAME_ALIASES`; an unknown name is
  an error), `visible` = not occluded, relations (kp0, kp1, r) with r = +1 <=> kp0 closer
  (our sign), no 3D, no camera, `bbox` from the joints. Splits by `is_train`: `train` /
  `test`. meta: subject = image file stem, frame = index in `images`.
  """

  name = "ronchi_lsp"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=type(self).__doc__,
                                 features=schema.features(with_image=True, image_format="jpeg"))

  def _split_generators(self, dl_manager):
    root = common.manual_folder(dl_manager, self)
    path = common.require(root / JSON_FILE, self)
    try:
      data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
      raise ValueError(f"{JSON_FILE}: not valid JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
      _fail("expected a top-level 'joint_names' list of strings and an 'images' list")
    names = _joint_names(data)
    images = [_parse_image(im, k, len(names)) for k, im in enumerate(data["images"])]
    for im in images:
      im["path"] = common.require(_image_path(root, im["im_file"]), self)
    return {split: self._generate_examples(names, images, train)
            for split, train in (("train", True), ("test", False))
            if any(im["is_train"] == train for im in images)}

  def _generate_examples(self, names, images, train):
    target, _ = common.source_to_target(names)
    for k, im in enumerate(images):
      if im["is_train"] != train:
        continue
      kp, mask = skeleton.remap(im["keypoints"], names)
      visible, _ = skeleton.remap(im["visible"], names, axis=-1)
      yield str(k), common.make_example(
          dataset=self.name, keypoints2d=kp, joint_mask=mask, visible=visible,
          bbox=common.bbox_from_keypoints(kp, mask),
          relations=common.map_relations(im["relations"], target),
          image=common.image_bytes(im["path"], self), subject=im["path"].stem, frame=k)
