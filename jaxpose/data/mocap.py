"""MoCap clips: `MocapClip`, the known rigs and their H36M17 maps, the canonical MoCap npz.

Readers (`bvh.read_bvh`, `asfamc.read_asf`/`read_amc`, `deepmimic.read_deepmimic`) give
a `MocapClip` in the source rig's joints, world metres, Y up. `to_h36m17` maps a clip to
H36M17 by the rig's name map; the rig is recognised from joint names (`detect_rig`), so
other recordings of these rigs work; an unknown rig raises naming the missing joints.

Name maps. Limbs (hip, knee, ankle, shoulder, elbow, wrist; left shown, right alike):

  cmu_bvh     LeftHip LeftKnee LeftAnkle LeftShoulder LeftElbow LeftWrist (cgspeed CMU)
  cmu_bvh_mb  LeftUpLeg LeftLeg LeftFoot LeftArm LeftForeArm LeftHand (cgspeed MB-friendly)
  cmu_asf     lhipjoint lfemur ltibia lclavicle lhumerus lradius (bone ENDS, see asfamc)
  iclone      CC_Base_L_Thigh, _L_Calf, _L_Foot, _L_Upperarm, _L_Forearm, _L_Hand
  daz         lThigh lShin lFoot lShldr lForeArm lHand
  deepmimic   left_hip left_knee left_ankle left_shoulder left_elbow left_wrist

pelvis = mid(left hip, right hip) for every rig; the trunk and head (`mid` = midpoint,
`X + d up` = a virtual site d metres along joint X's up axis, added before FK):

| rig        | spine               | thorax               | neck_nose      | head              |
|------------|---------------------|----------------------|----------------|-------------------|
| cmu_bvh    | Chest               | mid(Left/RightCollar)| Head           | Head_end          |
| cmu_bvh_mb | Spine               | mid(L/RightShoulder) | Head           | Head_end          |
| cmu_asf    | lowerback           | thorax               | upperneck      | head              |
| iclone     | mid(Spine01, 02)    | mid(L/R_Clavicle)    | Head           | Head + 0.1 m up   |
| daz        | mid(abdomen, chest) | mid(l/rCollar)       | head           | head + 0.1 m up   |
| deepmimic  | chest               | neck                 | neck + .175 up | neck + .2775 up   |

Why: H36M's pelvis is the midpoint of its hips (its hip offsets are purely lateral),
while rig roots sit up to 10 cm higher, so every rig uses the hip midpoint. `thorax` is
where the neck and the clavicles attach to the spine (H36M/LSP: base of the neck between
the shoulders): rigidly spine-attached, so thorax-neck lengths stay constant when the
shoulders shrug. `spine` is the rig's mid-back joint (mean of two where they straddle
the middle). `neck_nose` is the skull-base joint (H36M joint 14 sits at nose height) and
`head` the head top: the rig's head End Site where there is one, else 0.1 m along the
head's up axis (CMU's head bone is 9 cm, H36M's neck-head 11.5 cm); DeepMimic has no
head joint, so its head sphere (centre 0.175 m above `neck`, radius 0.1025 m) gives
both. The cgspeed conversion drops ASF's 12 cm `thorax` bone (`Chest2` = end of
`upperback`, its children at zero offset); `Rig.missing_bone` puts it back, so cgspeed
clips match the same subject's ASF/AMC (02_01: 0 mm legs and spine, 0.5 mm upper body).
Every H36M17 joint is derived for every rig, so no joint mask is needed.

Units: cgspeed CMU unit = 0.0254/0.45 m (CMU FAQ); iClone cm; DAZ: the cgspeed
"DAZ-friendly" figure is one fixed figure (thigh 36.83 cm in the original cm files),
so its unit is recovered from the thigh length (the `*_scaled.bvh` copies are cm/128);
ASF from `:units length`; DeepMimic metres. Subjects: CMU file names `SS_TT*` give
`cmu_SS` (cgspeed, ASF/AMC, iClone `005_01`, DAZ `60_01_scaled` alike: one CMU subject is
one subject across formats), DeepMimic clips are one subject `deepmimic`, any other
file's subject is its folder name.
"""

