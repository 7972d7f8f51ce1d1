"""Shared pytest fixtures: float64 scope for gradient checks, seeded NumPy RNG."""

import jax
import numpy as np
import pytest


@pytest.fixture
def x64():
  """Runs the test body with 64-bit JAX (check_grads needs it for default tolerances)."""
  with jax.enable_x64(True):
    yield


@pytest.fixture
def rng():
  return np.random.default_rng(0)
