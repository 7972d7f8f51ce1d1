"""Joint sets by name: H36M17 (canonical), LSP14, MPII16, COCO17; bones, flip pairs, remapping.

Conventions (DESIGN.md): the canonical set is `H36M17` in the order of VideoPose3D /
Martinez, root = pelvis. Every other set maps to it *by joint name*: each joint's native
name is canonicalised (`left_knee` -> `l_knee`, aliases such as LSP's `neck` ->
`thorax`), and a joint the source lacks gets mask False. Left/right flip pairs are derived
from the `l_` / `r_` name prefixes, never listed by hand.

Approximations (documented, used by the name map):
  * LSP/MPII `head_top` and COCO have no `head` twin except `head_top` -> H36M `head`
    (H36M's joint 10 is the top of the head).
  * LSP `neck` (base of the neck, between the shoulders) -> H36M `thorax`.
  * MPII `upper_neck` and COCO `nose` -> H36M `neck_nose` (H36M joint 9 sits between
    the chin and the nose).
  * H36M `spine` has no twin in LSP/MPII/COCO; `pelvis` none in LSP/COCO.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class JointSet:
  """A named, ordered set of joints with a kinematic tree.

  Attributes:
    name: registry name, e.g. 'h36m17'.
    joint_names: native joint names, in order.
    parents: parent index per joint, -1 for the root.
  """
  name: str
  joint_names: tuple[str, ...]
  parents: tuple[int, ...]

  def __post_init__(self):
    if len(self.joint_names) != len(self.parents):
      raise ValueError(f"{self.name}: {len(self.joint_names)} names but "
                       f"{len(self.parents)} parents")
    if len(set(self.joint_names)) != len(self.joint_names):
      raise ValueError(f"{self.name}: duplicate joint names")
    if sum(p < 0 for p in self.parents) != 1:
      raise ValueError(f"{self.name}: expected exactly one root (parent -1)")

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  @property
  def root(self) -> int:
    return self.parents.index(-1)

  def index(self, name: str) -> int:
    """Index of a joint by native or canonical name."""
    canon = canonical_name(name)
    for k, n in enumerate(self.joint_names):
      if n == name or canonical_name(n) == canon:
        return k
    raise ValueError(f"joint name: {name!r} is not in {self.name} "
                     f"(known: {', '.join(self.joint_names)})")

  @functools.cached_property
  def bones(self) -> np.ndarray:
    """int32 [J-1, 2] (child, parent) pairs, in joint order."""
    return np.array([(c, p) for c, p in enumerate(self.parents) if p >= 0], np.int32)

  @functools.cached_property
  def flip_permutation(self) -> np.ndarray:
    """int32 [J]: index of each joint's mirror twin (itself for centre joints)."""
    names = [canonical_name(n) for n in self.joint_names]
    perm = np.arange(len(names), dtype=np.int32)
    for k, n in enumerate(names):
      twin = _mirror(n)
      if twin != n:
        if twin not in names:
          raise ValueError(f"{self.name}: joint {n!r} has no mirror twin {twin!r}")
        perm[k] = names.index(twin)
    return perm

  @functools.cached_property
  def flip_pairs(self) -> np.ndarray:
    """int32 [K, 2] (left, right) index pairs, derived from names."""
    perm = self.flip_permutation
    names = [canonical_name(n) for n in self.joint_names]
    return np.array([(k, int(perm[k])) for k in range(len(perm))
                     if names[k].startswith("l_")], np.int32).reshape(-1, 2)


# Native name -> canonical (H36M17 vocabulary) name, for approximate twins.
ALIASES = {
    "hip": "pelvis",
    "root": "pelvis",
    "neck": "thorax",
    "upper_neck": "neck_nose",
    "nose": "neck_nose",
    "head_top": "head",
}


def canonical_name(name: str) -> str:
  """Lower-cases, spells sides as `l_`/`r_` and applies ALIASES.

  `Left Knee`, `left_knee` and `l_knee` all give `l_knee`; the side must be its own
  word (`left_`, `left `, `l_`).
  """
  n = name.strip().lower().replace(" ", "_").replace("-", "_")
  for long, short in (("left_", "l_"), ("right_", "r_")):
    if n.startswith(long):
      n = short + n[len(long):]
  return ALIASES.get(n, n)


def _mirror(canon: str) -> str:
  if canon.startswith("l_"):
    return "r_" + canon[2:]
  if canon.startswith("r_"):
    return "l_" + canon[2:]
  return canon


