"""DRPose3D's two-stage pipeline as one `Method`: image -> 2D estimator -> PRCNN -> DPNet -> 3D.

Wang et al. IJCAI'18 Fig. 2: a 2D estimator gives the joints (and their heatmaps), PRCNN
the ranking matrix from the image and the heatmaps, discretised with its threshold eps
(text after eq. 5), and DPNet the 3D pose from the 2D joints and the ranking matrix
(Sec. 3.2). Each stage is a run trained on its own (`config.full.*_workdir` with the
config it was trained with, `*_config`); nothing is trained here, so `loss` raises and
`init` (eager only) restores the three runs with `train_lib.restore`:

  method, variables, step = restore(config)      # step 0: the pipeline has no checkpoint
  outputs = method.predict_outputs(variables, batch)   # pose3d, keypoints2d, depth, ranking

Stages:
  * estimator: any image method whose `predict_outputs` gives 'keypoints2d' (e.g.
    configs/ordinal_volumetric.py); it sees the batch's crops resized to its own input
    side, and its 2D is scaled back to the batch's crop pixels.
  * PRCNN (`methods.prcnn`): reads its heatmaps from the batch's `keypoints2d`, here
    replaced by the estimator's 2D (rendered as in its training); `config.full.ranking
    = 'none'` skips it (the baseline without ranking input: a DPNet trained with
    `dpnet.ranking = 'none'`).
  * `config.full.keypoints2d = 'ground_truth'` skips the estimator: PRCNN and DPNet read
    the batch's annotated 2D (DRPose3D Table 1's "GT 2D" rows, where predicted rankings
    cut MPJPE 45.5 -> 41.2 mm); `config.full.ranking = 'ground_truth'` feeds DPNet the
    annotated 3D's ranking matrix instead of PRCNN's (Table 1's GT/GT upper bound, 30.2).
  * DPNet (`methods.dpnet`, trained on lifting data): the discretised matrix enters as
    all J(J-1)/2 relations (`ordinal.relations_from_ranking_matrix`), the estimator's 2D
    as `keypoints2d`. 2D units: DPNet normalises its 2D per pose
    (`models.lifting.normalize_2d`: root-centred, divided by the RMS distance to the
    root), which is invariant to translation and scale; an embedded crop is a translated
    and scaled window of the virtual camera's image (`render.crop_camera`), so crop
    pixels need no conversion to the lifting data's camera pixels.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from absl import logging

from jaxpose import checks, ordinal, skeleton
from jaxpose.methods import base, image
from jaxpose.models import prcnn as prcnn_models

Array = jax.Array
J = skeleton.H36M17.num_joints
RANKINGS = ("prcnn", "none", "ground_truth")
KEYPOINTS2D = ("estimator", "ground_truth")
STAGES = ("estimator", "prcnn", "dpnet")


def _parse_overrides(spec: str, text: str, config: Any) -> tuple[tuple[str, Any], ...]:
  """'model.width=512,num_steps=10' -> ((field, value), ...), values cast to the field's
  type in `config` (what `--config.FIELD=VALUE` flags do)."""
  out = []
  for item in filter(None, (s.strip() for s in text.split(","))):
    field, has_value, value = item.partition("=")
    node = config
    try:
      for part in field.split("."):
        node = node[part]
    except (KeyError, AttributeError, TypeError):
      raise ValueError(f"overrides: {field!r} names no config field of {spec}") from None
    if not has_value:
      raise ValueError(f"overrides: expected FIELD=VALUE, got {item!r} (for {spec})")
    if not isinstance(node, (bool, int, float, str)):
      raise ValueError(f"overrides: {field!r} of {spec} is not a number or string field")
    if isinstance(node, bool):
      out.append((field, value.lower() in ("true", "1")))
    else:
      try:
        out.append((field, type(node)(value)))
      except ValueError:
        raise ValueError(f"overrides: {field}={value!r}: expected a {type(node).__name__} "
                         f"(for {spec})") from None
  return tuple(out)


def stage_config(config: Any, stage: str) -> Any:
  """The config stage `stage` was trained with: `config.full.<stage>_config` (a
  `configs/x.py[:variant]` spec) with `config.full.<stage>_overrides` applied."""
  from jaxpose import results  # pylint: disable=g-import-not-at-top  (imports train_lib)
  checks.one_of("stage", stage, STAGES)
  spec = config.full[f"{stage}_config"]
  if not spec:
    raise ValueError(f"config.full.{stage}_config: expected a config spec such as "
                     "configs/drpose_prcnn.py:quick")
  base_config = results.load_config(spec)
  text = config.full.get(f"{stage}_overrides", "")
  return results.load_config(spec, _parse_overrides(spec, text, base_config)) if text else (
      base_config)


def _stages(config: Any) -> dict[str, Any]:
  """{stage: its config} of the stages `config.full.ranking` and `.keypoints2d` use."""
  ranking = config.full.ranking
  checks.one_of("config.full.ranking", ranking, RANKINGS)
  two_d = config.full.get("keypoints2d", "estimator")
  checks.one_of("config.full.keypoints2d", two_d, KEYPOINTS2D)
  names = [s for s in STAGES if not (s == "prcnn" and ranking != "prcnn") and not (
      s == "estimator" and two_d == "ground_truth")]
  return {s: stage_config(config, s) for s in names}


def _check_stages(config: Any, stages: dict[str, Any], built: dict[str, base.Method]) -> None:
  est, dp = built.get("estimator"), built["dpnet"]
  if est is not None and (est.data_kind != "image" or est.predict_outputs is None):
    raise ValueError(f"config.full.estimator_config: {est.name} is not an image method "
                     "predicting 2D (e.g. configs/ordinal_volumetric.py)")
  if est is not None and est.name == "ordinal_depth":
    raise ValueError("config.full.estimator_config: ordinal_depth predicts no 2D; use "
                     "ordinal_coordinates or ordinal_volumetric")
  if "prcnn" in built and built["prcnn"].name != "drpose_prcnn":
    raise ValueError(f"config.full.prcnn_config: expected a drpose_prcnn config, got "
                     f"{built['prcnn'].name}")
  if dp.name != "drpose_dpnet":
    raise ValueError(f"config.full.dpnet_config: expected a drpose_dpnet config, got {dp.name}")
  want = "none" if config.full.ranking == "none" else "relations"
  if stages["dpnet"].dpnet.ranking != want:
    raise ValueError(f"config.full.dpnet_config: ranking={config.full.ranking!r} needs a "
                     f"DPNet trained with dpnet.ranking={want!r}, got "
                     f"{stages['dpnet'].dpnet.ranking!r}")


def _resize(img: Array, size: int, stage: str) -> Array:
  """[B, S, S, 3] crops -> [B, size, size, 3] (unchanged when S == size); warns (at
  trace time) when a stage reads finer crops than the batch's, which upsampling cannot
  give it."""
  if img.shape[1] == size:
    return img
  if size > img.shape[1]:
    logging.warning("drpose_full: the %s stage was trained on %d-px crops but the batch's "
                    "are %d px (upsampled, detail lost); set "
                    "--config.data.augment.output_size=%d", stage, size, img.shape[1], size)
  return jax.image.resize(jnp.asarray(img, jnp.float32), (img.shape[0], size, size, 3),
                          "linear")


def lifting_batch(keypoints2d: Array, ranking: Array | None, valid: Array) -> dict[str, Array]:
  """The DPNet batch of predicted 2D [B, J, 2] and a discrete ranking matrix [B, J, J]
  (None: no relations, for a DPNet trained without ranking)."""
  b = keypoints2d.shape[0]
  pairs = ordinal.all_pairs(J)
  if ranking is None:
    rel = jnp.zeros((b, len(pairs), 3), jnp.int8)
  else:
    rel = ordinal.relations_from_ranking_matrix(ranking, pairs)
  ones = jnp.ones((b,), bool)
  return {"keypoints2d": keypoints2d, "joint_mask": jnp.ones((b, J), bool),
          "relations": rel, "relation_mask": jnp.broadcast_to(ranking is not None,
                                                              (b, len(pairs))),
          "has_ordinal": ones & (ranking is not None), "valid": valid}


def drpose_full(config: Any) -> base.Method:
  """The chained pipeline (module docstring); `config.full` names the stages."""
  from jaxpose import methods  # pylint: disable=g-import-not-at-top  (registry imports us)
  stages = _stages(config)
  built = {s: methods.get_method(c) for s, c in stages.items()}
  _check_stages(config, stages, built)
  sizes = {s: int(c.data.augment.output_size) for s, c in stages.items() if s != "dpnet"}
  use_prcnn = "prcnn" in built
  epsilon = float(stages["prcnn"].prcnn.epsilon) if use_prcnn else 0.0
  true_ranking = config.full.ranking == "ground_truth"
  tie_tol = float(stages["dpnet"].data.tie_tol)

  def init(key: Array, batch: base.Batch) -> base.Variables:
    del key, batch  # nothing is initialised: the trained stages are restored
    return restore_stages(config)

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    raise ValueError("drpose_full: nothing to train; train the stages separately "
                     "(configs/ordinal_volumetric.py, configs/drpose_prcnn.py, "
                     "configs/drpose_dpnet.py) and name their workdirs in config.full")

  def predict_outputs(variables: base.Variables, batch: base.Batch) -> dict[str, Array]:
    size = image.crop_size(batch)
    if "estimator" in built:
      est = built["estimator"].predict_outputs(
          variables["estimator"],
          {**batch, "image": _resize(batch["image"], sizes["estimator"], "estimator")})
      kp = est["keypoints2d"] * (size / sizes["estimator"])  # (B, J, 2) batch crop pixels
    else:  # the annotated 2D
      kp = jnp.asarray(batch["keypoints2d"], jnp.float32)
    out = {"keypoints2d": kp}
    ranking = None
    if use_prcnn:
      s = sizes["prcnn"]
      pb = {**batch, "image": _resize(batch["image"], s, "prcnn"),
            "keypoints2d": kp * (s / size),
            "joint_mask": jnp.ones(kp.shape[:2], bool)}
      pr = built["prcnn"].predict_outputs(variables["prcnn"], pb)
      ranking = prcnn_models.discretize(pr["ranking"], epsilon=epsilon)  # (B, J, J)
      out.update(depth=pr["depth"], ranking=ranking)
    elif true_ranking:  # the annotated 3D's matrix, DPNet's training tie band
      ranking = ordinal.ranking_matrix_from_depth(batch["keypoints3d"][..., 2], tol=tie_tol)
      out["ranking"] = ranking
    lb = lifting_batch(kp, ranking, batch["valid"])
    out["pose3d"] = built["dpnet"].predict(variables["dpnet"], lb)
    return out

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    return predict_outputs(variables, batch)["pose3d"]

  return base.Method("drpose_full", "image", init, loss, predict, None, predict_outputs)


def restore_stages(config: Any) -> dict[str, Any]:
  """{stage: variables} of the trained runs in `config.full.<stage>_workdir`
  (`train_lib.restore`, checkpoint `config.full.which`)."""
  from jaxpose.train import train_lib  # pylint: disable=g-import-not-at-top
  out = {}
  for stage, stage_cfg in _stages(config).items():
    workdir = config.full[f"{stage}_workdir"]
    if not workdir:
      raise ValueError(f"config.full.{stage}_workdir: expected the folder of a trained "
                       f"{stage} run")
    out[stage] = train_lib.restore(stage_cfg, workdir, which=config.full.which)[1]
  return out


def restore(config: Any) -> tuple[base.Method, dict[str, Any], int]:
  """`train_lib.restore`'s (method, variables, step) for the pipeline; step is 0 (the
  pipeline has no checkpoint of its own; each stage's is `config.full.which`)."""
  from jaxpose import methods  # pylint: disable=g-import-not-at-top
  return methods.get_method(config), restore_stages(config), 0
