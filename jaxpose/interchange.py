"""The interchange files (DESIGN.md): 2D keypoints JSON in (-> lifting batches), 3D poses JSON out.

2D keypoints JSON, the input of lifting models (pixels, origin top-left):

  {"joint_names": ["pelvis", "r_hip", ...],    # any names `skeleton.canonical_name` knows
   "image_size": [w, h],                       # optional: principal point = its centre
   "focal": [fx, fy],                          # optional, pixels
   "poses": [{"id": "frame0",                  # optional: default the pose's index
              "keypoints": [[x, y], ...],      # one pair per joint name
              "visible": [true, false, ...]}]} # optional: default all visible

Joints are matched to H36M17 by name. Names of a supported joint set without an H36M17
twin (COCO's eyes and ears) are dropped; names no supported set knows are an error.
H36M17 joints the file lacks get `joint_mask` False. Lifting needs the root: when
`pelvis` is absent but both hips are given (LSP, COCO), the pelvis is their midpoint
(visible when both hips are), as Human3.6M's pelvis lies between its hip joints.

3D poses JSON, the output of prediction (H36M17 order, metres, root-relative, camera
frame: x right, y down, z forward):

  {"joint_names": [H36M17 names], "unit": "m", "frame": "camera", "root_relative": true,
   "poses": [{"id": "frame0", "keypoints3d": [[x, y, z], ...]}]}

Every malformed file is a one-line ValueError naming the file, the pose (index and id)
and the field; writers never replace an existing file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Sequence

import numpy as np

from jaxpose import skeleton
from jaxpose.data.builders import common as builders_common

JOINTS = skeleton.H36M17
DEFAULT_FOCAL_PX = 1150.0  # focal without "focal" (virtual.CameraRange, ~Human3.6M)
DECIMALS = 6  # written coordinates: micrometres
# Canonical names of every supported joint set (accepted in "joint_names").
KNOWN_NAMES = frozenset(skeleton.canonical_name(n) for js in skeleton.JOINT_SETS.values()
                        for n in js.joint_names)


@dataclasses.dataclass(frozen=True)
class Keypoints2D:
  """A validated 2D keypoints JSON, in the file's own joint order.

  Attributes:
    path: the file read.
    joint_names: the file's J names.
    ids: N pose ids.
    keypoints2d: f32 [N, J, 2] pixels.
    visible: bool [N, J].
    image_size: f32 [2] (w, h), or None.
    focal: f32 [2] (fx, fy) pixels, or None.
  """
  path: str
  joint_names: tuple[str, ...]
  ids: tuple[str, ...]
  keypoints2d: np.ndarray
  visible: np.ndarray
  image_size: np.ndarray | None = None
  focal: np.ndarray | None = None


class _Where:
  """Builds error messages `<file>: <place>.<field>: <problem>`."""

  def __init__(self, path: str):
    self.path = path

  def error(self, field: str, problem: str, pose: tuple[int, str] | None = None) -> ValueError:
    place = f"poses[{pose[0]}] (id {pose[1]!r}).{field}" if pose else field
    return ValueError(f"{self.path}: {place}: {problem}")


def _is_number(v: Any) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(where: _Where, field: str, value: Any, shape: tuple[int, ...],
             pose: tuple[int, str] | None = None, positive: bool = False) -> np.ndarray:
  """A nested list of finite numbers of `shape` -> f64 array (one-line errors)."""
  expect = " x ".join(map(str, shape))

  def walk(v: Any, dims: tuple[int, ...]) -> None:
    if not dims:
      if not _is_number(v):
        raise where.error(field, f"expected numbers, got {json.dumps(v)[:40]}", pose)
      if not math.isfinite(v):
        raise where.error(field, f"expected finite numbers, got {v}", pose)
      if positive and v <= 0:
        raise where.error(field, f"expected positive numbers, got {v}", pose)
      return
    if not isinstance(v, list) or len(v) != dims[0]:
      got = f"{len(v)} entries" if isinstance(v, list) else type(v).__name__
      raise where.error(field, f"expected a {expect} list of numbers, got {got}", pose)
    for item in v:
      walk(item, dims[1:])

  walk(value, shape)
  return np.asarray(value, np.float64).reshape(shape)


def _load_json(path: str) -> dict:
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file")
  with open(path, encoding="utf-8") as f:
    text = f.read()
  try:
    data = json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column "
                     f"{e.colno})") from None
  if not isinstance(data, dict):
    raise ValueError(f"{path}: expected a JSON object with 'joint_names' and 'poses', got "
                     f"{type(data).__name__}")
  return data


def _joint_names(where: _Where, data: dict) -> tuple[str, ...]:
  names = data.get("joint_names")
  if (not isinstance(names, list) or not names
      or not all(isinstance(n, str) and n.strip() for n in names)):
    raise where.error("joint_names", "expected a non-empty list of joint name strings")
  unknown = [n for n in names if skeleton.canonical_name(n) not in KNOWN_NAMES]
  if unknown:
    raise where.error("joint_names", f"unknown joint names {unknown} (known: "
                      f"{', '.join(sorted(KNOWN_NAMES))})")
  try:
    skeleton.remap_indices(names, JOINTS)  # names mapping to one joint twice
  except ValueError as e:
    raise ValueError(f"{where.path}: {e}") from None
  return tuple(names)


def _poses(where: _Where, data: dict) -> list[dict]:
  poses = data.get("poses")
  if not isinstance(poses, list) or not poses:
    raise where.error("poses", "expected a non-empty list of pose objects")
  return poses


def _pose_id(where: _Where, k: int, pose: Any, seen: set[str]) -> str:
  if not isinstance(pose, dict):
    raise where.error(f"poses[{k}]", f"expected an object with 'keypoints', got "
                      f"{type(pose).__name__}")
  pid = pose.get("id", str(k))
  if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid) == "":
    raise where.error(f"poses[{k}].id", f"expected a non-empty string or integer, got "
                      f"{pid!r}")
  pid = str(pid)
  if pid in seen:
    raise where.error(f"poses[{k}].id", f"duplicate id {pid!r} (ids must be unique)")
  seen.add(pid)
  return pid


def _visible(where: _Where, pose: dict, num_joints: int, at: tuple[int, str]) -> np.ndarray:
  vis = pose.get("visible")
  if vis is None:
    return np.ones(num_joints, bool)
  if not isinstance(vis, list) or len(vis) != num_joints:
    got = f"{len(vis)} entries" if isinstance(vis, list) else type(vis).__name__
    raise where.error("visible", f"expected {num_joints} booleans (one per joint_names), "
                      f"got {got}", at)
  if not all(isinstance(v, bool) or v in (0, 1) for v in vis):
    raise where.error("visible", "expected booleans (true/false or 1/0)", at)
  return np.asarray(vis, bool)


def read_keypoints2d(path: str | os.PathLike) -> Keypoints2D:
  """Reads and validates a 2D keypoints JSON (module docstring).

  Raises:
    ValueError: one line naming the file, the pose (index and id) and the field: not
      JSON, missing or empty `poses`, unknown joint names, wrong keypoint count,
      non-numeric or non-finite values, `visible` of the wrong length, duplicate ids.
  """
  path = os.fspath(path)
  where = _Where(path)
  data = _load_json(path)
  names = _joint_names(where, data)
  optional = {}
  for field in ("image_size", "focal"):
    if data.get(field) is not None:
      optional[field] = _numbers(where, field, data[field], (2,), positive=True)
  ids, points, visible, seen = [], [], [], set()
  for k, pose in enumerate(_poses(where, data)):
    pid = _pose_id(where, k, pose, seen)
    if "keypoints" not in pose:
      raise where.error("keypoints", "missing (expected one [x, y] pair per joint name)",
                        (k, pid))
    points.append(_numbers(where, "keypoints", pose["keypoints"], (len(names), 2), (k, pid)))
    visible.append(_visible(where, pose, len(names), (k, pid)))
    ids.append(pid)
  return Keypoints2D(path=path, joint_names=names, ids=tuple(ids),
                     keypoints2d=np.stack(points).astype(np.float32),
                     visible=np.stack(visible),
                     **{k: v.astype(np.float32) for k, v in optional.items()})


def to_h36m17(kp: Keypoints2D) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The file's 2D in H36M17 order, with the pelvis derived from the hips if absent.

  Returns:
    (keypoints2d f32 [N, 17, 2] (0 where absent), visible bool [N, 17],
     joint_mask bool [17]).

  Raises:
    ValueError: naming the file when there is neither a pelvis nor both hips.
  """
  canon = [skeleton.canonical_name(n) for n in kp.joint_names]
  keep = [k for k, c in enumerate(canon) if c in JOINTS.joint_names]
  if not keep:
    raise ValueError(f"{kp.path}: joint_names: none of {list(kp.joint_names)} is an "
                     f"{JOINTS.name} joint")
  index, mask = skeleton.remap_indices([kp.joint_names[k] for k in keep], JOINTS,
                                       strict=True)
  source = np.asarray(keep)[index]
  points = np.where(mask[:, None], kp.keypoints2d[:, source], 0).astype(np.float32)
  visible = kp.visible[:, source] & mask
  root, hips = JOINTS.root, [JOINTS.index("l_hip"), JOINTS.index("r_hip")]
  if not mask[root]:
    if not mask[hips].all():
      raise ValueError(f"{kp.path}: joint_names: lifting needs the root 'pelvis', or both "
                       f"'l_hip' and 'r_hip' to derive it; got {list(kp.joint_names)}")
    points[:, root] = points[:, hips].mean(axis=1)
    visible[:, root] = visible[:, hips].all(axis=1)
    mask = mask.copy()
    mask[root] = True
  return points, visible, mask