H36M17 = JointSet(
    name="h36m17",
    joint_names=("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle",
                 "spine", "thorax", "neck_nose", "head", "l_shoulder", "l_elbow",
                 "l_wrist", "r_shoulder", "r_elbow", "r_wrist"),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
)

# Indices of H36M17 in Human3.6M's 32-joint skeleton.
H36M32_TO_H36M17 = np.array([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27],
                            np.int32)

LSP14 = JointSet(
    name="lsp14",
    joint_names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist",
                 "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist", "neck",
                 "head_top"),
    parents=(1, 2, 12, 12, 3, 4, 7, 8, 12, 12, 9, 10, -1, 12),
)

MPII16 = JointSet(
    name="mpii16",
    joint_names=("r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis",
                 "thorax", "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder",
                 "l_shoulder", "l_elbow", "l_wrist"),
    parents=(1, 2, 6, 6, 3, 4, -1, 6, 7, 8, 11, 12, 7, 7, 13, 14),
)

COCO17 = JointSet(
    name="coco17",
    joint_names=("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder",
                 "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee",
                 "r_knee", "l_ankle", "r_ankle"),
    parents=(-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
)

JOINT_SETS = {js.name: js for js in (H36M17, LSP14, MPII16, COCO17)}


def get_joint_set(name: str) -> JointSet:
  """Looks a joint set up by registry name."""
  try:
    return JOINT_SETS[name.lower()]
  except KeyError:
    raise ValueError(f"joint set: unknown {name!r}; known: {', '.join(JOINT_SETS)}") from None


def remap_indices(source: JointSet | Sequence[str], target: JointSet = H36M17,
                  *, strict: bool = False) -> tuple[np.ndarray, np.ndarray]:
  """Index map from a source joint list to `target`, by canonical name.

  Args:
    source: a JointSet or a list of joint names (any spelling `canonical_name` knows).
    target: the joint set to map to (default the canonical H36M17).
    strict: if True, a source name that matches no target joint raises; otherwise
      such joints are dropped (e.g. COCO eyes when mapping to H36M17).

  Returns:
    (index int32 [J_target], mask bool [J_target]): `target[k] = source[index[k]]` where
    `mask[k]`; index is 0 where the source lacks the joint.
  """
  names = source.joint_names if isinstance(source, JointSet) else tuple(source)
  canon = [canonical_name(n) for n in names]
  if len(set(canon)) != len(canon):
    dup = sorted({c for c in canon if canon.count(c) > 1})
    raise ValueError(f"joint_names: names map to the same joint twice: {dup}")
  tgt = [canonical_name(n) for n in target.joint_names]
  if strict:
    unknown = [n for n, c in zip(names, canon) if c not in tgt]
    if unknown:
      raise ValueError(f"joint_names: unknown joint names {unknown} for {target.name} "
                       f"(known: {', '.join(target.joint_names)})")
  index = np.zeros(len(tgt), np.int32)
  mask = np.zeros(len(tgt), bool)
  for k, t in enumerate(tgt):
    if t in canon:
      index[k] = canon.index(t)
      mask[k] = True
  return index, mask


def remap(x: np.ndarray, source: JointSet | Sequence[str], target: JointSet = H36M17,
          *, axis: int = -2) -> tuple[np.ndarray, np.ndarray]:
  """Gathers per-joint data `x` (joints on `axis`) into `target` order; zeros where missing.

  Returns (remapped array, mask bool [J_target]).
  """
  index, mask = remap_indices(source, target)
  n_src = len(source.joint_names if isinstance(source, JointSet) else source)
  if np.shape(x)[axis] != n_src:
    raise ValueError(f"x: expected {n_src} joints on axis {axis}, got shape {np.shape(x)}")
  out = np.take(np.asarray(x), index, axis=axis)
  shape = [1] * out.ndim
  shape[axis] = len(index)
  return np.where(mask.reshape(shape), out, 0).astype(np.asarray(x).dtype), mask


def flip_joints(x, joint_set: JointSet = H36M17, *, axis: int = -2):
  """Reorders per-joint data so left and right swap (the coordinate flip is the caller's)."""
  return np.take(x, joint_set.flip_permutation, axis=axis) if isinstance(
      x, np.ndarray) else x.take(joint_set.flip_permutation, axis=axis)
