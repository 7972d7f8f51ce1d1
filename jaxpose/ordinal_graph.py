"""A global depth order from (possibly contradictory) pairwise relations, and a consistency report.

Host-side NumPy/SciPy. Relations follow `jaxpose.ordinal`'s convention (r = +1 <=> joint i
closer). Used to inspect crowd labels (Ronchi et al. Sec. 4) and to turn noisy pairwise
rankings into one near-to-far order.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections import deque
from typing import Any

import numpy as np
from scipy.sparse import csgraph, csr_matrix

from jaxpose import checks, ordinal


def _relation_counts(num_joints: int, relations: Any, mask: Any,
                     ) -> tuple[np.ndarray, np.ndarray]:
  """(C, T): C[i, j] = # valid relations saying i is closer than j; T[i, j] = # ties."""
  ordinal.check_num_joints(num_joints)
  checks.shapes(relations=(relations, "P 3"), mask=(mask, "P"))
  ordinal.check_relations("relations", relations, num_joints, mask, graph=True)
  a = np.asarray(relations).astype(np.int64).reshape(-1, 3)
  if mask is not None:
    a = a[np.asarray(mask, bool)]
  i, j, r = a.T
  c = np.zeros((num_joints, num_joints), np.int64)
  t = np.zeros((num_joints, num_joints), np.int64)
  np.add.at(c, (np.where(r > 0, i, j)[r != 0], np.where(r > 0, j, i)[r != 0]), 1)
  np.add.at(t, (i[r == 0], j[r == 0]), 1)
  return c, t + t.T


def _least_squares_scores(c: np.ndarray, t: np.ndarray) -> np.ndarray:
  """Scores s (larger = farther) minimising sum (s_j - s_i - r)^2 over relations.

  One unit per ordinal step (HodgeRank); minimum-norm solution, so each connected
  group of joints has mean score 0 and unrelated joints score 0.
  """
  w = (c + c.T + t).astype(np.float64)
  laplacian = np.diag(w.sum(1)) - w
  rhs = c.sum(0) - c.sum(1)  # times farther minus times closer
  s = np.linalg.lstsq(laplacian, rhs.astype(np.float64), rcond=None)[0]
  return np.round(s, 6) + 0.0  # rounding: exact ties are tie-broken by index


def _local_search(seq: list[int], c: np.ndarray) -> list[int]:
  """Greedy single-joint moves while they reduce the number of violated strict relations."""
  improved = True
  while improved:
    improved = False
    for x in list(seq):
      p = seq.index(x)
      rest = seq[:p] + seq[p + 1:]
      before, after = c[x, rest], c[rest, x]  # penalties for y placed before / after x
      cost = np.concatenate([[0], np.cumsum(before)]) + after.sum() - np.concatenate(
          [[0], np.cumsum(after)])
      q = int(np.argmin(cost))
      if cost[q] < cost[p]:
        seq = rest[:q] + [x] + rest[q:]
        improved = True
  return seq


def _isotonic(y: np.ndarray) -> np.ndarray:
  """Non-decreasing least-squares fit of y (pool adjacent violators)."""
  blocks: list[list[float]] = []
  for v in y:
    blocks.append([float(v), 1.0])
    while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
      s, n = blocks.pop()
      blocks[-1][0] += s
      blocks[-1][1] += n
  return np.concatenate([np.full(int(n), s / n) for s, n in blocks])


