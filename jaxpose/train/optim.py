"""Optimisers by their optax name, with the papers' learning-rate schedules and clipping.

  tx = optim.make("adam", learning_rate=1e-3, decay_steps=100_000, decay_rate=0.96,
                  clip_norm=1.0)          # Martinez 2017 / Ronchi 2018
  tx = optim.make("rmsprop", learning_rate=2.5e-4)   # Pavlakos 2018 (Torch7 RMSprop)
  tx = optim.from_config(config.optimizer)

The schedule is `lr * decay_rate ** (step / decay_steps)` (optax `exponential_decay`,
continuous like Martinez's `tf.train.exponential_decay` default and Ronchi's `lr_decay`);
gradients are clipped to a global norm before the optimiser sees them (Ronchi's
`clip_grad_norm_(..., 1)`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

import optax

# Torch7's optim.rmsprop (Pavlakos' c2f-vol-train, stacked hourglass): alpha 0.99, epsilon
# 1e-8 added to sqrt(mean square), not under it.
OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": optax.sgd,
    "rmsprop": functools.partial(optax.rmsprop, decay=0.99, eps=1e-8, eps_in_sqrt=False),
    # Caffe's AdaDelta (Habibie et al.): its "momentum" 0.9 is rho, delta 1e-6 is eps
    "adadelta": functools.partial(optax.adadelta, rho=0.9, eps=1e-6),
}


def schedule(*, learning_rate: float, decay_steps: int = 0, decay_rate: float = 1.0,
             staircase: bool = False) -> optax.Schedule:
  """`learning_rate * decay_rate ** (step / decay_steps)`; constant when decay_steps == 0."""
  if not learning_rate > 0:
    raise ValueError(f"learning_rate: expected > 0, got {learning_rate!r}")
  if decay_steps < 0 or not 0 < decay_rate <= 1:
    raise ValueError(f"decay_steps/decay_rate: expected decay_steps >= 0 and decay_rate in "
                     f"(0, 1], got {decay_steps!r}, {decay_rate!r}")
  if decay_steps == 0:
    return optax.constant_schedule(learning_rate)
  return optax.exponential_decay(learning_rate, transition_steps=int(decay_steps),
                                 decay_rate=decay_rate, staircase=staircase)


def make(name: str, *, learning_rate: float, decay_steps: int = 0, decay_rate: float = 1.0,
         staircase: bool = False, clip_norm: float = 0.0,
         **kwargs: Any) -> optax.GradientTransformation:
  """The optimiser `name` on the exponential-decay schedule, after optional clipping.

  Args:
    name: one of `OPTIMIZERS` ('adam', 'adamw', 'sgd', 'rmsprop').
    learning_rate: initial learning rate.
    decay_steps, decay_rate, staircase: see `schedule` (0 steps = constant rate).
    clip_norm: clip gradients to this global norm first; 0 = no clipping.
    **kwargs: passed to the optax constructor (e.g. b1, b2, eps, weight_decay).

  Raises:
    ValueError: unknown name (listing the known ones) or bad hyper-parameters.
  """
  if name not in OPTIMIZERS:
    raise ValueError(f"optimizer: unknown name {name!r}; known: {', '.join(sorted(OPTIMIZERS))}")
  if clip_norm < 0:
    raise ValueError(f"clip_norm: expected >= 0 (0 = off), got {clip_norm!r}")
  lr = schedule(learning_rate=learning_rate, decay_steps=decay_steps, decay_rate=decay_rate,
                staircase=staircase)
  tx = OPTIMIZERS[name](lr, **kwargs)
  return optax.chain(optax.clip_by_global_norm(clip_norm), tx) if clip_norm else tx


def from_config(config: Mapping[str, Any]) -> optax.GradientTransformation:
  """`make(**config)` for a config block {name, learning_rate, decay_steps, ...}."""
  return make(**_as_dict(config))


def _as_dict(config: Mapping[str, Any]) -> dict[str, Any]:
  return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def learning_rate_fn(config: Mapping[str, Any]) -> optax.Schedule:
  """The schedule of a `config.optimizer` block (for logging the rate)."""
  keys = ("learning_rate", "decay_steps", "decay_rate", "staircase")
  return schedule(**{k: v for k, v in _as_dict(config).items() if k in keys})
