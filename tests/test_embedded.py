"""Tests of the embedded default datasets (mocap_lifting, mocap_images), their registry and
the resampling MoCap pipeline, on a tiny canonical MoCap npz cut from the default asset."""

import cv2
import jax
import numpy as np
import pytest

from jaxpose import geometry, ordinal, skeleton
from jaxpose.data import augment, datasets, mocap, render, resample
from jaxpose.data.builders import embedded

J = skeleton.H36M17.num_joints
SUBJECTS = ("cmu_02", "cmu_60", "deepmimic")   # cmu_02 is a default test subject
TEST_SUBJECTS = ("cmu_02",)
FRAMES_PER_SUBJECT = 40
IMAGE_SIZE = 64
assert set(TEST_SUBJECTS) <= set(mocap.DEFAULT_TEST_SUBJECTS)


def _tiny_mocap(path):
  """40 frames spread over each of SUBJECTS of the default asset -> canonical npz."""
  data = mocap.load_canonical(mocap.default_mocap_path())
  names = data["subject_names"].tolist()
  index, subject = [], []
  for k, name in enumerate(SUBJECTS):
    frames = np.flatnonzero(data["subject"] == names.index(name))
    stride = max(1, len(frames) // FRAMES_PER_SUBJECT)
    index.append(frames[::stride][:FRAMES_PER_SUBJECT])
    subject.append(np.full(len(index[-1]), k, np.int32))
  index = np.concatenate(index)
  tiny = dict(data, positions_3d=data["positions_3d"][index], subject=np.concatenate(subject),
              subject_names=np.array(SUBJECTS), sequence=data["sequence"][index])
  mocap.save_canonical(path, tiny)
  return mocap.load_canonical(path)


def _config(path, name="tiny", **kwargs):
  return embedded.EmbeddedConfig(name=name, mocap_path=str(path), test_subjects=TEST_SUBJECTS,
                                 views_train=1, image_size=IMAGE_SIZE, **kwargs)


def _records(builder, split):
  source = builder.as_data_source()[split]
  return [source[k] for k in range(len(source))]


def _text(x):
  return x.decode() if isinstance(x, bytes) else str(x)


def _stack(records, field, sub=None):
  return np.stack([r[field] if sub is None else r[field][sub] for r in records])


def _assert_same(a, b):
  if isinstance(a, dict):
    assert a.keys() == b.keys()
    for k in a:
      _assert_same(a[k], b[k])
  elif isinstance(a, (list, bytes, str, int, float, bool)):
    assert a == b
  else:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  root = tmp_path_factory.mktemp("embedded")
  path = root / "tiny_mocap.npz"
  data = _tiny_mocap(path)
  config = _config(path)
  lifting = datasets.prepare("mocap_lifting", data_dir=str(root / "tfds"), config=config)
  images = datasets.prepare("mocap_images", data_dir=str(root / "tfds"), config=config)
  return {"root": root, "path": path, "data": data, "config": config,
          "lifting": lifting, "images": images}


def _relations_agree_with_depth(records):
  for r in records:
    z = r["keypoints3d"][:, 2]
    rel = r["relations"].astype(np.int64)
    assert len(rel) == J * (J - 1) // 2
    np.testing.assert_array_equal(rel, ordinal.relations_from_depth(z, tol=0.1))
    dz = z[rel[:, 1]] - z[rel[:, 0]]               # > 0 <=> i closer
    r_ = rel[:, 2]
    assert np.all(dz[r_ == 1] > 0.1) and np.all(dz[r_ == -1] < -0.1)
    assert np.all(np.abs(dz[r_ == 0]) <= 0.1 + 1e-6)


def _elevation_deg(records, data):
  """Camera elevation above the pelvis (degrees), from the world pose of each record."""
  world = data["positions_3d"][_stack(records, "meta", "frame")]
  cam = _stack(records, "keypoints3d")
  rotation, _, translation = geometry.procrustes_transform(world, cam, scale=False)
  rotation = np.asarray(rotation)
  residual = (np.einsum("nij,nkj->nki", rotation, world) + np.asarray(translation)[:, None]
              - cam)
  assert np.abs(residual).max() < 1e-3             # the camera pose is a rigid view of it
  up = rotation[:, :, 1]                             # world +y in the camera frame
  forward = cam[:, 0] / np.linalg.norm(cam[:, 0], axis=-1, keepdims=True)
  return np.degrees(np.arcsin(-np.sum(forward * up, -1)))


# ---------------------------------------------------------------------- splits


def test_splits_are_by_subject(tiny):
  subjects = {split: {_text(r["meta"]["subject"]) for r in _records(tiny["lifting"], split)}
              for split in ("train", "test", "test_cameras")}
  assert subjects["train"] == set(SUBJECTS) - set(TEST_SUBJECTS)
  assert subjects["test"] == subjects["test_cameras"] == set(TEST_SUBJECTS)
  assert not subjects["train"] & subjects["test"]
  sizes = {s: len(v) for s, v in tiny["lifting"].as_data_source().items()}
  n_train = FRAMES_PER_SUBJECT * (len(SUBJECTS) - len(TEST_SUBJECTS))
  assert sizes == {"train": n_train, "test": FRAMES_PER_SUBJECT,
                   "test_cameras": FRAMES_PER_SUBJECT}


def test_test_cameras_use_the_held_out_elevation_range(tiny):
  data = tiny["data"]
  held_out = _records(tiny["lifting"], "test_cameras")
  elevation = _elevation_deg(held_out, data)
  lo, hi = tiny["config"].test_cameras.elevation_deg
  assert (lo, hi) == (30.0, 60.0)
  assert np.all(elevation > lo - 0.5) and np.all(elevation < hi + 0.5), elevation
  assert all(int(r["meta"]["camera_id"]) >= 1000 for r in held_out)
  lo, hi = tiny["config"].cameras.elevation_deg
  for split in ("train", "test"):
    elevation = _elevation_deg(_records(tiny["lifting"], split), data)
    assert np.all(elevation > lo - 0.5) and np.all(elevation < hi + 0.5), (split, elevation)
  distance = np.linalg.norm(_stack(held_out, "keypoints3d")[:, 0], axis=-1)
  assert 3.0 < distance.min() and distance.max() < 7.0


# ---------------------------------------------------------------------- lifting records


@pytest.mark.parametrize("split", ["train", "test_cameras"])
def test_lifting_records_project_and_order(tiny, split):
  records = _records(tiny["lifting"], split)
  kp3d, kp2d = _stack(records, "keypoints3d"), _stack(records, "keypoints2d")
  focal, center = _stack(records, "camera", "focal"), _stack(records, "camera", "center")
  projected = np.asarray(geometry.perspective_project(kp3d, focal=focal,
                                                      center=center))
  np.testing.assert_allclose(kp2d, projected, atol=1e-3)
  np.testing.assert_allclose(kp2d[:, skeleton.H36M17.root], center, atol=1e-2)
  assert np.all(kp3d[..., 2] > 1.0)
  for r in records:
    assert r["has_3d"] and r["has_ordinal"] and r["visible"].all() and r["joint_mask"].all()
  _relations_agree_with_depth(records)


def test_lifting_same_seed_same_records_other_seed_other_cameras(tiny, tmp_path):
  again = datasets.prepare("mocap_lifting", data_dir=str(tmp_path / "a"),
                           config=_config(tiny["path"]))
  other = datasets.prepare("mocap_lifting", data_dir=str(tmp_path / "b"),
                           config=_config(tiny["path"], name="tiny_seed1", seed=1))
  for split in ("train", "test", "test_cameras"):
    first, second = _records(tiny["lifting"], split), _records(again, split)
    assert len(first) == len(second)
    for a, b in zip(first, second):
      _assert_same(a, b)
    third = _records(other, split)
    assert not np.allclose(_stack(first, "keypoints2d"), _stack(third, "keypoints2d"))


# ---------------------------------------------------------------------- image records


def test_image_records_decode_and_order(tiny):
  records = _records(tiny["images"], "train")
  assert len(records) == len(_records(tiny["lifting"], "train"))
  for r in records:
    assert r["image"].shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and r["image"].dtype == np.uint8
    assert r["image"].std() > 0
    np.testing.assert_allclose(r["bbox"]["center"], IMAGE_SIZE / 2)
    assert r["bbox"]["scale"] == IMAGE_SIZE
    assert np.all((r["keypoints2d"] > 0) & (r["keypoints2d"] < IMAGE_SIZE))  # crop fits body
  _relations_agree_with_depth(records)
  _relations_agree_with_depth(_records(tiny["images"], "test_cameras"))


def _render(records, **kwargs):
  return jax.device_get(render.render_batch(
      _stack(records, "keypoints3d"), focal=_stack(records, "camera", "focal"),
      center=_stack(records, "camera", "center"), key=jax.random.key(0),
      image_size=(IMAGE_SIZE, IMAGE_SIZE), **kwargs))


def test_image_markers_round_trip_to_keypoints2d(tiny):
  """A marker sphere rendered at each joint with the record's camera lands on keypoints2d."""
  records = _records(tiny["images"], "train")
  radius = 0.06
  out = _render(records, markers_only=True, marker_radius=radius)
  rows, cols = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE] + 0.5       # pixel centres
  checked = 0
  for k, r in enumerate(records):
    kp, z = r["keypoints2d"], r["keypoints3d"][:, 2]
    disc = radius * r["camera"]["focal"][0] / z                # projected radius, px
    gap = np.linalg.norm(kp[:, None] - kp[None], axis=-1) - disc[:, None] - disc[None]
    np.fill_diagonal(gap, np.inf)
    for j in np.flatnonzero(gap.min(axis=1) > 1.0):           # markers clear of the others
      hit = out.part[k] == j
      assert hit.sum() > 0
      centroid = np.array([cols[hit].mean(), rows[hit].mean()])
      np.testing.assert_allclose(centroid, kp[j], atol=0.5, err_msg=f"record {k} joint {j}")
      checked += 1
  assert checked > 3 * len(records)


