"""Tests of jaxpose.data.pipeline on a tiny tfds array_record builder written here."""

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxpose import ordinal
from jaxpose.data import augment, pipeline, schema
from test_augment import toy_example

N = 30           # examples in the toy split
P = 16           # relation slots
CONFIG = augment.AugmentConfig(output_size=32)


class ToyPose(tfds.core.GeneratorBasedBuilder):
  """Toy split of `toy_example`s, images stored as PNG."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=schema.features(with_image=True))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for k in range(N):
      ex = toy_example(k)
      ok, png = cv2.imencode(".png", ex["image"][..., ::-1])
      assert ok
      ex["image"] = png.tobytes()
      yield str(k), ex


class NoImages:
  """A lifting view of a source: the same records without `image`."""

  def __init__(self, source):
    self.source = source

  def __len__(self):
    return len(self.source)

  def __getitem__(self, k):
    return {key: v for key, v in self.source[k].items() if key != "image"}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
  builder = ToyPose(data_dir=str(tmp_path_factory.mktemp("tfds")), file_format="array_record")
  builder.download_and_prepare()
  return builder.as_data_source()["train"]


def _take(it, n):
  return [next(it) for _ in range(n)]


def _assert_same(a, b):
  if isinstance(a, dict):
    assert a.keys() == b.keys()
    for k in a:
      _assert_same(a[k], b[k])
  elif isinstance(a, list):
    assert a == b
  else:
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _train(source, **kwargs):
  kwargs = {"batch_size": 4, "seed": 0, "num_pairs": P, "augment": CONFIG, **kwargs}
  return pipeline.make_pipeline(source, **kwargs)


def test_batch_layout(source):
  batch = next(_train(source))
  S, B = CONFIG.output_size, 4
  expected = {"image": ((B, S, S, 3), np.uint8), "keypoints2d": ((B, 17, 2), np.float32),
              "visible": ((B, 17), bool), "joint_mask": ((B, 17), bool),
              "keypoints3d": ((B, 17, 3), np.float32), "has_3d": ((B,), bool),
              "relations": ((B, P, 3), np.int8), "relation_mask": ((B, P), bool),
              "has_ordinal": ((B,), bool), "index": ((B,), np.int32), "valid": ((B,), bool)}
  for name, (shape, dtype) in expected.items():
    assert batch[name].shape == shape and batch[name].dtype == dtype, name
  assert batch["camera"]["focal"].shape == (B, 2) and batch["bbox"]["scale"].shape == (B,)
  assert all(isinstance(s, str) for s in batch["meta"]["subject"])
  assert batch["meta"]["frame"].dtype == np.int32
  np.testing.assert_array_equal(batch["meta"]["frame"],
                                [source[int(i)]["meta"]["frame"] for i in batch["index"]])
  assert "meta" not in pipeline.device_fields(batch) and "image" in pipeline.device_fields(batch)


def test_same_seed_same_bytes_other_seed_other_order(source):
  a = _take(_train(source), 10)
  b = _take(_train(source), 10)
  for x, y in zip(a, b):
    _assert_same(x, y)
  threaded = _take(_train(source, num_threads=2), 10)
  for x, y in zip(a, threaded):
    _assert_same(x, y)
  other = _take(_train(source, seed=1), 10)
  assert not np.array_equal(np.concatenate([x["index"] for x in a]),
                            np.concatenate([x["index"] for x in other]))


def test_epochs_are_reshuffled_permutations(source):
  batches = _take(_train(source, batch_size=5), 12)   # two epochs of 30
  index = np.concatenate([b["index"] for b in batches])
  assert sorted(index[:N]) == list(range(N)) and sorted(index[N:]) == list(range(N))
  assert not np.array_equal(index[:N], index[N:])


def test_state_restore_mid_epoch(source):
  it = _train(source)
  _take(it, 3)
  state = it.get_state()
  expected = _take(it, 4)
  for threads in (0, 2):
    resumed = _train(source, num_threads=threads)
    resumed.set_state(state)
    for x, y in zip(expected, _take(resumed, 4)):
      _assert_same(x, y)
  it.set_state(state)
  _assert_same(expected[0], next(it))


def test_shards_disjoint_and_complete(source):
  per_host = [np.concatenate([b["index"][b["valid"]] for b in pipeline.make_pipeline(
      source, batch_size=4, seed=0, num_pairs=P, augment=CONFIG, train=False,
      shard_index=k, shard_count=3)]) for k in range(3)]
  everything = np.concatenate(per_host)
  assert sorted(everything) == list(range(N))


def test_training_shards_form_the_single_host_stream(source):
  hosts = [_take(_train(source, shard_index=k, shard_count=3), 5) for k in range(3)]
  single = _take(_train(source, batch_size=12), 5)
  for t in range(5):
    host_index = np.concatenate([h[t]["index"] for h in hosts])
    assert sorted(host_index) == sorted(single[t]["index"])
  first_epoch = np.concatenate([h[t]["index"] for t in range(2) for h in hosts])
  assert len(set(first_epoch)) == 24


def test_finite_epochs_give_every_host_whole_equal_batches(source):
  counts = [len(list(_train(source, num_epochs=2, shard_index=k, shard_count=3)))
            for k in range(3)]
  assert counts == [5, 5, 5]   # 60 examples -> 5 global batches of 12


def test_relations_padded_to_p_with_mask(source):
  it = _train(source, batch_size=10, augment=augment.AugmentConfig(output_size=16,
                                                                   flip_prob=0.0))
  for batch in _take(it, 3):
    for b in range(10):
      record = source[int(batch["index"][b])]
      k = len(record["relations"]) if record["has_ordinal"] else 0
      mask = batch["relation_mask"][b]
      assert mask.sum() == min(k, P) and np.all(mask[:mask.sum()])
      assert np.all(batch["relations"][b][~mask] == 0)
      kept = {tuple(r) for r in batch["relations"][b][mask]}
      assert kept <= {tuple(r) for r in record["relations"]}
      assert batch["has_ordinal"][b] == record["has_ordinal"]


def test_relations_true_to_augmented_3d(source):
  for batch in _take(_train(source, batch_size=10), 3):
    rel, mask = batch["relations"], batch["relation_mask"]
    expected = ordinal.relations_from_depth(batch["keypoints3d"][..., 2],
                                            ordinal.all_pairs(17), tol=0.1)
    for b in range(10):
      table = {tuple(r[:2]): r[2] for r in expected[b]}
      for i, j, r in rel[b][mask[b]]:
        assert table[(min(i, j), max(i, j))] == (r if i < j else -r)


def test_eval_covers_every_example_once(source):
  batches = list(pipeline.make_pipeline(source, batch_size=8, seed=3, num_pairs=P,
                                        augment=CONFIG, train=False))
  assert len(batches) == 4 and all(b["image"].shape == (8, 32, 32, 3) for b in batches)
  valid = np.concatenate([b["valid"] for b in batches])
  index = np.concatenate([b["index"] for b in batches])
  np.testing.assert_array_equal(index[valid], np.arange(N))
  assert valid.sum() == N and np.all(index[~valid] == -1)
  last = batches[-1]
  pad = ~last["valid"]
  for name in ("joint_mask", "visible", "relation_mask", "has_3d", "has_ordinal"):
    assert not last[name][pad].any(), name
  assert np.all(last["meta"]["frame"][pad] == -1)
  assert all(s == "" for s, p in zip(last["meta"]["subject"], pad) if p)


def test_lifting_records_and_no_augmentation(source):
  lifting = NoImages(source)
  batch = next(_train(lifting, augment=augment.AugmentConfig(noise_2d_px=1.0)))
  assert "image" not in batch and batch["keypoints2d"].shape == (4, 17, 2)
  plain = next(pipeline.make_pipeline(lifting, batch_size=4, seed=0, num_pairs=P,
                                      train=False))
  np.testing.assert_array_equal(plain["keypoints2d"], np.stack(
      [source[k]["keypoints2d"] for k in range(4)]))


def test_measure_throughput(source):
  rate = pipeline.measure_throughput(_train(source), num_batches=3, warmup=1)
  assert rate > 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0), "batch_size"), (dict(seed=-1), "seed"),
    (dict(shard_index=3, shard_count=3), "shard_index"), (dict(num_pairs=-2), "num_pairs"),
    (dict(train=False, num_epochs=2), "num_epochs"),
    (dict(batch_size=40, num_epochs=1), "batch_size")])
def test_bad_arguments(source, kwargs, match):
  with pytest.raises(ValueError, match=match):
    _train(source, **kwargs)


def test_images_of_different_sizes_need_a_crop():
  records = [toy_example(k) for k in range(2)]
  records[1]["image"] = records[1]["image"][:40]
  with pytest.raises(ValueError, match="image"):
    next(pipeline.make_pipeline(records, batch_size=2, seed=0, num_pairs=P, train=False))
