"""Tests for DRPose3D's PRCNN method, its accuracy JSON, DPNet's statistical flips and the
full image -> 2D -> PRCNN -> DPNet pipeline (jaxpose.methods.prcnn / .drpose_full)."""

import functools
import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpose import methods, ordinal, skeleton
from jaxpose.methods import base, dpnet, drpose_full, lifting, prcnn
from jaxpose.models import prcnn as prcnn_models
from jaxpose.results import load_config
from jaxpose.train import checkpoint, optim, steps
from jaxpose.train import data as data_lib

J = skeleton.H36M17.num_joints
B, S = 4, 16  # batch, crop side of the tiny tests
TINY_PRCNN = (("model.name", "prcnn_tiny"), ("data.augment.output_size", S))


def _config(heatmaps="ground_truth"):
  return load_config(f"configs/drpose_prcnn.py:quick,heatmaps={heatmaps}", TINY_PRCNN)


def _batch(config, seed=0, size=S):
  """Example 0-1 with 3D, 2 relations only (no 3D), 3 padding."""
  rng = np.random.default_rng(seed)
  b = data_lib.dummy_batch(config, B, with_image=True)
  if size != b["image"].shape[1]:
    b["image"] = np.zeros((B, size, size, 3), np.uint8)
  b["image"] = rng.integers(0, 256, b["image"].shape).astype(np.uint8)
  b["keypoints2d"] = rng.uniform(1, size - 1, b["keypoints2d"].shape).astype(np.float32)
  b["keypoints3d"] = (rng.normal(size=b["keypoints3d"].shape) * 0.3 + [0, 0, 4]).astype(
      np.float32)
  other = (rng.normal(size=(B, J)) * 0.3 + 4).astype(np.float32)  # depths behind relations
  b["relations"] = ordinal.relations_from_depth(other, tol=0.1).astype(np.int8)
  b["joint_mask"][:] = True
  b["visible"][:] = True
  b["has_3d"][:] = [True, True, False, False]
  b["has_ordinal"][:] = [True, True, True, False]
  b["relation_mask"][:] = b["has_ordinal"][:, None]
  b["valid"][:] = [True, True, True, False]
  b["index"] = np.arange(B, dtype=np.int32)
  return jax.tree.map(jnp.asarray, b), other


# XLA at -O0: each network runs a few times, so compile time is what counts.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
_KEY = functools.partial(jax.random.key, impl="rbg")  # compiles faster than threefry


def _compile(fn, *args):
  return jax.jit(fn).lower(*args).compile(_FAST_COMPILE)


@functools.lru_cache(maxsize=None)
def _setup(heatmaps):
  """(method, batch, variables, predict_outputs, value_and_grad(params, variables, key)),
  compiled once per heatmap source."""
  config = _config(heatmaps)
  method = methods.get_method(config)
  batch, _ = _batch(config)
  variables = _compile(method.init, _KEY(0), batch)(_KEY(0), batch)

  def value_and_grad(params, variables, key):
    def loss(params):
      return method.loss({**variables, "params": params}, batch, key)
    return jax.value_and_grad(loss, has_aux=True)(params)

  predict = _compile(method.predict_outputs, variables, batch)
  grad = _compile(value_and_grad, variables["params"], variables, _KEY(1))
  return method, batch, variables, predict, grad


@pytest.mark.parametrize("heatmaps", ["ground_truth", "none"])
def test_shapes_and_gradients(heatmaps):
  method, batch, variables, predict, grad = _setup(heatmaps)
  assert method.name == "drpose_prcnn" and method.data_kind == "image"
  assert method.model.use_heatmaps == (heatmaps != "none")
  (value, aux), grads = grad(variables["params"], variables, _KEY(1))
  assert np.isfinite(value) and set(aux["metrics"]) == {"ranknet", "pair_accuracy"}
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert sum(float(jnp.sum(jnp.abs(g))) for g in leaves) > 0
  out = predict(variables, batch)
  assert out["depth"].shape == (B, J) and out["ranking"].shape == (B, J, J)
  with pytest.raises(ValueError, match="rankings|ranking matrices"):
    method.predict(variables, batch)


