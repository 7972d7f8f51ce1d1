"""Tests for the MoCap readers (BVH, ASF/AMC, DeepMimic), H36M17 maps and canonical npz."""

import json
import os
import re

import numpy as np
import pytest

from jaxpose import skeleton
from jaxpose.data import asfamc, bvh, deepmimic, mocap

DATA = "/work/shared/data/mocap"
H36M = skeleton.H36M17
CMU = 0.0254 / 0.45


def _rx(a):
  c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
  return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
  c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
  return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
  c, s = np.cos(np.radians(a)), np.sin(np.radians(a))
  return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _write(path, text):
  with open(path, "w") as f:
    f.write(text)
  return str(path)


def _bvh(root_channels="Xposition Yposition Zposition Zrotation Yrotation Xrotation",
         child_channels="Zrotation Yrotation Xrotation", rows=(), num_frames=None):
  rows = list(rows)
  return f"""HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS {len(root_channels.split())} {root_channels}
  JOINT Knee
  {{
    OFFSET 0 -2 0
    CHANNELS {len(child_channels.split())} {child_channels}
    End Site
    {{
      OFFSET 0 -3 0
    }}
  }}
}}
MOTION
Frames: {len(rows) if num_frames is None else num_frames}
Frame Time: 0.05
""" + "\n".join(" ".join(map(str, r)) for r in rows) + "\n"


def _one_line_error(match, fn, *args, **kwargs):
  with pytest.raises(ValueError, match=match) as e:
    fn(*args, **kwargs)
  assert "\n" not in str(e.value)
  return str(e.value)


# --- BVH -----------------------------------------------------------------------------------

def test_bvh_three_joints_hand_computed_fk(tmp_path):
  path = _write(tmp_path / "t.bvh", _bvh(rows=[[1, 2, 3, 0, 0, 0, 0, 0, 0],
                                               [0, 1, 0, 90, 0, 0, 0, 0, 90]]))
  clip = bvh.read_bvh(path, scale=0.5)
  assert clip.joint_names == ("Hips", "Knee", "Knee_end")
  assert clip.parents == (-1, 0, 1)
  assert clip.fps == 20.0 and clip.rig is None and clip.positions.dtype == np.float32
  # Frame 0: no rotation. Frame 1: root Rz(90) maps (0,-2,0) -> (2,0,0); the knee's
  # Rx(90) maps (0,-3,0) -> (0,0,-3), which Rz(90) leaves alone.
  expected = 0.5 * np.array([[[1, 2, 3], [1, 0, 3], [1, -3, 3]],
                             [[0, 1, 0], [2, 1, 0], [2, 1, -3]]])
  np.testing.assert_allclose(clip.positions, expected, atol=1e-6)


@pytest.mark.parametrize("order", ["ZYX", "XYZ", "YXZ"])
def test_bvh_channel_order_is_intrinsic_per_joint(tmp_path, order):
  angles = {"X": 30.0, "Y": -45.0, "Z": 60.0}
  chans = " ".join(f"{a}rotation" for a in order)
  rows = [[0, 0, 0, *[angles[a] for a in order], *[angles[a] for a in order]]]
  path = _write(tmp_path / "t.bvh", _bvh(
      root_channels="Xposition Yposition Zposition " + chans, child_channels=chans, rows=rows))
  clip = bvh.read_bvh(path, scale=1.0)
  elem = {"X": _rx, "Y": _ry, "Z": _rz}
  r = elem[order[0]](angles[order[0]]) @ elem[order[1]](angles[order[1]]) @ elem[order[2]](
      angles[order[2]])
  np.testing.assert_allclose(clip.positions[0, 1], r @ [0, -2, 0], atol=1e-5)
  np.testing.assert_allclose(clip.positions[0, 2], r @ [0, -2, 0] + r @ r @ [0, -3, 0],
                             atol=1e-5)


