"""BVH reader: hierarchy + motion parsing and vectorised forward kinematics to `MocapClip`.

A BVH file is a joint tree (`ROOT`/`JOINT` with an `OFFSET` in the parent's frame,
`CHANNELS` and `End Site` leaves) followed by `MOTION`, `Frames: N`, `Frame Time: dt`
and N rows of channel values in header order. Semantics used here (those of the
cgspeed/CMU, iClone and DAZ exporters):

  * a joint's local transform is `T(offset + position channels) @ R(rotation channels)`,
    so a root whose OFFSET holds the rest height (iClone) and position channels that
    are deltas both work, and a zero OFFSET with absolute positions (cgspeed) too;
  * rotation channels are Euler angles in degrees, applied in the listed order as
    intrinsic rotations (`Zrotation Xrotation Yrotation` -> `R = Rz Rx Ry`); every
    joint may have its own order; 3-channel (rotation) and 6-channel joints both work;
  * an `End Site` becomes a joint named `<parent>_end` (e.g. the head top `Head_end`);
  * a recognised rig (`jaxpose.data.mocap.RIGS`) gets its virtual sites (e.g. a head
    top) and a bone its exporter dropped (`Rig.missing_bone`, cgspeed's thorax) back.

The unit comes from `scale` (metres per file unit) or, for a recognised rig
(`jaxpose.data.mocap.RIGS`), from the rig's known unit checked against its leg length.
Forward kinematics loops over joints (at most ~100) but is vectorised over frames
(in chunks of `_CHUNK` frames).
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
from scipy.spatial.transform import Rotation

from jaxpose.data import mocap

_AXES = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}
_POS = {"xposition": 0, "yposition": 1, "zposition": 2}
_CHUNK = 8192  # frames per forward-kinematics call (bounds memory on long files)
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": mocap.CMU_UNIT}


@dataclasses.dataclass
class Hierarchy:
  """A parsed BVH header (End Sites included as joints without channels)."""
  names: list[str]
  parents: list[int]
  offsets: np.ndarray          # float64 [J, 3], file units
  channels: list[list[str]]    # per joint, lower-cased channel names


def _fail(path: str, what: str) -> ValueError:
  return ValueError(f"{os.fspath(path)}: {what}")


def parse_hierarchy(text: str, path: str = "<bvh>") -> Hierarchy:
  """Parses the HIERARCHY section (everything before `MOTION`)."""
  tok = text.split()
  if not tok or tok[0].upper() != "HIERARCHY":
    raise _fail(path, "not a BVH file (expected 'HIERARCHY' first)")
  names, parents, offsets, channels = [], [], [], []
  stack: list[int] = []
  i, n = 1, len(tok)
  try:
    while i < n:
      t = tok[i]
      key = t.upper()
      if key in ("ROOT", "JOINT"):
        if (key == "ROOT") != (not stack) or (key == "ROOT" and names):
          raise _fail(path, f"misplaced {t} {tok[i + 1]!r} (one ROOT, JOINTs inside it)")
        names.append(tok[i + 1])
        parents.append(stack[-1] if stack else -1)
        offsets.append((0.0, 0.0, 0.0))
        channels.append([])
        i += 2
      elif key == "END":  # End Site
        names.append(f"{names[stack[-1]]}_end")
        parents.append(stack[-1])
        offsets.append((0.0, 0.0, 0.0))
        channels.append([])
        i += 2
      elif t == "{":
        stack.append(len(names) - 1)
        i += 1
      elif t == "}":
        stack.pop()
        i += 1
      elif key == "OFFSET":
        offsets[stack[-1]] = tuple(float(v) for v in tok[i + 1:i + 4])
        i += 4
      elif key == "CHANNELS":
        k = int(tok[i + 1])
        chans = [c.lower() for c in tok[i + 2:i + 2 + k]]
        bad = [c for c in chans if c not in _AXES and c not in _POS]
        if bad or len(chans) != k:
          raise _fail(path, f"bad CHANNELS for joint {names[stack[-1]]!r}: {chans}")
        channels[stack[-1]] = chans
        i += 2 + k
      else:
        raise _fail(path, f"unexpected token {t!r} in HIERARCHY")
  except (IndexError, ValueError) as e:
    if isinstance(e, ValueError) and str(e).startswith(os.fspath(path)):
      raise
    raise _fail(path, f"malformed HIERARCHY near token {i} ({e})") from None
  if not names or stack:
    raise _fail(path, "HIERARCHY has no ROOT or unbalanced braces")
  return Hierarchy(names, parents, np.asarray(offsets, np.float64).reshape(-1, 3), channels)


def _parse_motion(text: str, num_channels: int, path: str) -> tuple[np.ndarray, float]:
  """Parses `Frames:`, `Frame Time:` and the rows -> (values float64 [N, C], frame time)."""
  m = re.match(r"\s*Frames:\s*(\d+)\s*Frame\s+Time:\s*(\S+)[ \t]*\r?\n?", text, re.I)
  if not m:
    raise _fail(path, "MOTION section lacks 'Frames: N' / 'Frame Time: dt'")
  num_frames, frame_time = int(m.group(1)), float(m.group(2))
  if frame_time <= 0:
    raise _fail(path, f"Frame Time must be > 0, got {frame_time}")
  rows = [r for r in text[m.end():].splitlines() if r.strip()]
  if len(rows) < num_frames:
    raise _fail(path, f"truncated: header says {num_frames} frames, found {len(rows)} rows")
  if len(rows) > num_frames:
    raise _fail(path, f"header says {num_frames} frames but {len(rows)} rows follow")
  if num_frames == 0:
    return np.zeros((0, num_channels)), frame_time
  try:
    values = np.loadtxt(rows, dtype=np.float64, ndmin=2)
  except ValueError:
    counts = [len(r.split()) for r in rows]
    bad = next((k for k, c in enumerate(counts) if c != num_channels), None)
    if bad is None:
      raise _fail(path, "non-numeric value in MOTION rows") from None
    raise _fail(path, f"truncated or malformed: frame row {bad} has {counts[bad]} values, "
                f"expected {num_channels}") from None
  if values.shape[1] != num_channels:
    raise _fail(path, f"frame rows have {values.shape[1]} values, header CHANNELS sum to "
                f"{num_channels}")
  if not np.isfinite(values).all():
    raise _fail(path, "non-finite value in MOTION rows")
  return values, frame_time


def forward_kinematics(h: Hierarchy, values: np.ndarray) -> np.ndarray:
  """Global joint positions (file units) from channel values.

  Args:
    h: the hierarchy (parents precede children, as in every BVH file).
    values: float64 [N, C] channel values in header order, angles in degrees.

  Returns:
    float64 [N, J, 3].
  """
  n = values.shape[0]
  local_rot = np.broadcast_to(np.eye(3), (len(h.names), n, 3, 3)).copy()
  trans = np.broadcast_to(h.offsets[:, None], (len(h.names), n, 3)).copy()
  by_order: dict[str, list[tuple[int, list[int]]]] = {}
  col = 0
  for j, chans in enumerate(h.channels):
    rot_cols, order = [], ""
    for k, c in enumerate(chans, start=col):
      if c in _POS:
        trans[j, :, _POS[c]] += values[:, k]
      else:
        rot_cols.append(k)
        order += _AXES[c]
    col += len(chans)
    if rot_cols:
      by_order.setdefault(order, []).append((j, rot_cols))
  for order, items in by_order.items():  # one scipy call per distinct Euler order
    angles = np.concatenate([values[:, cols] for _, cols in items])
    mats = Rotation.from_euler(order, angles, degrees=True).as_matrix().reshape(
        len(items), n, 3, 3)
    for (j, _), m in zip(items, mats):
      local_rot[j] = m
  glob_rot = np.empty_like(local_rot)
  pos = np.empty((len(h.names), n, 3))
  for j, p in enumerate(h.parents):
    if p < 0:
      glob_rot[j], pos[j] = local_rot[j], trans[j]
    else:
      glob_rot[j] = glob_rot[p] @ local_rot[j]
      pos[j] = pos[p] + np.einsum("nij,nj->ni", glob_rot[p], trans[j])
  return pos.transpose(1, 0, 2)


def rest_positions(parents, offsets) -> np.ndarray:
  """Rest-pose positions [J, 3] from per-joint offsets (parents precede children)."""
  pos = np.zeros_like(np.asarray(offsets, np.float64))
  for j, p in enumerate(parents):
    pos[j] = offsets[j] + (pos[p] if p >= 0 else 0.0)
  return pos


def infer_scale(h: Hierarchy, rig: mocap.Rig | None, path: str) -> float:
  """Metres per file unit of a recognised rig, checked by its leg length.

  A fixed figure (`rig.thigh`) gets `rig.thigh / file thigh`. Otherwise the rig's unit
  is kept when its leg (hip-knee-ankle, rest pose) is 0.5-1.3 m; if not, the standard
  unit (`UNITS`) giving the leg nearest 0.85 m within that range is used.
  """
  if rig is None:
    raise _fail(path, f"unknown skeleton, cannot infer its unit "
                f"({mocap.describe_missing(h.names)}); pass scale= (metres per file unit)")
  rest = rest_positions(h.parents, h.offsets)
  hip, knee, ankle = (rest[mocap.find_joint(h.names, n)] for n in rig.leg)
  thigh = np.linalg.norm(knee - hip)
  leg = thigh + np.linalg.norm(ankle - knee)
  if not leg > 0:
    raise _fail(path, "zero-length leg in the rest pose; pass scale=")
  if rig.thigh is not None:
    return rig.thigh / thigh
  fits = [u for u in (rig.unit, *UNITS.values()) if 0.5 <= leg * u <= 1.3]
  if not fits:
    raise _fail(path, f"leg length {leg:.4g} file units fits no known unit "
                f"({', '.join(UNITS)}); pass scale= (metres per file unit)")
  return fits[0] if fits[0] == rig.unit else min(fits, key=lambda u: abs(np.log(leg * u / .85)))


def _restore_bone(h: Hierarchy, rig: mocap.Rig | None) -> None:
  """Puts back a bone the exporter dropped (`mocap.Rig.missing_bone`), in place."""
  if rig is None or rig.missing_bone is None:
    return
  base, kids = rig.missing_bone
  kids = [mocap.find_joint(h.names, k) for k in kids]
  if not h.offsets[kids].any():
    h.offsets[kids] = (0.0, np.linalg.norm(h.offsets[mocap.find_joint(h.names, base)]), 0.0)


def read_bvh(path: str | os.PathLike, *, scale: float | None = None,
             drop_first: bool | None = None) -> mocap.MocapClip:
  """Reads a BVH file into world positions in metres (Y up, as every BVH rig here).

  Args:
    path: the .bvh file.
    scale: metres per file unit; None = the recognised rig's unit (`mocap.RIGS`:
      cgspeed CMU 0.0254/0.45 m, iClone cm, DAZ from its fixed figure's thigh),
      checked against the leg length (`infer_scale`). Unknown rigs need it.
    drop_first: drop frame 0; None = the rig's rule (iClone files start with an
      added T-pose).

  Returns:
    MocapClip with every joint and End Site, plus the rig's virtual sites.
  """
  path = os.fspath(path)
  with open(path, encoding="utf-8", errors="replace") as f:
    text = f.read()
  m = re.search(r"^\s*MOTION\s*$", text, re.M | re.I)
  if not m:
    raise _fail(path, "no MOTION section (file truncated?)")
  h = parse_hierarchy(text[:m.start()], path)
  values, frame_time = _parse_motion(text[m.end():], sum(map(len, h.channels)), path)
  rig = mocap.detect_rig(h.names)
  if scale is None:
    scale = infer_scale(h, rig, path)
  elif not scale > 0:
    raise _fail(path, f"scale must be > 0 (metres per file unit), got {scale}")
  _restore_bone(h, rig)
  if drop_first if drop_first is not None else (rig is not None and rig.drop_first):
    values = values[1:]
  h = Hierarchy(*mocap.add_sites(h.names, h.parents, h.offsets, rig, scale),
                channels=h.channels + [[]] * (len(rig.sites) if rig else 0))
  positions = np.concatenate([forward_kinematics(h, values[s:s + _CHUNK]) * scale
                              for s in range(0, max(len(values), 1), _CHUNK)])
  fps = 1.0 / frame_time  # times are printed with few digits: .0083333 -> 120, not 120.0005
  fps = float(round(fps)) if abs(fps - round(fps)) < 1e-4 * fps else fps
  return mocap.MocapClip(positions=positions.astype(np.float32), joint_names=tuple(h.names),
                         parents=tuple(h.parents), fps=fps, source=path,
                         rig=rig.name if rig else None)
