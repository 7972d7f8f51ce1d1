"""Shared helpers of the real-dataset builders: manual folders, file checks, images, examples.

Conventions the builders share (DESIGN.md "Data"):
  * `bbox.scale` is the side, in pixels, of the square person box centred on
    `bbox.center`. Where a dataset gives no box, it is the joints' extent times
    `BBOX_MARGIN` (`bbox_from_keypoints`).
  * A missing file is a one-line `ValueError` that names it and points to the builder's
    `MANUAL_DOWNLOAD_INSTRUCTIONS`; bad content names the file and the expected form.
"""

from __future__ import annotations

import io
import os
import pathlib
from typing import Any

import cv2
import numpy as np
from PIL import Image

from jaxpose import geometry, skeleton
from jaxpose.data import schema

BBOX_MARGIN = 1.25  # box side / largest extent of the annotated joints
REPROJECTION_TOL_PX = 20.0  # median 2D-vs-projected-3D disagreement that flags bad files
_JPEG_QUALITY = 95


def instructions_ref(builder: Any) -> str:
  """Where the manual download instructions of `builder` live, for error messages."""
  cls = type(builder)
  return f"see {cls.__module__}.{cls.__name__}.MANUAL_DOWNLOAD_INSTRUCTIONS"


def manual_folder(dl_manager: Any, builder: Any) -> pathlib.Path:
  """The manual folder of a tfds download manager; a one-line error when missing/empty."""
  try:
    folder = dl_manager.manual_dir
  except AssertionError as e:  # tfds: "Manual directory X does not exist or is empty. ..."
    reason = str(e).splitlines()[0].split(". Create it")[0]
    raise ValueError(f"{builder.name}: {reason}; {instructions_ref(builder)}") from None
  return pathlib.Path(os.fspath(folder))


def require(path: pathlib.Path, builder: Any) -> pathlib.Path:
  """Returns `path`, or raises naming it when it does not exist."""
  if not path.exists():
    raise ValueError(f"{builder.name}: missing {path}; {instructions_ref(builder)}")
  return path


_JPEG_SOI, _JPEG_EOI = b"\xff\xd8", b"\xff\xd9"


def decode_image(path: pathlib.Path | str, data: bytes, *,
                 expected: str = "a JPEG or PNG image") -> np.ndarray:
  """Decodes encoded image bytes to BGR uint8 [H, W, 3]; a one-line error naming `path`.

  cv2 decodes a truncated JPEG with only a warning (the missing rows grey), so JPEG data
  must also end with the end-of-image marker FF D9 (trailing NUL padding allowed).

  Args:
    path: the file the bytes came from (for messages).
    data: the encoded bytes.
    expected: the accepted formats, for messages.
  """
  if data.startswith(_JPEG_SOI) and not data.rstrip(b"\x00").endswith(_JPEG_EOI):
    raise ValueError(f"{path}: expected {expected}, got a truncated JPEG (no "
                     "end-of-image marker FF D9)")
  img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if img is None:
    raise ValueError(f"{path}: expected {expected}, could not decode it")
  if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 1:
    raise ValueError(f"{path}: expected {expected}, decoded to shape {img.shape}")
  return img


def image_bytes(path: pathlib.Path, builder: Any) -> bytes:
  """Encoded 3-channel JPEG bytes of an image file (passed through when already RGB JPEG).

  Every file is decoded first (`decode_image`: truncated or corrupt files are errors).
  Grayscale, palette or PNG files are re-encoded so every record decodes to [H, W, 3].
  """
  data = require(path, builder).read_bytes()
  try:
    with Image.open(io.BytesIO(data)) as im:  # reads the header only
      fmt, mode, (w, h) = im.format, im.mode, im.size
  except Exception:  # PIL raises several types for unreadable files
    raise ValueError(f"{path}: expected a JPEG or PNG image, could not read it") from None
  img = decode_image(path, data)
  if img.shape[:2] != (h, w):
    raise ValueError(f"{path}: expected a JPEG or PNG image, decoded to {img.shape[1]}x"
                     f"{img.shape[0]} pixels but its header says {w}x{h}")
  if fmt == "JPEG" and mode == "RGB":
    return data
  ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
  if not ok:
    raise ValueError(f"{path}: JPEG re-encoding failed")
  return enc.tobytes()


def bbox_from_keypoints(keypoints2d: np.ndarray, mask: np.ndarray,
                        margin: float = BBOX_MARGIN) -> dict:
  """Square box around the masked joints: centre of their extent, side = margin * extent.

  Args:
    keypoints2d: [J, 2] pixels.
    mask: [J] which joints count.
  """
  pts = np.asarray(keypoints2d, np.float64)[np.asarray(mask, bool)]
  if len(pts) == 0:
    return {"center": np.zeros(2, np.float32), "scale": np.float32(0)}
  lo, hi = pts.min(0), pts.max(0)
  return {"center": ((lo + hi) / 2).astype(np.float32),
          "scale": np.float32(margin * max(hi - lo))}