from __future__ import annotations

import argparse
import dataclasses
import fnmatch
import importlib.resources
import os
import re
import zipfile

import numpy as np

from jaxpose import skeleton

CMU_UNIT = 0.0254 / 0.45  # metres per CMU length unit (CMU FAQ: (1/0.45) * 2.54 / 100)


@dataclasses.dataclass(frozen=True)
class MocapClip:
  """One motion: world positions in metres, Y up.

  Attributes:
    positions: float32 [N, J, 3].
    joint_names: J names (source rig names, or H36M17 after `to_h36m17`).
    parents: J parent indices, -1 for the root.
    fps: frames per second.
    source: the file it came from.
    rig: name of the recognised rig (`RIGS`), None if unknown.
  """
  positions: np.ndarray
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]
  fps: float
  source: str
  rig: str | None = None

  def __post_init__(self):
    p = np.asarray(self.positions)
    if p.ndim != 3 or p.shape[1:] != (len(self.joint_names), 3):
      raise ValueError(f"{self.source}: positions: expected shape [N, {len(self.joint_names)}"
                       f", 3], got {p.shape}")
    if len(self.parents) != len(self.joint_names):
      raise ValueError(f"{self.source}: {len(self.parents)} parents for "
                       f"{len(self.joint_names)} joints")
    if not self.fps > 0:
      raise ValueError(f"{self.source}: fps must be > 0, got {self.fps}")

  @property
  def num_frames(self) -> int:
    return self.positions.shape[0]


@dataclasses.dataclass(frozen=True)
class Rig:
  """A known skeleton: how to recognise it, its unit, and its map to H36M17.

  Attributes:
    name: registry name.
    h36m: H36M17 joint -> source joint names whose mean is that joint.
    leg: (hip, knee, ankle) source names, for the unit check.
    unit: metres per file unit (BVH rigs), checked against the leg length.
    thigh: for a fixed figure, its thigh length in metres (the unit then follows).
    sites: virtual joints: name -> (parent joint, offset in metres in its frame).
    drop_first: frame 0 is not motion (iClone's prepended T-pose).
    missing_bone: (joint, children): cgspeed BVH drops ASF's `thorax` bone (the
      children's offsets are all zero); it is put back as (0, |offset(joint)|, 0): the
      upperback bone's length, straight up (CMU ASFs' thorax is within 1% of the
      upperback length and 2 deg of vertical; ~1-4 mm error vs the ASF/AMC).
    subject: subject name: a format with {num} (from `SS_TT` file names) or a constant.
  """
  name: str
  h36m: dict[str, tuple[str, ...]]
  leg: tuple[str, str, str]
  unit: float = 1.0
  thigh: float | None = None
  sites: dict[str, tuple[str, tuple[float, float, float]]] = dataclasses.field(
      default_factory=dict)
  drop_first: bool = False
  missing_bone: tuple[str, tuple[str, ...]] | None = None
  subject: str = "cmu_{num:02d}"

  @property
  def required(self) -> tuple[str, ...]:
    """Source joint names the rig needs (its virtual sites excluded)."""
    names = [n for src in self.h36m.values() for n in src] + list(self.leg)
    names += [parent for parent, _ in self.sites.values()]
    names += [self.missing_bone[0], *self.missing_bone[1]] if self.missing_bone else []
    return tuple(dict.fromkeys(n for n in names if n not in self.sites))


def _limbs(hip, knee, ankle, shoulder, elbow, wrist, side="l"):
  return {f"{side}_hip": (hip,), f"{side}_knee": (knee,), f"{side}_ankle": (ankle,),
          f"{side}_shoulder": (shoulder,), f"{side}_elbow": (elbow,), f"{side}_wrist": (wrist,)}