def lifting_batch(kp: Keypoints2D, *, num_pairs: int,
                  default_focal: float = DEFAULT_FOCAL_PX) -> dict[str, Any]:
  """A lifting batch in the input-pipeline layout (`jaxpose.data.pipeline`), one row per pose.

  No 3D and no relations (`has_3d`, `has_ordinal` False, zeros); `camera.focal` from the
  file or `default_focal`; `camera.center` = image_size / 2, or else the centroid of the
  pose's joints; `bbox` around the joints (`builders.common.bbox_from_keypoints`);
  `meta.action` = the file's stem, `meta.frame` = the pose's index.

  Args:
    kp: a read file (`read_keypoints2d`).
    num_pairs: P, relation slots per example (`config.data.num_pairs`).
    default_focal: pixels, when the file has no `focal`.
  """
  points, visible, mask = to_h36m17(kp)
  n = len(kp.ids)
  joint_mask = np.repeat(mask[None], n, axis=0)
  if kp.image_size is not None:
    center = np.repeat(kp.image_size[None] / 2, n, axis=0)
  else:
    center = points[:, mask].mean(axis=1)
  focal = kp.focal if kp.focal is not None else np.full(2, default_focal)
  boxes = [builders_common.bbox_from_keypoints(p, mask) for p in points]
  stem = os.path.splitext(os.path.basename(kp.path))[0]
  return {
      "keypoints2d": points,
      "visible": visible,
      "joint_mask": joint_mask,
      "keypoints3d": np.zeros((n, JOINTS.num_joints, 3), np.float32),
      "has_3d": np.zeros(n, bool),
      "relations": np.zeros((n, num_pairs, 3), np.int8),
      "relation_mask": np.zeros((n, num_pairs), bool),
      "has_ordinal": np.zeros(n, bool),
      "camera": {"focal": np.repeat(np.asarray(focal, np.float32)[None], n, axis=0),
                 "center": center.astype(np.float32)},
      "bbox": {"center": np.stack([b["center"] for b in boxes]).astype(np.float32),
               "scale": np.asarray([b["scale"] for b in boxes], np.float32)},
      "index": np.arange(n, dtype=np.int32),
      "valid": np.ones(n, bool),
      "meta": {"dataset": ["keypoints2d_json"] * n, "subject": [""] * n,
               "action": [stem] * n, "camera_id": np.full(n, -1, np.int32),
               "frame": np.arange(n, dtype=np.int32)},
  }


