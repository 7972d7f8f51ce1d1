"""Tests of jaxpose.viz: every figure renders to a non-blank PNG, arrows, colours, saving."""

import cv2
import numpy as np
import pytest
from matplotlib.figure import Figure

from jaxpose import geometry, ordinal, skeleton, viz

J = skeleton.H36M17
FOCAL, CENTER, SIZE = np.array([200.0, 200.0]), np.array([64.0, 64.0]), 128


def _pose() -> np.ndarray:
  """A standing person facing the camera, camera frame (x right, y down, z forward)."""
  joints = {
      "pelvis": (0, 0, 4), "r_hip": (-0.12, 0, 4), "r_knee": (-0.13, 0.45, 4),
      "r_ankle": (-0.13, 0.9, 4.05), "l_hip": (0.12, 0, 4), "l_knee": (0.13, 0.45, 3.9),
      "l_ankle": (0.13, 0.9, 3.95), "spine": (0, -0.25, 4), "thorax": (0, -0.5, 4),
      "neck_nose": (0, -0.62, 3.95), "head": (0, -0.75, 4), "l_shoulder": (0.18, -0.5, 4),
      "l_elbow": (0.3, -0.25, 3.8), "l_wrist": (0.35, -0.05, 3.6),
      "r_shoulder": (-0.18, -0.5, 4), "r_elbow": (-0.3, -0.25, 4.1),
      "r_wrist": (-0.35, 0, 4.2)}
  return np.array([joints[n] for n in J.joint_names], np.float32)


def _keypoints(pose):
  return np.asarray(geometry.perspective_project(pose, focal=FOCAL, center=CENTER))


def _image(rng):
  return rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)


def _save(fig, tmp_path, name="fig.png"):
  """Saves; returns the PNG's pixels after checking it is not blank."""
  assert isinstance(fig, Figure)
  path = viz.save_figure(fig, tmp_path / name, dpi=50)
  pixels = cv2.imread(str(path))
  assert pixels is not None and pixels.std() > 0
  return pixels


def _example(k, rng, *, encoded=False):
  pose = _pose() + rng.normal(0, 0.03, (J.num_joints, 3)).astype(np.float32)
  image = _image(rng)
  if encoded:
    image = cv2.imencode(".png", image)[1].tobytes()
  visible = np.ones(J.num_joints, bool)
  visible[J.index("r_wrist")] = False
  return {"image": image, "keypoints2d": _keypoints(pose), "visible": visible,
          "joint_mask": np.ones(J.num_joints, bool),
          "relations": ordinal.relations_from_depth(pose[:, 2], tol=0.1),
          "meta": {"dataset": "mocap_images", "subject": b"cmu_60",
                   "action": f"cmu_salsa_daz_bvh/60_0{k}_scaled", "camera_id": 0,
                   "frame": k}}


def _bone_lines(ax):
  return [line for line in ax.lines if line.get_marker() in ("None", None, "")]


def test_draw_skeleton_2d_colours_sides_and_hollows_invisible(tmp_path):
  fig = Figure()
  ax = fig.add_subplot()
  visible = np.ones(J.num_joints, bool)
  visible[J.index("l_wrist")] = False
  mask = np.ones(J.num_joints, bool)
  mask[J.index("head")] = False
  assert viz.draw_skeleton_2d(ax, _keypoints(_pose()), visible=visible, joint_mask=mask) is fig
  bones = _bone_lines(ax)
  assert len(bones) == len(J.bones) - 1                      # the head bone is absent
  colors = {line.get_color() for line in bones}
  assert colors == {viz.LEFT_COLOR, viz.RIGHT_COLOR, viz.CENTRE_COLOR}
  markers = [line for line in ax.lines if line.get_marker() == "o"]
  assert len(markers) == J.num_joints - 1
  hollow = [m for m in markers if m.get_markerfacecolor() == "none"]
  assert len(hollow) == 1
  np.testing.assert_allclose(hollow[0].get_xydata()[0], _keypoints(_pose())[J.index("l_wrist")])
  _save(fig, tmp_path)


