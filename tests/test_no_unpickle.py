"""No code path unpickles a user file unless the user opted in (DESIGN.md, Reliability).

1. Source scan (AST) of jaxpose/, launch/, configs/, scripts/: the only unpickling call
   is `np.load(..., allow_pickle=True)` in `h36m._load_pickled_dict`, called only by
   `H36mVideopose3d._split_generators` after it refused without `allow_pickle`; the
   `allow_pickle=True` keyword is passed on only where an opt-in flag is set; no pickle-
   family module is imported; every other `np.load` leaves `allow_pickle` False.
2. Behaviour: an npz whose unpickling would create a marker folder goes through every
   user-facing loader without opt-in; each refuses with one line and the marker never
   appears (a positive control unpickles it once to prove the payload works).
"""

import ast
import importlib.util
import os
import pathlib

import numpy as np
import pytest

from jaxpose import skeleton
from jaxpose.data import datasets, mocap
from jaxpose.data.builders import embedded, h36m
from jaxpose.train import data as data_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("jaxpose", "launch", "configs", "scripts")
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal",
              "shelve", "torch", "pandas"}
# file -> function: the one call that unpickles (behind H36mVideopose3d's opt-in).
UNPICKLING_CALLS = {("jaxpose/data/builders/h36m.py", "_load_pickled_dict")}
# Where `allow_pickle` is forwarded as True: each only when the user's flag says so.
OPT_IN_PLUMBING = {("jaxpose/train/data.py", "_tfds_source"),
                   ("launch/prepare_data.py", "main")}


def _sources():
  for package in PACKAGES:
    for path in sorted((ROOT / package).rglob("*.py")):
      yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def _functions(tree):
  """(node, name of the innermost enclosing function or '<module>') for every node."""
  def walk(node, where):
    for child in ast.iter_child_nodes(node):
      inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
      yield child, inner
      yield from walk(child, inner)
  yield from walk(tree, "<module>")


def _dotted(node):
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    return f"{_dotted(node.value)}.{node.attr}"
  return ""


def _is_true(node):
  return isinstance(node, ast.Constant) and node.value is True


def _mentions_allow_pickle(node):
  return any("allow_pickle" in _dotted(n).lower() for n in ast.walk(node)
             if isinstance(n, (ast.Name, ast.Attribute)))


