"""The embedded default datasets, built offline from real MoCap: `mocap_lifting`, `mocap_images`.

Both read a canonical MoCap npz (by default the one shipped in `jaxpose/assets`, derived
from the CMU Graphics Lab database and DeepMimic clips; see ACKNOWLEDGEMENT.txt there),
see every pose through virtual cameras (`jaxpose.data.virtual`), and write the one
example schema (`jaxpose.data.schema`) as array_record:

  * `mocap_lifting`: camera-frame 3D, 2D in pixels, all-pairs ordinal relations.
  * `mocap_images`: the same, rendered to RGB crops (default 128x128) by
    `jaxpose.data.render`, with per-joint visibility from the renderer's z-buffer.

Splits: `train` (training poses, training camera range), `test` (held-out poses,
training camera range) and `test_cameras` (held-out poses, a held-out camera range:
DRPose3D's protocol #3 analogue). Builder config `default` holds out subjects
(`mocap.DEFAULT_TEST_SUBJECTS`), `motions` a motion type (`mocap.DEFAULT_TEST_MOTIONS`:
dance, every subject; Habibie et al.'s held-out motion types), and `motions2d` (images
only) the same dance with part of it (`DEFAULT_2D_ONLY_MOTIONS`) in `train` as
2D-only examples, 3D and relations withheld.
"""

from __future__ import annotations

import dataclasses

import cv2
import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxpose import geometry
from jaxpose.data import mocap, render, schema, virtual

_CHUNK = 1024  # poses per jitted camera-sampling call (static shape: the last is padded)

# `motions2d` (`mocap_images/motions2d`): the dance of `mocap.DEFAULT_TEST_MOTIONS` is held
# out, but CMU 05's modern dance (another dancer and style than the salsa and DeepMimic
# dances it is tested on) trains as 2D-only data, its 3D and relations withheld: Habibie
# et al.'s in-the-wild 2D images of motion the 3D training data lacks.
DEFAULT_2D_ONLY_MOTIONS = ("cmu_iclone_bvh/*",)


@dataclasses.dataclass(eq=False)  # as tfds.core.BuilderConfig
class EmbeddedConfig(tfds.core.BuilderConfig):
  """What to build. Give a custom config its own `name`: the data dir is keyed by it.

  Attributes:
    mocap_path: canonical MoCap npz; None = the embedded default asset.
    test_subjects: subject names held out from training.
    test_sequences: fnmatch patterns of sequence names held out from training (a motion
      type); with test_subjects empty too, mocap.DEFAULT_TEST_SUBJECTS (`mocap.held_out`).
    train_2d_only: fnmatch patterns of held-out sequences that go to `train` as 2D-only
      examples (has_3d and has_ordinal false, 3D zeroed, no relations) instead of `test`.
    frame_stride: keep every k-th pose of the npz (the asset holds 20 fps).
    views_train / views_test: virtual cameras per pose in the train / test splits.
    max_train: cap on training examples (poses x views, poses spread evenly), 0 = all.
    cameras: training camera range; test_cameras: the held-out range (`test_cameras`).
    tie_tol: ordinal tie band in metres (Pavlakos Sec. 4.3: 100 mm).
    image_size: crop side in pixels (images only).
    crop_margin: border around the body in the crop, as a fraction of the box side.
    seed: camera sampling / background seed.
  """
  mocap_path: str | None = None
  test_subjects: tuple[str, ...] = ()
  test_sequences: tuple[str, ...] = ()
  train_2d_only: tuple[str, ...] = ()
  frame_stride: int = 1
  views_train: int = 2
  views_test: int = 1
  max_train: int = 0
  cameras: virtual.CameraRange = virtual.CameraRange()
  test_cameras: virtual.CameraRange = virtual.CameraRange(elevation_deg=(30.0, 60.0))
  tie_tol: float = 0.1
  image_size: int = 128
  crop_margin: float = 0.1
  seed: int = 0


