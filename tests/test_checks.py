"""Tests for jaxpose.checks: the one-line argument errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpose import checks


def test_shapes_binds_names_across_arguments():
  dims = checks.shapes(a=(np.zeros((2, 17, 3)), "B J 3"), b=(np.zeros((2, 17)), "B J"))
  assert dims == {"B": 2, "J": 17}


def test_shapes_mismatch_names_argument():
  with pytest.raises(ValueError, match=r"^b: expected shape \[B, J\] with J=17, got \(2, 16\)$"):
    checks.shapes(a=(np.zeros((2, 17, 3)), "B J 3"), b=(np.zeros((2, 16)), "B J"))


def test_shapes_rank_and_fixed_size():
  with pytest.raises(ValueError, match=r"relations: expected shape \[B, P, 3\], got \(4, 10\)"):
    checks.shapes(relations=(np.zeros((4, 10)), "B P 3"))
  with pytest.raises(ValueError, match=r"x: expected shape \[J, 3\], got \(17, 2\)"):
    checks.shapes(x=(np.zeros((17, 2)), "J 3"))


def test_shapes_leading_ellipsis_must_agree():
  checks.shapes(a=(np.zeros((5, 2, 17)), "... J"), b=(np.zeros((5, 2, 17, 3)), "... J 3"))
  with pytest.raises(ValueError, match="b: expected shape"):
    checks.shapes(a=(np.zeros((5, 17)), "... J"), b=(np.zeros((4, 17, 3)), "... J 3"))


def test_shapes_work_under_jit():
  @jax.jit
  def f(x):
    checks.shapes(x=(x, "B 3"))
    return x.sum()
  assert f(jnp.ones((2, 3))) == 6
  with pytest.raises(ValueError, match="x: expected shape"):
    f(jnp.ones((2, 4)))


def test_finite():
  checks.finite(x=np.ones(3))
  with pytest.raises(ValueError, match="pred: expected finite values, got 1 NaN/inf entries"):
    checks.finite(pred=np.array([1.0, np.nan]))


def test_relations_labels_and_indices():
  good = np.array([[0, 1, 1], [2, 3, -1], [4, 5, 0]], np.int8)
  checks.relations("relations", good, 17)
  with pytest.raises(ValueError, match=r"relations: relation labels must be in \{-1, 0, 1\}, got 2"):
    checks.relations("relations", np.array([[0, 1, 2]]), 17)
  with pytest.raises(ValueError, match=r"relations: joint indices must be in \[0, 17\), got \(0, 17\)"):
    checks.relations("relations", np.array([[0, 17, 1]]), 17)
  # Masked-out padding is not checked.
  checks.relations("relations", np.array([[0, 1, 1], [0, 99, 7]]), 17,
                   mask=np.array([True, False]))


def test_relations_skipped_for_tracers():
  @jax.jit
  def f(r):
    checks.relations("relations", r, 17)
    return r.sum()
  f(jnp.array([[0, 1, 1]], jnp.int8))


def test_one_of_and_positive():
  with pytest.raises(ValueError, match=r"reduction: expected one of \['mean', 'none'\], got 'x'"):
    checks.one_of("reduction", "x", ["mean", "none"])
  with pytest.raises(ValueError, match="tol: expected a positive number"):
    checks.positive("tol", 0)
