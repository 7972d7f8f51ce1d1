"""Tests for the weakly supervised lifting methods: relative (Ronchi), reconstruction
(Pavlakos 3.4) and DPNet (DRPose3D), on small real batches drawn from the embedded MoCap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose import methods, ordinal
from jaxpose.data import augment, mocap, resample
from jaxpose.methods import dpnet, reconstruction, relative
from jaxpose.results import load_config


@pytest.fixture(scope="module")
def batch():
  data = mocap.load_canonical(mocap.default_mocap_path())
  it = resample.make_mocap_pipeline(data, np.arange(0, 2000, 50), batch_size=16, seed=0,
                                    num_pairs=136, train=True)
  b = next(it)
  b.pop("meta")
  return jax.tree.map(jnp.asarray, b)


def _small(spec, **extra):
  overrides = (("model.width", 32), ("model.num_stages", 1)) + tuple(extra.items())
  return load_config(spec, overrides)


@pytest.mark.parametrize("spec", ["configs/relative_lifting.py",
                                  "configs/ordinal_reconstruction.py",
                                  "configs/drpose_dpnet.py",
                                  "configs/drpose_dpnet.py:ranking=none"])
def test_loss_and_gradients_finite_and_predict_shapes(spec, batch):
  config = _small(spec)
  method = methods.get_method(config)
  variables = method.init(jax.random.key(0), batch)
  (loss, aux), grads = jax.value_and_grad(
      lambda p: method.loss({**variables, "params": p}, batch, jax.random.key(1)),
      has_aux=True)(variables["params"])
  assert np.isfinite(float(loss))
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert all(np.isfinite(float(v)) for v in aux["metrics"].values())
  pose = method.predict(variables, batch)
  assert pose.shape == (16, 17, 3)
  np.testing.assert_allclose(pose[:, 0], 0, atol=1e-6)


def test_relative_uses_no_3d(batch):
  config = _small("configs/relative_lifting.py")
  method = methods.get_method(config)
  variables = method.init(jax.random.key(0), batch)
  loss = lambda b: method.loss(variables, b, jax.random.key(1))[0]  # noqa: E731
  other = {**batch, "keypoints3d": batch["keypoints3d"] * 3 + 1}
  assert float(loss(batch)) == float(loss(other))


def test_relative_prediction_in_metres(batch):
  bones = relative.mean_bone_lengths()
  assert bones.shape == (16,) and 0.3 < bones[1] < 0.55  # r_knee-r_hip: a thigh
  pose = jnp.asarray(np.random.default_rng(0).normal(size=(4, 17, 3)), jnp.float32)
  out = relative.to_metres(pose, jnp.asarray(bones))
  child, parent = relative.JOINTS.bones.T
  total = np.linalg.norm(np.asarray(out)[:, child] - np.asarray(out)[:, parent], axis=-1).sum(-1)
  np.testing.assert_allclose(total, bones.sum(), rtol=1e-4)


def test_relative_subject_bones(batch):
  data = mocap.load_canonical(mocap.default_mocap_path())
  table = relative.subject_bone_lengths()
  assert table.shape == (len(data["positions_3d"]), 16)
  names = data["subject_names"].tolist()
  for name in ("cmu_05", "deepmimic"):  # a training subject: its own mean skeleton
    mine = data["subject"] == names.index(name)
    pose = data["positions_3d"][mine]
    child, parent = relative.JOINTS.bones.T
    own = np.linalg.norm(pose[:, child] - pose[:, parent], axis=-1).mean(0)
    np.testing.assert_allclose(table[mine], np.broadcast_to(own, table[mine].shape), rtol=1e-4)
  held_out = data["subject"] == names.index("cmu_02")  # test subject: the training mean
  np.testing.assert_allclose(table[held_out][0], relative.mean_bone_lengths(), rtol=1e-4)
  # the loss reads each example's row; the deepmimic humanoid's ratios differ from the mean
  config = _small("configs/relative_lifting.py:subject")
  mean_config = _small("configs/relative_lifting.py")
  losses = []
  for c in (config, mean_config):
    method = methods.get_method(c)
    variables = method.init(jax.random.key(0), batch)
    losses.append(float(method.loss(variables, batch, jax.random.key(1))[1]["metrics"]["skel"]))
  assert losses[0] != losses[1]
  with pytest.raises(ValueError, match="config.loss.subject_bones: needs data.source "
                                       "'mocap_resample'"):
    methods.get_method(_small("configs/relative_lifting.py:subject,h36m"))


def test_reconstruction_depths_keep_most_relations_and_are_deterministic(batch):
  z = reconstruction.ordinal_depths(batch, noise=0.25, seed=1)
  np.testing.assert_array_equal(z, reconstruction.ordinal_depths(batch, noise=0.25, seed=1))
  assert not np.array_equal(z, reconstruction.ordinal_depths(batch, noise=0.25, seed=2))
  np.testing.assert_allclose(np.std(np.asarray(z), -1), 1, atol=1e-4)
  true = np.asarray(batch["keypoints3d"][..., 2])
  agree = np.mean(np.sign(ordinal.relations_from_depth(np.asarray(z), tol=0)[..., 2]) ==
                  np.sign(ordinal.relations_from_depth(true, tol=0)[..., 2]))
  assert 0.75 < agree < 1.0  # "the majority of their ordinal relations are preserved"


def test_reconstruction_direct_needs_no_training(batch):
  config = _small("configs/ordinal_reconstruction.py:direct")
  method = methods.get_method(config)
  a = method.predict(method.init(jax.random.key(0), batch), batch)
  b = method.predict(method.init(jax.random.key(1), batch), batch)
  np.testing.assert_array_equal(a, b)


def test_dpnet_ranking_input_is_the_true_ranking_matrix(batch):
  m = dpnet.ranking_input(batch)
  expected = ordinal.ranking_matrix_from_depth(np.asarray(batch["keypoints3d"][..., 2]),
                                               tol=0.1)
  np.testing.assert_array_equal(np.asarray(m), expected)


def test_dpnet_without_ranking_has_no_depth_net(batch):
  method = methods.get_method(_small("configs/drpose_dpnet.py:ranking=none"))
  params = method.init(jax.random.key(0), batch)["params"]
  assert "depth_net" not in params and "pose_stage1" in params
  full = methods.get_method(_small("configs/drpose_dpnet.py")).init(jax.random.key(0), batch)
  assert "depth_net" in full["params"]


def test_eval_rank_flips_are_fixed_per_frame():
  data = mocap.load_canonical(mocap.default_mocap_path())
  corrupt = augment.AugmentConfig(rank_flip_prob=0.3)
  kw = dict(batch_size=8, seed=0, num_pairs=136, augment=corrupt, train=False)
  a = next(resample.make_mocap_pipeline(data, np.arange(8), **kw))
  b = next(resample.make_mocap_pipeline(data, np.arange(8), **kw))
  clean = next(resample.make_mocap_pipeline(data, np.arange(8), **{**kw, "augment": None}))
  np.testing.assert_array_equal(a["relations"], b["relations"])
  strict = clean["relations"][..., 2] != 0
  flipped = np.mean(a["relations"][..., 2][strict] != clean["relations"][..., 2][strict])
  assert 0.2 < flipped < 0.4


def test_dpnet_depth_noise_ranking_is_consistent_and_depth_dependent(batch):
  z = np.asarray(batch["keypoints3d"][..., 2])
  exact = dpnet.noisy_depth_ranking(batch, jax.random.key(0), noise=0.0, tie_tol=0.1)
  np.testing.assert_array_equal(np.asarray(exact), ordinal.ranking_matrix_from_depth(z, tol=0.1))
  flips, gaps = [], []
  for seed in range(20):
    m = np.asarray(dpnet.noisy_depth_ranking(batch, jax.random.key(seed), noise=0.1, tie_tol=0.0))
    # one scalar per joint ranks every pair: a total order (strict: no ties at tol 0)
    order = np.argsort(np.sum(m, axis=-1), axis=-1)  # number of joints each is behind
    ranked = np.take_along_axis(m, order[:, :, None], 1)
    ranked = np.take_along_axis(ranked, order[:, None, :], 2)
    upper = np.triu(np.ones((17, 17), bool), 1)
    assert np.all(ranked[:, upper] == 0) and np.all(ranked[:, upper.T] == 1)
    truth = ordinal.ranking_matrix_from_depth(z, tol=0.0)
    flips.append(m != truth)
    gaps.append(np.abs(z[:, :, None] - z[:, None, :]))
  flips, gaps = np.concatenate(flips), np.concatenate(gaps)
  off = ~np.eye(17, dtype=bool)[None] & np.ones_like(flips)
  near, far = off & (gaps < 0.05), off & (gaps > 0.3)
  assert flips[near].mean() > 0.3 and flips[far].mean() < 0.05


def test_dpnet_depth_noise_trains_on_noisy_matrices_only(batch):
  no_dropout = {"model.dropout": 0.0}
  method = methods.get_method(_small("configs/drpose_dpnet.py:depth_noise=0.2", **no_dropout))
  variables = method.init(jax.random.key(0), batch)
  clean = methods.get_method(_small("configs/drpose_dpnet.py", **no_dropout))
  loss = lambda m, k: float(m.loss(variables, batch, jax.random.key(k))[0])  # noqa: E731
  assert loss(clean, 1) == loss(clean, 2)
  assert loss(method, 1) != loss(method, 2)  # a fresh matrix per step
  np.testing.assert_array_equal(method.predict(variables, batch),  # test: the batch's matrix
                                clean.predict(variables, batch))
  with pytest.raises(ValueError, match="config.dpnet.depth_noise"):
    methods.get_method(_small("configs/drpose_dpnet.py:depth_noise=-1"))
  with pytest.raises(ValueError, match="rank_flip_prob"):
    methods.get_method(_small("configs/drpose_dpnet.py:depth_noise=0.1,flip=0.1"))
