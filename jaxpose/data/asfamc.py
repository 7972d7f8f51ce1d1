"""Acclaim ASF skeleton + AMC motion reader (CMU's native format) with vectorised FK.

ASF: `:units` (`length` L, `angle deg|rad`), `:root` (`order TX TY TZ RX RY RZ`,
`axis XYZ`, `position`, `orientation`), `:bonedata` (per bone: `name`, `direction` (unit
vector in the world rest frame), `length`, `axis a b c XYZ`, `dof rx ry rz ...`) and
`:hierarchy` (`parent child child ...`). AMC: optional `:FULLY-SPECIFIED`/`:DEGREES`
lines, then per frame its number followed by one `bone v1 v2 ...` line per moving bone.

Kinematics (the CMU/Acclaim convention): a bone's axis rotation is `C = R(axis, order)`,
its motion `M = R(dof values, dof order)` with rotations applied in the listed order
(extrinsic, `rx ry rz` -> `Rz Ry Rx`); the global rotation is
`G = G_parent C M C^T` and the bone's end is `end_parent + length * G direction`.
The root's rotation is `C_root M_root C_root^T` with `C_root` from `orientation`, its
position the AMC translation plus `position`. Each bone's END is one clip joint named
after the bone (`lfemur` -> knee, `head` -> head top); joint 0 is `root`.

Lengths are in Acclaim units: metres = value * 0.0254 / L (inches divided by the
`length` factor; the CMU FAQ's (1/0.45) * 2.54 / 100 for CMU's `length 0.45`), which
matches the cgspeed BVH of the same subject.
"""

from __future__ import annotations

import dataclasses
import os
import re

import numpy as np
from scipy.spatial.transform import Rotation

from jaxpose.data import mocap


@dataclasses.dataclass
class AsfSkeleton:
  """A parsed ASF file; lengths already in metres.

  Attributes:
    bones: bone names in hierarchy order (parents first).
    parents: index into `["root"] + bones` of each bone's parent (0 = root).
    direction: float64 [B, 3] unit directions; length: float64 [B] metres.
    axis: float64 [B, 3, 3] the C matrices; dof: per bone its dof names (`rx`, `tx`...).
    root_order: the root's AMC channel order; root_axis: [3, 3]; root_position: [3] m.
    angle_scale: radians per AMC angle unit; length_scale: metres per unit.
    source: the ASF path.
  """
  bones: list[str]
  parents: list[int]
  direction: np.ndarray
  length: np.ndarray
  axis: np.ndarray
  dof: list[list[str]]
  root_order: list[str]
  root_axis: np.ndarray
  root_position: np.ndarray
  angle_scale: float
  length_scale: float
  source: str


def _sections(text: str) -> dict[str, list[str]]:
  out, key = {}, None
  for line in text.splitlines():
    s = line.split("#", 1)[0].strip()
    if not s:
      continue
    if s.startswith(":"):
      key, _, rest = s[1:].partition(" ")
      out[key.lower()] = [rest.strip()] if rest.strip() else []
    elif key is not None:
      out[key].append(s)
  return out


def _euler(order: str, angles: np.ndarray) -> np.ndarray:
  """Rotation matrices [..., 3, 3]: rotations applied in `order` (extrinsic axes)."""
  return Rotation.from_euler(order.lower(), angles).as_matrix()


def _parse_bone(lines: list[str], path: str, rad: float) -> dict:
  bone = {"dof": []}
  for s in lines:
    key, *vals = s.split()
    key = key.lower()
    if key in ("id", "name"):
      bone[key] = vals[0]
    elif key == "direction":
      bone["direction"] = np.array(vals[:3], float)
    elif key == "length":
      bone["length"] = float(vals[0])
    elif key == "axis":
      bone["axis"] = _euler(vals[3], np.array(vals[:3], float) * rad)
    elif key == "dof":
      bone["dof"] = [v.lower() for v in vals]
  missing = {"name", "direction", "length", "axis"} - set(bone)
  if missing:
    raise ValueError(f"{path}: bone {bone.get('name', '?')!r} lacks {sorted(missing)}")
  return bone