def test_image_matches_a_render_of_its_own_3d(tiny):
  """The stored JPEG shows the body rendered from the stored 3D and camera."""
  records = _records(tiny["images"], "train")[:16]
  out = _render(records)
  own, other = [], []
  for k, r in enumerate(records):
    body = cv2.erode((out.part[k] >= 0).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert body.sum() > 50
    image = r["image"].astype(np.float32)
    own.append(np.abs(image - out.image[k])[body].mean())
    shifted = out.image[(k + 1) % len(records)].astype(np.float32)
    other.append(np.abs(image - shifted)[body].mean())
  assert max(own) < 12.0, own                       # JPEG quality 92 noise only
  assert np.median(other) > 3 * max(own)


def test_visible_agrees_with_a_z_buffer_check(tiny):
  records = _records(tiny["images"], "train") + _records(tiny["images"], "test")
  out = _render(records[:80]), _render(records[80:])
  depth = np.concatenate([out[0].depth, out[1].depth])
  head = [skeleton.H36M17.index(n) for n in ("head", "neck_nose")]   # inside the head sphere
  occluded_and_flagged = 0
  for k, r in enumerate(records):
    kp, z = r["keypoints2d"], r["keypoints3d"][:, 2]
    col, row = np.floor(kp).astype(int).T
    surface = depth[k, row, col]                            # nearest surface at the joint
    hidden = surface < z - 0.3                              # something else well in front
    clear = surface >= z - render.JOINT_RADII - 0.01        # only its own limb's surface
    clear[head] = False
    assert not np.any(hidden & clear)
    assert not np.any(r["visible"][hidden]), (k, np.flatnonzero(hidden))
    assert np.all(r["visible"][clear]), (k, np.flatnonzero(clear & ~r["visible"]))
    occluded_and_flagged += int(np.sum(hidden & ~r["visible"]))
  assert occluded_and_flagged > 0
  assert np.mean(_stack(records, "visible")) > 0.6


# ---------------------------------------------------------------------- resampling pipeline


def _pipeline(tiny, **kwargs):
  data = tiny["data"]
  frames = np.flatnonzero(~np.isin(data["subject_names"][data["subject"]], TEST_SUBJECTS))
  kwargs = {"batch_size": 8, "seed": 0, "num_pairs": J * (J - 1) // 2, **kwargs}
  return resample.make_mocap_pipeline(data, frames, **kwargs), frames


def _take(it, n):
  return [next(it) for _ in range(n)]


def test_pipeline_same_seed_same_bytes(tiny):
  first = _take(_pipeline(tiny)[0], 3)
  for a, b in zip(first, _take(_pipeline(tiny)[0], 3)):
    _assert_same(a, b)
  other = _take(_pipeline(tiny, seed=1)[0], 3)
  assert not np.array_equal(first[0]["keypoints2d"], other[0]["keypoints2d"])


def test_pipeline_state_restore_mid_stream(tiny):
  it = _pipeline(tiny)[0]
  _take(it, 2)
  state = it.get_state()
  expected = _take(it, 3)
  resumed = _pipeline(tiny)[0]
  resumed.set_state(state)
  for a, b in zip(expected, _take(resumed, 3)):
    _assert_same(a, b)


def test_pipeline_eval_shards_disjoint_and_covering(tiny):
  seen, rows = [], {}
  for shard in range(2):
    it, frames = _pipeline(tiny, train=False, shard_index=shard, shard_count=2, num_epochs=1)
    shard_frames = []
    for batch in it:
      for k in np.flatnonzero(batch["valid"]):
        shard_frames.append(int(batch["index"][k]))
        rows[int(batch["index"][k])] = batch["keypoints2d"][k]
    seen.append(set(shard_frames))
    assert len(shard_frames) == len(seen[-1])
  assert not seen[0] & seen[1] and seen[0] | seen[1] == set(frames.tolist())
  # Evaluation cameras are fixed per frame: one host sees what two hosts see.
  single, _ = _pipeline(tiny, train=False, shard_count=1, shard_index=0, num_epochs=1)
  for batch in single:
    for k in np.flatnonzero(batch["valid"]):
      np.testing.assert_array_equal(batch["keypoints2d"][k], rows[int(batch["index"][k])])


def test_pipeline_one_pair_per_example(tiny):
  for batch in _take(_pipeline(tiny, num_pairs=1)[0], 3):
    assert batch["relations"].shape == (8, 1, 3) and batch["relation_mask"].all()
    i, j, r = batch["relations"][:, 0].astype(int).T
    assert np.all(i != j) and np.all((0 <= i) & (i < J)) and np.all((0 <= j) & (j < J))
    for k, pose in enumerate(batch["keypoints3d"]):
      truth = ordinal.relations_from_depth(pose[:, 2], np.array([[i[k], j[k]]]), tol=0.1)
      assert r[k] == truth[0, 2]


def _residual_2d(batch):
  projected = geometry.perspective_project(batch["keypoints3d"],
                                           focal=batch["camera"]["focal"],
                                           center=batch["camera"]["center"])
  return batch["keypoints2d"] - np.asarray(projected)


def test_pipeline_2d_noise_has_the_configured_sigma(tiny):
  sigma = 2.0
  config = augment.AugmentConfig(noise_2d_px=sigma)
  residual = np.concatenate([_residual_2d(b) for b in
                             _take(_pipeline(tiny, augment=config)[0], 4)])
  assert abs(residual.std() / sigma - 1) < 0.1 and abs(residual.mean()) < 0.2
  clean = _residual_2d(next(_pipeline(tiny, augment=None, train=False, num_epochs=1)[0]))
  assert np.abs(clean).max() < 1e-3                 # evaluation without corruption
  # Evaluation with `augment` corrupts each frame the same way every time (a fixed test
  # condition, e.g. DRPose3D's noisy inputs).
  first, again = (_residual_2d(next(_pipeline(tiny, augment=config, train=False,
                                              num_epochs=1)[0])) for _ in range(2))
  np.testing.assert_array_equal(first, again)
  assert np.abs(first).max() > 0.1


def test_pipeline_rank_flips_match_the_configured_probability(tiny):
  prob = 0.3
  flipped = strict = ties_kept = ties = 0
  for batch in _take(_pipeline(tiny, augment=augment.AugmentConfig(rank_flip_prob=prob))[0], 4):
    for rel, mask, pose in zip(batch["relations"], batch["relation_mask"],
                               batch["keypoints3d"]):
      rel = rel[mask].astype(np.int64)
      truth = ordinal.relations_from_depth(pose[:, 2], rel[:, :2], tol=0.1)[:, 2]
      strict += np.sum(truth != 0)
      flipped += np.sum((truth != 0) & (rel[:, 2] == -truth))
      assert np.all((rel[:, 2] == truth) | (rel[:, 2] == -truth))
      ties += np.sum(truth == 0)
      ties_kept += np.sum((truth == 0) & (rel[:, 2] == 0))
  rate = flipped / strict
  assert abs(rate - prob) < 4 * np.sqrt(prob * (1 - prob) / strict), (rate, strict)
  assert ties_kept == ties


# ---------------------------------------------------------------------- registry


def test_unknown_dataset_and_config_name_the_known_ones():
  with pytest.raises(ValueError, match="mocap_images.*mocap_lifting") as err:
    datasets.get_builder("mocap_nope")
  assert "\n" not in str(err.value)
  with pytest.raises(ValueError, match="no config 'nope'; known: default") as err:
    datasets.get_builder("mocap_lifting/nope")
  assert "\n" not in str(err.value)


def test_unknown_split_and_test_subject(tiny, tmp_path):
  with pytest.raises(ValueError, match="no split 'validation'.*train") as err:
    datasets.data_source("mocap_lifting", "validation", data_dir=str(tiny["root"] / "tfds"),
                         config=tiny["config"])
  assert "\n" not in str(err.value)
  source = datasets.data_source("mocap_lifting", "test", data_dir=str(tiny["root"] / "tfds"),
                                config=tiny["config"])
  assert len(source) == FRAMES_PER_SUBJECT
  bad = embedded.EmbeddedConfig(name="bad", mocap_path=str(tiny["path"]),
                                test_subjects=("cmu_99",))
  with pytest.raises(ValueError, match="test_subjects.*cmu_99"):
    datasets.prepare("mocap_lifting", data_dir=str(tmp_path), config=bad)


def test_held_out_by_subject_and_sequence_pattern(tiny):
  data = tiny["data"]
  subject = np.asarray(data["subject_names"])[data["subject"]]
  sequence = np.asarray(data["sequence_names"])[data["sequence"]]
  salsa = np.char.startswith(sequence.astype(str), "cmu_salsa_daz_bvh/")
  assert salsa.any() and not salsa.all()
  np.testing.assert_array_equal(mocap.held_out(data, TEST_SUBJECTS), np.isin(subject, TEST_SUBJECTS))
  np.testing.assert_array_equal(mocap.held_out(data, (), ("cmu_salsa_daz_bvh/*",)), salsa)
  np.testing.assert_array_equal(mocap.held_out(data, ("cmu_02",), ("cmu_salsa_daz_bvh/*",)),
                                salsa | (subject == "cmu_02"))
  with pytest.raises(ValueError, match=r"test_sequences: 'ballet/\*' matches no sequence") as e:
    mocap.held_out(data, (), ("ballet/*",))
  assert "\n" not in str(e.value)


def test_motions_config_holds_out_a_motion_type_of_every_subject(tiny, tmp_path):
  config = embedded.EmbeddedConfig(name="tiny_motions", mocap_path=str(tiny["path"]),
                                   test_sequences=("cmu_salsa_daz_bvh/*", "deepmimic/*dance*"))
  builder = datasets.prepare("mocap_lifting", data_dir=str(tmp_path), config=config)
  train, test = _records(builder, "train"), _records(builder, "test")
  def actions(records):
    return {_text(r["meta"]["action"]) for r in records}
  assert actions(test) and all(a.startswith("cmu_salsa_daz_bvh/") or "dance" in a
                               for a in actions(test))
  assert not any(a.startswith("cmu_salsa_daz_bvh/") or "dance" in a for a in actions(train))
  assert "cmu_02" in {_text(r["meta"]["subject"]) for r in train}  # subjects stay in training
  assert {"default", "motions"} <= {c.name for c in embedded.MocapImages.BUILDER_CONFIGS}


def test_motions2d_config_trains_part_of_the_held_out_motion_as_2d_only(tiny, tmp_path):
  config = embedded.EmbeddedConfig(name="tiny_motions2d", mocap_path=str(tiny["path"]),
                                   test_sequences=("cmu_salsa_daz_bvh/*", "deepmimic/*dance*"),
                                   train_2d_only=("deepmimic/*dance*",))
  builder = datasets.prepare("mocap_lifting", data_dir=str(tmp_path), config=config)
  train, test = _records(builder, "train"), _records(builder, "test")
  is_dance = lambda r: "dance" in _text(r["meta"]["action"])
  two_d = [r for r in train if is_dance(r)]
  assert two_d and all(_text(r["meta"]["action"]).startswith("cmu_salsa_daz_bvh/")
                       for r in test)
  for r in two_d:  # 2D-only: an image's keypoints, nothing in depth
    assert not r["has_3d"] and not r["has_ordinal"] and len(r["relations"]) == 0
    assert not np.any(r["keypoints3d"]) and np.any(r["keypoints2d"]) and r["joint_mask"].all()
  others = [r for r in train if not is_dance(r)]
  assert others and all(r["has_3d"] and r["has_ordinal"] for r in others)
  with pytest.raises(ValueError, match=r"train_2d_only as test_sequences: 'ballet/\*' "
                                       r"matches no sequence"):
    embedded._split_poses(tiny["data"], embedded.EmbeddedConfig(
        name="x", test_sequences=("deepmimic/*dance*",), train_2d_only=("ballet/*",)))
  assert "motions2d" in {c.name for c in embedded.MocapImages.BUILDER_CONFIGS}
