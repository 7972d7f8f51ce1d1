"""The method interface (model + losses + prediction as pure functions) and helpers methods share.

A `Method` is what the training loop, evaluation and prediction know about a paper's
approach. Its three functions are pure and jit-able; the loop owns the optimiser, the
sharding and the checkpoints:

  variables = method.init(key, batch)          # {'params': ..., 'batch_stats': ...?}
  loss, aux = method.loss(variables, batch, key)  # train mode; key feeds dropout
  pose3d = method.predict(variables, batch)    # eval mode: [B, J, 3] metres

`batch` is a device batch in the input-pipeline layout (`jaxpose.data.pipeline`, without
`meta`). `aux = {'metrics': {term: scalar}, 'batch_stats': updated running statistics}`
(`{}` for models without batch norm); every metric is a float scalar, logged as
`train/<term>` and checked for NaN/inf by the loop. Losses honour the per-example masks
(`valid`, `has_3d`, `has_ordinal`, `joint_mask`, `relation_mask`), so mixed and padded
batches need no special casing.

A new method is a factory `(config) -> Method` registered in `jaxpose.methods.METHODS`;
`model_from_config`, `apply_train`/`apply_eval`, the mask helpers and `total_loss` keep
it short (see `jaxpose.methods.lifting.supervised_lifting`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpose import checks

Array = jax.Array
Batch = Mapping[str, Any]
Variables = dict[str, Any]

DATA_KINDS = ("lifting", "image")


@dataclasses.dataclass(frozen=True, eq=False)
class Method:
  """A paper's approach as pure functions (module docstring).

  Attributes:
    name: registry name (`config.method`).
    data_kind: 'lifting' (2D/3D/relation batches, no image) or 'image' (batches with
      `image uint8 [B, S, S, 3]`).
    init: (key, batch) -> variables {'params', and 'batch_stats' for batch-norm models}.
    loss: (variables, batch, key) -> (scalar loss, {'metrics': {term: scalar},
      'batch_stats': ...}), train mode.
    predict: (variables, batch) -> [B, J, 3] root-relative camera-frame poses in metres,
      eval mode.
    model: the Flax module (for inspection and benchmarks).
    predict_outputs: optional (variables, batch) -> {'pose3d': `predict`'s poses, and
      what else the method predicts: 'keypoints2d' [B, J, 2] pixels of the batch's
      image, 'depth' [B, J] the network's own per-joint depth (any unit, larger =
      farther)}, eval mode. Evaluation then also scores 2D PCK and the ordinal accuracy
      of 'depth' (`jaxpose.train.train_lib.evaluate`).
  """
  name: str
  data_kind: str
  init: Callable[[Array, Batch], Variables]
  loss: Callable[[Variables, Batch, Array], tuple[Array, dict[str, Any]]]
  predict: Callable[[Variables, Batch], Array]
  model: nn.Module | None = None
  predict_outputs: Callable[[Variables, Batch], dict[str, Array]] | None = None

  def __post_init__(self):
    checks.one_of("data_kind", self.data_kind, DATA_KINDS)


def model_from_config(get_model: Callable[..., nn.Module], config: Mapping[str, Any],
                      **fixed: Any) -> nn.Module:
  """`get_model(config.name, **other fields, **fixed)`; a 'dtype' string becomes a dtype.

  Args:
    get_model: a model registry lookup, e.g. `jaxpose.models.lifting.get_model`.
    config: the `config.model` block: `name` plus the model's attributes.
    **fixed: attributes the method decides (e.g. `out_dim`), not the config.
  """
  kwargs = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  if "name" not in kwargs:
    raise ValueError("config.model: expected a 'name' field naming the model")
  name = kwargs.pop("name")
  clash = sorted(set(kwargs) & set(fixed))
  if clash:
    raise ValueError(f"config.model: {clash} are set by the method; remove them from the config")
  if isinstance(kwargs.get("dtype"), str):
    kwargs["dtype"] = jnp.dtype(kwargs["dtype"])
  return get_model(name, **kwargs, **fixed)


def init_variables(model: nn.Module, key: Array, *inputs: Any) -> Variables:
  """`model.init` in eval mode: {'params'} plus {'batch_stats'} for batch-norm models."""
  return dict(model.init({"params": key}, *inputs, train=False))


def apply_train(model: nn.Module, variables: Variables, *inputs: Any,
                key: Array) -> tuple[Any, dict[str, Any]]:
  """Train-mode apply (batch statistics, dropout from `key`) -> (output, new batch_stats)."""
  if "batch_stats" not in variables:
    return model.apply(variables, *inputs, train=True, rngs={"dropout": key}), {}
  out, updates = model.apply(variables, *inputs, train=True, rngs={"dropout": key},
                             mutable=["batch_stats"])
  return out, updates["batch_stats"]


def apply_eval(model: nn.Module, variables: Variables, *inputs: Any) -> Any:
  """Eval-mode apply (running statistics, no dropout)."""
  return model.apply(variables, *inputs, train=False)


def pose_mask(batch: Batch) -> Array:
  """bool [B, J]: joints with a 3D target (joint_mask & has_3d & valid)."""
  return (batch["joint_mask"] & batch["has_3d"][:, None]) & batch["valid"][:, None]


def input_mask(batch: Batch) -> Array:
  """bool [B, J]: joints to read 2D from; padding rows count as all valid (their zeros are
  harmless), so normalisation never sees a row without its root."""
  return batch["joint_mask"] | ~batch["valid"][:, None]


def relation_mask(batch: Batch) -> Array:
  """bool [B, P]: annotated relations (relation_mask & has_ordinal & valid)."""
  return (batch["relation_mask"] & batch["has_ordinal"][:, None]) & batch["valid"][:, None]


def total_loss(terms: Mapping[str, Array], batch_stats: Any, *,
               weights: Mapping[str, float] | None = None,
               extra: Mapping[str, Array] | None = None) -> tuple[Array, dict[str, Any]]:
  """Weighted sum of loss terms and the `aux` the loop expects.

  Args:
    terms: {name: scalar loss term}.
    batch_stats: the updated batch statistics from `apply_train`.
    weights: {name: weight}; missing names weigh 1.
    extra: more scalars to log (e.g. a training MPJPE), not added to the loss.

  Returns:
    (loss, {'metrics': {**terms, **extra}, 'batch_stats': batch_stats}).
  """
  weights = weights or {}
  unknown = sorted(set(weights) - set(terms))
  if unknown:
    raise ValueError(f"weights: {unknown} name no loss term; terms: {sorted(terms)}")
  loss = sum(weights.get(k, 1.0) * v for k, v in terms.items())
  return loss, {"metrics": {**terms, **(extra or {})}, "batch_stats": batch_stats}
