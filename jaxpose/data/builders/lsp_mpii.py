"""LSP / MPII ordinal builder: Pavlakos' ordinal depth annotations (joints.mat, ordinal.mat).

Manual download (builder `lsp_mpii_ordinal`, configs `lsp` and `mpii`):
  1. Get Pavlakos et al.'s "LSP / MPII ordinal" annotations (CVPR'18 project page,
     https://www.seas.upenn.edu/~pavlakos/projects/ordinal) and the images of the Leeds
     Sports Pose dataset (original size) and of the MPII subset they annotated.
  2. Arrange the manual folder as the release unpacks:
       <manual_dir>/lsp_dataset_original/joints.mat     'joints' [3, 14, 2000]
       <manual_dir>/lsp_dataset_original/ordinal.mat    'ord' [2000, 14, 14]
       <manual_dir>/lsp_dataset_original/images/im0001.jpg ... im2000.jpg
       <manual_dir>/mpii_upis1h/joints.mat              'joints' [3, 16, N]
       <manual_dir>/mpii_upis1h/ordinal.mat             'ord' [N, 16, 16]
       <manual_dir>/mpii_upis1h/images/00001_full.jpg ...
     (a config needs only its own folder).

Then build with `download_and_prepare(download_config=tfds.download.DownloadConfig(
manual_dir=<manual_dir>))` and read with `as_data_source()`.
"""

from __future__ import annotations

import dataclasses
import pathlib

import h5py
import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from jaxpose import skeleton
from jaxpose.data import schema
from jaxpose.data.builders import common

_INSTRUCTIONS = __doc__


@dataclasses.dataclass(eq=False)  # as tfds.core.BuilderConfig
class OrdinalConfig(tfds.core.BuilderConfig):
  """One annotated image set.

  Attributes:
    folder: sub-folder of the manual folder.
    joint_set: `skeleton` registry name of the joints.mat order (mapped to H36M17 by name).
    image_pattern: image file name of row k, formatted with k + 1.
    flag: what a 1 in row 3 of joints.mat means: 'occluded' (original LSP; CPM's LSP
      converter flips it, LSPET's it keeps) or 'visible' (MPII's `is_visible`).
    train_fraction: the first round(fraction * N) rows are `train`, the rest `test`
      (LSP's protocol: first 1000 train, last 1000 test); 1.0 builds `train` only.
  """
  folder: str = "lsp_dataset_original"
  joint_set: str = "lsp14"
  image_pattern: str = "im{:04d}.jpg"
  flag: str = "occluded"
  train_fraction: float = 0.5


def load_mat(path: pathlib.Path, key: str) -> np.ndarray:
  """Array `key` of a MATLAB file (v5 via scipy, v7.3 via h5py, axes as MATLAB shows them)."""
  try:
    if scipy.io.matlab.matfile_version(path)[0] == 2:  # v7.3 = HDF5, stored column-major
      with h5py.File(path, "r") as f:
        if key in f:
          return np.asarray(f[key][()]).T
        found = list(f)
    else:
      data = scipy.io.loadmat(path)
      if key in data:
        return np.asarray(data[key])
      found = [k for k in data if not k.startswith("__")]
  except (ValueError, OSError, IndexError, scipy.io.matlab.MatReadError) as e:
    raise ValueError(f"{path.name}: not a readable MATLAB file ({e})") from None
  raise ValueError(f"{path.name}: expected a variable {key!r}, found {found}")


def _joints(path: pathlib.Path, num_joints: int) -> np.ndarray:
  """joints.mat -> float [3, J, N] (x, y, flag), checked."""
  joints = load_mat(path, "joints")
  if joints.ndim != 3 or joints.shape[:2] != (3, num_joints):
    raise ValueError(f"{path.name}: expected 'joints' of shape [3, {num_joints}, N] "
                     f"(x, y, flag per joint and image), got {joints.shape}")
  return joints.astype(np.float64)


def _ordinal(path: pathlib.Path, num_joints: int, num_images: int) -> np.ndarray:
  """ordinal.mat -> float [N, J, J] with values in {-1, 0, 1} or NaN, checked."""
  ord_ = load_mat(path, "ord").astype(np.float64)
  if ord_.shape != (num_images, num_joints, num_joints):
    raise ValueError(f"{path.name}: expected 'ord' of shape [{num_images}, {num_joints}, "
                     f"{num_joints}] (N of joints.mat), got {ord_.shape}")
  bad = np.isfinite(ord_) & ~np.isin(ord_, (-1, 0, 1))
  if np.any(bad):
    raise ValueError(f"{path.name}: expected labels -1, 0, 1 or NaN, got {ord_[bad][0]!r}")
  return ord_