def _write_new(path: str, data: dict) -> str:
  """Writes JSON to a new file; an existing one is an error (never replaced)."""
  text = json.dumps(data, indent=None, separators=(",", ":"), allow_nan=False)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  try:
    with open(path, "x", encoding="utf-8") as f:
      f.write(text + "\n")
  except FileExistsError:
    raise ValueError(f"{path}: exists; refusing to overwrite it") from None
  return path


def _rounded(x: np.ndarray) -> list:
  """Nested lists rounded to `DECIMALS` places, without negative zeros."""
  return (np.round(x, DECIMALS) + 0.0).tolist()


def _check_ids(ids: Sequence[str], n: int) -> list[str]:
  ids = [str(i) for i in ids]
  if len(ids) != n or len(set(ids)) != n:
    raise ValueError(f"ids: expected {n} unique ids (one per pose), got {len(ids)} "
                     f"({len(set(ids))} unique)")
  return ids


def write_keypoints2d(path: str | os.PathLike, ids: Sequence[str], keypoints2d: Any, *,
                      joint_names: Sequence[str], visible: Any = None,
                      image_size: Sequence[float] | None = None,
                      focal: Sequence[float] | None = None) -> str:
  """Writes a 2D keypoints JSON (e.g. from a 2D detector's output) to a new file.

  Args:
    path: the new file.
    ids: N unique pose ids.
    keypoints2d: [N, J, 2] pixels, finite.
    joint_names: the J names.
    visible: optional bool [N, J].
    image_size, focal: optional (w, h) and (fx, fy) pixels.

  Returns:
    The path written.
  """
  kp = np.asarray(keypoints2d, np.float64)
  if kp.ndim != 3 or kp.shape[1:] != (len(joint_names), 2) or not np.isfinite(kp).all():
    raise ValueError(f"keypoints2d: expected finite [N, {len(joint_names)}, 2] (one pair "
                     f"per joint name), got shape {kp.shape}")
  ids = _check_ids(ids, len(kp))
  poses = [{"id": i, "keypoints": _rounded(p)} for i, p in zip(ids, kp)]
  if visible is not None:
    vis = np.asarray(visible, bool)
    if vis.shape != kp.shape[:2]:
      raise ValueError(f"visible: expected bool {list(kp.shape[:2])}, got shape {vis.shape}")
    for pose, v in zip(poses, vis):
      pose["visible"] = v.tolist()
  data: dict[str, Any] = {"joint_names": list(joint_names)}
  for field, value in (("image_size", image_size), ("focal", focal)):
    if value is not None:
      data[field] = [float(v) for v in value]
  data["poses"] = poses
  return _write_new(os.fspath(path), data)