def test_bvh_three_channel_root_and_six_channel_joint(tmp_path):
  rows = [[90, 0, 0, 1, 0, 0, 0, 0, 0]]  # root: Zrot only; knee: translation then rotation
  path = _write(tmp_path / "t.bvh", _bvh(
      root_channels="Zrotation Yrotation Xrotation",
      child_channels="Xposition Yposition Zposition Zrotation Yrotation Xrotation", rows=rows))
  clip = bvh.read_bvh(path, scale=1.0)
  # Knee local translation = offset + channels = (1, -2, 0); root Rz(90) -> (2, 1, 0).
  np.testing.assert_allclose(clip.positions[0], [[0, 0, 0], [2, 1, 0], [5, 1, 0]], atol=1e-5)


def test_bvh_truncated_rows_and_values(tmp_path):
  rows = [[0] * 9] * 3
  short = _write(tmp_path / "short.bvh", _bvh(rows=rows, num_frames=5))
  msg = _one_line_error("truncated", bvh.read_bvh, short, scale=1.0)
  assert "short.bvh" in msg and "5 frames" in msg
  cut = _write(tmp_path / "cut.bvh", _bvh(rows=rows[:2] + [[0] * 5]))
  msg = _one_line_error("row 2 has 5 values, expected 9", bvh.read_bvh, cut, scale=1.0)
  assert "cut.bvh" in msg
  nomotion = _write(tmp_path / "nomotion.bvh", _bvh(rows=rows).split("MOTION")[0])
  _one_line_error("nomotion.bvh: no MOTION", bvh.read_bvh, nomotion, scale=1.0)


def test_bvh_unknown_rig_needs_scale_and_cannot_map(tmp_path):
  path = _write(tmp_path / "odd.bvh", _bvh(rows=[[0] * 9]))
  msg = _one_line_error("odd.bvh: unknown skeleton", bvh.read_bvh, path)
  assert "pass scale=" in msg
  clip = bvh.read_bvh(path, scale=1.0)
  msg = _one_line_error("odd.bvh: unsupported skeleton", mocap.to_h36m17, clip)
  assert "lacks [" in msg and "known rigs: cmu_bvh, cmu_bvh_mb" in msg


# --- Rigs and H36M17 maps -------------------------------------------------------------------

def test_every_rig_maps_all_h36m17_joints_and_is_detected_by_its_names():
  for rig in mocap.RIGS:
    assert tuple(rig.h36m) == H36M.joint_names
    names = list(rig.required) + list(rig.sites)
    assert mocap.detect_rig(names) is rig
    assert mocap.detect_rig([n.upper() for n in names]) is rig  # case-insensitive
    clip = mocap.MocapClip(positions=np.arange(len(names) * 6, dtype=np.float32).reshape(
        2, len(names), 3), joint_names=tuple(names), parents=(-1,) + (0,) * (len(names) - 1),
                           fps=30.0, source="x")
    out = mocap.to_h36m17(clip)
    assert out.joint_names == H36M.joint_names and out.positions.shape == (2, 17, 3)
    pelvis = [names.index(n) for n in rig.h36m["pelvis"]]
    np.testing.assert_allclose(out.positions[:, 0], clip.positions[:, pelvis].mean(1))


def test_subject_names_from_file_names():
  assert mocap.subject_name("/d/02_01.bvh", "cmu_bvh") == "cmu_02"
  assert mocap.subject_name("/d/005_01.bvh", "iclone") == "cmu_05"
  assert mocap.subject_name("/d/60_12_scaled.bvh", "daz") == "cmu_60"
  assert mocap.subject_name("/d/133_21.amc", "cmu_asf") == "cmu_133"
  assert mocap.subject_name("/d/humanoid3d_walk.txt", "deepmimic") == "deepmimic"
  assert mocap.subject_name("/d/session7/walk.bvh", "cmu_bvh") == "session7"


def test_resample_picks_nearest_frames():
  clip = mocap.MocapClip(positions=np.arange(13 * 3, dtype=np.float32).reshape(13, 1, 3),
                         joint_names=("a",), parents=(-1,), fps=120.0, source="x")
  out = mocap.resample(clip, 20.0)
  np.testing.assert_array_equal(out.positions[:, 0, 0], clip.positions[[0, 6, 12], 0, 0])
  assert out.fps == 20.0


# --- ASF/AMC --------------------------------------------------------------------------------

