"""Tests for jaxpose.train.optim: names, schedules, clipping, Torch7-style RMSprop."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxpose.train import optim


def _update(tx, grads):
  params = jnp.zeros_like(grads)
  updates, _ = tx.update(grads, tx.init(params), params)
  return np.asarray(updates)


@pytest.mark.parametrize("name", sorted(optim.OPTIMIZERS))
def test_every_name_makes_an_optimizer(name):
  tx = optim.make(name, learning_rate=1e-3, decay_steps=10, decay_rate=0.5, clip_norm=1.0)
  assert isinstance(tx, optax.GradientTransformation)
  assert np.all(np.isfinite(_update(tx, jnp.ones(3))))


def test_unknown_name_lists_known():
  with pytest.raises(ValueError, match=r"unknown name 'adamx'; known: adadelta, adam, adamw, rmsprop, sgd"):
    optim.make("adamx", learning_rate=1e-3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=1e-3, decay_steps=10, decay_rate=1.5), "decay_rate"),
    (dict(learning_rate=1e-3, clip_norm=-1.0), "clip_norm"),
])
def test_bad_hyperparameters(kwargs, match):
  with pytest.raises(ValueError, match=match):
    optim.make("adam", **kwargs)


def test_martinez_schedule():
  lr = optim.schedule(learning_rate=1e-3, decay_steps=100_000, decay_rate=0.96)
  np.testing.assert_allclose(float(lr(0)), 1e-3, rtol=1e-6)
  np.testing.assert_allclose(float(lr(100_000)), 1e-3 * 0.96, rtol=1e-6)
  np.testing.assert_allclose(float(lr(200_000)), 1e-3 * 0.96**2, rtol=1e-6)
  np.testing.assert_allclose(float(lr(50_000)), 1e-3 * 0.96**0.5, rtol=1e-6)  # continuous


def test_constant_schedule_without_decay():
  lr = optim.schedule(learning_rate=2.5e-4)
  assert float(lr(0)) == float(lr(10**6)) == pytest.approx(2.5e-4)


def test_schedule_drives_the_updates():
  tx = optim.make("sgd", learning_rate=1.0, decay_steps=1, decay_rate=0.5)
  params = jnp.zeros(2)
  state = tx.init(params)
  sizes = []
  for _ in range(3):
    updates, state = tx.update(jnp.ones(2), state, params)
    sizes.append(float(updates[0]))
  np.testing.assert_allclose(sizes, [-1.0, -0.5, -0.25], rtol=1e-6)


@pytest.mark.parametrize("scale", [10.0, 0.5])
def test_clipping_caps_the_global_norm(scale):
  grads = jnp.array([3.0, 4.0]) * scale / 5.0  # global norm = scale
  update = _update(optim.make("sgd", learning_rate=1.0, clip_norm=1.0), grads)
  np.testing.assert_allclose(np.linalg.norm(update), min(scale, 1.0), rtol=1e-5)
  unclipped = _update(optim.make("sgd", learning_rate=1.0), grads)
  np.testing.assert_allclose(np.linalg.norm(unclipped), scale, rtol=1e-5)


def test_rmsprop_matches_torch7():
  # Torch7 optim.rmsprop, first step: m = (1 - 0.99) g^2, x -= lr g / (sqrt(m) + 1e-8).
  g = jnp.array([2.0, -0.5])
  update = _update(optim.make("rmsprop", learning_rate=2.5e-4), g)
  expected = -2.5e-4 * np.asarray(g) / (np.sqrt(0.01 * np.asarray(g) ** 2) + 1e-8)
  np.testing.assert_allclose(update, expected, rtol=1e-5)


def test_from_config_and_learning_rate_fn():
  block = {"name": "adam", "learning_rate": 1e-3, "decay_steps": 100_000, "decay_rate": 0.96,
           "clip_norm": 1.0}
  assert isinstance(optim.from_config(block), optax.GradientTransformation)
  np.testing.assert_allclose(float(optim.learning_rate_fn(block)(100_000)), 9.6e-4, rtol=1e-6)
