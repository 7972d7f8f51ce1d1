"""Real-dataset builders on tiny fixtures written in the original file formats."""

import json

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
import tensorflow_datasets as tfds
from scipy.spatial.transform import Rotation

from jaxpose import skeleton
from jaxpose.data.builders import h36m, lsp_mpii, ronchi

H = skeleton.H36M17.index


def _jpeg(path, value=128, gray=False):
  path.parent.mkdir(parents=True, exist_ok=True)
  img = np.full((6, 8) if gray else (6, 8, 3), value, np.uint8)
  path.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())


def _build(builder, manual):
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  return builder.as_data_source()


def _get(source, split, k):
  """Record k with its meta strings decoded (text features read back as bytes)."""
  rec = source[split][k]
  rec["meta"] = {key: v.decode() if isinstance(v, bytes) else v
                 for key, v in rec["meta"].items()}
  return rec


def _records(source, split):
  return [_get(source, split, k) for k in range(len(source[split]))]


def _frame(source, split, frame):
  """The record of `split` whose meta.frame is `frame` (records are stored shuffled)."""
  (rec,) = [r for r in _records(source, split) if int(r["meta"]["frame"]) == frame]
  return rec


def _triple(rel, i, j):
  """r of pair (i, j) in relations [K, 3], either order."""
  for a, b, r in np.asarray(rel):
    if (a, b) == (i, j):
      return int(r)
    if (a, b) == (j, i):
      return -int(r)
  raise AssertionError(f"pair ({i}, {j}) not in relations")


# --- Human3.6M, VideoPose3D npz ---------------------------------------------------------


def _expected_camera_frame(world, subject, cam):
  """Independent of the builder: scipy's quaternion (x, y, z, w) and X_c = R^T (X_w - t)."""
  (w, x, y, z), t = h36m._EXTRINSICS[subject][cam]
  return Rotation.from_quat([x, y, z, w]).inv().apply(world - np.asarray(t) / 1000)


def _pinhole(cam_points, cam):
  f, c = np.asarray(h36m._FOCAL[cam]), np.asarray(h36m._CENTER[cam])
  return cam_points[..., :2] / cam_points[..., 2:] * f + c


@pytest.fixture
def vp3d_folder(tmp_path, rng):
  """data_3d_h36m.npz / data_2d_h36m_gt.npz: protocol #1 subjects, one 3-frame action each."""
  folder = tmp_path / "manual"
  folder.mkdir()
  pos3d, pos2d = {}, {}
  for subject in h36m.PROTOCOL1_TRAIN + h36m.PROTOCOL1_TEST:
    world = (np.array([0.0, 0.0, 1.0]) + rng.uniform(-0.5, 0.5, (3, 32, 3))).astype(np.float32)
    world[:, 0] = [0.0, 0.0, 0.9]
    pos3d[subject] = {"Walking 1": world}
    views = []
    for cam in range(4):
      cam_pts = _expected_camera_frame(world[:, skeleton.H36M32_TO_H36M17], subject, cam)
      views.append(_pinhole(cam_pts, cam).astype(np.float32))
    pos2d[subject] = {"Walking 1": views}
  np.savez_compressed(folder / h36m.FILE_3D, positions_3d=pos3d)
  metadata = {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13],
                                                       [1, 2, 3, 14, 15, 16]]}
  np.savez_compressed(folder / h36m.FILE_2D, positions_2d=pos2d, metadata=metadata)
  return folder, pos3d


