"""Tests for the interchange files: 2D keypoints JSON -> lifting batches, 3D poses JSON."""

import json
import types

import numpy as np
import pytest

from jaxpose import interchange, skeleton
from jaxpose.train import data as data_lib

H36M = skeleton.H36M17
NAMES = list(H36M.joint_names)


def _poses2d(rng, n=3, j=17):
  return rng.uniform(50, 950, (n, j, 2)).round(3)


def _write_raw(path, data):
  path.write_text(data if isinstance(data, str) else json.dumps(data))
  return path


def _doc(rng, n=2):
  """A valid 2D keypoints document (H36M17 names)."""
  kp = _poses2d(rng, n)
  return {"joint_names": NAMES, "image_size": [1000, 800], "focal": [1100, 1120],
          "poses": [{"id": f"p{k}", "keypoints": kp[k].tolist(),
                     "visible": [True] * 17} for k in range(n)]}


def test_round_trip_2d_to_lifting_batch(tmp_path, rng):
  kp = _poses2d(rng)
  vis = rng.uniform(size=(3, 17)) > 0.3
  path = interchange.write_keypoints2d(tmp_path / "in.json", ["a", "b", "c"], kp,
                                       joint_names=NAMES, visible=vis, image_size=[640, 480],
                                       focal=[1000, 1010])
  read = interchange.read_keypoints2d(path)
  assert read.ids == ("a", "b", "c") and read.joint_names == tuple(NAMES)
  np.testing.assert_allclose(read.keypoints2d, kp, atol=1e-4)
  batch = interchange.lifting_batch(read, num_pairs=5)
  np.testing.assert_allclose(batch["keypoints2d"], kp, atol=1e-4)
  np.testing.assert_array_equal(batch["visible"], vis)
  assert batch["joint_mask"].all() and batch["valid"].all()
  np.testing.assert_array_equal(batch["camera"]["center"], [[320, 240]] * 3)
  np.testing.assert_array_equal(batch["camera"]["focal"], [[1000, 1010]] * 3)
  np.testing.assert_array_equal(batch["index"], [0, 1, 2])
  assert not batch["has_3d"].any() and not batch["has_ordinal"].any()
  assert not batch["relation_mask"].any() and not batch["keypoints3d"].any()
  assert batch["meta"]["action"] == ["in"] * 3


def test_batch_has_the_pipeline_layout(tmp_path, rng):
  read = interchange.read_keypoints2d(_write_raw(tmp_path / "x.json", _doc(rng)))
  batch = interchange.lifting_batch(read, num_pairs=7)
  config = types.SimpleNamespace(data=types.SimpleNamespace(num_pairs=7))
  ref = data_lib.dummy_batch(config, 2)
  assert set(batch) == set(ref) | {"meta"}
  for key in ref:
    for sub in (ref[key] if isinstance(ref[key], dict) else {None: ref[key]}):
      got = batch[key][sub] if sub else batch[key]
      want = ref[key][sub] if sub else ref[key]
      assert got.dtype == want.dtype and got.shape == want.shape, (key, sub)


def test_joints_matched_by_name_in_any_order_and_spelling(tmp_path, rng):
  kp = _poses2d(rng)
  perm = rng.permutation(17)
  spelled = [n.replace("l_", "left_").replace("r_", "Right ") for n in np.asarray(NAMES)[perm]]
  a = interchange.read_keypoints2d(interchange.write_keypoints2d(
      tmp_path / "a.json", ["0", "1", "2"], kp, joint_names=NAMES))
  b = interchange.read_keypoints2d(interchange.write_keypoints2d(
      tmp_path / "b.json", ["0", "1", "2"], kp[:, perm], joint_names=spelled))
  for x, y in zip(interchange.to_h36m17(a), interchange.to_h36m17(b)):
    np.testing.assert_array_equal(x, y)


def test_coco_names_derive_pelvis_and_mask_absent_joints(tmp_path, rng):
  coco = list(skeleton.COCO17.joint_names)  # eyes and ears have no H36M17 twin: dropped
  kp = _poses2d(rng, 2, len(coco))
  vis = np.ones((2, len(coco)), bool)
  vis[1, coco.index("l_hip")] = False
  read = interchange.read_keypoints2d(interchange.write_keypoints2d(
      tmp_path / "coco.json", ["x", "y"], kp, joint_names=coco, visible=vis))
  batch = interchange.lifting_batch(read, num_pairs=3, default_focal=900.0)
  mask = batch["joint_mask"][0]
  assert not mask[[H36M.index(n) for n in ("spine", "thorax", "head")]].any()
  assert mask.sum() == 14  # 12 limb joints, nose -> neck_nose, derived pelvis
  hips = kp[:, [coco.index("l_hip"), coco.index("r_hip")]]
  np.testing.assert_allclose(batch["keypoints2d"][:, 0], hips.mean(axis=1), atol=1e-3)
  np.testing.assert_array_equal(batch["visible"][:, 0], [True, False])
  np.testing.assert_allclose(batch["keypoints2d"][:, H36M.index("neck_nose")],
                             kp[:, coco.index("nose")], atol=1e-4)
  assert not batch["keypoints2d"][:, H36M.index("spine")].any()
  np.testing.assert_array_equal(batch["camera"]["focal"], [[900, 900]] * 2)
  present = batch["keypoints2d"][0][mask]  # no image_size: the centre is the centroid
  np.testing.assert_allclose(batch["camera"]["center"][0], present.mean(axis=0), rtol=1e-6)


