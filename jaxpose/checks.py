"""Argument validation: one-line `ValueError`s that name the argument and the expected form.

Every public function that takes user arrays calls these before any `jnp` work, so bad
input fails with a message such as

    ValueError: relations: expected shape [B, P, 3], got (4, 10)

instead of a deep JAX tracer error. Shape checks are static and so also run under `jit`;
value checks (NaN, label ranges, index ranges) need concrete values and are skipped for
tracers (inside a jitted step the inputs were validated where they entered the program).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import jax
import numpy as np

_DIM = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*|\d+|\.\.\.)$")


def is_concrete(x: Any) -> bool:
  """True when `x` holds values we can inspect (not a tracer)."""
  return not isinstance(x, jax.core.Tracer)


def _spec_dims(spec: str) -> list[str]:
  dims = spec.replace(",", " ").split()
  for d in dims:
    if not _DIM.match(d):
      raise ValueError(f"internal: bad shape spec {spec!r}")
  return dims


def _fmt(dims: list[str]) -> str:
  return "[" + ", ".join(dims) + "]"


def shapes(**named: tuple[Any, str]) -> dict[str, int]:
  """Checks several arrays' shapes against specs that share dimension names.

  Usage: `shapes(pred=(pred, 'B J 3'), target=(target, 'B J 3'), mask=(mask, 'B J'))`.
  A spec is space- or comma-separated: integers are fixed sizes, names bind across all
  arguments, and a leading `...` matches any (shared) run of leading dimensions.
  An argument whose value is None is skipped. Returns the bound sizes.

  Raises:
    ValueError: naming the first argument whose shape does not fit.
  """
  bound: dict[str, Any] = {}
  for name, (x, spec) in named.items():
    if x is None:
      continue
    dims = _spec_dims(spec)
    shape = tuple(np.shape(x))
    expected = _fmt(dims)
    if dims and dims[0] == "...":
      rest = dims[1:]
      if len(shape) < len(rest):
        raise ValueError(f"{name}: expected shape {expected}, got {shape}")
      lead, tail = shape[: len(shape) - len(rest)], shape[len(shape) - len(rest):]
      if "..." in bound and bound["..."] != lead:
        raise ValueError(
            f"{name}: expected shape {expected} with leading dims {bound['...']}, got {shape}")
      bound["..."] = lead
      dims, shape = rest, tail
    if len(shape) != len(dims):
      raise ValueError(f"{name}: expected shape {expected}, got {tuple(np.shape(x))}")
    for d, n in zip(dims, shape):
      if d.isdigit():
        if int(d) != n:
          raise ValueError(f"{name}: expected shape {expected}, got {tuple(np.shape(x))}")
      elif d in bound and bound[d] != n:
        raise ValueError(
            f"{name}: expected shape {expected} with {d}={bound[d]}, got {tuple(np.shape(x))}")
      else:
        bound[d] = n
  return {k: v for k, v in bound.items() if k != "..."}


def finite(**named: Any) -> None:
  """Raises if any concrete array contains NaN or inf."""
  for name, x in named.items():
    if x is None or not is_concrete(x):
      continue
    a = np.asarray(x)
    if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
      bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
      raise ValueError(f"{name}: expected finite values, got {bad} NaN/inf entries")


def floating(**named: Any) -> None:
  """Raises if an array is not of a floating dtype."""
  for name, x in named.items():
    if x is None:
      continue
    if not np.issubdtype(np.asarray(x).dtype if is_concrete(x) else x.dtype, np.floating):
      raise ValueError(f"{name}: expected a floating-point array, got dtype {x.dtype}")


def relations(name: str, rel: Any, num_joints: int, mask: Any = None) -> None:
  """Checks relation triples `(i, j, r)` [..., P, 3]: indices in range, r in {-1, 0, 1}.

  Only entries where `mask` is true (when given) are checked; padding is free.
  """
  if np.shape(rel)[-1:] != (3,):
    raise ValueError(f"{name}: expected shape [..., P, 3] of (i, j, r) triples, "
                     f"got {tuple(np.shape(rel))}")
  if not is_concrete(rel) or (mask is not None and not is_concrete(mask)):
    return
  a = np.asarray(rel)
  if a.dtype.kind not in "iu":
    if a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
      a = a.astype(np.int64)
    else:
      raise ValueError(f"{name}: expected integer (i, j, r) triples, got dtype {a.dtype}")
  if mask is not None:
    m = np.broadcast_to(np.asarray(mask, bool), a.shape[:-1])
    a = a[m]
  if a.size == 0:
    return
  i, j, r = a[..., 0], a[..., 1], a[..., 2]
  bad_idx = (i < 0) | (i >= num_joints) | (j < 0) | (j >= num_joints)
  if np.any(bad_idx):
    k = np.argwhere(bad_idx)[0]
    raise ValueError(f"{name}: joint indices must be in [0, {num_joints}), "
                     f"got ({int(i[tuple(k)])}, {int(j[tuple(k)])})")
  bad_r = ~np.isin(r, (-1, 0, 1))
  if np.any(bad_r):
    raise ValueError(f"{name}: relation labels must be in {{-1, 0, 1}}, "
                     f"got {int(r[bad_r][0])}")


def one_of(name: str, value: Any, allowed: Iterable[Any]) -> None:
  """Raises unless `value` is one of `allowed`, listing them."""
  allowed = list(allowed)
  if value not in allowed:
    raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")


def positive(name: str, value: float) -> None:
  if not value > 0:
    raise ValueError(f"{name}: expected a positive number, got {value!r}")