def read_asf(path: str | os.PathLike, *, scale: float | None = None) -> AsfSkeleton:
  """Parses an ASF file. `scale` (metres per unit) overrides the `:units length`."""
  path = os.fspath(path)
  with open(path, encoding="utf-8", errors="replace") as f:
    sec = _sections(f.read())
  for need in ("root", "bonedata", "hierarchy"):
    if need not in sec:
      raise ValueError(f"{path}: not an ASF file (no :{need} section)")
  units = dict(s.split()[:2] for s in sec.get("units", []) if len(s.split()) >= 2)
  try:
    if scale is not None and not scale > 0:
      raise ValueError(f"{path}: scale must be > 0 (metres per unit), got {scale}")
    length_scale = scale or 0.0254 / float(units.get("length", 1.0))
    rad = 1.0 if units.get("angle", "deg").lower().startswith("rad") else np.pi / 180
    root = {s.split()[0].lower(): s.split()[1:] for s in sec["root"]}
    blocks = re.findall(r"begin\n(.*?)\nend", "\n".join(sec["bonedata"]), re.S | re.I)
    bones = {b["name"]: b for b in (_parse_bone(x.split("\n"), path, rad) for x in blocks)}
    root_axis = _euler(root.get("axis", ["XYZ"])[0],
                       np.array(root.get("orientation", [0, 0, 0]), float) * rad)
    root_position = np.array(root.get("position", [0, 0, 0]), float) * length_scale
  except (ValueError, IndexError, KeyError) as e:
    if str(e).startswith(path):
      raise
    raise ValueError(f"{path}: malformed ASF ({e})") from None
  parent_of = {}
  for s in sec["hierarchy"]:
    if s.lower() in ("begin", "end"):
      continue
    parent, *children = s.split()
    for c in children:
      if c not in bones:
        raise ValueError(f"{path}: :hierarchy names bone {c!r} not in :bonedata")
      parent_of[c] = parent
  names = ["root"]
  while len(names) <= len(parent_of):  # parents first
    ready = [c for c, p in parent_of.items() if p in names and c not in names]
    if not ready:
      raise ValueError(f"{path}: :hierarchy is not a tree rooted at 'root'")
    names += ready
  bl = [bones[n] for n in names[1:]]
  d = np.stack([b["direction"] for b in bl])
  return AsfSkeleton(
      bones=names[1:], parents=[names.index(parent_of[n]) for n in names[1:]],
      direction=d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12),
      length=np.array([b["length"] for b in bl]) * length_scale,
      axis=np.stack([b["axis"] for b in bl]), dof=[b["dof"] for b in bl],
      root_order=[o.lower() for o in root.get("order", "TX TY TZ RX RY RZ".split())],
      root_axis=root_axis, root_position=root_position, angle_scale=rad,
      length_scale=length_scale, source=path)


def _amc_rows(path: str, lines: list[str], skel: AsfSkeleton) -> dict[str, np.ndarray]:
  """Per bone float64 [N, dof] values; frames are blocks starting with a frame number."""
  starts = [i for i, s in enumerate(lines) if s.isdigit()]
  if not starts:
    raise ValueError(f"{path}: no frames (expected a frame number line)")
  want = {"root": len(skel.root_order), **{b: len(d) for b, d in zip(skel.bones, skel.dof)}}
  block = starts[1] - starts[0] if len(starts) > 1 else len(lines) - starts[0]
  first = [s.split(None, 1)[0] for s in lines[starts[0] + 1:starts[0] + block]]
  rows = {name: lines[starts[0] + 1 + k::block] for k, name in enumerate(first)}
  fast = (len(lines) == starts[0] + block * len(starts) and all(
      len(r) == len(starts) and all(x.startswith(name + " ") for x in r)
      for name, r in rows.items()))
  if not fast:  # bones in varying order, or a cut-off frame: go line by line
    rows = {}
    for a, b in zip(starts, starts[1:] + [len(lines)]):
      for x in lines[a + 1:b]:
        rows.setdefault(x.split(None, 1)[0], []).append(x)
  out = {}
  for name, r in rows.items():
    if name not in want:
      raise ValueError(f"{path}: unknown bone {name!r} (not in {skel.source})")
    if len(r) != len(starts):
      raise ValueError(f"{path}: bone {name!r} is on {len(r)} of {len(starts)} frames "
                       "(truncated?)")
    vals = np.array(" ".join(x[len(name):] for x in r).split(), dtype=np.float64)
    if vals.size != len(r) * want[name]:
      raise ValueError(f"{path}: bone {name!r} needs {want[name]} values per frame "
                       f"({vals.size} for {len(r)} frames)")
    out[name] = vals.reshape(len(r), want[name])
  return out


