"""Ordinal depth relations: from depth, ranking matrices, sampling, noise, vote merging.

Convention (DESIGN.md, Pavlakos Sec. 4.3): for an ordered pair (i, j) of joints with
camera depths z (metres, larger = farther), `r = +1` iff joint i is closer
(z_i < z_j - tol), `r = -1` iff j is closer, and `r = 0` iff |z_i - z_j| <= tol.
Relations are int8 triples `(i, j, r)`; a batch holds them densely as `[B, P, 3]` with a
`bool [B, P]` mask. Ronchi et al. (eq. 2) use the opposite sign (`to_ronchi_sign`).
DRPose3D's ranking matrix (eq. 1) is `M_ij = (1 - r_ij) / 2`: 1 when i is behind j,
0 in front, 0.5 tie (and on the diagonal).

`relations_from_depth`, `ranking_matrix_from_depth`, `ranking_matrix_from_relations`,
`relations_from_ranking_matrix`, `swap` and the Ronchi sign conversions take NumPy or JAX
arrays, return the same kind and are jit-able. The rest is host-side data code on NumPy
arrays with an explicit `np.random.Generator`. Ronchi's "one annotated pair per pose, in
random order half the time" is

    pairs = sample_pairs(rng, J, 1, joint_mask=visible)
    rel = random_order(rng, relations_from_depth(depth, pairs))
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks

Array = Any  # np.ndarray or jax.Array
_INDEX_LIMIT = 128  # int8 triples hold joint indices 0..127.


def _xp(*xs: Any):
  """jnp when any argument is a JAX array (or tracer), else np."""
  return jnp if any(isinstance(x, jax.Array) for x in xs) else np


def check_num_joints(num_joints: Any, name: str = "num_joints") -> None:
  if (isinstance(num_joints, bool) or not isinstance(num_joints, (int, np.integer))
      or not 0 < num_joints <= _INDEX_LIMIT):
    raise ValueError(f"{name}: expected an int number of joints in [1, {_INDEX_LIMIT}] "
                     f"(int8 relations), got {num_joints!r}")


def _check_tol(tol: Any) -> None:
  if checks.is_concrete(tol) and not float(tol) >= 0:
    raise ValueError(f"tol: expected a non-negative depth tolerance in metres, got {tol!r}")


def _check_prob(name: str, p: Any) -> np.ndarray:
  a = np.asarray(p, dtype=np.float64)
  if not np.all((a >= 0) & (a <= 1)):
    got = a.item() if a.ndim == 0 else f"values in [{a.min()}, {a.max()}]"
    raise ValueError(f"{name}: expected probabilities in [0, 1], got {got}")
  return a


def _check_count(name: str, n: Any) -> None:
  if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
    raise ValueError(f"{name}: expected a non-negative int, got {n!r}")


def _check_rng(rng: Any) -> None:
  if not isinstance(rng, np.random.Generator):
    raise ValueError(f"rng: expected a np.random.Generator, got {type(rng).__name__}")


def _check_pairs(pairs: Any, num_joints: int) -> None:
  checks.shapes(pairs=(pairs, "P 2"))
  if not checks.is_concrete(pairs):
    return
  p = np.asarray(pairs)
  if p.size and p.dtype.kind not in "iu":
    raise ValueError(f"pairs: expected integer joint indices, got dtype {p.dtype}")
  if p.size and (p.min() < 0 or p.max() >= num_joints):
    raise ValueError(f"pairs: joint indices must be in [0, {num_joints}), "
                     f"got range [{p.min()}, {p.max()}]")
  if np.any(p[:, 0] == p[:, 1]):
    k = int(np.flatnonzero(p[:, 0] == p[:, 1])[0])
    raise ValueError(f"pairs: pair {k} relates joint {p[k, 0]} to itself")


def check_relations(name: str, rel: Any, num_joints: int, mask: Any = None, *,
                     graph: bool = False) -> None:
  """checks.relations plus, for `graph` use, no valid pair (i, i)."""
  if mask is not None:
    checks.shapes(**{name: (rel, "... P 3"), "mask": (mask, "... P")})
  checks.relations(name, rel, num_joints, mask)
  if not graph or not checks.is_concrete(rel) or not checks.is_concrete(mask):
    return
  a = np.asarray(rel)
  m = np.ones(a.shape[:-1], bool) if mask is None else np.asarray(mask, bool)
  own = (a[..., 0] == a[..., 1]) & m
  if np.any(own):
    i = int(a[..., 0][own][0])
    raise ValueError(f"{name}: valid pair ({i}, {i}) relates a joint to itself")


def _check_labels(name: str, r: Any) -> None:
  """Labels in {-1, 0, 1}: checked for concrete values (NumPy, JAX, lists), skipped
  under tracing (a traced label has no value to check)."""
  if not checks.is_concrete(r):
    return
  a = np.asarray(r)
  bad = ~np.isin(a, (-1, 0, 1))
  if np.any(bad):
    raise ValueError(f"{name}: relation labels must be in {{-1, 0, 1}}, "
                     f"got {a[bad].ravel()[0].item()!r}")


def _label_from_diff(d: Array, tol: Any, xp) -> Array:
  """`d = z_j - z_i`: +1 when i is closer by more than tol, -1 when j is, else 0."""
  return (d > tol).astype(xp.int8) - (d < -tol).astype(xp.int8)


# --- relations and ranking matrices (NumPy or JAX, jit-able) ----------------------------


def all_pairs(num_joints: int) -> np.ndarray:
  """All unordered pairs (i < j), row-major: int32 [J(J-1)/2, 2]."""
  check_num_joints(num_joints)
  i, j = np.triu_indices(num_joints, k=1)
  return np.stack([i, j], axis=-1).astype(np.int32)


def relations_from_depth(depth: Array, pairs: Array | None = None, *,
                         tol: float = 0.1) -> Array:
  """Ordinal relations of depths (Pavlakos Sec. 4.3, 100 mm tie band by default).

  Args:
    depth: [..., J] camera depths in metres (larger = farther).
    pairs: [P, 2] joint index pairs; None for `all_pairs(J)`.
    tol: tie band in metres: |z_i - z_j| <= tol gives r = 0.

  Returns:
    int8 [..., P, 3] triples (i, j, r), r = +1 iff joint i is closer.
  """
  xp = _xp(depth, pairs)
  num_joints = checks.shapes(depth=(depth, "... J"))["J"]
  check_num_joints(num_joints, "depth (last axis)")
  checks.finite(depth=depth)
  _check_tol(tol)
  pairs = all_pairs(num_joints) if pairs is None else pairs
  _check_pairs(pairs, num_joints)
  depth, pairs = xp.asarray(depth), xp.asarray(pairs)
  r = _label_from_diff(depth[..., pairs[:, 1]] - depth[..., pairs[:, 0]], tol, xp)
  ij = xp.broadcast_to(pairs.astype(xp.int8), r.shape + (2,))
  return xp.concatenate([ij, r[..., None]], axis=-1)


def ranking_matrix_from_depth(depth: Array, *, tol: float = 0.1) -> Array:
  """DRPose3D ranking matrix (eq. 1): M_ij = 1 if i is behind j, 0 in front, 0.5 tie.

  Args:
    depth: [..., J] camera depths in metres.
    tol: tie band in metres (DRPose3D's epsilon).

  Returns:
    float32 [..., J, J], equal to `(1 - r_ij) / 2` of `relations_from_depth`.
  """
  xp = _xp(depth)
  num_joints = checks.shapes(depth=(depth, "... J"))["J"]
  check_num_joints(num_joints, "depth (last axis)")
  checks.finite(depth=depth)
  _check_tol(tol)
  depth = xp.asarray(depth)
  r = _label_from_diff(depth[..., None, :] - depth[..., :, None], tol, xp)
  return (1 - r.astype(xp.float32)) / 2


def ranking_matrix_from_relations(relations: Array, mask: Array | None,
                                  num_joints: int) -> tuple[Array, Array]:
  """Dense ranking matrix of a set of relations.

  Both (i, j) and (j, i) are filled; the diagonal is 0.5 and known. Entries no valid
  relation covers are 0.5 with `known` False. A pair given several times gets the mean
  of its targets (conflicting +1 / -1 average to the tie value 0.5).

  Args:
    relations: [..., P, 3] int triples (i, j, r).
    mask: [..., P] bool, which triples are real; None for all.
    num_joints: J.

  Returns:
    (M float32 [..., J, J], known bool [..., J, J]).
  """
  xp = _xp(relations, mask)
  check_num_joints(num_joints)
  check_relations("relations", relations, num_joints, mask, graph=True)
  relations = xp.asarray(relations)
  i, j = relations[..., 0].astype(xp.int32), relations[..., 1].astype(xp.int32)
  r = relations[..., 2].astype(xp.float32)
  w = (i != j).astype(xp.float32)
  if mask is not None:
    w = w * xp.asarray(mask).astype(xp.float32)
  joints = xp.arange(num_joints)
  oi = (i[..., None] == joints).astype(xp.float32)  # (..., P, J)
  oj = (j[..., None] == joints).astype(xp.float32)
  spec = "...p,...pa,...pb->...ab"
  count = xp.einsum(spec, w, oi, oj)
  count = count + xp.swapaxes(count, -1, -2)
  total = xp.einsum(spec, w * (1 - r) / 2, oi, oj) + xp.einsum(spec, w * (1 + r) / 2, oj, oi)
  eye = xp.eye(num_joints, dtype=bool)
  m = xp.where(count > 0, total / xp.maximum(count, 1), 0.5)
  m = xp.where(eye, 0.5, m).astype(xp.float32)
  return m, (count > 0) | eye


def relations_from_ranking_matrix(m: Array, pairs: Array | None = None, *,
                                  band: float = 0.0) -> Array:
  """Relations read off a ranking matrix: M > 0.5 -> r = -1, M < 0.5 -> +1, 0.5 -> 0.

  Args:
    m: [..., J, J] ranking matrix with entries in [0, 1] (discrete or soft P_ij).
    pairs: [P, 2] pairs to read; None for `all_pairs(J)`.
    band: |M_ij - 0.5| <= band reads as a tie (DRPose3D's inference thresholding with
      intervals [0, 0.5 - eps), [0.5 - eps, 0.5 + eps], (0.5 + eps, 1]).

  Returns:
    int8 [..., P, 3] triples (i, j, r).
  """
  xp = _xp(m, pairs)
  num_joints = checks.shapes(m=(m, "... J J"))["J"]
  check_num_joints(num_joints, "m (last axes)")
  checks.finite(m=m)
  if checks.is_concrete(m) and not np.all((np.asarray(m) >= 0) & (np.asarray(m) <= 1)):
    raise ValueError("m: expected ranking-matrix entries in [0, 1]")
  if not 0 <= band < 0.5:
    raise ValueError(f"band: expected a tie band in [0, 0.5), got {band!r}")
  pairs = all_pairs(num_joints) if pairs is None else pairs
  _check_pairs(pairs, num_joints)
  m, pairs = xp.asarray(m), xp.asarray(pairs)
  v = m[..., pairs[:, 0], pairs[:, 1]]
  r = (v < 0.5 - band).astype(xp.int8) - (v > 0.5 + band).astype(xp.int8)
  ij = xp.broadcast_to(pairs.astype(xp.int8), r.shape + (2,))
  return xp.concatenate([ij, r[..., None]], axis=-1)


def swap(relations: Array) -> Array:
  """(i, j, r) -> (j, i, -r): the same relation with the pair in the other order."""
  checks.relations("relations", relations, _INDEX_LIMIT)
  xp = _xp(relations)
  relations = xp.asarray(relations)
  return xp.stack([relations[..., 1], relations[..., 0], -relations[..., 2]], axis=-1)


def to_ronchi_sign(r: Array) -> Array:
  """Our labels -> Ronchi et al.'s (eq. 2: r = -1 means the first joint is closer)."""
  _check_labels("r", r)
  return -_xp(r).asarray(r)


def from_ronchi_sign(r: Array) -> Array:
  """Ronchi et al.'s labels -> ours (r = +1 means the first joint is closer)."""
  _check_labels("r", r)
  return -_xp(r).asarray(r)


# --- sampling into dense form (host side, NumPy) -----------------------------------------


def sample_pairs(rng: np.random.Generator, num_joints: int, k: int, *,
                 joint_mask: np.ndarray | None = None) -> np.ndarray:
  """Up to k distinct random unordered pairs (i < j) among the valid joints.

  When fewer than k pairs exist (few valid joints) all of them are returned, in random
  order: the result is int32 [min(k, n(n-1)/2), 2] for n valid joints, and
  `pad_relations` brings it to the fixed P. This keeps a data pipeline running on
  examples with many missing joints instead of failing on them.

  Args:
    rng: random generator.
    num_joints: J.
    k: number of pairs wanted, >= 0.
    joint_mask: [J] bool, joints that may be sampled; None for all.
  """
  _check_rng(rng)
  check_num_joints(num_joints)
  _check_count("k", k)
  valid = np.arange(num_joints)
  if joint_mask is not None:
    checks.shapes(joint_mask=(joint_mask, str(num_joints)))
    valid = np.flatnonzero(np.asarray(joint_mask, bool))
  a, b = np.triu_indices(len(valid), k=1)
  candidates = np.stack([valid[a], valid[b]], axis=-1)
  pick = rng.choice(len(candidates), size=min(k, len(candidates)), replace=False)
  return candidates[pick].astype(np.int32).reshape(-1, 2)


def random_order(rng: np.random.Generator, relations: np.ndarray) -> np.ndarray:
  """Swaps each triple's order (i, j, r) -> (j, i, -r) with probability 0.5 (Ronchi)."""
  _check_rng(rng)
  checks.relations("relations", relations, _INDEX_LIMIT)
  relations = np.asarray(relations)
  flip = rng.random(relations.shape[:-1]) < 0.5
  return np.where(flip[..., None], swap(relations), relations).astype(relations.dtype)


def pad_relations(relations: np.ndarray, num_pairs: int, *,
                  rng: np.random.Generator | None = None,
                  num_joints: int = _INDEX_LIMIT) -> tuple[np.ndarray, np.ndarray]:
  """Pads ragged relations [K, 3] to the fixed [P, 3] with zeros and mask False.

  K > P keeps a random subset of P triples (in their original order) drawn with `rng`;
  without `rng` that raises, so no relation is dropped silently.

  Returns:
    (int8 [P, 3], bool [P]).
  """
  _check_count("num_pairs", num_pairs)
  checks.shapes(relations=(relations, "K 3"))
  checks.relations("relations", relations, num_joints)
  relations = np.asarray(relations)
  if len(relations) > num_pairs:
    if rng is None:
      raise ValueError(f"relations: {len(relations)} triples do not fit num_pairs="
                       f"{num_pairs}; pass rng to subsample")
    _check_rng(rng)
    relations = relations[np.sort(rng.choice(len(relations), num_pairs, replace=False))]
  out = np.zeros((num_pairs, 3), np.int8)
  out[: len(relations)] = relations
  return out, np.arange(num_pairs) < len(relations)


def dense_relations(relations: Sequence[np.ndarray], num_pairs: int,
                    rng: np.random.Generator | None = None, *,
                    num_joints: int = _INDEX_LIMIT) -> tuple[np.ndarray, np.ndarray]:
  """A batch of ragged relation sets [K_b, 3] -> (int8 [B, P, 3], bool [B, P])."""
  padded = [pad_relations(r, num_pairs, rng=rng, num_joints=num_joints) for r in relations]
  if not padded:
    return np.zeros((0, num_pairs, 3), np.int8), np.zeros((0, num_pairs), bool)
  rel, mask = zip(*padded)
  return np.stack(rel), np.stack(mask)


# --- label noise (host side) -------------------------------------------------------------


def _flip_strict(rng: np.random.Generator, relations: Any, mask: Any,
                 prob: np.ndarray) -> np.ndarray:
  relations = np.array(relations)
  r = relations[..., 2]
  valid = np.ones(r.shape, bool) if mask is None else np.asarray(mask, bool)
  flip = valid & (r != 0) & (rng.random(r.shape) < prob)
  relations[..., 2] = np.where(flip, -r, r)
  return relations


def flip_labels(rng: np.random.Generator, relations: np.ndarray,
                mask: np.ndarray | None, prob: float) -> np.ndarray:
  """Uniform label noise (Ronchi Fig. 4d): each valid r != 0 becomes -r with `prob`.

  Ties (r = 0) are unchanged: flipping a tie is a no-op, and inventing a strict order for
  it would be a different kind of noise. Returns relations [..., P, 3] of the input dtype.
  """
  _check_rng(rng)
  check_relations("relations", relations, _INDEX_LIMIT, mask)
  return _flip_strict(rng, relations, mask, float(_check_prob("prob", prob)))


def crowd_flip_probability(dz: Array) -> np.ndarray:
  """Ronchi's simulated crowd: P(flip) = 1 - min(1.25 dz_cm + 50, 100) / 100, dz in metres.

  Regressed from the annotators' accuracy versus depth gap (Ronchi Fig. 2a): 0.5 at
  dz = 0, falling linearly to 0 at dz >= 0.4 m.
  """
  dz_cm = 100.0 * np.abs(np.asarray(dz, np.float64))
  return 1.0 - np.minimum(1.25 * dz_cm + 50.0, 100.0) / 100.0


def crowd_noise(rng: np.random.Generator, relations: np.ndarray, depth: np.ndarray,
                mask: np.ndarray | None = None) -> np.ndarray:
  """Flips each valid strict label with `crowd_flip_probability(|z_i - z_j|)`.

  Args:
    rng: random generator.
    relations: [..., P, 3] triples.
    depth: [..., J] true depths in metres of the same examples.
    mask: [..., P] valid triples; None for all.

  Returns relations of the input dtype; ties are unchanged, as in `flip_labels`.
  """
  _check_rng(rng)
  num_joints = checks.shapes(relations=(relations, "... P 3"), depth=(depth, "... J"))["J"]
  check_relations("relations", relations, num_joints, mask)
  checks.finite(depth=depth)
  a, depth = np.asarray(relations), np.asarray(depth)
  i = np.clip(a[..., 0].astype(np.int64), 0, num_joints - 1)  # clip: padding only
  j = np.clip(a[..., 1].astype(np.int64), 0, num_joints - 1)
  dz = np.take_along_axis(depth, i, -1) - np.take_along_axis(depth, j, -1)
  return _flip_strict(rng, a, mask, crowd_flip_probability(dz))


def flip_ranking_entries(rng: np.random.Generator, m: np.ndarray,
                         flip_prob: np.ndarray) -> np.ndarray:
  """DRPose3D Sec. 3.3 ranking-matrix augmentation: flip entry (i, j) w.p. flip_prob.

  flip_prob is 1 - `entry_accuracy` of the trained PRCNN. (i, j) and (j, i) are flipped
  together (one draw per unordered pair, with the mean of flip_prob[i, j] and
  flip_prob[j, i]) so M stays antisymmetric (M + M^T = 1); a flip maps M to 1 - M, so
  1 <-> 0 and ties (0.5) and the diagonal stay.

  Args:
    rng: random generator.
    m: [..., J, J] ranking matrices with entries in [0, 1] and M + M^T = 1.
    flip_prob: [J, J] per-entry flip probability.

  Returns:
    float32 [..., J, J].
  """
  _check_rng(rng)
  checks.shapes(m=(m, "... J J"), flip_prob=(flip_prob, "J J"))
  checks.finite(m=m)
  m = np.asarray(m, np.float32)
  if not np.all((m >= 0) & (m <= 1)) or np.any(np.abs(m + np.swapaxes(m, -1, -2) - 1) > 1e-6):
    raise ValueError("m: expected ranking matrices with entries in [0, 1] and M + M^T = 1")
  p = _check_prob("flip_prob", flip_prob)
  p = (p + p.T) / 2
  flip = np.triu(rng.random(m.shape) < p, k=1)
  flip = flip | np.swapaxes(flip, -1, -2)
  return np.where(flip, 1 - m, m).astype(np.float32)


def entry_accuracy(m_pred: np.ndarray, m_true: np.ndarray) -> np.ndarray:
  """Per-entry accuracy of predicted ranking matrices (DRPose3D Sec. 3.3, Fig. 6).

  Both are discretised at 0.5 (> 0.5 -> 1, < 0.5 -> 0, = 0.5 -> 0.5) before comparing,
  so soft P_ij may be passed too.

  Args:
    m_pred: [N, J, J] predicted ranking matrices.
    m_true: [N, J, J] ground-truth ranking matrices.

  Returns:
    float32 [J, J]: the fraction of the N examples where entry (i, j) is right.
  """
  n = checks.shapes(m_pred=(m_pred, "N J J"), m_true=(m_true, "N J J"))["N"]
  checks.finite(m_pred=m_pred, m_true=m_true)
  if n == 0:
    raise ValueError("m_pred: expected at least one ranking matrix, got N = 0")
  pred, true = np.sign(np.asarray(m_pred) - 0.5), np.sign(np.asarray(m_true) - 0.5)
  return np.mean(pred == true, axis=0).astype(np.float32)


# --- merging annotators' votes (host side) -----------------------------------------------


def merge_votes(votes: np.ndarray, mask: np.ndarray | None = None, *,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Weighted majority vote of A annotators' labels for each pair.

  Ronchi et al. (Sec. 4) merged their five crowd votes per pair with the crowd
  annotation model of Branson et al. (CVPR'17), which did slightly better than majority
  voting; this is the majority-vote alternative they compare against, optionally with
  `weights` = each annotator's reliability.

  The label with the largest total weight wins, confidence = its weight / total weight.
  Any exact tie for the largest weight (e.g. one +1 against one -1) gives label 0 with
  the tied weight fraction as confidence (0.5 for an even +1 / -1 split). A pair with no
  valid vote gets label 0 and confidence 0.

  Args:
    votes: [..., A] labels in {-1, 0, 1}.
    mask: [..., A] bool, which votes exist; None for all.
    weights: [A] non-negative annotator weights; None for equal weights.

  Returns:
    (label int8 [...], confidence float32 [...]).
  """
  checks.shapes(votes=(votes, "... A"), mask=(mask, "... A"), weights=(weights, "A"))
  _check_labels("votes", votes)
  votes = np.asarray(votes)
  w = np.ones(votes.shape[-1]) if weights is None else np.asarray(weights, np.float64)
  if not np.all(np.isfinite(w) & (w >= 0)):
    raise ValueError("weights: expected finite non-negative annotator weights")
  w = np.broadcast_to(w, votes.shape)
  if mask is not None:
    w = w * np.asarray(mask, bool)
  labels = np.array([1, -1, 0], np.int8)
  totals = np.stack([np.sum(w * (votes == v), axis=-1) for v in labels], axis=-1)
  best = totals.max(axis=-1)
  winners = totals == best[..., None]
  label = np.where(winners.sum(-1) == 1, labels[np.argmax(totals, axis=-1)], 0)
  total = totals.sum(-1)
  confidence = np.where(total > 0, best / np.where(total > 0, total, 1), 0)
  return label.astype(np.int8), confidence.astype(np.float32)
