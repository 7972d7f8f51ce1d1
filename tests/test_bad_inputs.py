"""Bad input: a one-line error naming the field and the expected form, and no output touched.

Each case writes its inputs and its pre-existing outputs into its own folder (`root`;
throw-away builder caches go to `scratch`), dates every file back, makes the call, and
then requires the exact message (a full-match regex; in-process: a one-line ValueError;
launchers: exit status != 0, no traceback, one `error:`/`FATAL` line, the last) and the
folder as it was: the same files, bytes and mtimes, nothing added.
"""

import concurrent.futures
import importlib.util
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import cv2
import jax
import numpy as np
import PIL.Image
import pytest
import scipy.io
import tensorflow_datasets as tfds

from jaxpose import interchange, losses, metrics, methods, ordinal, ordinal_graph, results
from jaxpose import skeleton
from jaxpose.data import asfamc, bvh, deepmimic, mocap
from jaxpose.data.builders import h36m, lsp_mpii, ronchi
from jaxpose.train import checkpoint, optim, sharding, steps, train_lib
from jaxpose.train import data as data_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG_FILE = ROOT / "configs" / "supervised_lifting.py"
CONFIG = f"{CONFIG_FILE}:quick"
OVERRIDES = {"data.source": "mocap_resample", "data.num_threads": 0, "model.width": 16,
             "model.num_stages": 1, "batch_size": 16, "eval_batch_size": 32,
             "num_eval_batches": 1}
FLAGS = [f"--config={CONFIG}", *(f"--config.{k}={v}" for k, v in OVERRIDES.items())]
IMAGE_CONFIG_FILE = ROOT / "configs" / "ordinal_coordinates.py"
IMAGE_OVERRIDES = {"model.name": "hourglass_tiny", "model.num_stacks": 1, "model.depth": 1,
                   "model.features": 8, "reconstruction.width": 32,
                   "reconstruction.num_stages": 1, "data.augment.output_size": 16,
                   "data.num_threads": 0, "eval_batch_size": 2}
IMAGE_FLAGS = [f"--config={IMAGE_CONFIG_FILE}:quick",
               *(f"--config.{k}={v}" for k, v in IMAGE_OVERRIDES.items())]
OLD = 1_000_000_000_000_000_000  # ns: every input and output is dated back to 2001
B, J = 2, 17
NAMES = list(skeleton.H36M17.joint_names)
POSE = [[10.0 + k, 20.0 + k] for k in range(J)]