def relations_from_ord(ord_: np.ndarray, *, what: str) -> np.ndarray:
  """One image's Pavlakos ordinal matrix [J, J] -> relations (i, j, r) [K, 3], i < j.

  The release documents ord(i, j) = -1 <=> depth(i) < depth(j) (i closer), 1 <=> i
  farther, 0 <=> about equal, NaN <=> not annotated; our r = +1 means i closer, so
  r = -ord(i, j). Either triangle may hold the label; where both do they must agree
  (ord(j, i) = -ord(i, j)).
  """
  iu, ju = np.triu_indices(len(ord_), k=1)
  up, lo = ord_[iu, ju], ord_[ju, iu]
  clash = np.isfinite(up) & np.isfinite(lo) & (up != -lo)
  if np.any(clash):
    k = int(np.flatnonzero(clash)[0])
    raise ValueError(f"{what}: ord[{iu[k]},{ju[k]}] = {up[k]:g} but ord[{ju[k]},{iu[k]}] = "
                     f"{lo[k]:g}; expected antisymmetric labels")
  val = np.where(np.isfinite(up), up, -lo)
  keep = np.isfinite(val)
  return np.stack([iu[keep], ju[keep], -val[keep]], axis=-1).astype(np.int8)


class LspMpiiOrdinal(tfds.core.GeneratorBasedBuilder):
  """LSP / MPII images with 2D joints and human ordinal depth labels (Pavlakos et al. 2018).

  Records: `keypoints2d` from joints.mat (pixels as stored) mapped to H36M17 by joint
  name (`joint_mask` marks the joints the set has; LSP lacks pelvis/spine/neck_nose,
  MPII lacks spine), `visible` from the flag row, relations from ordinal.mat (converted to
  our sign, re-indexed to H36M17), no 3D, no camera, `bbox` from the joints. meta: subject
  = image file stem, frame = row index.
  """

  name = "lsp_mpii_ordinal"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  BUILDER_CONFIGS = [
      OrdinalConfig(name="lsp", description="LSP: first 1000 train, last 1000 test"),
      OrdinalConfig(name="mpii", folder="mpii_upis1h", joint_set="mpii16",
                    image_pattern="{:05d}_full.jpg", flag="visible", train_fraction=1.0,
                    description="MPII ordinal subset: train only"),
  ]

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(builder=self, description=type(self).__doc__,
                                 features=schema.features(with_image=True, image_format="jpeg"))

  def _split_generators(self, dl_manager):
    config = self.builder_config
    if config.flag not in ("occluded", "visible"):
      raise ValueError(f"flag: expected 'occluded' or 'visible', got {config.flag!r}")
    if not 0 < config.train_fraction <= 1:
      raise ValueError(f"train_fraction: expected a number in (0, 1], got "
                       f"{config.train_fraction!r}")
    joint_set = skeleton.get_joint_set(config.joint_set)
    folder = common.manual_folder(dl_manager, self) / config.folder
    joints = _joints(common.require(folder / "joints.mat", self), joint_set.num_joints)
    n = joints.shape[2]
    ord_ = _ordinal(common.require(folder / "ordinal.mat", self), joint_set.num_joints, n)
    rels = [relations_from_ord(ord_[k], what=f"{config.folder}/ordinal.mat image {k}")
            for k in range(n)]
    images = [folder / "images" / config.image_pattern.format(k + 1) for k in range(n)]
    for path in images:
      common.require(path, self)
    cut = max(1, int(round(config.train_fraction * n)))
    splits = {"train": np.arange(cut)}
    if cut < n:
      splits["test"] = np.arange(cut, n)
    return {split: self._generate_examples(joint_set, joints, rels, images, rows)
            for split, rows in splits.items()}

  def _generate_examples(self, joint_set, joints, rels, images, rows):
    config = self.builder_config
    target, _ = common.source_to_target(joint_set)
    for k in rows:
      kp, has = skeleton.remap(joints[:2, :, k].T, joint_set)
      flag, _ = skeleton.remap(joints[2, :, k], joint_set, axis=-1)
      mask = has & np.all(np.isfinite(kp), axis=-1)
      visible = (flag > 0.5) if config.flag == "visible" else (flag < 0.5)
      yield str(k), common.make_example(
          dataset=f"{self.name}/{config.name}", keypoints2d=np.nan_to_num(kp),
          joint_mask=mask, visible=visible, bbox=common.bbox_from_keypoints(kp, mask),
          relations=common.map_relations(rels[k], target),
          image=common.image_bytes(images[k], self), subject=images[k].stem, frame=int(k))