def source_to_target(source: skeleton.JointSet | list[str]) -> tuple[np.ndarray, np.ndarray]:
  """Index of each source joint in H36M17 (-1 where it has no twin), and the H36M17 mask.

  Returns:
    (target int32 [J_source], mask bool [17]) from `skeleton.remap_indices`.
  """
  index, mask = skeleton.remap_indices(source, skeleton.H36M17)
  n = len(source.joint_names if isinstance(source, skeleton.JointSet) else source)
  target = np.full(n, -1, np.int32)
  target[index[mask]] = np.flatnonzero(mask)
  return target, mask


def map_relations(relations: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Re-indexes source-joint relations (i, j, r) [K, 3] to H36M17; drops unmapped pairs."""
  rel = np.asarray(relations, np.int64).reshape(-1, 3)
  i, j = target[rel[:, 0]], target[rel[:, 1]]
  keep = (i >= 0) & (j >= 0)
  return np.stack([i[keep], j[keep], rel[keep, 2]], axis=-1).astype(np.int8)


def check_reprojection(keypoints3d: np.ndarray, keypoints2d: np.ndarray, *,
                       focal: np.ndarray, center: np.ndarray, what: str,
                       tol_px: float = REPROJECTION_TOL_PX) -> None:
  """Raises when 2D keypoints and the pinhole projection of camera-frame 3D disagree.

  The tolerance is loose on purpose: Human3.6M's 2D includes lens distortion (a few
  pixels); a wrong camera, subject or unit gives hundreds.

  Args:
    keypoints3d: [N, J, 3] camera frame, metres.
    keypoints2d: [N, J, 2] pixels.
    focal, center: [2] pixels.
    what: names the file and sequence in the message.
  """
  if len(keypoints3d) == 0:
    return
  proj = np.asarray(geometry.perspective_project(
      np.asarray(keypoints3d, np.float32), focal=np.asarray(focal, np.float32),
      center=np.asarray(center, np.float32)))
  err = float(np.median(np.linalg.norm(proj - keypoints2d, axis=-1)))
  if not err <= tol_px:
    raise ValueError(f"{what}: 2D keypoints disagree with the camera-frame 3D projected "
                     f"through the camera (median {err:.1f} px > {tol_px} px); expected "
                     "the 2D and 3D of the same frames, subject and camera")


def make_example(*, dataset: str, keypoints2d: np.ndarray, joint_mask: np.ndarray,
                 visible: np.ndarray, bbox: dict, keypoints3d: np.ndarray | None = None,
                 relations: np.ndarray | None = None, camera: dict | None = None,
                 image: bytes | None = None, subject: str = "", action: str = "",
                 camera_id: int = 0, frame: int = 0) -> dict:
  """One record of the example schema (`schema.empty_example`), H36M17 order.

  Args:
    keypoints2d: [17, 2] pixels; joint_mask, visible: [17] bool.
    keypoints3d: [17, 3] camera frame, metres, or None (has_3d False).
    relations: [K, 3] int8 (i, j, r) in our sign; has_ordinal is K > 0.
    camera: {'focal': [2], 'center': [2]} pixels, or None (zeros).
    image: encoded JPEG/PNG bytes (image builders only).
  """
  ex = schema.empty_example()
  mask = np.asarray(joint_mask, bool)
  ex["keypoints2d"] = np.where(mask[:, None], keypoints2d, 0).astype(np.float32)
  ex["joint_mask"] = mask
  ex["visible"] = np.asarray(visible, bool) & mask
  ex["bbox"] = {"center": np.asarray(bbox["center"], np.float32),
                "scale": np.float32(bbox["scale"])}
  if keypoints3d is not None:
    ex["keypoints3d"] = np.where(mask[:, None], keypoints3d, 0).astype(np.float32)
    ex["has_3d"] = True
  if relations is not None:
    ex["relations"] = np.asarray(relations, np.int8).reshape(-1, 3)
    ex["has_ordinal"] = len(ex["relations"]) > 0
  if camera is not None:
    ex["camera"] = {"focal": np.asarray(camera["focal"], np.float32),
                    "center": np.asarray(camera["center"], np.float32)}
  if image is not None:
    ex["image"] = image
  ex["meta"] = {"dataset": dataset, "subject": subject, "action": action,
                "camera_id": int(camera_id), "frame": int(frame)}
  return ex
