"""Pure train / eval steps over a plain-pytree train state, and their one-time jit on a mesh.

Train state (a dict, checkpointed whole):
  {'step': int32 [],  'variables': {'params', 'batch_stats'?},  'opt_state': optax state}

`jit_train_step` compiles `train_step` once per (method, optimiser, mesh) with the state
replicated and donated and the batch sharded on 'data'; batches have static shapes (the
pipeline pads relations and evaluation batches), so nothing recompiles.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxpose.methods import base
from jaxpose.train import sharding

Array = jax.Array
State = dict[str, Any]


def init_state(key: Array, batch: base.Batch, *, method: base.Method,
               tx: optax.GradientTransformation) -> State:
  """Step 0: the method's fresh variables and the optimiser state of their params."""
  variables = method.init(key, batch)
  return {"step": jnp.zeros((), jnp.int32), "variables": variables,
          "opt_state": tx.init(variables["params"])}


def train_step(state: State, batch: base.Batch, dropout_key: Array, *, method: base.Method,
               tx: optax.GradientTransformation) -> tuple[State, dict[str, Array]]:
  """One optimiser step on one batch.

  Args:
    state: the train state (module docstring).
    batch: a device batch (pipeline layout without `meta`).
    dropout_key: the run's dropout key; this step uses `fold_in(dropout_key, step)`, so
      a resumed run draws the same masks as an uninterrupted one.
    method: the method (its `loss` is differentiated w.r.t. params).
    tx: the optimiser.

  Returns:
    (new state, metrics {'loss', the method's terms, 'grad_norm'}: float32 scalars).
  """
  variables = state["variables"]
  key = jax.random.fold_in(dropout_key, state["step"])

  def loss_fn(params):
    return method.loss({**variables, "params": params}, batch, key)

  (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
  updates, opt_state = tx.update(grads, state["opt_state"], variables["params"])
  new_variables = {**variables, "params": optax.apply_updates(variables["params"], updates)}
  if "batch_stats" in variables:
    new_variables["batch_stats"] = aux["batch_stats"]
  metrics = {"loss": loss, **aux["metrics"], "grad_norm": optax.global_norm(grads)}
  metrics = {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}
  return {"step": state["step"] + 1, "variables": new_variables, "opt_state": opt_state}, metrics


def eval_step(variables: base.Variables, batch: base.Batch, *,
              method: base.Method) -> Array:
  """Eval-mode predictions [B, J, 3] (root-relative camera-frame metres)."""
  return method.predict(variables, batch)


def jit_init_state(method: base.Method, tx: optax.GradientTransformation,
                   mesh: jax.sharding.Mesh) -> Callable[[Array, base.Batch], State]:
  """`init_state` compiled with its output replicated over the mesh."""
  return jax.jit(functools.partial(init_state, method=method, tx=tx),
                 out_shardings=sharding.replicated(mesh), compiler_options=sharding.compiler_options(mesh))


def jit_train_step(method: base.Method, tx: optax.GradientTransformation,
                   mesh: jax.sharding.Mesh) -> Callable[..., tuple[State, dict[str, Array]]]:
  """`train_step(state, batch, dropout_key)` compiled once: state replicated and donated,
  batch sharded on 'data', metrics replicated."""
  rep, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  return jax.jit(functools.partial(train_step, method=method, tx=tx),
                 in_shardings=(rep, data, rep), out_shardings=(rep, rep), donate_argnums=0,
                 compiler_options=sharding.compiler_options(mesh))


@functools.lru_cache(maxsize=8)
def jit_eval_step(method: base.Method,
                  mesh: jax.sharding.Mesh) -> Callable[[base.Variables, base.Batch], Array]:
  """`eval_step(variables, batch)` compiled once per (method, mesh): batch sharded on
  'data', predictions replicated (every process gets the whole batch's)."""
  rep, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  return jax.jit(functools.partial(eval_step, method=method), in_shardings=(rep, data),
                 out_shardings=rep, compiler_options=sharding.compiler_options(mesh))