def test_ranking_matrix_is_a_probability_complement():
  _, batch, variables, predict, _ = _setup("ground_truth")
  out = predict(variables, batch)
  p = np.asarray(out["ranking"])
  np.testing.assert_array_equal(np.diagonal(p, axis1=1, axis2=2), 0.5)
  np.testing.assert_allclose(p + np.swapaxes(p, 1, 2), 1.0, atol=1e-6)
  f = np.asarray(out["depth"])
  assert np.all((p > 0.5) == (f[:, :, None] > f[:, None, :]))  # P_ij > 0.5 <=> F_i > F_j


def test_heatmaps_change_the_features_only_when_used():
  for heatmaps, changes in (("ground_truth", True), ("none", False)):
    _, batch, variables, predict, _ = _setup(heatmaps)
    moved = {**batch, "keypoints2d": batch["keypoints2d"][:, ::-1]}
    a = predict(variables, batch)["depth"]
    b = predict(variables, moved)["depth"]
    assert bool(jnp.any(jnp.abs(a - b) > 1e-6)) == changes


def test_ranking_targets_agree_with_depths():
  config = _config()
  batch, other = _batch(config)
  targets = jax.jit(functools.partial(prcnn.ranking_target, tie_tol=0.1))
  target, mask = (np.asarray(x) for x in targets(batch))
  z = np.asarray(batch["keypoints3d"][..., 2])
  off = ~np.eye(J, dtype=bool)
  for k in range(2):  # 3D: eq. 1 from the depths
    want = np.where(z[k][:, None] > z[k][None, :] + 0.1, 1.0,
                    np.where(z[k][:, None] < z[k][None, :] - 0.1, 0.0, 0.5))
    np.testing.assert_array_equal(target[k][off], want[off])
    assert mask[k][off].all() and not mask[k][~off].any()
  np.testing.assert_array_equal(target[2], ordinal.ranking_matrix_from_depth(other[2]))
  assert mask[2][off].all()
  assert not mask[3].any()  # padding
  one_joint = {**batch, "joint_mask": batch["joint_mask"].at[0, 5].set(False)}
  m = np.asarray(targets(one_joint)[1])
  assert not m[0, 5].any() and not m[0, :, 5].any() and m[1, 5, 0]


def test_training_lowers_the_loss():
  _, _, variables, _, grad = _setup("ground_truth")
  tx = optax.adam(1e-2)
  update = jax.jit(tx.update)
  opt = tx.init(variables["params"])
  values = []
  for k in range(12):
    (value, aux), grads = grad(variables["params"], variables, _KEY(k))
    updates, opt = update(grads, opt, variables["params"])
    variables = {"params": optax.apply_updates(variables["params"], updates),
                 "batch_stats": aux["batch_stats"]}
    values.append(float(value))
  assert np.mean(values[-3:]) < values[0] - 0.05


def _fixed_method(wrong):
  """A stand-in PRCNN whose ranking is the truth with entries `wrong` [B, J, J] inverted."""
  def predict_outputs(variables, batch):
    m, _ = prcnn.ranking_target(batch, tie_tol=0.1)
    return {"ranking": jnp.where(wrong, 1.0 - m, m)}
  no = lambda *a: None  # noqa: E731
  return base.Method("fixed", "image", no, no, no, None, predict_outputs)