def _scan():
  """(imports of unpickling modules, np.load calls that may unpickle, forwarding sites of
  allow_pickle=True, those of them outside an opt-in condition)."""
  imports, loads, forwards, unguarded = [], set(), set(), []
  for path, tree in _sources():
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node, func in _functions(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
        imports += [f"{path}:{node.lineno} {n}" for n in names
                    if n.split(".")[0] in UNPICKLERS]
      if isinstance(node, ast.Call) and _dotted(node.func) in ("np.load", "numpy.load"):
        pickle_kw = [k.value for k in node.keywords if k.arg == "allow_pickle"]
        hidden = len(node.args) > 2 or any(k.arg is None for k in node.keywords)  # *, **
        if hidden or (pickle_kw and not (isinstance(pickle_kw[0], ast.Constant)
                                         and pickle_kw[0].value is False)):
          loads.add((path, func))
      true_forward = (
          (isinstance(node, ast.keyword) and node.arg == "allow_pickle" and _is_true(node.value))
          or (isinstance(node, ast.Dict) and any(
              isinstance(k, ast.Constant) and k.value == "allow_pickle" and _is_true(v)
              for k, v in zip(node.keys, node.values))))
      if true_forward and not (isinstance(node, ast.keyword) and (path, func) in loads):
        forwards.add((path, func))
        guard = parents.get(node)
        if not (isinstance(guard, ast.IfExp) and _mentions_allow_pickle(guard.test)):
          unguarded.append(f"{path}:{node.lineno}")
  return imports, loads, forwards, unguarded


def test_only_the_documented_opt_in_unpickles():
  imports, loads, forwards, unguarded = _scan()
  assert not imports, f"unpickling modules imported: {imports}"
  assert loads == UNPICKLING_CALLS
  assert forwards == OPT_IN_PLUMBING
  assert not unguarded, f"allow_pickle=True passed without an opt-in condition: {unguarded}"


def test_the_unpickling_loader_runs_only_after_the_opt_in_check():
  tree = ast.parse((ROOT / "jaxpose/data/builders/h36m.py").read_text())
  callers, guard_line, call_lines = set(), None, []
  for node, func in _functions(tree):
    if isinstance(node, ast.Call) and _dotted(node.func) == "_load_pickled_dict":
      callers.add(func)
      call_lines.append(node.lineno)
    if (func == "_split_generators" and isinstance(node, ast.If)
        and "self._allow_pickle" in ast.unparse(node.test)
        and any(isinstance(s, ast.Raise) for s in node.body)):
      guard_line = node.lineno
  assert callers == {"_split_generators"} and call_lines
  assert guard_line is not None and guard_line < min(call_lines)


# --- behaviour: a live payload through every loader ----------------------------------------


def _evil(marker):
  """An object array whose unpickling creates the folder `marker`."""
  class Payload:
    def __reduce__(self):
      return os.mkdir, (str(marker),)
  out = np.empty(1, object)
  out[0] = Payload()
  return out


def _canonical_npz(path, marker):
  n = 4
  np.savez(path, positions_3d=np.zeros((n, 17, 3), np.float32),
           joint_names=np.array(skeleton.H36M17.joint_names), subject=np.zeros(n, np.int32),
           subject_names=np.array(["s1"]), sequence=np.zeros(n, np.int32),
           sequence_names=_evil(marker), fps=np.float32(20))
  return path


def _videopose3d_folder(folder, marker):
  folder.mkdir()
  np.savez(folder / h36m.FILE_3D, positions_3d=_evil(marker))
  np.savez(folder / h36m.FILE_2D, positions_2d=_evil(marker))
  return folder


def _config(**data):
  """configs/supervised_lifting.py:quick with `config.data` fields set."""
  spec = importlib.util.spec_from_file_location("sl", ROOT / "configs/supervised_lifting.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config("quick")
  config.update_from_flattened_dict({"data.num_threads": 0, "batch_size": 16,
                                     **{f"data.{k}": v for k, v in data.items()}})
  return config


LOADERS = {
    "mocap.load_canonical": (
        lambda tmp, marker: mocap.load_canonical(_canonical_npz(tmp / "m.npz", marker)),
        r"m\.npz: field 'sequence_names' holds pickled objects \(refused; .*\)"),
    "train_iterator(mocap_resample, mocap_path)": (
        lambda tmp, marker: data_lib.train_iterator(_config(
            source="mocap_resample", mocap_path=str(_canonical_npz(tmp / "m.npz", marker))),
            seed=0),
        r".*m\.npz: field 'sequence_names' holds pickled objects \(refused; .*\)"),
    "embedded builder on a user npz": (
        lambda tmp, marker: datasets.prepare("mocap_lifting", data_dir=str(tmp / "tfds"),
                                             config=embedded.EmbeddedConfig(
                                                 name="mine", mocap_path=str(_canonical_npz(
                                                     tmp / "m.npz", marker)))),
        r".*m\.npz: field 'sequence_names' holds pickled objects \(refused; .*\)"),
    "datasets.prepare(h36m_videopose3d)": (
        lambda tmp, marker: datasets.prepare(
            "h36m_videopose3d/protocol1", data_dir=str(tmp / "tfds"),
            manual_dir=str(_videopose3d_folder(tmp / "h36m", marker))),
        r"h36m_videopose3d: .* hold pickled objects, which can run code when loaded; opt in "
        r"with allow_pickle=True .*"),
    "train_iterator(h36m_videopose3d)": (
        lambda tmp, marker: data_lib.train_iterator(_config(
            source="h36m_videopose3d/protocol1", data_dir=str(tmp / "tfds"),
            manual_dir=str(_videopose3d_folder(tmp / "h36m", marker))), seed=0),
        r"h36m_videopose3d: .* hold pickled objects, which can run code when loaded; opt in "
        r"with allow_pickle=True .*"),
}


def test_payload_is_live(tmp_path):
  """Control: the file really runs code when unpickled (so the tests below mean it)."""
  marker = tmp_path / "ran"
  with np.load(_canonical_npz(tmp_path / "m.npz", marker), allow_pickle=True) as z:
    z["sequence_names"]  # pylint: disable=pointless-statement
  assert marker.is_dir()


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_refuses_pickled_npz_without_opt_in(name, tmp_path):
  load, match = LOADERS[name]
  marker = tmp_path / "ran"
  with pytest.raises(ValueError, match=match) as e:
    load(tmp_path, marker)
  assert "\n" not in str(e.value)
  assert not marker.exists(), f"{name} unpickled the file"