def test_no_pelvis_and_no_hips_is_one_line_error(tmp_path, rng):
  names = ["l_shoulder", "r_shoulder", "l_hip", "head_top"]
  read = interchange.read_keypoints2d(interchange.write_keypoints2d(
      tmp_path / "arms.json", ["0"], _poses2d(rng, 1, 4), joint_names=names))
  with pytest.raises(ValueError, match=r"arms.json: joint_names: lifting needs the root "
                     r"'pelvis', or both 'l_hip' and 'r_hip'") as e:
    interchange.lifting_batch(read, num_pairs=3)
  assert "\n" not in str(e.value)


def _pose_field(doc, k, field, value):
  doc["poses"][k][field] = value
  return doc


@pytest.mark.parametrize("name, edit, match", [
    ("not_json", lambda d: "{poses: ]", r"not valid JSON \(Expecting property name"),
    ("list", lambda d: [d], r"expected a JSON object with 'joint_names' and 'poses'"),
    ("no_poses", lambda d: {"joint_names": NAMES}, r"poses: expected a non-empty list"),
    ("empty_poses", lambda d: {**d, "poses": []}, r"poses: expected a non-empty list"),
    ("no_names", lambda d: {"poses": d["poses"]}, r"joint_names: expected a non-empty list"),
    ("unknown_names", lambda d: {**d, "joint_names": ["tail", *NAMES[1:-1], "wing"]},
     r"joint_names: unknown joint names \['tail', 'wing'\]"),
    ("twice", lambda d: {**d, "joint_names": ["hip", *NAMES[1:-1], "pelvis"]},
     r"joint_names: names map to the same joint twice: \['pelvis'\]"),
    ("count", lambda d: _pose_field(d, 1, "keypoints", d["poses"][1]["keypoints"][:-1]),
     r"poses\[1\] \(id 'p1'\)\.keypoints: expected a 17 x 2 list of numbers, got 16 entries"),
    ("pair", lambda d: _pose_field(d, 0, "keypoints", [[1, 2, 3]] * 17),
     r"poses\[0\] \(id 'p0'\)\.keypoints: expected a 17 x 2 list of numbers, got 3"),
    ("string", lambda d: _pose_field(d, 1, "keypoints", [["1", 2]] * 17),
     r"poses\[1\] \(id 'p1'\)\.keypoints: expected numbers, got \"1\""),
    ("null", lambda d: _pose_field(d, 0, "keypoints", [[None, 2]] * 17),
     r"poses\[0\] \(id 'p0'\)\.keypoints: expected numbers, got null"),
    ("nan", lambda d: _pose_field(d, 1, "keypoints", [[float("nan"), 2]] * 17),
     r"poses\[1\] \(id 'p1'\)\.keypoints: expected finite numbers, got nan"),
    ("missing_kp", lambda d: _pose_field(d, 1, "keypoints2d", d["poses"][1].pop("keypoints")),
     r"poses\[1\] \(id 'p1'\)\.keypoints: missing"),
    ("visible_len", lambda d: _pose_field(d, 1, "visible", [True] * 16),
     r"poses\[1\] \(id 'p1'\)\.visible: expected 17 booleans \(one per joint_names\), got 16"),
    ("visible_type", lambda d: _pose_field(d, 0, "visible", ["yes"] * 17),
     r"poses\[0\] \(id 'p0'\)\.visible: expected booleans"),
    ("duplicate", lambda d: _pose_field(d, 1, "id", "p0"),
     r"poses\[1\]\.id: duplicate id 'p0'"),
    ("bad_id", lambda d: _pose_field(d, 0, "id", ["p"]), r"poses\[0\]\.id: expected a non-empty"),
    ("pose_type", lambda d: {**d, "poses": [d["poses"][0], 7]},
     r"poses\[1\]: expected an object with 'keypoints', got int"),
    ("image_size", lambda d: {**d, "image_size": [640, -1]},
     r"image_size: expected positive numbers, got -1"),
    ("focal", lambda d: {**d, "focal": 1000}, r"focal: expected a 2 list of numbers, got int"),
])
def test_malformed_2d_json_is_one_line_error_naming_file_pose_and_field(
    tmp_path, rng, name, edit, match):
  path = _write_raw(tmp_path / f"{name}.json", edit(_doc(rng)))
  with pytest.raises(ValueError, match=rf"^{tmp_path / name}.json: {match}") as e:
    interchange.read_keypoints2d(path)
  assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
  with pytest.raises(ValueError, match=r"nope.json: no such file$"):
    interchange.read_keypoints2d(tmp_path / "nope.json")