def test_pair_accuracy_hand_made():
  config = _config()
  batch, _ = _batch(config)
  target = np.asarray(prcnn.ranking_target(batch, tie_tol=0.1)[0])
  i, j = np.argwhere(target[0] == 1.0)[0]  # strict in example 0
  wrong = np.zeros((B, J, J), bool)
  wrong[0, i, j] = wrong[0, j, i] = True  # one of the three supervising examples
  tie = np.argwhere((target[0] == 0.5) & ~np.eye(J, dtype=bool))
  if len(tie):  # inverting a tie keeps it a tie: still right
    wrong[0, tie[0][0], tie[0][1]] = True
  acc = prcnn.pair_accuracy(_fixed_method(jnp.asarray(wrong)), {}, [dict(batch)],
                            epsilon=0.1, tie_tol=0.1)
  assert acc.shape == (J, J) and np.all(np.diagonal(acc) == 1)
  assert acc[i, j] == pytest.approx(2 / 3) and acc[j, i] == pytest.approx(2 / 3)
  others = np.ones((J, J), bool)
  others[i, j] = others[j, i] = False
  assert np.all(acc[others] == 1.0)
  padding_only = {**batch, "valid": jnp.zeros(B, bool)}
  with pytest.raises(ValueError, match="no example supervises"):
    prcnn.pair_accuracy(_fixed_method(jnp.asarray(wrong)), {}, [padding_only],
                        epsilon=0.1, tie_tol=0.1)


def test_accuracy_json_round_trip_and_errors(tmp_path):
  acc = np.random.default_rng(0).uniform(0.5, 1.0, (J, J))
  path = str(tmp_path / "acc.json")
  prcnn.write_accuracy(path, acc)
  np.testing.assert_allclose(prcnn.read_accuracy(path), acc)
  np.testing.assert_allclose(np.asarray(prcnn.flip_probability(path)), 1 - acc)
  names = list(skeleton.H36M17.joint_names)
  bad = {"not_json": "{", "keys": {"accuracy": acc.tolist()},
         "names": {"joint_names": names[::-1], "accuracy": acc.tolist()},
         "shape": {"joint_names": names, "accuracy": acc[:5].tolist()},
         "range": {"joint_names": names, "accuracy": (acc + 1).tolist()},
         "text": {"joint_names": names, "accuracy": "high"}}
  for name, doc in bad.items():
    p = tmp_path / f"{name}.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(ValueError, match=str(p)) as err:
      prcnn.read_accuracy(str(p))
    assert "\n" not in str(err.value)
  with pytest.raises(ValueError, match="missing.json"):
    prcnn.read_accuracy(str(tmp_path / "missing.json"))
  with pytest.raises(ValueError, match="17x17"):
    prcnn.write_accuracy(path, acc[:3, :3])


def test_dpnet_statistical_flips_reach_the_data_pipeline(tmp_path):
  acc = np.full((J, J), 0.8)
  np.fill_diagonal(acc, 1.0)
  path = str(tmp_path / "acc.json")
  prcnn.write_accuracy(path, acc)
  config = load_config(f"configs/drpose_dpnet.py:quick,flip_from={path}")
  assert config.dpnet.flip_accuracy == path
  p = np.asarray(data_lib.augment_config(config).rank_flip_prob)
  np.testing.assert_allclose(p, 1 - acc)
  assert config.data.eval_rank_flip_prob == pytest.approx(0.2)
  methods.get_method(config)  # consistent: builds
  bare = load_config("configs/drpose_dpnet.py:quick", (("dpnet.flip_accuracy", path),))
  with pytest.raises(ValueError, match="flip_from"):
    methods.get_method(bare)


def test_lifting_batch_carries_the_ranking_and_2d_units(rng):
  m = np.asarray(prcnn_models.discretize(
      prcnn_models.pairwise_probabilities(jnp.asarray(rng.normal(size=(2, J)))), epsilon=0.1))
  kp = jnp.asarray(rng.uniform(0, 64, (2, J, 2)), jnp.float32)

  @jax.jit
  def inputs(kp, m):
    lb = drpose_full.lifting_batch(kp, m, jnp.ones(2, bool))
    # DPNet's 2D input is the same for crop pixels and the full camera's pixels.
    moved = drpose_full.lifting_batch(kp * 7.5 + 300.0, None, jnp.ones(2, bool))
    return dpnet.ranking_input(lb), lifting.lifter_input(lb), lifting.lifter_input(moved)

  ranking, xy, xy_moved = inputs(kp, jnp.asarray(m))
  np.testing.assert_array_equal(np.asarray(ranking), m)
  np.testing.assert_allclose(xy, xy_moved, atol=1e-5)


# ---------------------------------------------------------------------- full pipeline