def _rig(name, lr, *, spine, thorax, neck_nose, head, **kwargs) -> Rig:
  """Builds a Rig from left/right limb names: lr = ((hip, knee, ankle, sh, el, wr) x 2)."""
  (left, right) = lr
  h36m = {"pelvis": (left[0], right[0]), **_limbs(*left), **_limbs(*right, side="r"),
          "spine": spine, "thorax": thorax, "neck_nose": neck_nose, "head": head}
  return Rig(name=name, h36m={j: h36m[j] for j in skeleton.H36M17.joint_names},
             leg=tuple(left[:3]), **kwargs)


def _sides(fmt_l: str, fmt_r: str, *names: str):
  return tuple(fmt_l.format(n) for n in names), tuple(fmt_r.format(n) for n in names)


_UP45 = (0.0, 0.1 / np.sqrt(2), -0.1 / np.sqrt(2))  # CC_Base_Head's up axis is (0, 1, -1)
RIGS: tuple[Rig, ...] = (
    _rig("cmu_bvh", _sides("Left{}", "Right{}", "Hip", "Knee", "Ankle", "Shoulder",
                           "Elbow", "Wrist"),
         spine=("Chest",), thorax=("LeftCollar", "RightCollar"), neck_nose=("Head",),
         head=("Head_end",), unit=CMU_UNIT,
         missing_bone=("Chest2", ("lowerneck", "LeftCollar", "RightCollar"))),
    _rig("cmu_bvh_mb", _sides("Left{}", "Right{}", "UpLeg", "Leg", "Foot", "Arm", "ForeArm",
                              "Hand"),
         spine=("Spine",), thorax=("LeftShoulder", "RightShoulder"), neck_nose=("Head",),
         head=("Head_end",), unit=CMU_UNIT,
         missing_bone=("Spine1", ("Neck", "LeftShoulder", "RightShoulder"))),
    _rig("cmu_asf", _sides("l{}", "r{}", "hipjoint", "femur", "tibia", "clavicle", "humerus",
                           "radius"),
         spine=("lowerback",), thorax=("thorax",), neck_nose=("upperneck",), head=("head",)),
    _rig("iclone", _sides("CC_Base_L_{}", "CC_Base_R_{}", "Thigh", "Calf", "Foot", "Upperarm",
                          "Forearm", "Hand"),
         spine=("CC_Base_Spine01", "CC_Base_Spine02"),
         thorax=("CC_Base_L_Clavicle", "CC_Base_R_Clavicle"), neck_nose=("CC_Base_Head",),
         head=("site_head_top",), sites={"site_head_top": ("CC_Base_Head", _UP45)},
         unit=0.01, drop_first=True),
    _rig("daz", _sides("l{}", "r{}", "Thigh", "Shin", "Foot", "Shldr", "ForeArm", "Hand"),
         spine=("abdomen", "chest"), thorax=("lCollar", "rCollar"), neck_nose=("head",),
         head=("site_head_top",), sites={"site_head_top": ("head", (0.0, 0.1, 0.0))},
         thigh=0.36827),  # rShin OFFSET 0 -36.8199 0.73152 (cm) in the DAZ-friendly originals
    _rig("deepmimic", _sides("left_{}", "right_{}", "hip", "knee", "ankle", "shoulder",
                             "elbow", "wrist"),
         spine=("chest",), thorax=("neck",), neck_nose=("site_head_center",),
         head=("site_head_top",), subject="deepmimic",
         sites={"site_head_center": ("neck", (0.0, 0.175, 0.0)),
                "site_head_top": ("neck", (0.0, 0.2775, 0.0))}),
)
RIGS_BY_NAME = {r.name: r for r in RIGS}
# Held-out subjects of the embedded default (`builders_embedded`): 16% of its frames,
# walking (35) and walk/run/jump/punch/swordplay (02), in cgspeed and ASF/AMC.
DEFAULT_TEST_SUBJECTS = ("cmu_02", "cmu_35")
# Held-out motion type of the embedded default (`mocap_lifting/motions`,
# `mocap_images/motions`): dance, 21% of its frames (CMU 60 salsa, CMU 05 modern dance,
# DeepMimic's two dances). No other sequence dances, so training sees walking, running,
# jumping, playground climbing, fighting, acrobatics but no dance. fnmatch patterns over
# sequence names (`<folder>/<file stem>`).
DEFAULT_TEST_MOTIONS = ("cmu_salsa_daz_bvh/*", "cmu_iclone_bvh/*", "deepmimic/*dance*")


