"""DeepMimic motion reader: `humanoid3d.txt` skeleton + motion json -> `MocapClip`.

Skeleton (`{"Skeleton": {"Joints": [...]}}`): per joint `ID`, `Name`, `Type` (`none`
for the root, `spherical`, `revolute`, `fixed`), `Parent` and the offset `AttachX/Y/Z`
(metres, in the parent's frame). Motion (`{"Loop": ..., "Frames": [[...], ...]}`): per
row the frame duration (s), root position (3, metres, Y up), root quaternion (w, x, y,
z), then for each non-root joint in ID order a quaternion (w, x, y, z) for a spherical
joint, one angle (rad, about the joint's z axis) for a revolute one (knees, elbows),
nothing for a fixed one (wrists): 44 numbers for humanoid3d. Root values are world,
the others local to the parent.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from jaxpose.data import mocap

_WIDTH = {"none": 0, "spherical": 4, "revolute": 1, "fixed": 0}
_KIND = {int: "an integer", float: "a finite number", str: "a string"}  # field messages
SKELETON_FILE = "humanoid3d.txt"


@dataclasses.dataclass
class DeepMimicSkeleton:
  """Joint names, parents, types and offsets (metres, float64 [J, 3])."""
  names: list[str]
  parents: list[int]
  types: list[str]
  offsets: np.ndarray
  source: str

  @property
  def row_width(self) -> int:
    """Numbers per motion row: duration, root pos + quat, then the joints' dofs."""
    return 8 + sum(_WIDTH[t] for t in self.types[1:])


def _load_json(path: str) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(data, dict):
    raise ValueError(f"{path}: expected a JSON object at the top level")
  return data


def _field(path: str, k: int, joint: dict, key: str, kind: type, default: Any = None) -> Any:
  """`joint[key]` of Skeleton.Joints[k] as `kind` (int, float or str); one-line errors."""
  where = f"{path}: Skeleton.Joints[{k}].{key}"
  if key not in joint:
    if default is not None:
      return default
    raise ValueError(f"{where}: missing (expected {_KIND[kind]})")
  value = joint[key]
  if kind is str:
    if not isinstance(value, str):
      raise ValueError(f"{where}: expected {_KIND[kind]}, got {json.dumps(value)[:40]}")
    return value
  number = isinstance(value, (int, float)) and not isinstance(value, bool)
  if not number or not math.isfinite(value) or (kind is int and value != int(value)):
    raise ValueError(f"{where}: expected {_KIND[kind]}, got {json.dumps(value)[:40]}")
  return kind(value)


def read_skeleton(path: str | os.PathLike) -> DeepMimicSkeleton:
  """Parses a DeepMimic character file (e.g. `humanoid3d.txt`).

  Raises:
    ValueError: one line naming the file and the field (`Skeleton.Joints[k].Parent`)
      for a missing or mistyped field, bad IDs / parents or an unsupported joint type.
  """
  path = os.fspath(path)
  skeleton = _load_json(path).get("Skeleton")
  joints = skeleton.get("Joints") if isinstance(skeleton, dict) else None
  if not isinstance(joints, list) or not joints:
    raise ValueError(f"{path}: no Skeleton.Joints list (not a DeepMimic character file)")
  for k, j in enumerate(joints):
    if not isinstance(j, dict):
      raise ValueError(f"{path}: Skeleton.Joints[{k}]: expected an object with ID, Name, "
                       f"Type, Parent, AttachX/Y/Z, got {json.dumps(j)[:40]}")
  ids = [_field(path, k, j, "ID", int) for k, j in enumerate(joints)]
  order = np.argsort(ids, kind="stable")
  joints, ids = [joints[k] for k in order], [ids[k] for k in order]
  fields = [(int(k), j) for k, j in zip(order, joints)]  # k: index in the file
  names = [_field(path, k, j, "Name", str) for k, j in fields]
  parents = [_field(path, k, j, "Parent", int) for k, j in fields]
  types = [_field(path, k, j, "Type", str).lower() for k, j in fields]
  offsets = np.array([[_field(path, k, j, f"Attach{a}", float) for a in "XYZ"]
                      for k, j in fields])
  thetas = [_field(path, k, j, f"AttachTheta{a}", float, 0.0) for k, j in fields
            for a in "XYZ"]
  if ids != list(range(len(ids))) or parents[0] != -1 or any(
      not 0 <= p < k for k, p in enumerate(parents[1:], start=1)):
    raise ValueError(f"{path}: joints must have IDs 0..J-1 with each parent before its child")
  bad = sorted(set(types) - set(_WIDTH))
  if bad:
    raise ValueError(f"{path}: unsupported joint types {bad} (known: {', '.join(_WIDTH)})")
  if any(thetas):
    raise ValueError(f"{path}: non-zero AttachTheta (rotated joint frames) is not supported")
  return DeepMimicSkeleton(names, parents, types, offsets, path)