ASF = """# tiny
:version 1.10
:name VICON
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name lfemur
     direction 0 -1 0
     length 9
     axis 0 0 0  XYZ
    dof rx ry rz
    limits (-160.0 20.0)
           (-70.0 70.0)
           (-60.0 70.0)
  end
  begin
     id 2
     name ltibia
     direction 0 -1 0
     length 9
     axis 0 0 90  XYZ
    dof rx
    limits (-10.0 170.0)
  end
:hierarchy
  begin
    root lfemur
    lfemur ltibia
  end
"""
AMC = """#!OML:ASF tiny.asf
:FULLY-SPECIFIED
:DEGREES
1
root 0 18 0 0 0 0
lfemur 0 0 0
ltibia 0
2
root 1 18 0 0 90 0
lfemur 90 0 0
ltibia 90
"""


def test_asf_amc_hand_computed_fk(tmp_path):
  skel = asfamc.read_asf(_write(tmp_path / "07.asf", ASF))
  assert skel.bones == ["lfemur", "ltibia"] and skel.length_scale == pytest.approx(CMU)
  clip = asfamc.read_amc(_write(tmp_path / "07_01.amc", AMC))  # finds 07.asf beside it
  assert clip.joint_names == ("root", "lfemur", "ltibia") and clip.fps == 120.0
  # Frame 2: root Ry(90); femur Rx(90): (0,-1,0) -> (0,0,-1) -> Ry -> (-1,0,0). The tibia's
  # axis C = Rz(90) turns its rx into a rotation about y: C Rx(90) C^T = Ry(90), so its
  # direction goes (0,-1,0) -> Ry -> (0,-1,0) -> Rx -> (0,0,-1) -> Ry -> (-1,0,0).
  expected = CMU * np.array([[[0, 18, 0], [0, 9, 0], [0, 0, 0]],
                             [[1, 18, 0], [-8, 18, 0], [-17, 18, 0]]])
  np.testing.assert_allclose(clip.positions, expected, atol=1e-5)
  same = asfamc.read_amc(str(tmp_path / "07_01.amc"), skel)
  np.testing.assert_array_equal(same.positions, clip.positions)


def test_amc_errors(tmp_path):
  lone = tmp_path / "lone"
  lone.mkdir()
  amc = _write(lone / "09_01.amc", AMC)
  msg = _one_line_error("no ASF skeleton found", asfamc.read_amc, amc)
  assert "09.asf" in msg and "09_01.amc" in msg
  _one_line_error("09_01.amc: no ASF", mocap.load_folder, str(lone))
  asf = _write(tmp_path / "07.asf", ASF)
  bad = _write(tmp_path / "07_02.amc", AMC.replace("ltibia 90", "lwing 90").replace(
      "ltibia 0", "lwing 0"))
  msg = _one_line_error("unknown bone 'lwing'", asfamc.read_amc, bad, asf)
  assert "07_02.amc" in msg and "07.asf" in msg
  cut = _write(tmp_path / "07_03.amc", AMC.rsplit("\n", 2)[0] + "\n")
  _one_line_error("07_03.amc: bone 'ltibia' is on 1 of 2 frames", asfamc.read_amc, cut, asf)
  few = _write(tmp_path / "07_04.amc", AMC.replace("lfemur 90 0 0", "lfemur 90 0"))
  _one_line_error("07_04.amc: bone 'lfemur' needs 3 values", asfamc.read_amc, few, asf)
  swapped = _write(tmp_path / "07_05.amc", AMC.replace("lfemur 90 0 0\nltibia 90",
                                                       "ltibia 90\nlfemur 90 0 0"))
  plain = _write(tmp_path / "07_01.amc", AMC)
  np.testing.assert_array_equal(asfamc.read_amc(swapped, asf).positions,
                                asfamc.read_amc(plain, asf).positions)


# --- DeepMimic ------------------------------------------------------------------------------

def _dm_joint(i, name, kind, parent, attach):
  return {"ID": i, "Name": name, "Type": kind, "Parent": parent,
          "AttachX": attach[0], "AttachY": attach[1], "AttachZ": attach[2]}