def _config(config_file=CONFIG_FILE, base_overrides=None, **overrides):
  spec = importlib.util.spec_from_file_location("sl_config", config_file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.update_from_flattened_dict({**(base_overrides or OVERRIDES), **overrides})
  return config


# --- fixtures written in the real formats ------------------------------------------------

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Knee
  {
    OFFSET 0 -2 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 0 -3 0
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.05
0 1 0 0 0 0 0 0 0
0 1 0 0 0 0 10 0 0
0 1 0 0 0 0 20 0 0
"""


def _write(path, data):
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if isinstance(data, bytes):
    path.write_bytes(data)
  else:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
  return path


def _keypoints_json(root, name, *, names=NAMES, pose=None, **pose_fields):
  data = {"joint_names": names, "poses": [{"id": "a", "keypoints": pose or POSE, **pose_fields}]}
  return _write(root / f"{name}.json", json.dumps(data).replace('"NaN"', "NaN"))


def _deepmimic(root, frames):
  """humanoid3d.txt with a root and a revolute knee (rows: 1 + 3 + 4 + 1 values), and a
  motion file holding `frames` (a list of rows, or raw text)."""
  joints = [{"ID": i, "Name": name, "Type": kind, "Parent": i - 1, "AttachX": 0,
             "AttachY": -0.4 * i, "AttachZ": 0}
            for i, (name, kind) in enumerate([("root", "none"), ("knee", "revolute")])]
  _write(root / "humanoid3d.txt", {"Skeleton": {"Joints": joints}})
  return _write(root / "motion.txt", frames if isinstance(frames, str) else {"Frames": frames})


def _canonical(root, name, **changes):
  data = {"positions_3d": np.zeros((4, J, 3), np.float32), "joint_names": np.array(NAMES),
          "subject": np.zeros(4, np.int32), "subject_names": np.array(["s1"]),
          "sequence": np.zeros(4, np.int32), "sequence_names": np.array(["walk"]),
          "fps": np.float32(20)}
  data.update(changes)
  path = root / name
  path.parent.mkdir(parents=True, exist_ok=True)
  np.savez(path, **data)
  return path


def _jpeg(path):
  return _write(path, cv2.imencode(".jpg", np.full((6, 8, 3), 128, np.uint8))[1].tobytes())


def _lsp(root, *, joints_shape=(3, 14, 2), image=None):
  folder = root / "lsp_dataset_original"
  for k in range(2):
    _jpeg(folder / "images" / f"im{k + 1:04d}.jpg")
  if image is not None:
    _write(folder / "images" / "im0002.jpg", image)
  scipy.io.savemat(folder / "joints.mat", {"joints": np.ones(joints_shape)})
  scipy.io.savemat(folder / "ordinal.mat", {"ord": np.full((2, 14, 14), np.nan)})


def _ronchi(root, image=None):
  names = ["nose", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
           "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
           "left_ankle", "right_ankle"]
  _jpeg(root / "images" / "im0001.jpg")
  if image is not None:
    _write(root / "images" / "im0001.jpg", image)
  _write(root / ronchi.JSON_FILE, {"joint_names": names, "images": [{
      "im_file": "images/im0001.jpg", "is_train": True, "keypoints": [5.0] * 28,
      "occluded": [0] * 14, "anns": [{"kp0": 0, "kp1": 13, "label": 1}]}]})


def _build(builder, manual):
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))


def _videopose3d(root):
  """data_3d_h36m.npz / data_2d_h36m_gt.npz: pickled dicts, as VideoPose3D writes them."""
  np.savez(root / h36m.FILE_3D, positions_3d={"S1": {"Walking": np.zeros((1, 32, 3))}})
  np.savez(root / h36m.FILE_2D, positions_2d={"S1": {"Walking": [np.zeros((1, 17, 2))] * 4}})


# --- in-process cases ---------------------------------------------------------------------
# name -> (setup(root, scratch) -> zero-argument call, full-match regex; {root} = the folder)

CASES = {}


def case(match):
  def register(setup):
    CASES[setup.__name__] = (setup, match)
    return setup
  return register


z = np.zeros
REL = np.array([[[0, 1, 1], [2, 3, -1]]] * B, np.int8)


@case(r"target: expected shape \[B, J, 3\] with J=17, got \(2, 16, 3\)")
def mpjpe_wrong_joint_count(root, scratch):
  return lambda: metrics.mpjpe(z((B, J, 3)), z((B, 16, 3)))


@case(r"pred: expected shape \[B, J, 3\], got \(2, 17, 2\)")
def pck3d_given_2d(root, scratch):
  return lambda: metrics.pck3d(z((B, J, 2)), z((B, J, 2)))


@case(r"mask: expected shape \[B, J\] with J=17, got \(2, 16\)")
def mpjpe_mask_wrong_shape(root, scratch):
  return lambda: metrics.mpjpe(z((B, J, 3)), z((B, J, 3)), mask=np.ones((B, 16), bool))


@case(r"relations: expected shape \[B, P, 3\], got \(2, 2, 2\)")
def ranking_loss_pairs_without_labels(root, scratch):
  return lambda: losses.ranking_loss(depth=z((B, J)), relations=REL[..., :2])


@case(r"target: expected shape \[B, J, D\] with D=3, got \(2, 17, 2\)")
def joint_l2_target_2d(root, scratch):
  return lambda: losses.joint_l2(pred=z((B, J, 3)), target=z((B, J, 2)))


@case(r"pred: expected finite values, got 102 NaN/inf entries")
def mpjpe_nan_prediction(root, scratch):
  return lambda: metrics.mpjpe(np.full((B, J, 3), np.nan), z((B, J, 3)))


@case(r"target: expected finite values, got 1 NaN/inf entries")
def pa_mpjpe_inf_target(root, scratch):
  target = z((B, J, 3))
  target[1, 4, 2] = np.inf
  return lambda: metrics.pa_mpjpe(z((B, J, 3)), target)


@case(r"depth: expected finite values, got 34 NaN/inf entries")
def ordinal_accuracy_nan_depth(root, scratch):
  return lambda: metrics.ordinal_accuracy(np.full((B, J), np.nan), REL)


@case(r"depth: expected finite values, got 34 NaN/inf entries")
def relations_from_nan_depth(root, scratch):
  return lambda: ordinal.relations_from_depth(np.full((B, J), np.nan))


@case(r"relations: joint indices must be in \[0, 17\), got \(0, 17\)")
def ranking_loss_joint_index_17(root, scratch):
  return lambda: losses.ranking_loss(depth=z((B, J)), relations=np.array([[[0, 17, 1]]] * B))


@case(r"relations: joint indices must be in \[0, 17\), got \(-1, 1\)")
def ranking_loss_negative_joint_index(root, scratch):
  return lambda: losses.ranking_loss(depth=z((B, J)), relations=np.array([[[-1, 1, 1]]] * B))


@case(r"relations: joint indices must be in \[0, 17\), got \(0, 99\)")
def global_depth_order_joint_index(root, scratch):
  return lambda: ordinal_graph.global_depth_order(J, np.array([[0, 99, 1]]))


@case(r"relations: relation labels must be in \{-1, 0, 1\}, got 2")
def ranking_loss_label_2(root, scratch):
  return lambda: losses.ranking_loss(depth=z((B, J)), relations=np.array([[[0, 1, 2]]] * B))


@case(r"relations: relation labels must be in \{-1, 0, 1\}, got 5")
def ordinal_accuracy_label_5(root, scratch):
  return lambda: metrics.ordinal_accuracy(z((B, J)), np.array([[[0, 1, 5]]] * B))


@case(r"relations: valid pair \(3, 3\) relates a joint to itself")
def consistency_report_self_relation(root, scratch):
  return lambda: ordinal_graph.consistency_report(J, np.array([[3, 3, 1]]))


@case(r"relations: expected shape \[P, 3\], got \(0,\)")
def consistency_report_flat_empty_relations(root, scratch):
  return lambda: ordinal_graph.consistency_report(J, np.zeros(0, np.int8))


@case(r"target: expected ranking-matrix entries in \[0, 1\] \(M = \(1 - r\) / 2\)")
def ranknet_target_outside_0_1(root, scratch):
  return lambda: losses.ranknet_loss(features=z((B, J)), target=np.full((B, J, J), 2.0))


@case(r"{root}/in/walk\.bvh: truncated: header says 3 frames, found 2 rows")
def bvh_truncated(root, scratch):
  path = _write(root / "in" / "walk.bvh", BVH.rsplit("\n", 2)[0] + "\n")
  return lambda: bvh.read_bvh(path)


@case(r"{root}/in/walk\.bvh: bad CHANNELS for joint 'Knee': \['zrotation', 'yrotation', "
      r"'xrotation', 'end'\]")
def bvh_channel_count_too_high(root, scratch):
  path = _write(root / "in" / "walk.bvh", BVH.replace("CHANNELS 3", "CHANNELS 4"))
  return lambda: bvh.read_bvh(path)


@case(r"{root}/in/walk\.bvh: frame rows have 9 values, header CHANNELS sum to 8")
def bvh_rows_longer_than_channels(root, scratch):
  path = _write(root / "in" / "walk.bvh", BVH.replace(
      "CHANNELS 3 Zrotation Yrotation Xrotation", "CHANNELS 2 Zrotation Yrotation"))
  return lambda: bvh.read_bvh(path)


@case(r"{root}/in/02_01\.amc: no ASF skeleton found: expected {root}/in/02\.asf.*")
def amc_without_asf(root, scratch):
  path = _write(root / "in" / "02_01.amc", ":FULLY-SPECIFIED\n:DEGREES\n1\nroot 0 0 0 0 0 0\n")
  return lambda: asfamc.read_amc(path)


@case(r"{root}/in/motion\.txt: not valid JSON \(Expecting ',' delimiter: line 1 column 36 "
      r"\(char 35\)\)")
def deepmimic_truncated_json(root, scratch):
  path = _deepmimic(root / "in", '{"Loop": "none", "Frames": [[0.1, 0')
  return lambda: deepmimic.read_deepmimic(path)


@case(r"{root}/in/motion\.txt: Frames row 1 has 8 values, expected 9 \(duration, root pos 3, "
      r"root quat 4, then per joint 4 or 1\)")
def deepmimic_short_row(root, scratch):
  row = [0.1, 0, 1, 0, 1, 0, 0, 0, 0.5]
  path = _deepmimic(root / "in", [row, row[:-1]])
  return lambda: deepmimic.read_deepmimic(path)


@case(r"{root}/in/pickled\.npz: field 'sequence_names' holds pickled objects \(refused; "
      r"string fields must be fixed-width unicode\)")
def canonical_npz_pickled_field(root, scratch):
  path = _canonical(root / "in", "pickled.npz", sequence_names=np.array(["walk"], object))
  return lambda: mocap.load_canonical(path)


@case(r"{root}/in/shape\.npz: positions_3d: expected float \[N, 17, 3\], got float32 "
      r"\(4, 16, 3\)")
def canonical_npz_wrong_shape(root, scratch):
  path = _canonical(root / "in", "shape.npz", positions_3d=np.zeros((4, 16, 3), np.float32))
  return lambda: mocap.load_canonical(path)


@case(r"{root}/in/empty: no MoCap files found \(\.bvh, \.amc with its \.asf, DeepMimic \.txt "
      r"with humanoid3d\.txt\)")
def build_canonical_of_empty_folder(root, scratch):
  (root / "in" / "empty").mkdir(parents=True)
  out = _canonical(root / "out", "mocap.npz")  # --overwrite: a failure must keep it
  return lambda: mocap.build_canonical([str(root / "in" / "empty")], str(out), overwrite=True)


@case(r"{root}/in/tail\.json: joint_names: unknown joint names \['tail'\] \(known: head, "
      r"l_ankle, .*\)")
def keypoints_json_unknown_joint(root, scratch):
  path = _keypoints_json(root / "in", "tail", names=NAMES[:-1] + ["tail"])
  return lambda: interchange.read_keypoints2d(path)


@case(r"{root}/in/nan\.json: poses\[0\] \(id 'a'\)\.keypoints: expected finite numbers, got nan")
def keypoints_json_nan(root, scratch):
  path = _keypoints_json(root / "in", "nan", pose=POSE[:-1] + [["NaN", 1.0]])
  return lambda: interchange.read_keypoints2d(path)


@case(r"{root}/in/short\.json: poses\[0\] \(id 'a'\)\.keypoints: expected a 17 x 2 list of "
      r"numbers, got 16 entries")
def keypoints_json_wrong_count(root, scratch):
  path = _keypoints_json(root / "in", "short", pose=POSE[:-1])
  return lambda: interchange.read_keypoints2d(path)


@case(r"{root}/in/vis\.json: poses\[0\] \(id 'a'\)\.visible: expected 17 booleans \(one per "
      r"joint_names\), got 3 entries")
def keypoints_json_visible_length(root, scratch):
  path = _keypoints_json(root / "in", "vis", visible=[True] * 3)
  return lambda: interchange.read_keypoints2d(path)


@case(r"{root}/out/walk_3d\.json: exists; refusing to overwrite it")
def write_poses3d_over_existing(root, scratch):
  path = _write(root / "out" / "walk_3d.json", "mine")
  return lambda: interchange.write_poses3d(path, ["a"], np.ones((1, J, 3)))


@case(r"config variant: unknown 'fast' in 'fast'; known: h36m, quick")
def config_variant_unknown(root, scratch):
  spec = importlib.util.spec_from_file_location("sl_config", CONFIG_FILE)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return lambda: module.get_config("fast")


@case(r"{root}/run/checkpoints: no checkpoint found \(train first with launch/train\.py "
      r"--workdir=\.\.\.\)")
def restore_from_empty_workdir(root, scratch):
  (root / "run").mkdir()
  return lambda: train_lib.restore(_config(), str(root / "run"))


@case(r"{root}/run/checkpoints/1: the checkpoint does not match the config's model .*"
      r"\"width\": 32.*: variables\['params'\]\['dense_out'\]\['kernel'\] is \(16, 51\) in "
      r"the checkpoint, \(32, 51\) for the config")
def restore_checkpoint_of_another_config(root, scratch):
  shutil.copytree(_RUNS["run"], root / "run")
  return lambda: train_lib.restore(_config(**{"model.width": 32}), str(root / "run"))


@case(r"{root}/lsp_dataset_original/images/im0002\.jpg: expected a JPEG or PNG image, could "
      r"not read it")
def lsp_builder_corrupt_image(root, scratch):
  _lsp(root, image=b"\xff\xd8 this is not an image")
  return lambda: _build(lsp_mpii.LspMpiiOrdinal(data_dir=scratch, config="lsp"), root)


@case(r"joints\.mat: expected 'joints' of shape \[3, 14, N\] .*got \(2, 14, 2\)")
def lsp_builder_joints_mat_wrong_shape(root, scratch):
  _lsp(root, joints_shape=(2, 14, 2))
  return lambda: _build(lsp_mpii.LspMpiiOrdinal(data_dir=scratch, config="lsp"), root)


@case(r"{root}/images/im0001\.jpg: expected a JPEG or PNG image, could not decode it")
def ronchi_builder_unknown_image_format(root, scratch):
  tga = io.BytesIO()  # a Targa image: readable by PIL, no format cv2 (or tfds) decodes
  PIL.Image.fromarray(np.full((6, 8, 3), 128, np.uint8)).save(tga, "TGA")
  _ronchi(root, image=tga.getvalue())
  return lambda: _build(ronchi.RonchiLsp(data_dir=scratch), root)


@case(r"ronchi_lsp: missing {root}/relative_depth_lsp_v1\.json; see "
      r"jaxpose\.data\.builders\.ronchi\.RonchiLsp\.MANUAL_DOWNLOAD_INSTRUCTIONS")
def ronchi_builder_missing_json(root, scratch):
  _ronchi(root)
  (root / ronchi.JSON_FILE).unlink()
  return lambda: _build(ronchi.RonchiLsp(data_dir=scratch), root)


@case(r"h36m_videopose3d: data_3d_h36m\.npz and data_2d_h36m_gt\.npz hold pickled objects, "
      r"which can run code when loaded; opt in with allow_pickle=True \(launchers: "
      r"--config\.data\.allow_pickle=True\) for files you trust")
def videopose3d_npz_without_opt_in(root, scratch):
  _videopose3d(root)
  return lambda: _build(h36m.H36mVideopose3d(data_dir=scratch), root)


def _humanoid(root, drop=(), **joint1):
  """humanoid3d.txt whose joint 1 has `joint1`'s fields changed and `drop` removed, and a
  one-frame motion."""
  joints = [{"ID": i, "Name": name, "Type": kind, "Parent": i - 1, "AttachX": 0,
             "AttachY": -0.4 * i, "AttachZ": 0}
            for i, (name, kind) in enumerate([("root", "none"), ("knee", "revolute")])]
  joints[1].update(joint1)
  for key in drop:
    del joints[1][key]
  _write(root / "humanoid3d.txt", {"Skeleton": {"Joints": joints}})
  return _write(root / "motion.txt", {"Frames": [[0.1, 0, 1, 0, 1, 0, 0, 0, 0.5]]})


@case(r"{root}/in/humanoid3d\.txt: Skeleton\.Joints\[1\]\.Parent: expected an integer, got "
      r'"0"')
def deepmimic_skeleton_parent_as_string(root, scratch):
  path = _humanoid(root / "in", Parent="0")
  return lambda: deepmimic.read_deepmimic(path)


@case(r"{root}/in/humanoid3d\.txt: Skeleton\.Joints\[1\]\.AttachY: missing \(expected a "
      r"finite number\)")
def deepmimic_skeleton_missing_offset(root, scratch):
  path = _humanoid(root / "in", drop=("AttachY",))
  return lambda: deepmimic.read_deepmimic(path)


@case(r"{root}/in/humanoid3d\.txt: Skeleton\.Joints\[0\]: expected an object with ID, Name, "
      r"Type, Parent, AttachX/Y/Z, got \[0, \"root\"\]")
def deepmimic_skeleton_joint_not_an_object(root, scratch):
  _write(root / "in" / "humanoid3d.txt", {"Skeleton": {"Joints": [[0, "root"]]}})
  path = _write(root / "in" / "motion.txt", {"Frames": [[0.1, 0, 1, 0, 1, 0, 0, 0]]})
  return lambda: deepmimic.read_deepmimic(path)


@case(r"poses3d: pose 1 \(id 'b'\) joint 4 \(l_hip\): expected finite metres, got z = nan "
      r"\(1 joints of 1 poses are not finite\)")
def write_poses3d_nan(root, scratch):
  poses = np.zeros((2, J, 3))
  poses[1, 4, 2] = np.nan
  return lambda: interchange.write_poses3d(root / "out" / "walk_3d.json", ["a", "b"], poses)


@case(r"{root}/lsp_dataset_original/images/im0002\.jpg: expected a JPEG or PNG image, got a "
      r"truncated JPEG \(no end-of-image marker FF D9\)")
def lsp_builder_truncated_jpeg(root, scratch):
  whole = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8))
  _lsp(root, image=whole[1].tobytes()[:-20])
  return lambda: _build(lsp_mpii.LspMpiiOrdinal(data_dir=scratch, config="lsp"), root)


@case(r"{root}/images/im0001\.jpg: expected a JPEG or PNG image, could not decode it")
def ronchi_builder_truncated_png(root, scratch):
  png = cv2.imencode(".png", np.random.default_rng(0).integers(0, 256, (6, 8, 3), np.uint8))
  _ronchi(root, image=png[1].tobytes()[:-20])  # named .jpg: the format is in the bytes
  return lambda: _build(ronchi.RonchiLsp(data_dir=scratch), root)


@case(r".*mocap_default\.npz: config\.data\.test_sequences: 'ballet/\*' matches no sequence "
      r"name \(expected fnmatch patterns over names like 'cmu_asfamc/01_01'\)")
def held_out_motion_pattern_matches_nothing(root, scratch):
  config = results.load_config("configs/supervised_lifting.py:quick",
                               (("data.source", "mocap_resample"), ("data.test_subjects", ()),
                                ("data.test_sequences", ("ballet/*",))))
  return lambda: data_lib.mocap_split(config)


_RUNS = {}


def _checkpoint(config, workdir, *, with_image=False):
  """A step-1 checkpoint of `config`'s freshly initialised state in `workdir`."""
  mesh = sharding.make_mesh()
  method, tx = methods.get_method(config), optim.from_config(config.optimizer)
  state = steps.jit_init_state(method, tx, mesh)(
      jax.random.key(0), data_lib.dummy_batch(config, 2, with_image=with_image))
  manager = checkpoint.make_manager(str(workdir))
  checkpoint.save(manager, 1, state)
  manager.wait_until_finished()
  manager.close()
  return workdir


@pytest.fixture(scope="module", autouse=True)
def checkpointed_run(tmp_path_factory):
  """_RUNS['run']: a workdir holding a step-1 checkpoint of the width-16 test model;
  _RUNS['image_run']: the same of a tiny hourglass (IMAGE_FLAGS)."""
  _RUNS["run"] = _checkpoint(_config(), tmp_path_factory.mktemp("checkpointed_run"))
  _RUNS["image_run"] = _checkpoint(_config(IMAGE_CONFIG_FILE, IMAGE_OVERRIDES),
                                   tmp_path_factory.mktemp("image_run"), with_image=True)


# --- the check ------------------------------------------------------------------------------


def _age(root):
  for path in [root, *root.rglob("*")]:
    os.utime(path, ns=(OLD, OLD), follow_symlinks=False)


def _snapshot(root):
  """{relative path: (bytes or None for folders, mtime ns)} of everything under `root`."""
  return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None,
                                     p.stat().st_mtime_ns) for p in root.rglob("*")}