def write_poses3d(path: str | os.PathLike, ids: Sequence[str], poses3d: Any) -> str:
  """Writes a 3D poses JSON (module docstring) to a new file.

  Args:
    path: the new file (an existing file is an error).
    ids: N unique pose ids.
    poses3d: [N, 17, 3] root-relative camera-frame poses in metres (H36M17 order).

  Returns:
    The path written.
  """
  poses = np.asarray(poses3d, np.float64)
  if poses.ndim != 3 or poses.shape[1:] != (JOINTS.num_joints, 3):
    raise ValueError(f"poses3d: expected finite [N, {JOINTS.num_joints}, 3] metres, got "
                     f"shape {poses.shape}")
  ids = _check_ids(ids, len(poses))
  bad = ~np.isfinite(poses)
  if bad.any():
    n, j, c = np.argwhere(bad)[0]
    raise ValueError(f"poses3d: pose {n} (id {ids[n]!r}) joint {j} ({JOINTS.joint_names[j]})"
                     f": expected finite metres, got {'xyz'[c]} = {poses[n, j, c]} "
                     f"({int(bad.any(axis=-1).sum())} joints of {int(bad.any(axis=(1, 2)).sum())}"
                     " poses are not finite)")
  return _write_new(os.fspath(path), {
      "joint_names": list(JOINTS.joint_names), "unit": "m", "frame": "camera",
      "root_relative": True,
      "poses": [{"id": i, "keypoints3d": _rounded(p)} for i, p in zip(ids, poses)]})


def read_poses3d(path: str | os.PathLike) -> tuple[tuple[str, ...], np.ndarray]:
  """Reads and validates a 3D poses JSON -> (N ids, f32 [N, 17, 3] metres).

  Raises:
    ValueError: one line naming the file, pose and field (as `read_keypoints2d`), also
      when the header is not H36M17 / metres / camera frame / root-relative.
  """
  path = os.fspath(path)
  where = _Where(path)
  data = _load_json(path)
  header = {"joint_names": list(JOINTS.joint_names), "unit": "m", "frame": "camera",
            "root_relative": True}
  for field, expected in header.items():
    if data.get(field) != expected:
      raise where.error(field, f"expected {json.dumps(expected)}, got "
                        f"{json.dumps(data.get(field))[:80]}")
  ids, poses, seen = [], [], set()
  for k, pose in enumerate(_poses(where, data)):
    pid = _pose_id(where, k, pose, seen)
    if "keypoints3d" not in pose:
      raise where.error("keypoints3d", "missing", (k, pid))
    poses.append(_numbers(where, "keypoints3d", pose["keypoints3d"],
                          (JOINTS.num_joints, 3), (k, pid)))
    ids.append(pid)
  return tuple(ids), np.stack(poses).astype(np.float32)
