"""Tests for jaxpose.ordinal: signs, ranking matrices, sampling, noise, votes, global order."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxpose import ordinal, ordinal_graph


def depths(min_joints=2, max_joints=8):
  """Depth vectors on a 5 cm grid, so ties and values at the tie band occur."""
  return st.integers(min_joints, max_joints).flatmap(lambda j: hnp.arrays(
      np.float32, (j,), elements=st.integers(0, 40).map(lambda k: 2.0 + 0.05 * k)))


def distinct_depths(num_joints):
  return hnp.arrays(np.float64, (num_joints,), unique=True,
                    elements=st.floats(1.0, 6.0, allow_nan=False))


_matrix_from_relations_3 = jax.jit(
    lambda r, k: ordinal.ranking_matrix_from_relations(r, k, 3))


class TestSigns:

  def test_closer_joint_gives_plus_one(self):
    rel = ordinal.relations_from_depth(np.array([2.0, 2.3]))
    np.testing.assert_array_equal(rel, [[0, 1, 1]])
    assert rel.dtype == np.int8
    m = ordinal.ranking_matrix_from_depth(np.array([2.0, 2.3]))
    assert m[0, 1] == 0.0 and m[1, 0] == 1.0 and m[0, 0] == 0.5

  def test_farther_joint_gives_minus_one(self):
    rel = ordinal.relations_from_depth(np.array([2.3, 2.0]))
    np.testing.assert_array_equal(rel, [[0, 1, -1]])

  def test_tie_band(self):
    rel = ordinal.relations_from_depth(np.array([2.0, 2.05]), tol=0.1)
    assert rel[0, 2] == 0
    assert ordinal.ranking_matrix_from_depth(np.array([2.0, 2.05]), tol=0.1)[0, 1] == 0.5
    assert ordinal.relations_from_depth(np.array([2.0, 2.05]), tol=0.01)[0, 2] == 1

  def test_ronchi_sign_round_trip(self):
    r = np.array([1, -1, 0, 1], np.int8)
    np.testing.assert_array_equal(ordinal.to_ronchi_sign(r), [-1, 1, 0, -1])
    np.testing.assert_array_equal(ordinal.from_ronchi_sign(ordinal.to_ronchi_sign(r)), r)

  def test_all_pairs(self):
    np.testing.assert_array_equal(ordinal.all_pairs(3), [[0, 1], [0, 2], [1, 2]])
    assert ordinal.all_pairs(17).shape == (136, 2)

  def test_batched_and_given_pairs(self):
    depth = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    rel = ordinal.relations_from_depth(depth, np.array([[2, 0]]))
    np.testing.assert_array_equal(rel, [[[2, 0, -1]], [[2, 0, 1]]])


class TestRankingMatrix:

  @settings(max_examples=30, deadline=None)
  @given(depths())
  def test_relations_and_matrix_agree(self, depth):
    rel = ordinal.relations_from_depth(depth)
    m = ordinal.ranking_matrix_from_depth(depth)
    m_rel, known = ordinal.ranking_matrix_from_relations(rel, None, len(depth))
    np.testing.assert_array_equal(m_rel, m)
    assert known.all()
    np.testing.assert_array_equal(ordinal.relations_from_ranking_matrix(m), rel)
    m2, _ = ordinal.ranking_matrix_from_relations(
        ordinal.relations_from_ranking_matrix(m), None, len(depth))
    np.testing.assert_array_equal(m2, m)

  @settings(max_examples=30, deadline=None)
  @given(depths())
  def test_swap_symmetry(self, depth):
    pairs = ordinal.all_pairs(len(depth))
    rel = ordinal.relations_from_depth(depth, pairs)
    np.testing.assert_array_equal(
        ordinal.relations_from_depth(depth, pairs[:, ::-1]), ordinal.swap(rel))
    np.testing.assert_array_equal(ordinal.swap(ordinal.swap(rel)), rel)

  @settings(max_examples=30, deadline=None)
  @given(depths(3, 3))
  def test_jit_equals_numpy(self, depth):
    batch = np.stack([depth, depth[::-1]])
    rel = ordinal.relations_from_depth(batch)
    rel_jit = jax.jit(ordinal.relations_from_depth)(jnp.asarray(batch))
    assert isinstance(rel_jit, jax.Array) and rel_jit.dtype == jnp.int8
    np.testing.assert_array_equal(rel_jit, rel)
    m = ordinal.ranking_matrix_from_depth(batch)
    np.testing.assert_array_equal(jax.jit(ordinal.ranking_matrix_from_depth)(batch), m)
    mask = np.array([[True, False, True], [True, True, True]])
    for got, want in zip(_matrix_from_relations_3(jnp.asarray(rel), jnp.asarray(mask)),
                         ordinal.ranking_matrix_from_relations(rel, mask, 3)):
      np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(
        jax.jit(ordinal.relations_from_ranking_matrix)(jnp.asarray(m)), rel)

  def test_mask_and_duplicates(self):
    rel = np.array([[0, 1, 1], [2, 1, 1], [0, 2, 1], [0, 2, -1], [0, 0, 0]], np.int8)
    mask = np.array([True, True, True, True, False])
    m, known = ordinal.ranking_matrix_from_relations(rel, mask, 4)
    assert m[0, 1] == 0 and m[1, 0] == 1 and m[2, 1] == 0 and m[1, 2] == 1
    assert m[0, 2] == 0.5 and known[0, 2]  # conflicting duplicates average to a tie
    assert not known[0, 3] and m[0, 3] == 0.5 and known[3, 3]

  def test_soft_matrix_band(self):
    p = np.array([[0.5, 0.9, 0.45], [0.1, 0.5, 0.3], [0.55, 0.7, 0.5]])
    np.testing.assert_array_equal(ordinal.relations_from_ranking_matrix(p)[:, 2], [-1, 1, 1])
    np.testing.assert_array_equal(
        ordinal.relations_from_ranking_matrix(p, band=0.1)[:, 2], [-1, 0, 1])


class TestSampling:

  def test_sample_pairs_distinct_and_valid(self, rng):
    mask = np.ones(17, bool)
    mask[[3, 6]] = False
    pairs = ordinal.sample_pairs(rng, 17, 40, joint_mask=mask)
    assert pairs.shape == (40, 2) and pairs.dtype == np.int32
    assert np.all(pairs[:, 0] < pairs[:, 1]) and not np.isin(pairs, [3, 6]).any()
    assert len({tuple(p) for p in pairs}) == 40

  def test_sample_pairs_capped(self, rng):
    mask = np.zeros(5, bool)
    mask[[1, 2, 4]] = True
    pairs = ordinal.sample_pairs(rng, 5, 10, joint_mask=mask)
    assert sorted(map(tuple, pairs)) == [(1, 2), (1, 4), (2, 4)]
    assert ordinal.sample_pairs(rng, 5, 3, joint_mask=mask == 2).shape == (0, 2)

  def test_one_pair_random_order(self, rng):
    depth = np.array([1.0, 2.0, 3.0])
    firsts = []
    for _ in range(400):
      rel = ordinal.random_order(rng, ordinal.relations_from_depth(
          depth, ordinal.sample_pairs(rng, 3, 1), tol=0.0))
      assert rel.shape == (1, 3)
      i, j, r = rel[0]
      assert r == (1 if depth[i] < depth[j] else -1)
      firsts.append(i > j)
    assert abs(np.mean(firsts) - 0.5) < 4 * 0.5 / np.sqrt(400)

  def test_pad_relations(self, rng):
    rel = np.array([[0, 1, 1], [1, 2, -1], [0, 2, 0]])
    out, mask = ordinal.pad_relations(rel, 5)
    assert out.dtype == np.int8 and out.shape == (5, 3)
    np.testing.assert_array_equal(out[:3], rel)
    np.testing.assert_array_equal(mask, [True, True, True, False, False])
    sub, mask = ordinal.pad_relations(rel, 2, rng=rng)
    assert mask.all() and all(any((s == r).all() for r in rel) for s in sub)
    with pytest.raises(ValueError, match="pass rng"):
      ordinal.pad_relations(rel, 2)

  def test_dense_relations(self):
    rel, mask = ordinal.dense_relations([np.array([[0, 1, 1]]), np.zeros((0, 3))], 4)
    assert rel.shape == (2, 4, 3) and mask.shape == (2, 4)
    np.testing.assert_array_equal(mask.sum(1), [1, 0])


class TestNoise:

  def test_flip_rate(self, rng):
    n = 20000
    rel = np.zeros((n, 3), np.int8)
    rel[:, 1] = 1
    rel[:, 2] = rng.choice([-1, 1], n)
    rel[:100, 2] = 0
    mask = np.ones(n, bool)
    mask[100:200] = False
    out = ordinal.flip_labels(rng, rel, mask, 0.3)
    assert np.all(out[:200] == rel[:200])  # ties and masked entries untouched
    rate = np.mean(out[200:, 2] != rel[200:, 2])
    assert abs(rate - 0.3) < 4 * np.sqrt(0.3 * 0.7 / (n - 200))

  def test_crowd_probability(self):
    np.testing.assert_allclose(ordinal.crowd_flip_probability([0.0, 0.1, 0.2, 0.4, 1.0]),
                               [0.5, 0.375, 0.25, 0.0, 0.0])

  def test_crowd_noise_rate(self, rng):
    n = 5000
    depth = np.tile([2.0, 2.1, 2.5], (n, 1))  # dz 0.1 m and 0.5 m
    rel = ordinal.relations_from_depth(depth, np.array([[0, 1], [0, 2]]), tol=0.0)
    out = ordinal.crowd_noise(rng, rel, depth)
    assert abs(np.mean(out[:, 0, 2] == -1) - 0.375) < 4 * np.sqrt(0.375 * 0.625 / n)
    assert np.all(out[:, 1] == rel[:, 1])

  def test_flip_ranking_entries(self, rng):
    depth = rng.uniform(2, 4, (4000, 4))
    m = ordinal.ranking_matrix_from_depth(depth, tol=0.3)
    p = np.full((4, 4), 0.2)
    p[0, 1] = p[1, 0] = 0.0
    out = ordinal.flip_ranking_entries(rng, m, p)
    np.testing.assert_array_equal(out + np.swapaxes(out, -1, -2), 1.0)
    np.testing.assert_array_equal(out[m == 0.5], 0.5)
    acc = ordinal.entry_accuracy(out, m)
    assert acc[0, 1] == 1.0 and acc[2, 2] == 1.0
    strict = np.mean(m[:, 2, 3] != 0.5)
    assert abs(acc[2, 3] - (1 - 0.2 * strict)) < 0.03

  def test_flip_ranking_entries_rejects_asymmetric(self, rng):
    with pytest.raises(ValueError, match="m:"):
      ordinal.flip_ranking_entries(rng, np.zeros((3, 3)), np.zeros((3, 3)))


class TestMergeVotes:

  def test_cases(self):
    votes = np.array([[1, 1, -1], [1, -1, 0], [1, -1, 0], [0, 0, 1], [1, 1, 1]])
    mask = np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0]], bool)
    label, conf = ordinal.merge_votes(votes, mask)
    np.testing.assert_array_equal(label, [1, 0, 0, 0, 0])
    np.testing.assert_allclose(conf, [2 / 3, 0.5, 1 / 3, 2 / 3, 0.0])
    assert label.dtype == np.int8 and conf.dtype == np.float32

  def test_weights(self):
    label, conf = ordinal.merge_votes(np.array([-1, 1, 1]), weights=np.array([3.0, 1, 1]))
    assert label == -1 and conf == pytest.approx(0.6)


class TestGlobalOrder:

  @settings(max_examples=30, deadline=None)
  @given(distinct_depths(9))
  def test_recovers_true_order(self, depth):
    rel = ordinal.relations_from_depth(depth, tol=0.0)
    order, scores = ordinal_graph.global_depth_order(9, rel)
    np.testing.assert_array_equal(order, np.argsort(depth))
    assert np.all(np.diff(scores[order]) >= 0)

  def test_sparse_and_ties_consistent(self, rng):
    depth = rng.uniform(2, 3, 17)
    rel = ordinal.relations_from_depth(depth, ordinal.sample_pairs(rng, 17, 60))
    order, _ = ordinal_graph.global_depth_order(17, rel)
    report = ordinal_graph.consistency_report(17, rel)
    assert report.consistent and report.num_violated == 0
    assert sorted(order) == list(range(17))

  def test_noisy_relations(self, rng):
    depth = rng.uniform(2, 4, 17)
    clean = ordinal.relations_from_depth(depth, tol=0.0)
    noisy = ordinal.flip_labels(rng, clean, None, 0.1)
    order, _ = ordinal_graph.global_depth_order(17, noisy)
    report = ordinal_graph.consistency_report(17, noisy)
    assert report.num_violated <= np.sum(noisy[:, 2] != clean[:, 2])
    pos = np.argsort(order)
    agree = np.mean((pos[clean[:, 0]] < pos[clean[:, 1]]) == (clean[:, 2] == 1))
    assert agree > 0.9

  def test_empty(self):
    order, scores = ordinal_graph.global_depth_order(4, np.zeros((0, 3), np.int8))
    np.testing.assert_array_equal(order, np.arange(4))
    np.testing.assert_array_equal(scores, 0)
    report = ordinal_graph.consistency_report(4, np.zeros((3, 3), np.int8), np.zeros(3, bool))
    assert report.consistent and report.cycles == [] and report.num_violated == 0


class TestConsistency:

  def test_planted_cycle(self):
    rel = np.array([[0, 1, 1], [1, 2, 1], [2, 0, 1], [3, 4, 1], [4, 0, -1], [5, 3, -1]])
    report = ordinal_graph.consistency_report(6, rel)
    assert not report.consistent
    assert report.cycles == [(0, 1, 2)]
    assert report.components == [(0, 1, 2)]
    assert report.num_violated == 1

  def test_tie_conflicts(self):
    report = ordinal_graph.consistency_report(3, np.array([[0, 1, 1], [2, 1, -1], [2, 0, 0]]))
    assert not report.consistent and report.cycles == []
    assert report.tie_conflicts == [(0, 1, 2)] and report.num_violated == 0

  def test_ties_within_band_are_consistent(self):
    report = ordinal_graph.consistency_report(3, np.array([[0, 1, 1], [1, 2, 0], [0, 2, 0]]))
    assert report.consistent


class TestBadInput:

  @pytest.mark.parametrize("fn", [
      lambda: ordinal.ranking_matrix_from_relations(np.array([[0, 1, 2]]), None, 3),
      lambda: ordinal.ranking_matrix_from_relations(np.array([[0, 5, 1]]), None, 3),
      lambda: ordinal.ranking_matrix_from_relations(np.array([[0, 1]]), None, 3),
      lambda: ordinal_graph.global_depth_order(3, np.array([[1, 1, 1]])),
      lambda: ordinal_graph.consistency_report(3, np.array([[0, 1, 1]]), np.ones(2, bool)),
      lambda: ordinal.swap(np.array([[0, 1, -2]])),
      lambda: ordinal.to_ronchi_sign(np.array([3])),
      lambda: ordinal.merge_votes(np.array([1, 2])),
  ])
  def test_relations(self, fn):
    with pytest.raises(ValueError, match=r"^(relations|r|votes|mask): "):
      fn()

  @pytest.mark.parametrize("labels", [np.array([1, 5]), jnp.array([1, 5]), [0, 5], 5,
                                      np.array([[5]], np.int8)])
  def test_sign_labels_name_the_plain_value(self, labels):
    """Concrete labels (NumPy, JAX, lists, scalars): the message shows `5`, not np.int64(5)."""
    for fn in (ordinal.to_ronchi_sign, ordinal.from_ronchi_sign):
      with pytest.raises(ValueError) as e:
        fn(labels)
      assert str(e.value) == "r: relation labels must be in {-1, 0, 1}, got 5"

  def test_sign_labels_are_not_checked_under_tracing(self):
    """A traced label has no value: the check is skipped, the sign still flips."""
    for fn in (ordinal.to_ronchi_sign, ordinal.from_ronchi_sign):
      np.testing.assert_array_equal(jax.jit(fn)(jnp.array([1, 0, -1])), [-1, 0, 1])

  def test_depth_and_pairs(self):
    with pytest.raises(ValueError, match="depth"):
      ordinal.relations_from_depth(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="tol"):
      ordinal.relations_from_depth(np.array([1.0, 2.0]), tol=-0.1)
    with pytest.raises(ValueError, match="pairs"):
      ordinal.relations_from_depth(np.array([1.0, 2.0]), np.array([[0, 2]]))
    with pytest.raises(ValueError, match="pairs"):
      ordinal.relations_from_depth(np.array([1.0, 2.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="m:"):
      ordinal.relations_from_ranking_matrix(np.zeros((3, 4)))

  def test_host_side(self, rng):
    with pytest.raises(ValueError, match="rng"):
      ordinal.sample_pairs(np.random.RandomState(0), 5, 1)
    with pytest.raises(ValueError, match="k:"):
      ordinal.sample_pairs(rng, 5, -1)
    with pytest.raises(ValueError, match="prob"):
      ordinal.flip_labels(rng, np.array([[0, 1, 1]]), None, 1.5)
    with pytest.raises(ValueError, match="weights"):
      ordinal.merge_votes(np.array([1, -1]), weights=np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="m_pred"):
      ordinal.entry_accuracy(np.zeros((0, 2, 2)), np.zeros((0, 2, 2)))