def test_h36m_videopose3d_records(tmp_path, vp3d_folder):
  folder, pos3d = vp3d_folder
  config = h36m.H36mConfig(name="tiny", test_cameras=(3,), frame_stride=2)
  source = _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data", config=config,
                                       allow_pickle=True), folder)
  # subjects x cameras x frames (0, 2)
  assert len(source["train"]) == 5 * 4 * 2 and len(source["test"]) == 2 * 1 * 2
  for split, subjects in (("train", h36m.PROTOCOL1_TRAIN), ("test", h36m.PROTOCOL1_TEST)):
    for rec in _records(source, split):
      cam, frame, subject = (int(rec["meta"]["camera_id"]), int(rec["meta"]["frame"]),
                             rec["meta"]["subject"])
      assert subject in subjects and rec["meta"]["action"] == "Walking 1"
      assert frame in (0, 2) and (split == "train" or cam == 3)
      assert rec["keypoints3d"].shape == (17, 3) and rec["keypoints2d"].shape == (17, 2)
      assert rec["has_3d"] and rec["has_ordinal"] and rec["joint_mask"].all()
      # 32 -> 17 by name, world -> camera frame (metres, not root-centred).
      want = _expected_camera_frame(pos3d[subject]["Walking 1"][frame], subject, cam)
      np.testing.assert_allclose(rec["keypoints3d"][H("l_shoulder")], want[17], atol=1e-4)
      np.testing.assert_allclose(rec["keypoints3d"][H("r_wrist")], want[27], atol=1e-4)
      np.testing.assert_allclose(rec["keypoints3d"][H("pelvis")], want[0], atol=1e-4)
      # The stored pinhole camera reproduces the stored 2D.
      proj = (rec["keypoints3d"][:, :2] / rec["keypoints3d"][:, 2:] * rec["camera"]["focal"]
              + rec["camera"]["center"])
      assert np.abs(proj - rec["keypoints2d"]).max() < 1.0
      # All 136 pairs, r = +1 <=> i closer beyond the 100 mm band.
      z = rec["keypoints3d"][:, 2]
      assert rec["relations"].shape == (136, 3) and rec["relations"].dtype == np.int8
      for i, j, r in rec["relations"]:
        assert r == (1 if z[i] < z[j] - 0.1 else -1 if z[j] < z[i] - 0.1 else 0)


def test_h36m_videopose3d_refuses_pickle_without_opt_in(tmp_path, vp3d_folder):
  folder, _ = vp3d_folder
  with pytest.raises(ValueError, match="allow_pickle=True"):
    _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data"), folder)


def test_h36m_videopose3d_missing_file_named(tmp_path, vp3d_folder):
  folder, _ = vp3d_folder
  (folder / h36m.FILE_2D).unlink()
  with pytest.raises(ValueError, match=r"missing .*data_2d_h36m_gt\.npz.*MANUAL_DOWNLOAD"):
    _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data", allow_pickle=True), folder)


def test_h36m_videopose3d_inconsistent_2d_rejected(tmp_path, vp3d_folder):
  folder, pos3d = vp3d_folder
  with np.load(folder / h36m.FILE_2D, allow_pickle=True) as f:
    pos2d = f["positions_2d"].item()
  pos2d["S9"]["Walking 1"].reverse()  # cameras in the wrong order
  np.savez_compressed(folder / h36m.FILE_2D, positions_2d=pos2d)
  with pytest.raises(ValueError, match="S9/Walking 1 camera 0: 2D keypoints disagree"):
    _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data", allow_pickle=True), folder)


def test_h36m_videopose3d_wrong_shape_named(tmp_path, vp3d_folder):
  folder, pos3d = vp3d_folder
  pos3d["S1"]["Walking 1"] = pos3d["S1"]["Walking 1"][:, :17]
  np.savez_compressed(folder / h36m.FILE_3D, positions_3d=pos3d)
  with pytest.raises(ValueError, match=r"data_3d_h36m\.npz: S1/Walking 1 expected \[N, 32, 3\]"):
    _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data", allow_pickle=True), folder)


def test_missing_manual_folder_is_one_line(tmp_path):
  with pytest.raises(ValueError, match="does not exist or is empty; see") as e:
    _build(h36m.H36mVideopose3d(data_dir=tmp_path / "data", allow_pickle=True),
           tmp_path / "nowhere")
  assert "\n" not in str(e.value)


# --- Human3.6M, Pavlakos annot h5 -------------------------------------------------------