def test_deepmimic_hand_computed_fk(tmp_path):
  joints = [_dm_joint(0, "root", "none", -1, (0, 0, 0)),
            _dm_joint(1, "chest", "spherical", 0, (0, 0.24, 0)),
            _dm_joint(2, "knee", "revolute", 0, (0, -0.4, 0)),
            _dm_joint(3, "wrist", "fixed", 2, (0, -0.4, 0))]
  _write(tmp_path / "humanoid3d.txt", json.dumps({"Skeleton": {"Joints": joints}}))
  q = [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)]
  frames = [[0.5, 1, 0.9, 0, 1, 0, 0, 0, *q, 0.0], [0.0, 1, 0.9, 0, 1, 0, 0, 0, *q, -np.pi / 2]]
  motion = _write(tmp_path / "m.txt", json.dumps({"Loop": "none", "Frames": frames}))
  clip = deepmimic.read_deepmimic(motion)
  assert clip.fps == 2.0 and clip.joint_names == ("root", "chest", "knee", "wrist")
  root = np.array([1, 0.9, 0])
  # Knee -90 deg about z swings the shin (0,-0.4,0) to (-0.4, 0, 0).
  np.testing.assert_allclose(clip.positions[1], [root, root + [0, .24, 0], root + [0, -.4, 0],
                                                 root + [-.4, -.4, 0]], atol=1e-6)
  np.testing.assert_allclose(clip.positions[0, 3], root + [0, -.8, 0], atol=1e-6)
  uneven = [[d, k, 0.9, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0.0]
            for k, d in enumerate([0.1, 0.2, 0.1, 0.0])]  # times 0, .1, .3, .4 s
  clip = deepmimic.read_deepmimic(_write(tmp_path / "u.txt", json.dumps({"Frames": uneven})))
  assert clip.fps == pytest.approx(10.0)
  np.testing.assert_allclose(clip.positions[:, 0, 0], [0, 1, 1, 2, 3])  # nearest in time
  bad = _write(tmp_path / "bad.txt", json.dumps({"Frames": [frames[0], frames[1][:-1]]}))
  msg = _one_line_error("row 1 has 12 values, expected 13", deepmimic.read_deepmimic, bad)
  assert "bad.txt" in msg
  nan = _write(tmp_path / "nan.txt", json.dumps({"Frames": [frames[0][:-1] + ["x"]]}))
  _one_line_error("nan.txt: non-numeric", deepmimic.read_deepmimic, nan)


# humanoid3d.txt's joints (name, type, parent, attach), offsets rounded.
HUMANOID = [
    ("root", "none", -1, (0, 0, 0)), ("chest", "spherical", 0, (0, .236, 0)),
    ("neck", "spherical", 1, (0, .224, 0)), ("right_hip", "spherical", 0, (0, 0, .085)),
    ("right_knee", "revolute", 3, (0, -.42, 0)), ("right_ankle", "spherical", 4, (0, -.41, 0)),
    ("right_shoulder", "spherical", 1, (-.024, .2435, .183)),
    ("right_elbow", "revolute", 6, (0, -.275, 0)), ("right_wrist", "fixed", 7, (0, -.26, 0)),
    ("left_hip", "spherical", 0, (0, 0, -.085)), ("left_knee", "revolute", 9, (0, -.42, 0)),
    ("left_ankle", "spherical", 10, (0, -.41, 0)),
    ("left_shoulder", "spherical", 1, (-.024, .2435, -.183)),
    ("left_elbow", "revolute", 12, (0, -.275, 0)), ("left_wrist", "fixed", 13, (0, -.26, 0))]


def _humanoid_folder(root):
  os.makedirs(root / "motions", exist_ok=True)
  joints = [_dm_joint(i, *j) for i, j in enumerate(HUMANOID)]
  _write(root / "humanoid3d.txt", json.dumps({"Skeleton": {"Joints": joints}}))
  ident = [1, 0, 0, 0]
  row = [1 / 30, 0, 0.85, 0, *ident, *ident, *ident, *ident, 0, *ident, *ident, 0, *ident, 0,
         *ident, *ident, 0]
  frames = [row[:1] + [0.1 * k] + row[2:] for k in range(7)]
  _write(root / "motions" / "humanoid3d_walk.txt", json.dumps({"Loop": "wrap",
                                                              "Frames": frames}))
  _write(root / "README.txt", "not motion")


# --- canonical npz --------------------------------------------------------------------------