def _order(num_joints: int, c: np.ndarray, t: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(order, scores, strong-component labels) of the counts."""
  s = _least_squares_scores(c, t)
  _, comp = csgraph.connected_components(csr_matrix(c > 0), directed=True,
                                         connection="strong")
  n = comp.max() + 1
  members = [sorted(np.flatnonzero(comp == k), key=lambda x: (s[x], x)) for k in range(n)]
  key = [(float(np.mean(s[m])), int(min(m))) for m in members]
  edges = {(comp[a], comp[b]) for a, b in np.argwhere(c > 0) if comp[a] != comp[b]}
  indegree = np.zeros(n, int)
  for _, b in edges:
    indegree[b] += 1
  heap = [(key[k], k) for k in range(n) if indegree[k] == 0]
  heapq.heapify(heap)
  order: list[int] = []
  while heap:  # Kahn's topological sort of the condensation, nearest groups first
    _, k = heapq.heappop(heap)
    order += _local_search(list(members[k]), c) if len(members[k]) > 1 else members[k]
    for a, b in edges:
      if a == k:
        indegree[b] -= 1
        if indegree[b] == 0:
          heapq.heappush(heap, (key[b], b))
  order_arr = np.asarray(order, np.int32)
  scores = np.empty(num_joints, np.float32)
  scores[order_arr] = _isotonic(s[order_arr])
  return order_arr, scores, comp


def _num_violated(order: np.ndarray, c: np.ndarray) -> int:
  pos = np.empty_like(order)
  pos[order] = np.arange(len(order))
  return int(np.sum(c * (pos[:, None] > pos[None, :])))


def global_depth_order(num_joints: int, relations: np.ndarray,
                       mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """A near-to-far order of all joints from possibly contradictory relations.

  Method (deterministic): least-squares ordinal scores (HodgeRank: s_j - s_i = r per
  relation, ties pull scores together); joints are grouped into the strongly connected
  components of the "i closer than j" graph, the groups are ordered topologically (so no
  relation between groups is violated, which a minimum-violation order never needs),
  joints inside a group start in score order and are refined by a local search that
  minimises the number of violated strict relations. Ties cannot be violated by a strict
  order and only enter the scores.

  Args:
    num_joints: J.
    relations: [P, 3] triples (i, j, r) of one example.
    mask: [P] bool valid triples; None for all.

  Returns:
    (order int32 [J], nearest joint first; scores float32 [J], larger = farther, the
    least-squares scores made non-decreasing along `order` by isotonic regression).
    No relations: order by index, scores 0.
  """
  c, t = _relation_counts(num_joints, relations, mask)
  order, scores, _ = _order(num_joints, c, t)
  return order, scores


@dataclasses.dataclass(frozen=True)
class ConsistencyReport:
  """Whether a relation set can come from some depths (with the tie band's semantics).

  Attributes:
    consistent: no strict cycle and no tie conflict.
    cycles: one shortest directed cycle per strong component, (a, b, ..., k) meaning a
      closer than b ... closer than k closer than a.
    tie_conflicts: strict chains (a, ..., k) "a closer than ... closer than k" whose ends
      are labelled a tie; each strict step exceeds tol, so the ends cannot be within it.
    num_violated: strict relations the `global_depth_order` order violates.
    components: strongly connected components (size > 1) of the strict graph.
  """
  consistent: bool
  cycles: list[tuple[int, ...]]
  tie_conflicts: list[tuple[int, ...]]
  num_violated: int
  components: list[tuple[int, ...]]


def _shortest_cycle(adj: np.ndarray, start: int, allowed: set[int]) -> tuple[int, ...]:
  prev: dict[int, int | None] = {start: None}
  queue = deque([start])
  while queue:
    u = queue.popleft()
    for v in np.flatnonzero(adj[u]):
      v = int(v)
      if v == start:
        path = [u]
        while prev[path[-1]] is not None:
          path.append(prev[path[-1]])
        return tuple(reversed(path))
      if v in allowed and v not in prev:
        prev[v] = u
        queue.append(v)
  raise AssertionError("unreachable: a strong component always has a cycle")


def consistency_report(num_joints: int, relations: np.ndarray,
                       mask: np.ndarray | None = None) -> ConsistencyReport:
  """Checks a relation set for contradictions (strict cycles, ties against chains).

  Args:
    num_joints: J.
    relations: [P, 3] triples of one example (may be empty, P = 0).
    mask: [P] bool valid triples; None for all.
  """
  c, t = _relation_counts(num_joints, relations, mask)
  order, _, comp = _order(num_joints, c, t)
  adj = c > 0
  components = [tuple(int(x) for x in np.flatnonzero(comp == k))
                for k in range(comp.max() + 1)]
  components = [m for m in components if len(m) > 1]
  cycles = [_shortest_cycle(adj, m[0], set(m)) for m in components]
  conflicts = []
  _, pred = csgraph.shortest_path(csr_matrix(adj), unweighted=True,
                                  return_predecessors=True)
  for a, b in np.argwhere(np.triu(t > 0, k=1)):
    src, dst = (a, b) if pred[a, b] >= 0 else (b, a)
    if pred[src, dst] < 0:
      continue
    path = [int(dst)]
    while path[-1] != src:
      path.append(int(pred[src, path[-1]]))
    conflicts.append(tuple(reversed(path)))
  return ConsistencyReport(consistent=not cycles and not conflicts, cycles=cycles,
                           tie_conflicts=conflicts, num_violated=_num_violated(order, c),
                           components=components)
