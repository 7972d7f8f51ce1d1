"""The one example schema every dataset writes (DESIGN.md "Conventions"), as tfds features.

Absent parts are zeros with their `has_*` flag false. Relations are ragged int8 (i, j, r)
triples in the DESIGN sign convention (r = +1 <=> joint i is closer to the camera);
the input pipeline pads them to a fixed P with a mask.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from jaxpose import skeleton

NUM_JOINTS = skeleton.H36M17.num_joints


def features(*, with_image: bool, image_format: str = "png",
             num_joints: int = NUM_JOINTS) -> tfds.features.FeaturesDict:
  """tfds FeaturesDict of the example schema; `with_image` adds the encoded `image`."""
  f32, J = np.float32, num_joints
  spec = {
      "keypoints2d": tfds.features.Tensor(shape=(J, 2), dtype=f32),
      "visible": tfds.features.Tensor(shape=(J,), dtype=np.bool_),
      "joint_mask": tfds.features.Tensor(shape=(J,), dtype=np.bool_),
      "keypoints3d": tfds.features.Tensor(shape=(J, 3), dtype=f32),
      "has_3d": tfds.features.Tensor(shape=(), dtype=np.bool_),
      "relations": tfds.features.Tensor(shape=(None, 3), dtype=np.int8),
      "has_ordinal": tfds.features.Tensor(shape=(), dtype=np.bool_),
      "camera": {
          "focal": tfds.features.Tensor(shape=(2,), dtype=f32),
          "center": tfds.features.Tensor(shape=(2,), dtype=f32),
      },
      "bbox": {
          "center": tfds.features.Tensor(shape=(2,), dtype=f32),
          "scale": tfds.features.Tensor(shape=(), dtype=f32),
      },
      "meta": {
          "dataset": tfds.features.Text(),
          "subject": tfds.features.Text(),
          "action": tfds.features.Text(),
          "camera_id": tfds.features.Tensor(shape=(), dtype=np.int32),
          "frame": tfds.features.Tensor(shape=(), dtype=np.int32),
      },
  }
  if with_image:
    spec["image"] = tfds.features.Image(shape=(None, None, 3), encoding_format=image_format)
  return tfds.features.FeaturesDict(spec)


def empty_example(num_joints: int = NUM_JOINTS) -> dict:
  """An example with every part absent (zeros, flags false), to fill in."""
  J = num_joints
  return {
      "keypoints2d": np.zeros((J, 2), np.float32),
      "visible": np.zeros((J,), bool),
      "joint_mask": np.zeros((J,), bool),
      "keypoints3d": np.zeros((J, 3), np.float32),
      "has_3d": False,
      "relations": np.zeros((0, 3), np.int8),
      "has_ordinal": False,
      "camera": {"focal": np.zeros(2, np.float32), "center": np.zeros(2, np.float32)},
      "bbox": {"center": np.zeros(2, np.float32), "scale": np.float32(0)},
      "meta": {"dataset": "", "subject": "", "action": "", "camera_id": 0, "frame": 0},
  }