def read_amc(path: str | os.PathLike, skeleton: AsfSkeleton | str | os.PathLike | None = None,
             *, fps: float = 120.0) -> mocap.MocapClip:
  """Reads an AMC motion onto its ASF skeleton.

  Args:
    path: the .amc file.
    skeleton: a parsed ASF, or its path; None = `SS.asf` beside `SS_TT.amc` (or the one
      .asf in that folder).
    fps: AMC has no frame rate field; CMU captures at 120 fps.

  Returns:
    MocapClip with `root` and each bone's end, metres, Y up.
  """
  path = os.fspath(path)
  if not isinstance(skeleton, AsfSkeleton):
    skeleton = read_asf(skeleton or find_asf(path))
  with open(path, encoding="utf-8", errors="replace") as f:
    lines = [s.strip() for s in f.read().splitlines()]
  lines = [s for s in lines if s and not s.startswith(("#", ":"))]
  rows = _amc_rows(path, lines, skeleton)
  n = len(next(iter(rows.values())))
  pos = _fk(skeleton, rows, n, path)
  rig = mocap.detect_rig(["root"] + skeleton.bones)
  return mocap.MocapClip(positions=pos.astype(np.float32),
                         joint_names=("root", *skeleton.bones),
                         parents=(-1, *skeleton.parents), fps=fps, source=path,
                         rig=rig.name if rig else None)


def _motion(dofs: list[str], values: np.ndarray, angle_scale: float) -> np.ndarray:
  rot = [k for k, d in enumerate(dofs) if d.startswith("r")]
  if not rot:
    return np.broadcast_to(np.eye(3), (values.shape[0], 3, 3))
  order = "".join(dofs[k][1] for k in rot)
  return _euler(order, values[:, rot] * angle_scale)


def _fk(skel: AsfSkeleton, rows: dict[str, np.ndarray], n: int, path: str):
  """Root and bone-end positions float64 [N, 1 + B, 3]."""
  if "root" not in rows:
    raise ValueError(f"{path}: no 'root' line in the frames")
  root = rows["root"]
  trans = np.zeros((n, 3))
  for k, d in enumerate(skel.root_order):
    if d.startswith("t"):
      trans[:, "xyz".index(d[1])] = root[:, k] * skel.length_scale
  c = skel.root_axis
  g = [c @ _motion(skel.root_order, root, skel.angle_scale) @ c.T]
  pos = [trans + skel.root_position]
  for b, (name, p) in enumerate(zip(skel.bones, skel.parents)):
    dofs = skel.dof[b]
    if dofs and name not in rows:
      raise ValueError(f"{path}: bone {name!r} (dof {' '.join(dofs)}) missing from frames")
    m = _motion(dofs, rows[name], skel.angle_scale) if dofs else np.eye(3)
    c = skel.axis[b]
    g.append(g[p] @ (c @ m @ c.T))
    pos.append(pos[p] + skel.length[b] * (g[-1] @ skel.direction[b]))
  return np.stack(pos, axis=1)


def find_asf(amc_path: str) -> str:
  """The ASF for an AMC: `SS.asf` for `SS_TT.amc`, else the only .asf in its folder."""
  folder, base = os.path.split(os.path.abspath(amc_path))
  subject = base.split("_")[0]
  cand = os.path.join(folder, f"{subject}.asf")
  if os.path.isfile(cand):
    return cand
  asfs = [f for f in os.listdir(folder) if f.lower().endswith(".asf")]
  if len(asfs) == 1:
    return os.path.join(folder, asfs[0])
  raise ValueError(f"{amc_path}: no ASF skeleton found: expected {cand}"
                   + (f" (several .asf there: {sorted(asfs)})" if asfs else ""))