def _split_poses(data: dict, config: EmbeddedConfig) -> dict[str, np.ndarray]:
  """Frame indices of the train and held-out splits, and bool [frames] `two_d`: the
  held-out frames that train as 2D-only examples."""
  if config.frame_stride < 1:
    raise ValueError(f"frame_stride: expected an integer >= 1, got {config.frame_stride}")
  where = config.mocap_path or "the default asset"
  is_test = mocap.held_out(data, config.test_subjects, config.test_sequences,
                           where=f"{where}: test")
  two_d = np.zeros(len(is_test), bool)
  if config.train_2d_only:
    two_d = is_test & mocap.held_out(data, (), config.train_2d_only,
                                     where=f"{where}: train_2d_only as test")
  keep = np.zeros(len(is_test), bool)
  keep[::config.frame_stride] = True
  is_test &= ~two_d
  train = np.flatnonzero(keep & ~is_test)
  if config.max_train and len(train) * config.views_train > config.max_train:
    pick = np.linspace(0, len(train) - 1, max(1, config.max_train // config.views_train))
    train = train[np.unique(pick.astype(int))]
  return {"train": train, "test": np.flatnonzero(keep & is_test), "two_d": two_d}


def _chunks(data: dict, index: np.ndarray, cameras: virtual.CameraRange, num_views: int,
            config: EmbeddedConfig, salt: int):
  """Yields (frames [n], views dict with leading [n, V]) per chunk of poses."""
  key = jax.random.fold_in(jax.random.key(config.seed), salt)
  for start in range(0, len(index), _CHUNK):
    idx = index[start:start + _CHUNK]
    world = data["positions_3d"][idx]
    pad = _CHUNK - len(idx)
    if pad:  # keep one static shape for the jitted sampler
      world = np.concatenate([world, np.repeat(world[-1:], pad, 0)])
    out = virtual.views(jax.random.fold_in(key, start), world, cameras, num_views=num_views,
                        tie_tol=config.tie_tol)
    yield idx, {name: a[:len(idx)] for name, a in out.items()}


def _withhold_3d(ex: dict) -> dict:
  """Makes `ex` a 2D-only example: no 3D, no relations (an image with 2D keypoints)."""
  ex["keypoints3d"] = np.zeros_like(ex["keypoints3d"])
  ex["has_3d"] = False
  ex["relations"] = np.zeros((0, 3), np.int8)
  ex["has_ordinal"] = False
  return ex


def _example(data: dict, frame: int, view: int, split: str, dataset: str, item: dict) -> dict:
  """The schema example of one pose seen by one virtual camera (no image)."""
  ex = schema.empty_example()
  ex["keypoints3d"] = item["keypoints3d"].astype(np.float32)
  ex["keypoints2d"] = item["keypoints2d"].astype(np.float32)
  ex["visible"][:] = True
  ex["joint_mask"][:] = True
  ex["has_3d"] = True
  ex["relations"] = item["relations"].astype(np.int8)
  ex["has_ordinal"] = True
  ex["camera"] = {"focal": item["focal"].astype(np.float32),
                  "center": item["center"].astype(np.float32)}
  ex["meta"] = {
      "dataset": dataset,
      "subject": str(data["subject_names"][data["subject"][frame]]),
      "action": str(data["sequence_names"][data["sequence"][frame]]),
      "camera_id": view + (1000 if split == "test_cameras" else 0),
      "frame": frame,
  }
  return ex


class _EmbeddedBuilder(tfds.core.GeneratorBasedBuilder):
  """Split logic shared by the two embedded builders."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = [
      EmbeddedConfig(name="default"),
      EmbeddedConfig(name="motions", test_sequences=mocap.DEFAULT_TEST_MOTIONS)]
  WITH_IMAGE = False

  def __init__(self, **kwargs):
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=schema.features(with_image=self.WITH_IMAGE, image_format="jpeg"))

  def _split_generators(self, dl_manager):
    del dl_manager
    config = self.builder_config
    data = mocap.load_canonical(config.mocap_path or mocap.default_mocap_path())
    split = _split_poses(data, config)
    return {
        "train": self._generate_examples(data, split["train"], config.cameras,
                                         config.views_train, "train", split["two_d"]),
        "test": self._generate_examples(data, split["test"], config.cameras,
                                        config.views_test, "test"),
        "test_cameras": self._generate_examples(data, split["test"], config.test_cameras,
                                                config.views_test, "test_cameras"),
    }

  def _generate_examples(self, data, index, cameras, num_views, split, two_d=None):
    salt = ("train", "test", "test_cameras").index(split)
    for frames, views in _chunks(data, index, cameras, num_views, self.builder_config, salt):
      for frame, view, ex in self._chunk_examples(data, frames, views, split, salt):
        yield f"{frame}_{view}", (_withhold_3d(ex) if two_d is not None and two_d[frame]
                                  else ex)

  def _chunk_examples(self, data, frames, views, split, salt):
    del salt
    for k, frame in enumerate(frames):
      for v in range(views["keypoints3d"].shape[1]):
        item = {name: a[k, v] for name, a in views.items()}
        yield int(frame), v, _example(data, int(frame), v, split, self.name, item)


class MocapLifting(_EmbeddedBuilder):
  """Virtual-camera 2D/3D/relations from real MoCap (no images)."""


class MocapImages(_EmbeddedBuilder):
  """Rendered RGB crops of real MoCap poses with 2D, 3D, z-buffer visibility, relations.

  Each virtual camera is narrowed to a square crop around the body (`render.crop_camera`),
  so `camera` holds the crop's intrinsics, `keypoints2d` are crop pixels, and `bbox` is
  the whole crop (centre, side).
  """

  WITH_IMAGE = True
  # One view per pose: 20k distinct training poses, ~10 kB JPEG each (tfds's writer
  # buffers a split in memory below 1 GB; above it needs TensorFlow to spill to disk).
  BUILDER_CONFIGS = [
      EmbeddedConfig(name="default", views_train=1),
      EmbeddedConfig(name="motions", views_train=1, test_sequences=mocap.DEFAULT_TEST_MOTIONS),
      EmbeddedConfig(name="motions2d", views_train=1, test_sequences=mocap.DEFAULT_TEST_MOTIONS,
                     train_2d_only=DEFAULT_2D_ONLY_MOTIONS)]
  JPEG_QUALITY = 92

  def _chunk_examples(self, data, frames, views, split, salt):
    config, size = self.builder_config, self.builder_config.image_size
    n, v = views["keypoints3d"].shape[:2]
    flat = {name: a.reshape((n * v,) + a.shape[2:]) for name, a in views.items()}
    crop = render.crop_camera(flat["keypoints3d"], focal=flat["focal"], center=flat["center"],
                              crop_size=size, margin=config.crop_margin)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), salt),
                             int(frames[0]))
    out = jax.device_get(render.render_batch(flat["keypoints3d"], focal=crop.focal,
                                             center=crop.center, key=key,
                                             image_size=(size, size)))
    kp2d = np.asarray(geometry.perspective_project(flat["keypoints3d"], focal=crop.focal,
                                                   center=crop.center))
    focal, center = np.asarray(crop.focal), np.asarray(crop.center)
    for k in range(n * v):
      frame, view = int(frames[k // v]), k % v
      item = {name: a[k] for name, a in flat.items()}
      ex = _example(data, frame, view, split, self.name, item)
      ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(out.image[k][..., ::-1]),
                              [cv2.IMWRITE_JPEG_QUALITY, self.JPEG_QUALITY])
      if not ok:
        raise ValueError(f"image: JPEG encoding failed for frame {frame} view {view}")
      ex["image"] = jpeg.tobytes()
      ex["keypoints2d"] = kp2d[k].astype(np.float32)
      ex["visible"] = np.asarray(out.visible[k], bool)
      ex["camera"] = {"focal": focal[k].astype(np.float32), "center": center[k].astype(np.float32)}
      ex["bbox"] = {"center": np.full(2, size / 2.0, np.float32), "scale": np.float32(size)}
      yield frame, view, ex


BUILDERS = {"mocap_lifting": MocapLifting, "mocap_images": MocapImages}