def held_out(data: dict, subjects=(), sequences=(), *, where: str = "test") -> np.ndarray:
  """bool [frames]: held out from training, by subject name or sequence-name pattern.

  A frame is held out when its subject is in `subjects` or its sequence name matches one
  of the fnmatch patterns `sequences`; both empty = `DEFAULT_TEST_SUBJECTS`. A subject
  not in `data` or a pattern that matches no sequence is an error naming it (`where`
  prefixes the field names: e.g. 'config.data.test').
  """
  subjects, sequences = tuple(subjects), tuple(sequences)
  if not subjects and not sequences:
    subjects = DEFAULT_TEST_SUBJECTS
  subject = np.asarray(data["subject_names"])[data["subject"]]
  known = sorted(set(subject.tolist()))
  unknown = sorted(set(subjects) - set(known))
  if unknown:
    raise ValueError(f"{where}_subjects: {unknown} not in the MoCap (subjects: {known})")
  names = np.asarray(data["sequence_names"]).tolist()
  matched = np.zeros(len(names), bool)
  for pattern in sequences:
    hit = np.asarray([fnmatch.fnmatchcase(n, pattern) for n in names], bool)
    if not hit.any():
      raise ValueError(f"{where}_sequences: {pattern!r} matches no sequence name (expected "
                       f"fnmatch patterns over names like {names[0]!r})")
    matched |= hit
  return np.isin(subject, subjects) | matched[data["sequence"]]


def find_joint(names, name: str) -> int:
  """Index of `name` in `names`, case-insensitive (ValueError naming it if absent)."""
  low = [n.lower() for n in names]
  if name.lower() not in low:
    raise ValueError(f"joint {name!r} not found")
  return low.index(name.lower())


def detect_rig(names) -> Rig | None:
  """The known rig whose required joints all appear in `names` (the most specific)."""
  low = {n.lower() for n in names}
  found = [r for r in RIGS if all(n.lower() in low for n in r.required)]
  return max(found, key=lambda r: len(r.required)) if found else None


def describe_missing(names) -> str:
  """One line: which joints the closest known rig lacks, and the known rigs."""
  low = {n.lower() for n in names}
  miss = {r.name: [n for n in r.required if n.lower() not in low] for r in RIGS}
  best = min(miss, key=lambda k: len(miss[k]))
  return f"closest known rig {best!r} lacks {miss[best]}; known rigs: {', '.join(miss)}"


def add_sites(names, parents, offsets, rig: Rig | None, scale: float):
  """Appends the rig's virtual sites (offsets in metres) -> (names, parents, offsets)."""
  if rig is None or not rig.sites:
    return list(names), list(parents), np.asarray(offsets, np.float64)
  extra = [(site, find_joint(names, parent), np.asarray(off) / scale)
           for site, (parent, off) in rig.sites.items()]
  return (list(names) + [e[0] for e in extra], list(parents) + [e[1] for e in extra],
          np.concatenate([np.asarray(offsets, np.float64).reshape(-1, 3),
                          np.stack([e[2] for e in extra])]))


def to_h36m17(clip: MocapClip) -> MocapClip:
  """Maps a clip of a known rig to H36M17 joints (see the module table)."""
  if clip.joint_names == skeleton.H36M17.joint_names:
    return clip
  rig = RIGS_BY_NAME.get(clip.rig) if clip.rig else detect_rig(clip.joint_names)
  if rig is None:
    raise ValueError(f"{clip.source}: unsupported skeleton: "
                     f"{describe_missing(clip.joint_names)}")
  try:
    idx = [[find_joint(clip.joint_names, n) for n in rig.h36m[j]]
           for j in skeleton.H36M17.joint_names]
  except ValueError as e:
    raise ValueError(f"{clip.source}: rig {rig.name}: {e}") from None
  pos = np.stack([clip.positions[:, i].mean(axis=1) for i in idx], axis=1)
  return MocapClip(positions=pos.astype(np.float32), joint_names=skeleton.H36M17.joint_names,
                   parents=skeleton.H36M17.parents, fps=clip.fps, source=clip.source,
                   rig=rig.name)