def test_optional_fields_default(tmp_path, rng):
  doc = {"joint_names": NAMES, "poses": [{"keypoints": _poses2d(rng, 1)[0].tolist()},
                                         {"id": 7, "keypoints": _poses2d(rng, 1)[0].tolist(),
                                          "visible": [1] * 16 + [0]}]}
  read = interchange.read_keypoints2d(_write_raw(tmp_path / "d.json", doc))
  assert read.ids == ("0", "7") and read.image_size is None and read.focal is None
  np.testing.assert_array_equal(read.visible.sum(axis=1), [17, 16])
  batch = interchange.lifting_batch(read, num_pairs=1)
  np.testing.assert_array_equal(batch["camera"]["focal"], [[interchange.DEFAULT_FOCAL_PX] * 2] * 2)


def test_round_trip_3d(tmp_path, rng):
  poses = rng.normal(0, 0.3, (4, 17, 3)).astype(np.float32)
  poses -= poses[:, :1]
  path = interchange.write_poses3d(tmp_path / "out.json", ["a", "b", "c", "d"], poses)
  data = json.loads(open(path).read())
  assert data["joint_names"] == NAMES and data["unit"] == "m" and data["frame"] == "camera"
  assert data["root_relative"] is True and data["poses"][2]["id"] == "c"
  assert data["poses"][0]["keypoints3d"][0] == [0.0, 0.0, 0.0]
  ids, back = interchange.read_poses3d(path)
  assert ids == ("a", "b", "c", "d")
  np.testing.assert_allclose(back, poses, atol=1e-6)


def test_writers_refuse_to_overwrite(tmp_path, rng):
  path = tmp_path / "out.json"
  path.write_text("mine")
  with pytest.raises(ValueError, match=r"out.json: exists; refusing to overwrite it$"):
    interchange.write_poses3d(path, ["a"], np.zeros((1, 17, 3)))
  with pytest.raises(ValueError, match=r"out.json: exists; refusing to overwrite it$"):
    interchange.write_keypoints2d(path, ["a"], _poses2d(rng, 1), joint_names=NAMES)
  assert path.read_text() == "mine"


def test_writer_argument_errors(tmp_path):
  with pytest.raises(ValueError, match=r"poses3d: expected finite \[N, 17, 3\] metres"):
    interchange.write_poses3d(tmp_path / "a.json", ["a"], np.zeros((1, 16, 3)))
  with pytest.raises(ValueError, match=r"^poses3d: pose 0 \(id 'a'\) joint 0 \(pelvis\): "
                     r"expected finite metres, got x = nan \(17 joints of 1 poses"):
    interchange.write_poses3d(tmp_path / "a.json", ["a"], np.full((1, 17, 3), np.nan))
  inf = np.zeros((3, 17, 3))
  inf[2, 16, 1] = -np.inf
  with pytest.raises(ValueError, match=r"pose 2 \(id 'c'\) joint 16 \(r_wrist\): expected "
                     r"finite metres, got y = -inf \(1 joints of 1 poses"):
    interchange.write_poses3d(tmp_path / "a.json", ["a", "b", "c"], inf)
  with pytest.raises(ValueError, match=r"ids: expected 2 unique ids \(one per pose\), got 2 "
                     r"\(1 unique\)"):
    interchange.write_poses3d(tmp_path / "a.json", ["a", "a"], np.zeros((2, 17, 3)))
  with pytest.raises(ValueError, match=r"keypoints2d: expected finite \[N, 3, 2\]"):
    interchange.write_keypoints2d(tmp_path / "b.json", ["a"], np.zeros((1, 4, 2)),
                                  joint_names=["pelvis", "l_hip", "r_hip"])
  assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("edit, match", [
    (lambda d: {**d, "unit": "mm"}, r"unit: expected \"m\", got \"mm\""),
    (lambda d: {**d, "joint_names": NAMES[::-1]}, r"joint_names: expected \[\"pelvis\""),
    (lambda d: {**d, "root_relative": False}, r"root_relative: expected true, got false"),
    (lambda d: _pose_field(d, 0, "keypoints3d", [[0, 0]] * 17),
     r"poses\[0\] \(id 'a'\)\.keypoints3d: expected a 17 x 3 list of numbers, got 2"),
])
def test_malformed_3d_json(tmp_path, edit, match):
  path = interchange.write_poses3d(tmp_path / "ok.json", ["a"], np.zeros((1, 17, 3)))
  bad = _write_raw(tmp_path / "bad.json", edit(json.loads(open(path).read())))
  with pytest.raises(ValueError, match=rf"^{bad}: {match}"):
    interchange.read_poses3d(bad)