STAGES = {
    "estimator": ("configs/ordinal_volumetric.py:quick",
                  "model.name=hourglass_tiny,model.num_stacks=1,model.depth=1,"
                  "model.features=8,head.depth_bins=4,reconstruction.width=32,"
                  "reconstruction.num_stages=1,data.augment.output_size=16"),
    "prcnn": ("configs/drpose_prcnn.py:quick",
              "model.name=prcnn_tiny,data.augment.output_size=16"),
    "dpnet": ("configs/drpose_dpnet.py:quick", "model.width=16"),
    "dpnet_none": ("configs/drpose_dpnet.py:quick,ranking=none", "model.width=16"),
}


def _train_two_steps(config, workdir):
  """A 2-step run of `config` on a fixed synthetic batch, checkpointed like the loop's."""
  method = methods.get_method(config)
  tx = optim.from_config(config.optimizer)
  image = method.data_kind == "image"
  size = config.data.augment.output_size
  batch, _ = _batch(config, size=size) if image else (None, None)
  if not image:
    batch = jax.tree.map(jnp.asarray, data_lib.dummy_batch(config, B))
    batch["keypoints2d"] = jnp.asarray(np.random.default_rng(1).uniform(0, 900, (B, J, 2)),
                                       jnp.float32)
    batch["joint_mask"] = jnp.ones((B, J), bool)
  batch = jax.tree.map(jnp.asarray, {k: v for k, v in batch.items()})
  init = functools.partial(steps.init_state, method=method, tx=tx)
  state = _compile(init, _KEY(0), batch)(_KEY(0), batch)
  train = functools.partial(steps.train_step, method=method, tx=tx)
  step = _compile(train, state, batch, _KEY(1))
  for _ in range(2):
    state, _ = step(state, batch, _KEY(1))
  manager = checkpoint.make_manager(workdir, best_metric=config.best_metric,
                                    best_mode=config.best_mode)
  checkpoint.save(manager, 2, state)
  manager.wait_until_finished()
  manager.close()


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
  root = tmp_path_factory.mktemp("stages")
  out = {}
  for stage, (spec, overrides) in STAGES.items():
    config = load_config(spec, drpose_full._parse_overrides(spec, overrides, load_config(spec)))
    _train_two_steps(config, str(root / stage))
    out[stage] = str(root / stage)
  return out


def _full_config(workdirs, ranking):
  config = load_config(f"configs/drpose_full.py:quick,ranking={ranking}")
  config.data.augment.output_size = 32  # the stages see 16x16: resized
  dp = "dpnet" if ranking == "prcnn" else "dpnet_none"
  for stage, key in (("estimator", "estimator"), ("prcnn", "prcnn"), ("dpnet", dp)):
    config.full[f"{stage}_workdir"] = workdirs[key]
    config.full[f"{stage}_config"], config.full[f"{stage}_overrides"] = STAGES[key]
  return config


@pytest.mark.parametrize("ranking", ["prcnn", "none"])
def test_full_pipeline_composes_trained_stages(workdirs, ranking):
  config = _full_config(workdirs, ranking)
  method, variables, step = drpose_full.restore(config)
  assert step == 0 and method.name == "drpose_full"
  assert set(variables) == ({"estimator", "prcnn", "dpnet"} if ranking == "prcnn"
                            else {"estimator", "dpnet"})
  batch, _ = _batch(config, size=32)
  out = _compile(method.predict_outputs, variables, batch)(variables, batch)
  assert out["pose3d"].shape == (B, J, 3) and np.all(np.isfinite(out["pose3d"]))
  np.testing.assert_allclose(out["pose3d"][:, 0], 0.0, atol=1e-6)  # root-relative
  assert out["keypoints2d"].shape == (B, J, 2)
  if ranking == "prcnn":
    assert set(np.unique(np.asarray(out["ranking"]))) <= {0.0, 0.5, 1.0}
  with pytest.raises(ValueError, match="train the stages separately"):
    method.loss(variables, batch, jax.random.key(0))