def test_build_canonical_round_trip_without_pickle(tmp_path):
  _humanoid_folder(tmp_path / "dm")
  out = str(tmp_path / "canon.npz")
  data = mocap.build_canonical([str(tmp_path / "dm")], out, target_fps=10.0)
  assert data["positions_3d"].shape == (3, 17, 3)  # 7 frames at 30 fps -> 0, 0.1, 0.2 s
  with np.load(out, allow_pickle=False) as z:
    assert all(z[k].dtype != object for k in z.files)
    assert z["positions_3d"].dtype == np.float32 and z["subject"].dtype == np.int32
    assert z["joint_names"].dtype.kind == "U" and tuple(z["joint_names"]) == H36M.joint_names
  back = mocap.load_canonical(out)
  for k, v in data.items():
    np.testing.assert_array_equal(back[k], v)
  assert back["subject_names"].tolist() == ["deepmimic"]
  assert back["sequence_names"].tolist() == ["motions/humanoid3d_walk"]
  assert float(back["fps"]) == 10.0
  p = back["positions_3d"]
  np.testing.assert_allclose(p[:, 10] - p[:, 8], [[0, .2775, 0]] * 3, atol=1e-6)  # head top
  np.testing.assert_allclose(p[:, 0, 0], [0, .3, .6], atol=1e-6)  # x at frames 0, 3, 6


def test_canonical_refuses_overwrite_and_validates(tmp_path):
  _humanoid_folder(tmp_path / "dm")
  out = str(tmp_path / "c.npz")
  data = mocap.build_canonical(str(tmp_path / "dm"), out)
  _one_line_error("c.npz: exists; pass overwrite=True", mocap.build_canonical,
                  str(tmp_path / "dm"), out)
  _one_line_error("exists", mocap.save_canonical, out, data)
  mocap.save_canonical(out, data, overwrite=True)
  bad = dict(data, subject=np.full(len(data["subject"]), 5, np.int32))
  _one_line_error("b.npz: subject: expected int", mocap.save_canonical,
                  str(tmp_path / "b.npz"), bad)
  _one_line_error("positions_3d: expected float", mocap.save_canonical,
                  str(tmp_path / "b.npz"), dict(data, positions_3d=data["positions_3d"][:, :16]))
  pickled = str(tmp_path / "p.npz")
  np.savez(pickled, **dict(data, sequence_names=np.array(["a"], dtype=object)))
  _one_line_error("p.npz: field 'sequence_names' holds pickled objects", mocap.load_canonical,
                  pickled)
  _one_line_error("missing.npz: no such", mocap.load_canonical, str(tmp_path / "missing.npz"))
  junk = _write(tmp_path / "junk.npz", "not a zip")
  _one_line_error("junk.npz: not a canonical", mocap.load_canonical, junk)


def test_cli_builds_and_refuses_overwrite(tmp_path, capsys):
  _humanoid_folder(tmp_path / "dm")
  out = str(tmp_path / "cli.npz")
  mocap.main([str(tmp_path / "dm"), "--out", out, "--fps", "15"])
  assert "deepmimic" in capsys.readouterr().out
  assert float(mocap.load_canonical(out)["fps"]) == 15.0
  with pytest.raises(SystemExit):
    mocap.main([str(tmp_path / "dm"), "--out", out])
  assert "exists" in capsys.readouterr().err


# --- real files (skipped without /work/shared/data/mocap) -----------------------------------

def _plausible(clip, upright=0.9):
  p = clip.positions
  assert p.shape[1:] == (17, 3) and np.isfinite(p).all()
  thigh = np.linalg.norm(p[:, H36M.index("l_knee")] - p[:, H36M.index("l_hip")], axis=-1)
  shin = np.linalg.norm(p[:, H36M.index("l_ankle")] - p[:, H36M.index("l_knee")], axis=-1)
  assert 0.35 < thigh.mean() < 0.5 and 0.35 < shin.mean() < 0.55
  assert (p[:, H36M.index("head"), 1] > p[:, 0, 1]).mean() >= upright