def find_skeleton(motion_path: str) -> str:
  """`humanoid3d.txt` beside the motion, in a parent folder, or in `../characters/`."""
  folder = os.path.dirname(os.path.abspath(motion_path))
  tried = []
  for _ in range(4):
    for cand in (os.path.join(folder, SKELETON_FILE),
                 os.path.join(folder, "characters", SKELETON_FILE)):
      tried.append(cand)
      if os.path.isfile(cand):
        return cand
    folder = os.path.dirname(folder)
  raise ValueError(f"{motion_path}: no DeepMimic skeleton {SKELETON_FILE} beside it or in a "
                   f"parent folder (tried {tried[0]} ...); pass skeleton_path=")


def _frames(path: str, width: int) -> np.ndarray:
  frames = _load_json(path).get("Frames")
  if not isinstance(frames, list) or not frames:
    raise ValueError(f"{path}: no 'Frames' list (not a DeepMimic motion)")
  for k, row in enumerate(frames):
    if not isinstance(row, list) or len(row) != width:
      n = len(row) if isinstance(row, list) else type(row).__name__
      raise ValueError(f"{path}: Frames row {k} has {n} values, expected {width} "
                       "(duration, root pos 3, root quat 4, then per joint 4 or 1)")
  try:
    values = np.asarray(frames, dtype=np.float64)
  except (TypeError, ValueError):
    raise ValueError(f"{path}: non-numeric value in Frames") from None
  if not np.isfinite(values).all():
    raise ValueError(f"{path}: non-finite value in Frames")
  return values


def _quats(path: str, wxyz: np.ndarray, what: str) -> np.ndarray:
  norm = np.linalg.norm(wxyz, axis=-1, keepdims=True)
  if (norm < 1e-6).any():
    raise ValueError(f"{path}: zero quaternion for {what}")
  return Rotation.from_quat((wxyz / norm)[:, [1, 2, 3, 0]]).as_matrix()


def read_deepmimic(path: str | os.PathLike,
                   skeleton_path: str | os.PathLike | None = None) -> mocap.MocapClip:
  """Reads a DeepMimic motion; world positions in metres, Y up.

  Args:
    path: the motion .txt (json).
    skeleton_path: the character file; None = `find_skeleton(path)`.

  Returns:
    MocapClip of the skeleton's joints plus the rig's head sites. Frames have their
    own durations; fps is 1 / the first duration (rows of other durations are
    resampled to that rate by nearest time).
  """
  path = os.fspath(path)
  skel = read_skeleton(skeleton_path or find_skeleton(path))
  values = _frames(path, skel.row_width)
  dur = values[:-1, 0] if len(values) > 1 else values[:1, 0]
  if not (dur > 0).all():
    raise ValueError(f"{path}: frame durations must be > 0 (all rows but the last)")
  rig = mocap.detect_rig(skel.names)
  names, parents, offsets = mocap.add_sites(skel.names, skel.parents, skel.offsets, rig, 1.0)
  n, col = len(values), 8
  rot = [_quats(path, values[:, 4:8], "root")]
  pos = [values[:, 1:4]]
  for j in range(1, len(names)):
    kind = skel.types[j] if j < len(skel.types) else "fixed"
    if kind == "spherical":
      local = _quats(path, values[:, col:col + 4], names[j])
    elif kind == "revolute":
      local = Rotation.from_rotvec(values[:, col, None] * [0.0, 0.0, 1.0]).as_matrix()
    else:
      local = np.eye(3)
    col += _WIDTH[kind]
    p = parents[j]
    pos.append(pos[p] + rot[p] @ offsets[j])
    rot.append(rot[p] @ local)
  positions = np.stack(pos, axis=1)
  times = np.concatenate([[0.0], np.cumsum(dur)])[:n]
  fps = 1.0 / dur[0]
  if np.ptp(dur) > 1e-4 * dur[0]:  # uneven durations: nearest frame on a uniform grid
    grid = np.arange(0.0, times[-1] + 0.5 / fps, 1.0 / fps)
    positions = positions[np.abs(times[None] - grid[:, None]).argmin(axis=1)]
  return mocap.MocapClip(positions=positions.astype(np.float32), joint_names=tuple(names),
                         parents=tuple(parents), fps=float(fps), source=path,
                         rig=rig.name if rig else None)