def test_h36m_pavlakos_records(tmp_path, rng):
  folder = tmp_path / "manual"
  names = {"train": ["S1_Directions_1.54138969_000001.jpg", "S1_Directions_1.54138969_000006"],
           "valid": ["S9_Posing_1.55011271_000011"]}
  for stem, rows in names.items():
    n = len(rows)
    S = rng.uniform(-600, 600, (n, 17, 3)) + [0, 0, 5000]  # camera frame, mm
    S[:, H("l_wrist"), 2], S[:, H("r_wrist"), 2] = 4500, 5200  # l_wrist 0.7 m closer
    cams = [h36m.CAMERA_IDS.index(r.split(".")[1].split("_")[0]) for r in rows]
    part = np.stack([_pinhole(S[k] / 1000, c) for k, c in enumerate(cams)])
    (folder / "annot").mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "annot" / f"{stem}.h5", "w") as f:
      f["part"], f["center"], f["scale"] = part, part.mean(1), np.full(n, 1.5)
      f["zind"] = rng.integers(1, 65, (n, 17)).astype(np.uint8)
      f["S"] = S
      if stem == "valid":  # names from the h5 instead of valid_images.txt
        f["imgname"] = np.array([r.encode() for r in rows])
    if stem == "train":
      (folder / "annot" / f"{stem}_images.txt").write_text("\n".join(rows) + "\n")
    for r in rows:
      _jpeg(folder / "images" / (r if r.endswith(".jpg") else r + ".jpg"))
  source = _build(h36m.H36mPavlakos(data_dir=tmp_path / "data"), folder)
  assert len(source["train"]) == 2 and len(source["test"]) == 1
  rec = _get(source, "test", 0)
  assert rec["image"].shape == (6, 8, 3)
  assert rec["meta"]["subject"] == "S9" and rec["meta"]["action"] == "Posing 1"
  assert int(rec["meta"]["camera_id"]) == 1 and int(rec["meta"]["frame"]) == 11
  np.testing.assert_allclose(rec["camera"]["focal"], h36m._FOCAL[1])
  assert rec["bbox"]["scale"] == pytest.approx(300.0)
  assert rec["has_3d"] and 4.0 < rec["keypoints3d"][:, 2].mean() < 6.0  # metres
  assert _triple(rec["relations"], H("l_wrist"), H("r_wrist")) == 1
  assert sorted(int(r["meta"]["frame"]) for r in _records(source, "train")) == [1, 6]


# --- LSP / MPII ordinal -----------------------------------------------------------------


def _ordinal_folder(root, sub, num_joints, n, pattern, rng):
  folder = root / sub
  folder.mkdir(parents=True)
  joints = np.concatenate([rng.uniform(10, 100, (2, num_joints, n)),
                           np.zeros((1, num_joints, n))])
  ord_ = np.full((n, num_joints, num_joints), np.nan)
  for k in range(n):
    _jpeg(folder / "images" / pattern.format(k + 1), gray=k == 0)
  return folder, joints, ord_


def _save_ordinal(folder, joints, ord_):
  scipy.io.savemat(folder / "joints.mat", {"joints": joints})
  scipy.io.savemat(folder / "ordinal.mat", {"ord": ord_})


def test_lsp_ordinal_records(tmp_path, rng):
  folder, joints, ord_ = _ordinal_folder(tmp_path, "lsp_dataset_original", 14, 4,
                                         "im{:04d}.jpg", rng)
  lsp = skeleton.LSP14.index
  joints[2, lsp("l_wrist"), 0] = 1  # original LSP: 1 = occluded
  ord_[0, lsp("r_ankle"), lsp("r_knee")] = -1  # r_ankle closer (depth smaller)
  ord_[0, lsp("r_knee"), lsp("r_ankle")] = 1
  ord_[0, lsp("l_hip"), lsp("r_hip")] = 0
  ord_[2, lsp("head_top"), lsp("neck")] = 1  # lower triangle only: head top farther
  _save_ordinal(folder, joints, ord_)
  source = _build(lsp_mpii.LspMpiiOrdinal(data_dir=tmp_path / "data", config="lsp"),
                  tmp_path)
  assert len(source["train"]) == 2 and len(source["test"]) == 2
  rec = _frame(source, "train", 0)
  assert rec["image"].shape == (6, 8, 3)  # grayscale JPEG re-encoded to 3 channels
  np.testing.assert_allclose(rec["keypoints2d"][H("thorax")], joints[:2, lsp("neck"), 0],
                             rtol=1e-6)
  np.testing.assert_allclose(rec["keypoints2d"][H("head")], joints[:2, lsp("head_top"), 0],
                             rtol=1e-6)
  missing = {H("pelvis"), H("spine"), H("neck_nose")}
  assert [k for k in range(17) if not rec["joint_mask"][k]] == sorted(missing)
  assert not rec["visible"][H("l_wrist")] and rec["visible"][H("r_wrist")]
  assert rec["has_ordinal"] and not rec["has_3d"] and len(rec["relations"]) == 2
  assert _triple(rec["relations"], H("r_ankle"), H("r_knee")) == 1
  assert _triple(rec["relations"], H("l_hip"), H("r_hip")) == 0
  assert _triple(_frame(source, "test", 2)["relations"], H("thorax"), H("head")) == 1
  assert not _frame(source, "train", 1)["has_ordinal"]  # nothing annotated
  assert _frame(source, "test", 2)["meta"]["subject"] == "im0003"


