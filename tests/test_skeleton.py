"""Tests for jaxpose.skeleton: joint sets, derived bones/flip pairs, name remapping."""

import hypothesis
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest

from jaxpose import skeleton
from jaxpose.skeleton import COCO17, H36M17, LSP14, MPII16


def test_h36m17_matches_design_conventions():
  assert H36M17.joint_names[:4] == ("pelvis", "r_hip", "r_knee", "r_ankle")
  assert H36M17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
  assert H36M17.root == 0
  np.testing.assert_array_equal(
      skeleton.H36M32_TO_H36M17, [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27])


@pytest.mark.parametrize("js", [H36M17, LSP14, MPII16, COCO17])
def test_tree_is_connected_and_acyclic(js):
  for k in range(js.num_joints):
    seen, p = set(), k
    while p != -1:
      assert p not in seen
      seen.add(p)
      p = js.parents[p]
  assert len(js.bones) == js.num_joints - 1


@pytest.mark.parametrize("js", [H36M17, LSP14, MPII16, COCO17])
def test_flip_permutation_is_an_involution_swapping_sides(js):
  perm = js.flip_permutation
  np.testing.assert_array_equal(perm[perm], np.arange(js.num_joints))
  for a, b in js.flip_pairs:
    assert js.joint_names[a].startswith("l_") and js.joint_names[b].startswith("r_")
    assert js.joint_names[a][2:] == js.joint_names[b][2:]


def test_h36m_flip_pairs_derived_from_names():
  names = H36M17.joint_names
  pairs = {(names[a], names[b]) for a, b in H36M17.flip_pairs}
  assert pairs == {("l_hip", "r_hip"), ("l_knee", "r_knee"), ("l_ankle", "r_ankle"),
                   ("l_shoulder", "r_shoulder"), ("l_elbow", "r_elbow"),
                   ("l_wrist", "r_wrist")}


@hypothesis.given(hnp.arrays(np.float32, (3, 17, 3),
                             elements=hypothesis.strategies.floats(-5, 5, width=32)))
@hypothesis.settings(max_examples=30, deadline=None)
def test_flip_remapping_twice_is_identity(x):
  np.testing.assert_array_equal(skeleton.flip_joints(skeleton.flip_joints(x)), x)


def test_flip_joints_works_on_jax_arrays():
  import jax.numpy as jnp
  x = jnp.arange(17 * 2, dtype=jnp.float32).reshape(17, 2)
  np.testing.assert_array_equal(skeleton.flip_joints(x), np.asarray(x)[H36M17.flip_permutation])


def test_canonical_names():
  assert skeleton.canonical_name("Left Knee") == "l_knee"
  assert skeleton.canonical_name("right_wrist") == "r_wrist"
  assert skeleton.canonical_name("head_top") == "head"
  assert skeleton.canonical_name("neck") == "thorax"


@pytest.mark.parametrize("js,missing", [
    (LSP14, {"pelvis", "spine", "neck_nose"}),
    (MPII16, {"spine"}),
    (COCO17, {"pelvis", "spine", "thorax", "head"}),
])
def test_remap_to_h36m_by_name_with_mask(js, missing):
  index, mask = skeleton.remap_indices(js, H36M17)
  got_missing = {n for n, m in zip(H36M17.joint_names, mask) if not m}
  assert got_missing == missing
  for k, name in enumerate(H36M17.joint_names):
    if mask[k]:
      assert skeleton.canonical_name(js.joint_names[index[k]]) == name


def test_remap_array_gathers_and_zero_fills():
  x = np.arange(14 * 2, dtype=np.float32).reshape(14, 2) + 1
  out, mask = skeleton.remap(x, LSP14, H36M17)
  assert out.shape == (17, 2)
  np.testing.assert_array_equal(out[H36M17.index("l_wrist")], x[LSP14.index("l_wrist")])
  np.testing.assert_array_equal(out[~mask], 0)


def test_remap_identity_for_h36m():
  index, mask = skeleton.remap_indices(H36M17, H36M17)
  np.testing.assert_array_equal(index, np.arange(17))
  assert mask.all()


def test_remap_accepts_name_lists_in_other_spellings():
  names = ["Left Shoulder", "right_shoulder", "Pelvis"]
  index, mask = skeleton.remap_indices(names, H36M17)
  assert mask.sum() == 3
  assert index[H36M17.index("l_shoulder")] == 0


def test_unknown_names_error_in_strict_mode():
  with pytest.raises(ValueError, match=r"joint_names: unknown joint names \['tail'\]"):
    skeleton.remap_indices(["pelvis", "tail"], H36M17, strict=True)


def test_duplicate_names_error():
  with pytest.raises(ValueError, match="joint_names: names map to the same joint twice"):
    skeleton.remap_indices(["neck", "thorax"], H36M17)


def test_remap_wrong_joint_count_error():
  with pytest.raises(ValueError, match="x: expected 14 joints"):
    skeleton.remap(np.zeros((17, 2)), LSP14)


def test_registry_lookup_and_error():
  assert skeleton.get_joint_set("LSP14") is LSP14
  with pytest.raises(ValueError, match="joint set: unknown 'foo'; known: h36m17"):
    skeleton.get_joint_set("foo")


def test_index_by_name_error():
  with pytest.raises(ValueError, match="joint name: 'tail' is not in h36m17"):
    H36M17.index("tail")