def _assert_untouched(before, after):
  assert sorted(after) == sorted(before), f"files added or removed: {set(after) ^ set(before)}"
  changed = [name for name in before if before[name][0] != after[name][0] or
             (before[name][0] is not None and before[name][1] != after[name][1])]
  assert not changed, f"modified: {changed}"


def _prepare(tmp_path):
  root, scratch = tmp_path / "case", tmp_path / "scratch" / "tfds"
  root.mkdir(parents=True)
  scratch.mkdir(parents=True)
  _write(root / "out" / "sentinel.bin", os.urandom(64))
  return root, scratch


def test_corpus_size():
  assert len(CASES) + len(LAUNCHER_CASES) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_line_and_writes_nothing(name, tmp_path):
  setup, match = CASES[name]
  root, scratch = _prepare(tmp_path)
  call = setup(root, scratch)
  _age(root)
  before = _snapshot(root)
  with pytest.raises(ValueError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message, message
  assert re.fullmatch(match.replace("{root}", re.escape(str(root))), message), message
  _assert_untouched(before, _snapshot(root))


def test_contradictory_and_empty_relation_sets_are_reported():
  """Not errors but findings: `consistency_report` names the cycle and the tie conflict;
  an empty set is consistent and orders joints by index."""
  cycle = np.array([[0, 1, 1], [1, 2, 1], [2, 0, 1], [4, 5, 1], [5, 6, 1], [4, 6, 0]])
  report = ordinal_graph.consistency_report(J, cycle)
  assert not report.consistent and report.cycles == [(0, 1, 2)]
  assert report.tie_conflicts == [(4, 5, 6)] and report.components == [(0, 1, 2)]
  empty = ordinal_graph.consistency_report(J, np.zeros((0, 3), np.int8))
  assert empty.consistent and not empty.cycles and not empty.tie_conflicts
  order, scores = ordinal_graph.global_depth_order(J, np.zeros((0, 3), np.int8))
  np.testing.assert_array_equal(order, np.arange(J))
  np.testing.assert_array_equal(scores, 0)
  loss = losses.ranking_loss(depth=np.ones((B, J)), relations=REL, mask=np.zeros((B, 2), bool))
  assert float(loss) == 0.0  # nothing annotated: no signal, not NaN


def test_preempted_experiment_is_not_cached(tmp_path, monkeypatch, capsys):
  """results.run: a preempted training leaves no result.json (the next run resumes it)."""
  calls = []

  def train_and_evaluate(config, workdir):
    calls.append(workdir)
    if len(calls) == 1:
      return {"step": 3, "train": {}, "eval": None, "preempted": True}
    scores = {"mpjpe": 1.0}
    return {"step": 5, "train": {}, "preempted": False,
            "eval": {"overall": scores, "action_mean": scores}}

  monkeypatch.setattr(results.train_lib, "train_and_evaluate", train_and_evaluate)
  exp = results.Experiment("sl", "configs/supervised_lifting.py:quick")
  with pytest.raises(results.Preempted) as e:
    results.run(exp, str(tmp_path))
  workdir = tmp_path / "sl"
  assert e.value.code == 75 and str(e.value) == (
      f"preempted: {workdir} saved step 3 (no result.json written); run the same command "
      "to resume")
  assert capsys.readouterr().out == str(e.value) + "\n"
  assert not (workdir / "result.json").exists()
  assert results.run(exp, str(tmp_path))["step"] == 5 and len(calls) == 2
  assert json.loads((workdir / "result.json").read_text())["step"] == 5
  assert results.run(exp, str(tmp_path))["step"] == 5 and len(calls) == 2  # cached now


# --- launcher cases (subprocesses, all started at once) -----------------------------------
# name -> (setup(root) -> launcher argv, full-match regex of the one error line)

TRAIN, EVAL = str(ROOT / "launch" / "train.py"), str(ROOT / "launch" / "eval.py")
PREDICT, PREPARE = str(ROOT / "launch" / "predict.py"), str(ROOT / "launch" / "prepare_data.py")
LAUNCHER_CASES = {}


def launcher_case(match):
  def register(setup):
    LAUNCHER_CASES[setup.__name__] = (setup, match)
    return setup
  return register


@launcher_case(r"FATAL Flags parsing error: --config\.foo=1: config\.foo names no config "
               r"field \(config has: batch_size, best_metric, .*\)")
def train_unknown_config_field(root):
  return [TRAIN, *FLAGS, f"--workdir={root / 'run'}", "--config.foo=1"]


@launcher_case(r"FATAL Flags parsing error: ValueError: config variant: unknown 'fast' in "
               r"'fast'; known: h36m, quick")
def train_unknown_variant(root):
  return [TRAIN, f"--config={CONFIG_FILE}:fast", f"--workdir={root / 'run'}"]


@launcher_case(r"error: h36m_videopose3d: data_3d_h36m\.npz and data_2d_h36m_gt\.npz hold "
               r"pickled objects, which can run code when loaded; opt in with "
               r"allow_pickle=True \(launchers: --config\.data\.allow_pickle=True\) for files "
               r"you trust")
def train_videopose3d_without_opt_in(root):
  _videopose3d(root)
  return [TRAIN, f"--config={CONFIG_FILE}:h36m", f"--workdir={root / 'run'}",
          f"--config.data.manual_dir={root}",
          f"--config.data.data_dir={root.parent / 'scratch' / 'tfds'}"]


@launcher_case(r"error: {root}/in/mine\.npz: field 'sequence_names' holds pickled objects "
               r"\(refused; string fields must be fixed-width unicode\)")
def train_canonical_npz_with_pickled_field(root):
  path = _canonical(root / "in", "mine.npz", sequence_names=np.array(["w"], object))
  return [TRAIN, *FLAGS, f"--workdir={root / 'run'}", f"--config.data.mocap_path={path}"]


@launcher_case(r"error: {root}/run/checkpoints/1: the checkpoint does not match the config's "
               r"model .*\"width\": 32.*: variables\['params'\]\['dense_out'\]\['kernel'\] "
               r"is \(16, 51\) in the checkpoint, \(32, 51\) for the config")
def eval_checkpoint_of_another_config(root):
  shutil.copytree(_RUNS["run"], root / "run")
  return [EVAL, *FLAGS, f"--workdir={root / 'run'}", "--config.model.width=32"]


@launcher_case(r"error: {root}/run/checkpoints: no checkpoint found \(train first with "
               r"launch/train\.py --workdir=\.\.\.\)")
def eval_empty_workdir(root):
  (root / "run").mkdir()
  return [EVAL, *FLAGS, f"--workdir={root / 'run'}"]


@launcher_case(r"error: {root}/in/empty: no MoCap files found \(\.bvh, \.amc with its \.asf, "
               r"DeepMimic \.txt with humanoid3d\.txt\)")
def prepare_data_mocap_of_empty_folder(root):
  (root / "in" / "empty").mkdir(parents=True)
  out = _canonical(root / "out", "mocap.npz")  # --overwrite: a failure must keep it
  return [PREPARE, f"--mocap={root / 'in' / 'empty'}", f"--out={out}", "--overwrite"]


@launcher_case(r"error: --output: {root}/out/walk_3d\.json exists \(1 of the outputs do\); "
               r"refusing to overwrite: choose another --output or move them away")
def predict_over_existing_output(root):
  shutil.copytree(_RUNS["run"], root / "run")
  _write(root / "out" / "walk_3d.json", "mine")
  return [PREDICT, *FLAGS, f"--workdir={root / 'run'}", "--which=latest",
          f"--input={_keypoints_json(root / 'in', 'walk')}", f"--output={root / 'out'}"]


@launcher_case(r"error: --input: {root}/in/photo\.jpg: expected an image file \(PNG, JPG, JPEG, "
               r"BMP, WEBP, TIF, TIFF\), could not decode it")
def predict_image_of_a_text_file(root):
  shutil.copytree(_RUNS["image_run"], root / "run")
  photo = _write(root / "in" / "photo.jpg", "this is a text file, not a JPEG\n")
  return [PREDICT, *IMAGE_FLAGS, f"--workdir={root / 'run'}", "--which=latest",
          f"--input={photo}", f"--output={root / 'out'}"]


@launcher_case(r"error: --bbox=500,400,100,100 for {root}/in/photo\.jpg: the box x, y, w, h = "
               r"500, 400, 100, 100 has 0 % of its area inside the 8 x 6 \(W x H\) image; "
               r"expected a box in image pixels with at least 50 % of it inside")
def predict_image_bbox_outside_the_image(root):
  shutil.copytree(_RUNS["image_run"], root / "run")
  photo = _jpeg(root / "in" / "photo.jpg")
  return [PREDICT, *IMAGE_FLAGS, f"--workdir={root / 'run'}", "--which=latest",
          f"--input={photo}", f"--output={root / 'out'}", "--bbox=500,400,100,100"]


def _run_launcher(argv, log):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  with open(log, "w") as err:
    proc = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, stderr=err,
                          text=True, env=env, cwd=ROOT, timeout=300, check=False)
  return proc.returncode, proc.stdout, pathlib.Path(log).read_text()


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
  """name -> (root, exit status, stdout, stderr, snapshot before, snapshot after)."""
  base = tmp_path_factory.mktemp("launchers")
  prepared = {}
  for name, (setup, _) in LAUNCHER_CASES.items():
    root, _ = _prepare(base / name)
    argv = setup(root)
    _age(root)
    prepared[name] = (root, argv, _snapshot(root))
  with concurrent.futures.ThreadPoolExecutor(len(prepared)) as pool:
    futures = {name: pool.submit(_run_launcher, argv, base / f"{name}.err")
               for name, (_, argv, _) in prepared.items()}
    done = {name: f.result() for name, f in futures.items()}
  return {name: (root, *done[name], before, _snapshot(root))
          for name, (root, _, before) in prepared.items()}


@pytest.mark.parametrize("name", sorted(LAUNCHER_CASES))
def test_launcher_error_is_one_line_and_writes_nothing(name, launched):
  root, status, stdout, stderr, before, after = launched[name]
  assert status != 0 and "Traceback" not in stderr + stdout, stderr[-3000:]
  errors = [l for l in (stdout + stderr).splitlines() if l.startswith(("error:", "FATAL"))]
  assert len(errors) == 1 and errors[0] == stderr.strip().splitlines()[-1], stderr[-3000:]
  match = LAUNCHER_CASES[name][1].replace("{root}", re.escape(str(root)))
  assert re.fullmatch(match, errors[0]), errors[0]
  _assert_untouched(before, after)