def test_side_colors_follow_names():
  colors = viz.side_colors(J)
  assert colors[J.index("l_knee")] == viz.LEFT_COLOR
  assert colors[J.index("r_elbow")] == viz.RIGHT_COLOR
  assert colors[J.index("spine")] == viz.CENTRE_COLOR
  assert viz.side_colors(skeleton.LSP14)[skeleton.LSP14.index("l_ankle")] == viz.LEFT_COLOR


@pytest.mark.parametrize("relation, expected", [
    ((13, 15, 1), (13, 15, False)),    # i closer: arrow i -> j
    ((13, 15, -1), (15, 13, False)),   # j closer: arrow j -> i
    ((13, 15, 0), (13, 15, True)),     # tie
])
def test_arrow_joints_goes_from_the_closer_joint(relation, expected):
  assert viz.arrow_joints(np.array(relation, np.int8)) == expected


def test_arrow_joints_rejects_bad_labels():
  with pytest.raises(ValueError, match="relation"):
    viz.arrow_joints((1, 2, 2))


def test_draw_relations_arrows_point_from_closer_to_farther(tmp_path):
  pose = _pose()
  kp = _keypoints(pose)
  wrist, elbow, knee, hip = (J.index(n) for n in ("l_wrist", "r_elbow", "r_knee", "r_hip"))
  # l_wrist (z 3.6) is closer than r_elbow (z 4.1); the second row lists the pair reversed.
  rel = np.array([[wrist, elbow, 1], [elbow, wrist, -1], [knee, hip, 0]], np.int8)
  fig = Figure()
  ax = fig.add_subplot()
  viz.draw_relations(ax, kp, rel, max_relations=3)
  arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
  assert len(arrows) == 3
  for ann in arrows[:2]:
    np.testing.assert_allclose(ann.xyann, kp[wrist])   # tail: the closer joint
    np.testing.assert_allclose(ann.xy, kp[elbow])      # head: the farther joint
    assert pose[wrist, 2] < pose[elbow, 2]
  assert arrows[2].arrow_patch.get_linestyle() == "--"
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert labels == ["l_wrist < r_elbow", "l_wrist < r_elbow", "r_knee ≈ r_hip"]
  _save(fig, tmp_path)


def test_draw_relations_respects_max_mask_and_rng():
  kp = _keypoints(_pose())
  rel = ordinal.relations_from_depth(_pose()[:, 2], tol=0.1)
  mask = np.zeros(len(rel), bool)
  mask[:10] = True

  def drawn(rng):
    fig = Figure()
    ax = fig.add_subplot()
    viz.draw_relations(ax, kp, rel, max_relations=4, mask=mask, rng=rng)
    return [t.get_text() for t in ax.get_legend().get_texts()]

  first = drawn(np.random.default_rng(1))
  assert len(first) == 4 and first == drawn(np.random.default_rng(1))
  allowed = {f"{J.joint_names[a]} {'≈' if tie else '<'} {J.joint_names[b]}"
             for a, b, tie in map(viz.arrow_joints, rel[:10])}
  assert set(first) <= allowed


def test_draw_relations_bad_input():
  ax = Figure().add_subplot()
  with pytest.raises(ValueError, match="relations"):
    viz.draw_relations(ax, _keypoints(_pose()), np.array([[0, 17, 1]]))
  with pytest.raises(ValueError, match="keypoints2d"):
    viz.draw_skeleton_2d(ax, np.zeros((16, 2)))


def test_plot_pose_3d_up_is_up_and_equal_aspect(tmp_path):
  fig = Figure()
  ax = fig.add_subplot(projection="3d")
  pose = _pose()
  viz.plot_pose_3d(ax, pose, label="pose")
  viz.plot_pose_3d(ax, pose + np.array([0.5, 0, 0], np.float32), color="black")
  points = np.concatenate([np.reshape(line.get_data_3d(), (3, -1)) for line in ax.lines], 1)
  head = np.flatnonzero(np.isclose(points[0], pose[J.index("head"), 0])
                        & np.isclose(points[1], pose[J.index("head"), 2]))
  ankle = np.flatnonzero(np.isclose(points[0], pose[J.index("r_ankle"), 0])
                         & np.isclose(points[1], pose[J.index("r_ankle"), 2]))
  assert points[2, head].min() > points[2, ankle].max()      # vertical axis is -y
  spans = [np.ptp(lim) for lim in (ax.get_xlim(), ax.get_ylim(), ax.get_zlim())]
  np.testing.assert_allclose(spans, spans[0])
  assert ax.get_xlim()[1] > pose[:, 0].max() + 0.5          # both poses fit
  _save(fig, tmp_path)