def subject_name(path: str, rig: str | None) -> str:
  """Subject of a file: `cmu_SS` from CMU `SS_TT*` names, a rig constant, or the folder."""
  fmt = RIGS_BY_NAME[rig].subject if rig in RIGS_BY_NAME else "{folder}"
  m = re.match(r"^(\d+)_\d+", os.path.basename(path))
  folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
  if "{num" in fmt and not m:
    fmt = "{folder}"
  return fmt.format(num=int(m.group(1)) if m else 0, folder=folder)


def resample(clip: MocapClip, fps: float) -> MocapClip:
  """Nearest-frame resampling to `fps` (real poses, no interpolated in-betweens)."""
  if not fps > 0:
    raise ValueError(f"fps: must be > 0, got {fps}")
  if clip.num_frames == 0 or abs(fps - clip.fps) < 1e-6 * fps:
    return dataclasses.replace(clip, fps=float(fps))
  n = int(np.floor((clip.num_frames - 1) * fps / clip.fps + 1e-9)) + 1
  idx = np.minimum(np.round(np.arange(n) * clip.fps / fps).astype(int), clip.num_frames - 1)
  return dataclasses.replace(clip, positions=clip.positions[idx], fps=float(fps))


# ----------------------------------------------------------------------------------------
# Reading folders and the canonical MoCap npz (DESIGN.md "Interfaces").

_REQUIRED = ("positions_3d", "joint_names", "subject", "sequence", "sequence_names", "fps")
_OPTIONAL = ("subject_names", "sequence_rigs")


def read_clip(path: str | os.PathLike) -> MocapClip | None:
  """Reads one MoCap file by extension/content; None for files that hold no motion.

  `.bvh` -> `bvh.read_bvh`; `.amc` -> `asfamc.read_amc` with its ASF (`SS.asf`
  beside it); a `.txt`/`.json` JSON object with `Frames` -> `deepmimic.read_deepmimic`
  with `humanoid3d.txt` beside it or in a parent folder. ASF, DeepMimic character
  files and any other file give None.
  """
  # The readers import this module (for MocapClip and the rigs), hence the late import.
  from jaxpose.data import asfamc, bvh, deepmimic  # pylint: disable=g-import-not-at-top
  path = os.fspath(path)
  ext = os.path.splitext(path)[1].lower()
  if ext == ".bvh":
    return bvh.read_bvh(path)
  if ext == ".amc":
    return asfamc.read_amc(path)
  if ext in (".txt", ".json"):
    with open(path, "rb") as f:
      raw = f.read()
    if raw.lstrip().startswith(b"{") and b'"Frames"' in raw:
      return deepmimic.read_deepmimic(path)
  return None


def load_folder(path: str | os.PathLike, *,
                target_fps: float | None = None) -> list[MocapClip]:
  """Reads every MoCap file under `path` (recursively, sorted) as H36M17 clips.

  Args:
    path: a folder (or one file).
    target_fps: resample each clip to this rate (nearest frame); None keeps each rate.

  Returns:
    H36M17 clips (`to_h36m17`), `source` = the file path.
  """
  path = os.fspath(path)
  if os.path.isfile(path):
    files = [path]
  elif os.path.isdir(path):
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)
  else:
    raise ValueError(f"{path}: no such file or folder")
  clips = []
  for f in files:
    clip = read_clip(f)
    if clip is not None:
      clip = to_h36m17(clip)
      clips.append(resample(clip, target_fps) if target_fps else clip)
  if not clips:
    raise ValueError(f"{path}: no MoCap files found (.bvh, .amc with its .asf, DeepMimic "
                     ".txt with humanoid3d.txt)")
  return clips