def test_full_pipeline_warns_when_a_stage_reads_finer_crops(workdirs, caplog):
  config = _full_config(workdirs, "prcnn")
  config.data.augment.output_size = 8  # the stages were trained on 16x16
  method, variables, _ = drpose_full.restore(config)
  batch, _ = _batch(config, size=8)
  with caplog.at_level(logging.WARNING):
    jax.eval_shape(method.predict_outputs, variables, batch)
  text = caplog.text
  assert "estimator stage was trained on 16-px crops but the batch's are 8 px" in text
  assert "prcnn stage" in text and "output_size=16" in text


def test_full_pipeline_with_ground_truth_2d_skips_the_estimator(workdirs):
  config = _full_config(workdirs, "prcnn")
  config.full.keypoints2d = "ground_truth"
  config.full.estimator_workdir = ""  # not needed, not restored
  method, variables, _ = drpose_full.restore(config)
  assert set(variables) == {"prcnn", "dpnet"}
  batch, _ = _batch(config, size=32)
  out = _compile(method.predict_outputs, variables, batch)(variables, batch)
  np.testing.assert_array_equal(out["keypoints2d"], batch["keypoints2d"])
  assert out["pose3d"].shape == (B, J, 3) and np.all(np.isfinite(out["pose3d"]))
  config.full.keypoints2d = "detector"
  with pytest.raises(ValueError, match="config.full.keypoints2d"):
    methods.get_method(config)
  # the upper bound: DPNet reads the annotated 3D's ranking matrix, no PRCNN
  config.full.keypoints2d, config.full.ranking = "ground_truth", "ground_truth"
  config.full.prcnn_workdir = ""
  method, variables, _ = drpose_full.restore(config)
  assert set(variables) == {"dpnet"}
  out = _compile(method.predict_outputs, variables, batch)(variables, batch)
  np.testing.assert_array_equal(out["ranking"], ordinal.ranking_matrix_from_depth(
      batch["keypoints3d"][..., 2], tol=0.1))


def test_full_pipeline_config_errors(workdirs):
  config = _full_config(workdirs, "prcnn")
  config.full.dpnet_config, config.full.dpnet_overrides = STAGES["dpnet_none"]
  with pytest.raises(ValueError, match="dpnet.ranking='relations'"):
    methods.get_method(config)
  config = _full_config(workdirs, "prcnn")
  config.full.prcnn_workdir = ""
  with pytest.raises(ValueError, match="prcnn_workdir"):
    drpose_full.restore(config)
  config = _full_config(workdirs, "prcnn")
  config.full.prcnn_overrides = "model.nosuch=1"
  with pytest.raises(ValueError, match="model.nosuch"):
    methods.get_method(config)


def test_evaluate_scores_rankings_of_a_method_without_3d(workdirs):
  """train_lib.evaluate on PRCNN: no pose metrics, the depth-order accuracy of F, no poses."""
  from jaxpose.train import train_lib  # noqa: PLC0415
  spec, overrides = STAGES["prcnn"]
  config = load_config(spec, drpose_full._parse_overrides(spec, overrides, load_config(spec)))
  method, variables, step = train_lib.restore(config, workdirs["prcnn"], which="latest")
  assert step == 2
  batch, _ = _batch(config, size=16)
  batch = {**jax.tree.map(np.asarray, batch), "meta": {"action": np.array(["a"] * B),
                                                       "subject": np.array(["s"] * B)}}
  result = train_lib.evaluate(method, variables, [batch], num_samples=2)
  assert result["num_examples"] == 3 and "mpjpe" not in result["action_mean"]
  assert 0.0 <= result["action_mean"]["depth_ordinal_accuracy"] <= 1.0
  assert "pred" not in result["samples"] and len(result["samples"]["index"]) == 2


def test_train_lib_restore_builds_the_pipeline_from_its_config(workdirs):
  from jaxpose.train import train_lib  # noqa: PLC0415
  method, variables, step = train_lib.restore(_full_config(workdirs, "none"), "/unused")
  assert method.name == "drpose_full" and step == 0 and set(variables) == {"estimator",
                                                                          "dpnet"}