REAL = [("cmu_walkcycles_bvh/02_01.bvh", "cmu_bvh"), ("cmu_asfamc/02_01.amc", "cmu_asf"),
        ("cmu_iclone_bvh/005_01.bvh", "iclone"), ("cmu_salsa_daz_bvh/60_01_scaled.bvh", "daz"),
        ("deepmimic/humanoid3d_walk.txt", "deepmimic")]


@pytest.mark.skipif(not os.path.isdir(DATA), reason="no /work/shared/data/mocap")
@pytest.mark.parametrize("rel,rig", REAL)
def test_real_file_reads_to_plausible_h36m17(rel, rig):
  clip = mocap.read_clip(os.path.join(DATA, rel))
  assert clip.rig == rig
  _plausible(mocap.to_h36m17(clip))


@pytest.mark.skipif(not os.path.isdir(DATA), reason="no /work/shared/data/mocap")
def test_real_cgspeed_bvh_matches_asf_amc_of_same_trial():
  a = mocap.to_h36m17(bvh.read_bvh(os.path.join(DATA, "cmu_walkcycles_bvh/02_01.bvh")))
  b = mocap.to_h36m17(asfamc.read_amc(os.path.join(DATA, "cmu_asfamc/02_01.amc")))
  assert a.fps == b.fps == 120.0
  err = np.linalg.norm(a.positions - b.positions, axis=-1)
  assert err.max() < 2e-3  # metres; legs exact, upper body via the restored thorax bone


@pytest.mark.skipif(not os.path.isdir(DATA), reason="no /work/shared/data/mocap")
def test_real_cgspeed_renamed_to_motionbuilder_names_gives_same_h36m17(tmp_path):
  # cgspeed's MotionBuilder-friendly release: same skeleton, other joint names.
  mb = {"Hip": "UpLeg", "Knee": "Leg", "Ankle": "Foot", "Toe": "ToeBase", "Collar": "Shoulder",
        "Shoulder": "Arm", "Elbow": "ForeArm", "Wrist": "Hand"}
  rename = {f"{s}{k}": f"{s}{v}" for k, v in mb.items() for s in ("Left", "Right")}
  rename.update(lowerback="LowerBack", Chest="Spine", Chest2="Spine1", lowerneck="Neck",
                Neck="Neck1")
  src = os.path.join(DATA, "cmu_walkcycles_bvh/07_01.bvh")
  with open(src) as f:
    text = re.sub(r"(JOINT|ROOT) (\w+)", lambda m: f"{m[1]} {rename.get(m[2], m[2])}",
                  f.read())
  clip = bvh.read_bvh(_write(tmp_path / "07_01.bvh", text))
  assert clip.rig == "cmu_bvh_mb"
  np.testing.assert_allclose(mocap.to_h36m17(clip).positions,
                             mocap.to_h36m17(bvh.read_bvh(src)).positions, atol=1e-6)


@pytest.mark.skipif(not os.path.isdir(DATA), reason="no /work/shared/data/mocap")
def test_real_iclone_drops_the_prepended_t_pose():
  path = os.path.join(DATA, "cmu_iclone_bvh/005_01.bvh")
  with open(path) as f:
    frames = int(next(line for line in f if line.startswith("Frames:")).split()[1])
  assert bvh.read_bvh(path).num_frames == frames - 1
  assert bvh.read_bvh(path, drop_first=False).num_frames == frames


def test_default_asset_loads_and_is_plausible():
  path = mocap.default_mocap_path()
  assert os.path.getsize(path) <= 5e6
  data = mocap.load_canonical(path)
  assert len(data["positions_3d"]) > 10000 and float(data["fps"]) == 20.0
  assert set(mocap.DEFAULT_TEST_SUBJECTS) <= set(data["subject_names"].tolist())
  assert {"cmu_bvh", "cmu_asf", "iclone", "daz", "deepmimic"} == set(data["sequence_rigs"])
  clip = mocap.MocapClip(positions=data["positions_3d"], joint_names=H36M.joint_names,
                         parents=H36M.parents, fps=20.0, source=path)
  _plausible(clip, upright=0.97)
  with open(os.path.join(os.path.dirname(path), "ACKNOWLEDGEMENT.txt")) as f:
    ack = f.read()
  assert "The data used in this project was obtained from mocap.cs.cmu.edu." in ack
  assert "NSF EIA-0196217" in ack and "MIT" in ack