def _strings(x) -> np.ndarray:
  """Fixed-width unicode array (never object dtype, so no pickle on save/load)."""
  return np.asarray([str(s) for s in x], dtype=np.str_).reshape(-1)


def validate_canonical(data, source: str = "canonical") -> dict[str, np.ndarray]:
  """Checks a canonical MoCap dict; returns it normalised (f32 / i32 / str arrays)."""
  missing = [k for k in _REQUIRED if k not in data]
  if missing:
    raise ValueError(f"{source}: missing fields {missing} (need {', '.join(_REQUIRED)})")
  out = {k: np.asarray(data[k]) for k in (*_REQUIRED, *_OPTIONAL) if k in data}
  pos = out["positions_3d"]
  if pos.ndim != 3 or pos.shape[1:] != (17, 3) or pos.dtype.kind != "f":
    raise ValueError(f"{source}: positions_3d: expected float [N, 17, 3], got {pos.dtype} "
                     f"{pos.shape}")
  if not np.isfinite(pos).all():
    raise ValueError(f"{source}: positions_3d: non-finite values")
  if tuple(out["joint_names"].tolist()) != skeleton.H36M17.joint_names:
    raise ValueError(f"{source}: joint_names: expected H36M17 "
                     f"{list(skeleton.H36M17.joint_names)}, got {out['joint_names'].tolist()}")
  n = pos.shape[0]
  if "subject_names" not in out:
    out["subject_names"] = _strings(range(int(out["subject"].max(initial=-1)) + 1))
  for ids, names in (("subject", "subject_names"), ("sequence", "sequence_names")):
    if out[names].dtype.kind != "U" or out[names].ndim != 1:
      raise ValueError(f"{source}: {names}: expected a 1-D string array, got "
                       f"{out[names].dtype} {out[names].shape}")
    x = out[ids]
    if x.shape != (n,) or x.dtype.kind not in "iu" or (
        n and (x.min() < 0 or x.max() >= len(out[names]))):
      raise ValueError(f"{source}: {ids}: expected int [{n}] indices into {names} "
                       f"(0..{len(out[names]) - 1}), got {x.dtype} {x.shape}")
    out[ids] = x.astype(np.int32)
  if out["fps"].size != 1 or out["fps"].dtype.kind not in "fiu" or not float(out["fps"]) > 0:
    raise ValueError(f"{source}: fps: expected one positive number, got {out['fps']}")
  out["positions_3d"] = pos.astype(np.float32)
  out["fps"] = np.float32(out["fps"].reshape(()))
  return out


def save_canonical(path: str | os.PathLike, data, *, overwrite: bool = False) -> None:
  """Validates and writes a canonical MoCap npz (compressed, no pickled objects)."""
  path = os.fspath(path)
  if os.path.exists(path) and not overwrite:
    raise ValueError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
  data = validate_canonical(data, path)
  data = {k: (_strings(v) if v.dtype.kind in "OU" else v) for k, v in data.items()}
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    np.savez_compressed(f, **data)
  os.replace(tmp, path)