def test_pose_comparison_figure(tmp_path):
  true = np.stack([_pose(), _pose() + 1.0])
  pred = true + np.float32(0.05) * np.sign(true)
  fig = viz.pose_comparison_figure(pred, true, titles=["a", "b"])
  assert len(fig.axes) == 4 and all(ax.name == "3d" for ax in fig.axes)
  assert fig.axes[0].get_title().startswith("a: front, MPJPE")
  _save(fig, tmp_path)
  with pytest.raises(ValueError, match="titles"):
    viz.pose_comparison_figure(pred, true, titles=["a"])
  with pytest.raises(ValueError, match="true"):
    viz.pose_comparison_figure(pred, true[:1])


@pytest.mark.parametrize("with_image", [True, False])
def test_prediction_figure(tmp_path, rng, with_image):
  pose = _pose()
  image = _image(rng) if with_image else None
  fig = viz.prediction_figure(_keypoints(pose), pose, image=image, title="x")
  assert len(fig.axes) == 3
  ax = fig.axes[0]
  if with_image:
    assert ax.images[0].get_extent() == [0, SIZE, SIZE, 0]   # corner-origin pixels
  else:
    assert ax.get_ylim()[0] > ax.get_ylim()[1]               # y down on a blank canvas
  _save(fig, tmp_path)


def test_dataset_gallery(tmp_path, rng):
  examples = [_example(k, rng, encoded=k % 2 == 1) for k in range(5)]
  examples.append({"keypoints2d": _keypoints(_pose())})      # a lifting record, no image
  fig = viz.dataset_gallery(examples, num_relations=3, seed=0)
  axes = fig.axes
  assert len(axes) == 6
  assert axes[0].get_title() == "cmu_salsa_daz_bvh/60_00_scaled\ncmu_60"
  assert len(axes[1].images) == 1 and axes[1].images[0].get_array().shape == (SIZE, SIZE, 3)
  assert len(axes[0].get_legend().get_texts()) == 3 and axes[5].get_legend() is None
  pixels = _save(fig, tmp_path)
  again = viz.save_figure(viz.dataset_gallery(examples, num_relations=3, seed=0),
                          tmp_path / "again.png", dpi=50)
  np.testing.assert_array_equal(cv2.imread(str(again)), pixels)
  with pytest.raises(ValueError, match="examples"):
    viz.dataset_gallery([])


def test_curve_figure(tmp_path):
  fig = viz.curve_figure({"ranking": [0.7, 0.3, 0.1], "l2": [0.0, 0.04, 0.16]},
                         xlabel="Δz (m)", ylabel="loss", x=[0.0, 0.2, 0.4])
  assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["ranking", "l2"]
  _save(fig, tmp_path)
  with pytest.raises(ValueError, match="ranking"):
    viz.curve_figure({"ranking": [1.0, 2.0]}, xlabel="x", ylabel="y", x=[0.0])


def test_save_figure_refuses_to_overwrite(tmp_path):
  path = tmp_path / "new" / "dir" / "curve.png"
  fig = viz.curve_figure({"a": [1.0, 2.0]}, xlabel="x", ylabel="y")
  assert viz.save_figure(fig, path) == str(path) and path.stat().st_size > 0
  before = path.read_bytes()
  with pytest.raises(ValueError, match="exists"):
    viz.save_figure(viz.curve_figure({"b": [5.0, 1.0]}, xlabel="x", ylabel="y"), path)
  assert path.read_bytes() == before
  viz.save_figure(viz.curve_figure({"b": [5.0, 1.0]}, xlabel="x", ylabel="y"), path,
                  overwrite=True)
  assert path.read_bytes() != before
  assert sorted(p.name for p in path.parent.iterdir()) == ["curve.png"]   # no temp files