def test_mpii_ordinal_config(tmp_path, rng):
  folder, joints, ord_ = _ordinal_folder(tmp_path, "mpii_upis1h", 16, 3, "{:05d}_full.jpg",
                                         rng)
  mpii = skeleton.MPII16.index
  joints[2] = 1  # MPII: 1 = visible
  joints[2, mpii("r_wrist"), 1] = 0
  ord_[1, mpii("pelvis"), mpii("upper_neck")] = 1  # pelvis farther
  _save_ordinal(folder, joints, ord_)
  source = _build(lsp_mpii.LspMpiiOrdinal(data_dir=tmp_path / "data", config="mpii"),
                  tmp_path)
  assert set(source) == {"train"} and len(source["train"]) == 3
  rec = _frame(source, "train", 1)
  assert [k for k in range(17) if not rec["joint_mask"][k]] == [H("spine")]
  assert not rec["visible"][H("r_wrist")] and rec["visible"][H("l_wrist")]
  assert _triple(rec["relations"], H("pelvis"), H("neck_nose")) == -1


@pytest.mark.parametrize("bad, match", [
    ("shape", r"joints\.mat: expected 'joints' of shape \[3, 14, N\]"),
    ("image", r"missing .*im0003\.jpg"),
    ("contradiction", r"ord\[0,1\] = -1 but ord\[1,0\] = -1; expected antisymmetric"),
])
def test_lsp_ordinal_bad_input(tmp_path, rng, bad, match):
  folder, joints, ord_ = _ordinal_folder(tmp_path, "lsp_dataset_original", 14, 4,
                                         "im{:04d}.jpg", rng)
  if bad == "shape":
    joints = joints.transpose(1, 0, 2)  # LSPET layout [14, 3, N]
  elif bad == "image":
    (folder / "images" / "im0003.jpg").unlink()
  else:
    ord_[2, 0, 1] = ord_[2, 1, 0] = -1
  _save_ordinal(folder, joints, ord_)
  with pytest.raises(ValueError, match=match):
    _build(lsp_mpii.LspMpiiOrdinal(data_dir=tmp_path / "data", config="lsp"), tmp_path)


# --- Ronchi relative depth LSP ----------------------------------------------------------

RONCHI_NAMES = ["nose", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
                "left_ankle", "right_ankle"]


def _ronchi_folder(root, rng, names=RONCHI_NAMES):
  images = []
  for k, is_train in enumerate((True, False, True)):
    im_file = f"images/im{k + 1:04d}.jpg"
    _jpeg(root / im_file)
    images.append({
        "im_file": im_file, "is_train": is_train,
        "keypoints": rng.uniform(10, 100, 2 * len(names)).round(1).tolist(),
        "occluded": [0] * len(names),
        "anns": [{"kp0": 0, "kp1": 13, "label": 1, "prob": 0.9, "risk": 0.1},
                 {"kp0": 6, "kp1": 7, "label": 0, "prob": 0.8, "risk": 0.2}],
    })
  images[0]["occluded"][names.index("left_wrist")] = 1
  (root / ronchi.JSON_FILE).write_text(json.dumps({"joint_names": names, "images": images}))
  return images


def test_ronchi_records(tmp_path, rng):
  images = _ronchi_folder(tmp_path, rng)
  source = _build(ronchi.RonchiLsp(data_dir=tmp_path / "data"), tmp_path)
  assert len(source["train"]) == 2 and len(source["test"]) == 1
  rec = _frame(source, "train", 0)
  kp = np.asarray(images[0]["keypoints"], np.float32).reshape(14, 2)
  np.testing.assert_allclose(rec["keypoints2d"][H("head")], kp[0])  # Ronchi 'nose' = head top
  np.testing.assert_allclose(rec["keypoints2d"][H("thorax")], kp[1])
  np.testing.assert_allclose(rec["keypoints2d"][H("r_ankle")], kp[13])
  assert not rec["visible"][H("l_wrist")] and rec["visible"][H("r_wrist")]
  # label 1: kp0 (head) farther than kp1 (r_ankle) -> our r = -1; label 0: l_wrist closer.
  assert _triple(rec["relations"], H("head"), H("r_ankle")) == -1
  assert _triple(rec["relations"], H("l_wrist"), H("r_wrist")) == 1
  assert rec["meta"]["subject"] == "im0001" and rec["image"].shape == (6, 8, 3)


def test_ronchi_unknown_joint_name(tmp_path, rng):
  _ronchi_folder(tmp_path, rng, names=RONCHI_NAMES[:-1] + ["left_eye"])
  with pytest.raises(ValueError, match=r"relative_depth_lsp_v1\.json: .*'left_eye'"):
    _build(ronchi.RonchiLsp(data_dir=tmp_path / "data"), tmp_path)