def load_canonical(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Loads and validates a canonical MoCap npz (`allow_pickle=False`)."""
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such canonical MoCap npz (build one with "
                     "`python -m jaxpose.data.mocap SRC... --out FILE`)")
  try:
    z = np.load(path, allow_pickle=False)
  except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
    raise ValueError(f"{path}: not a canonical MoCap npz ({str(e).splitlines()[0]})") from None
  if not isinstance(z, np.lib.npyio.NpzFile):
    raise ValueError(f"{path}: not a canonical MoCap npz (a single .npy array)")
  data = {}
  with z:
    for k in z.files:
      try:
        data[k] = z[k]
      except ValueError:
        raise ValueError(f"{path}: field {k!r} holds pickled objects (refused; string "
                         "fields must be fixed-width unicode)") from None
  return validate_canonical(data, path)


def build_canonical(paths, out_path: str | os.PathLike, *, target_fps: float = 20.0,
                    overwrite: bool = False) -> dict[str, np.ndarray]:
  """MoCap folders/files -> one canonical npz at `target_fps`; returns its contents.

  Sequences are named by their path relative to the given folder, without extension
  (`cmu_walkcycles_bvh/02_01`); subjects by `subject_name`.
  """
  out_path = os.fspath(out_path)
  if os.path.exists(out_path) and not overwrite:
    raise ValueError(f"{out_path}: exists; pass overwrite=True (--overwrite) to replace it")
  paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
  clips, seq_names = [], []
  for root in map(os.fspath, paths):
    for clip in load_folder(root, target_fps=target_fps):
      rel = (os.path.relpath(clip.source, root) if os.path.isdir(root) else
             os.path.basename(clip.source))
      name = os.path.splitext(rel)[0].replace(os.sep, "/")
      seq_names.append(name if name not in seq_names else f"{name}#{len(seq_names)}")
      clips.append(clip)
  subjects = [subject_name(c.source, c.rig) for c in clips]
  subject_names = sorted(set(subjects))
  sizes = [c.num_frames for c in clips]
  data = {
      "positions_3d": np.concatenate([c.positions for c in clips]).astype(np.float32),
      "joint_names": _strings(skeleton.H36M17.joint_names),
      "subject": np.repeat([subject_names.index(s) for s in subjects], sizes).astype(np.int32),
      "sequence": np.repeat(np.arange(len(clips)), sizes).astype(np.int32),
      "sequence_names": _strings(seq_names),
      "subject_names": _strings(subject_names),
      "sequence_rigs": _strings(c.rig for c in clips),
      "fps": np.float32(target_fps),
  }
  save_canonical(out_path, data, overwrite=overwrite)
  return validate_canonical(data, out_path)


def summarize(data) -> str:
  """A small table: frames, subjects, sequences per rig, and the total."""
  rigs = data.get("sequence_rigs", _strings(["?"] * len(data["sequence_names"])))
  frame_rig = np.asarray(rigs)[data["sequence"]]
  lines = [f"{'rig':12s} {'frames':>8s} {'subjects':>9s} {'sequences':>10s}"]
  for rig in [*sorted(set(rigs.tolist())), None]:
    sel = frame_rig == rig if rig else np.ones(len(frame_rig), bool)
    lines.append(f"{rig or 'total':12s} {int(sel.sum()):8d} "
                 f"{len(np.unique(data['subject'][sel])):9d} "
                 f"{len(np.unique(data['sequence'][sel])):10d}")
  return "\n".join(lines)


def default_mocap_path() -> str:
  """Path of the embedded default canonical MoCap npz (CMU + DeepMimic, 20 fps)."""
  path = os.fspath(importlib.resources.files("jaxpose") / "assets" / "mocap_default.npz")
  if not os.path.isfile(path):
    raise ValueError(f"{path}: the embedded default MoCap asset is missing; rebuild it with "
                     "`python -m jaxpose.data.mocap DATA/mocap --out " + path + "`")
  return path


def main(argv=None) -> None:
  """CLI: `python -m jaxpose.data.mocap SRC... --out FILE [--fps F] [--overwrite]`."""
  parser = argparse.ArgumentParser(
      prog="python -m jaxpose.data.mocap",
      description="MoCap folders/files (BVH, ASF/AMC, DeepMimic) -> canonical MoCap npz.")
  parser.add_argument("src", nargs="+", help="MoCap folders or files")
  parser.add_argument("--out", required=True, help="output .npz")
  parser.add_argument("--fps", type=float, default=20.0, help="target frame rate")
  parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
  args = parser.parse_args(argv)
  try:
    data = build_canonical(args.src, args.out, target_fps=args.fps, overwrite=args.overwrite)
  except ValueError as e:
    parser.exit(2, f"error: {e}\n")
  print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB)")
  print(summarize(data))


if __name__ == "__main__":
  main()
