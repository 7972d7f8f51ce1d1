"""Matplotlib figures: 2D/3D skeletons, ordinal relation arrows, dataset galleries, curves.

Every figure is a bare `matplotlib.figure.Figure` (no pyplot, no rcParams changes, no
global state), so this module works headless under any backend, Agg included, and
figures are freed when dropped.
The `draw_*` / `plot_*` functions draw into a given axes and return its figure; the
`*_figure` / `dataset_gallery` functions build a new figure. `save_figure` writes one.

Conventions (DESIGN.md): 2D keypoints are pixels with the origin at the top-left corner
of the image (pixel (u, v) covers [u, u + 1) x [v, v + 1), as `geometry.perspective_project`
and `data.render`), so images are shown with `extent=(0, W, H, 0)`. 3D poses are in the
camera frame (x right, y down, z forward, metres) and are plotted with matplotlib's
vertical axis = -y (up is up), horizontal axes x and z (depth). Bones and joints are
coloured by side from the joint names: left warm (red), right cool (blue), centre grey,
like the limbs of the synthetic renderer. An ordinal relation (i, j, r) (r = +1 <=> i
closer to the camera) is drawn as an arrow from the closer joint to the farther one,
labelled `closer < farther`; a tie (r = 0) as a dashed line labelled `i ≈ j`.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import cv2
import numpy as np
from matplotlib import lines as mlines
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits import mplot3d  # noqa: F401  (registers the '3d' projection)

from jaxpose import checks, geometry, metrics, skeleton

LEFT_COLOR = "#ff3b30"     # warm: left bones and joints
RIGHT_COLOR = "#1e90ff"    # cool: right bones and joints
CENTRE_COLOR = "#c8c8c8"   # trunk and head
TRUE_COLOR = "#303030"     # ground truth in pose comparisons
# Relation arrows: colours unlike the skeleton's, each outlined in black.
RELATION_COLORS = ("#ffe119", "#3cff3c", "#ff4dff", "#ffffff", "#ff9f1c", "#00ffff")
VIEWS = {"front": (10.0, -90.0), "side": (10.0, 0.0)}  # (elev, azim) of the 3D views


def _outline(linewidth: float) -> list:
  """Black outline path effect around a line of `linewidth` points."""
  return [patheffects.withStroke(linewidth=linewidth + 1.2, foreground="black")]


def side_colors(joint_set: skeleton.JointSet = skeleton.H36M17) -> list[str]:
  """Colour of each joint by its side: `l_*` LEFT_COLOR, `r_*` RIGHT_COLOR, else CENTRE."""
  out = []
  for name in joint_set.joint_names:
    canon = skeleton.canonical_name(name)
    out.append(LEFT_COLOR if canon.startswith("l_") else
               RIGHT_COLOR if canon.startswith("r_") else CENTRE_COLOR)
  return out


def arrow_joints(relation: Any) -> tuple[int, int, bool]:
  """Where the arrow of one relation goes: (closer joint, farther joint, is_tie).

  Args:
    relation: one (i, j, r) triple, r = +1 <=> joint i closer to the camera (DESIGN.md).

  Returns:
    (i, j, False) for r = +1, (j, i, False) for r = -1, (i, j, True) for a tie.
  """
  rel = np.asarray(relation)
  if rel.shape != (3,):
    raise ValueError(f"relation: expected one (i, j, r) triple, got shape {rel.shape}")
  i, j, r = (int(v) for v in rel)
  if r not in (-1, 0, 1):
    raise ValueError(f"relation: expected r in {{-1, 0, 1}}, got {r}")
  return (j, i, False) if r < 0 else (i, j, r == 0)


def _points(name: str, x: Any, dims: str, joint_set: skeleton.JointSet) -> np.ndarray:
  x = np.asarray(x, np.float64)
  sizes = checks.shapes(**{name: (x, dims)})
  if sizes["J"] != joint_set.num_joints:
    raise ValueError(f"{name}: expected {joint_set.num_joints} joints ({joint_set.name}), "
                     f"got {sizes['J']}")
  checks.finite(**{name: x})
  return x


def _flags(name: str, x: Any, num_joints: int) -> np.ndarray:
  if x is None:
    return np.ones(num_joints, bool)
  x = np.asarray(x, bool)
  if x.shape != (num_joints,):
    raise ValueError(f"{name}: expected bool [{num_joints}], got shape {x.shape}")
  return x


def draw_skeleton_2d(ax: Axes, keypoints2d: Any, *,
                     joint_set: skeleton.JointSet = skeleton.H36M17,
                     visible: Any = None, joint_mask: Any = None,
                     linewidth: float = 2.0, markersize: float = 4.0) -> Figure:
  """Draws bones and joints on an image axes (pixels, y down).

  Args:
    ax: 2D axes, e.g. one showing the image with `extent=(0, W, H, 0)`.
    keypoints2d: [J, 2] pixels.
    joint_set: the joints' set (names give the side colours, parents the bones).
    visible: bool [J]; invisible (occluded) joints are drawn hollow. Default all visible.
    joint_mask: bool [J]; joints (and their bones) that are absent are not drawn.
    linewidth, markersize: in points.

  Returns:
    The axes' figure.
  """
  kp = _points("keypoints2d", keypoints2d, "J 2", joint_set)
  visible = _flags("visible", visible, joint_set.num_joints)
  present = _flags("joint_mask", joint_mask, joint_set.num_joints)
  colors = side_colors(joint_set)
  for child, parent in joint_set.bones:
    if present[child] and present[parent]:
      ax.plot(kp[[child, parent], 0], kp[[child, parent], 1], color=colors[child],
              lw=linewidth, solid_capstyle="round", path_effects=_outline(linewidth),
              zorder=3)
  for j in np.flatnonzero(present):
    if visible[j]:
      style = {"mfc": colors[j], "mec": "black", "mew": 0.6}
    else:  # hollow, outlined in black to show on any background
      style = {"mfc": "none", "mec": colors[j], "mew": 1.4, "path_effects": _outline(1.4)}
    ax.plot(kp[j, 0], kp[j, 1], "o", ms=markersize, zorder=4, **style)
  return ax.figure


def _pick_relations(rel: np.ndarray, valid: np.ndarray, kp: np.ndarray, max_relations: int,
                    rng: np.random.Generator | None, min_separation: float) -> np.ndarray:
  """Row indices of the relations to draw (sorted)."""
  valid = np.flatnonzero(valid)
  sep = np.linalg.norm(kp[rel[valid, 0]] - kp[rel[valid, 1]], axis=-1)
  if np.sum(sep >= min_separation) >= min(max_relations, len(valid)):
    valid = valid[sep >= min_separation]
  k = min(max_relations, len(valid))
  if k == 0:
    return valid[:0]
  if rng is None:
    return valid[np.round(np.linspace(0, len(valid) - 1, k)).astype(int)]
  return np.sort(rng.choice(valid, size=k, replace=False))


def draw_relations(ax: Axes, keypoints2d: Any, relations: Any, *, max_relations: int = 4,
                   rng: np.random.Generator | None = None, mask: Any = None,
                   joint_set: skeleton.JointSet = skeleton.H36M17, joint_mask: Any = None,
                   min_separation: float = 0.0, legend: bool = True) -> Figure:
  """Draws a few ordinal relations as arrows from the closer joint to the farther one.

  Each arrow gets its own colour and a legend entry `closer < farther` (ties: a dashed
  line, `i ≈ j`), placed below the axes.

  Args:
    ax: 2D axes in pixels (as `draw_skeleton_2d`).
    keypoints2d: [J, 2] pixels.
    relations: int [K, 3] (i, j, r) triples, r = +1 <=> i closer (DESIGN.md).
    max_relations: at most this many are drawn.
    rng: picks which; None picks evenly spaced rows (deterministic).
    mask: bool [K] valid rows (padded relations); default all.
    joint_set: names for the labels.
    joint_mask: bool [J]; relations touching an absent joint are skipped.
    min_separation: prefer relations whose joints lie at least this many pixels apart
      (when enough do), so that each arrow is long enough to read.
    legend: add the legend.

  Returns:
    The axes' figure.
  """
  kp = _points("keypoints2d", keypoints2d, "J 2", joint_set)
  rel = np.asarray(relations)
  num = checks.shapes(relations=(rel, "K 3"))["K"]
  mask = np.ones(num, bool) if mask is None else np.asarray(mask, bool)
  if mask.shape != (num,):
    raise ValueError(f"mask: expected bool [{num}] (one per relation), got shape {mask.shape}")
  checks.relations("relations", rel, joint_set.num_joints, mask)
  checks.positive("max_relations", max_relations)
  present = _flags("joint_mask", joint_mask, joint_set.num_joints)
  rel = rel.astype(np.int64)
  valid = mask & present[rel[:, 0]] & present[rel[:, 1]]
  handles = []
  for k, row in enumerate(_pick_relations(rel, valid, kp, int(max_relations), rng,
                                          float(min_separation))):
    near, far, tie = arrow_joints(rel[row])
    color = RELATION_COLORS[k % len(RELATION_COLORS)]
    style = "--" if tie else "-"
    ax.annotate("", xy=tuple(kp[far]), xytext=tuple(kp[near]), zorder=5,
                arrowprops=dict(arrowstyle="-" if tie else "-|>", color=color, lw=1.8,
                                ls=style, shrinkA=3, shrinkB=3, mutation_scale=12,
                                path_effects=_outline(1.8)))
    names = joint_set.joint_names
    sign = "≈" if tie else "<"
    handles.append(mlines.Line2D([], [], color=color, ls=style, lw=2.2,
                                 path_effects=_outline(2.2),
                                 label=f"{names[near]} {sign} {names[far]}"))
  if legend and handles:
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7,
              title="closer < farther", title_fontsize=7, frameon=False,
              handlelength=1.6, borderaxespad=0.2, labelspacing=0.25)
  return ax.figure


def _set_equal_3d(ax) -> None:
  """Cubic limits around everything plotted in a 3D axes (equal aspect)."""
  data = [np.reshape(line.get_data_3d(), (3, -1)) for line in ax.lines]
  if not data:
    return
  pts = np.concatenate(data, axis=1)
  lo, hi = pts.min(axis=1), pts.max(axis=1)
  centre, half = (lo + hi) / 2, max(float(np.max(hi - lo)) / 2, 1e-3) * 1.05
  ax.set_xlim(centre[0] - half, centre[0] + half)
  ax.set_ylim(centre[1] - half, centre[1] + half)
  ax.set_zlim(centre[2] - half, centre[2] + half)
  ax.set_box_aspect((1.0, 1.0, 1.0))


def plot_pose_3d(ax3d, pose: Any, *, color: str | None = None, label: str | None = None,
                 joint_set: skeleton.JointSet = skeleton.H36M17,
                 linewidth: float = 2.0) -> Figure:
  """Plots a camera-frame 3D skeleton with up = up and equal aspect.

  Matplotlib's axes are (x, z, -y): camera x to the right, depth z, and -y vertical.
  Call it several times on one axes to overlay poses; the limits grow to fit all.

  Args:
    ax3d: a 3D axes (`fig.add_subplot(projection='3d')`).
    pose: [J, 3] camera frame (x right, y down, z forward), metres.
    color: one colour for the whole skeleton; None colours bones by side.
    label: legend label (attached to the first bone).
    joint_set: the joints' set.
    linewidth: points.

  Returns:
    The axes' figure.
  """
  p = _points("pose", pose, "J 3", joint_set)
  colors = [color] * joint_set.num_joints if color else side_colors(joint_set)
  xs, ys, zs = p[:, 0], p[:, 2], -p[:, 1]
  for k, (child, parent) in enumerate(joint_set.bones):
    idx = [child, parent]
    ax3d.plot(xs[idx], ys[idx], zs[idx], color=colors[child], lw=linewidth,
              label=label if k == 0 else None)
  ax3d.plot(xs, ys, zs, "o", ms=2.5, color=color or "black")
  ax3d.set_xlabel("x", fontsize=7, labelpad=-12)
  ax3d.set_ylabel("z (depth)", fontsize=7, labelpad=-12)
  ax3d.set_zlabel("-y (up)", fontsize=7, labelpad=-12)
  for axis in (ax3d.xaxis, ax3d.yaxis, ax3d.zaxis):
    axis.set_ticklabels([])
  ax3d.set_proj_type("ortho")
  _set_equal_3d(ax3d)
  return ax3d.figure


def _view(ax3d, view: str) -> None:
  elev, azim = VIEWS[view]
  ax3d.view_init(elev=elev, azim=azim)


def pose_comparison_figure(pred: Any, true: Any, *, titles: Sequence[str] | None = None,
                           joint_set: skeleton.JointSet = skeleton.H36M17) -> Figure:
  """Predicted vs true skeletons, root-relative, each example from the front and the side.

  Args:
    pred: [N, J, 3] predicted poses, camera frame, metres.
    true: [N, J, 3] ground truth.
    titles: N row titles (e.g. example ids); each gets the example's MPJPE appended.
    joint_set: the joints' set.

  Returns:
    A figure with N rows x 2 columns (front, side); prediction coloured by side,
    truth in dark grey.
  """
  pred = _points("pred", pred, "N J 3", joint_set)
  true = _points("true", true, "N J 3", joint_set)
  checks.shapes(pred=(pred, "N J 3"), true=(true, "N J 3"))
  n = pred.shape[0]
  if titles is not None and len(titles) != n:
    raise ValueError(f"titles: expected {n} titles (one per example), got {len(titles)}")
  root = joint_set.root
  pred, true = geometry.root_center(pred, root=root), geometry.root_center(true, root=root)
  errors = np.asarray(metrics.mpjpe(pred, true, root=None, reduction="none"))
  fig = Figure(figsize=(6.0, 3.0 * n), layout="constrained")
  for k in range(n):
    for col, view in enumerate(VIEWS):
      ax = fig.add_subplot(n, 2, 2 * k + col + 1, projection="3d")
      plot_pose_3d(ax, true[k], color=TRUE_COLOR, label="true", joint_set=joint_set)
      plot_pose_3d(ax, pred[k], label="predicted", joint_set=joint_set)
      _view(ax, view)
      head = f"{titles[k]}: " if titles is not None else ""
      ax.set_title(f"{head}{view}, MPJPE {errors[k]:.0f} mm", fontsize=8)
      if k == 0 and col == 0:
        ax.legend(fontsize=7, loc="upper left")
  return fig


def _blank_canvas(ax: Axes, keypoints2d: np.ndarray, margin: float = 0.15) -> None:
  """White pixel-frame axes fitting the keypoints (y down), for examples without image."""
  lo, hi = keypoints2d.min(axis=0), keypoints2d.max(axis=0)
  centre, half = (lo + hi) / 2, max(float(np.max(hi - lo)) / 2, 1.0) * (1 + margin)
  ax.set_facecolor("white")
  ax.set_xlim(centre[0] - half, centre[0] + half)
  ax.set_ylim(centre[1] + half, centre[1] - half)


def _show_image(ax: Axes, image: Any, keypoints2d: np.ndarray) -> None:
  """Shows an RGB image in pixel coordinates (or a blank canvas when None)."""
  ax.set_aspect("equal")
  ax.set_xticks([])
  ax.set_yticks([])
  if image is None:
    _blank_canvas(ax, keypoints2d)
    return
  if isinstance(image, (bytes, bytearray)):
    decoded = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
      raise ValueError("image: could not decode the encoded image bytes")
    image = decoded[..., ::-1]
  image = np.asarray(image)
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
    raise ValueError(f"image: expected [H, W], [H, W, 3] or [H, W, 4], got {image.shape}")
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  h, w = image.shape[:2]
  ax.imshow(image, extent=(0, w, h, 0), cmap="gray" if image.ndim == 2 else None)
  ax.set_xlim(0, w)
  ax.set_ylim(h, 0)


def prediction_figure(keypoints2d: Any, pose3d: Any, *, image: Any = None,
                      visible: Any = None, title: str | None = None,
                      joint_set: skeleton.JointSet = skeleton.H36M17) -> Figure:
  """An input (image or blank canvas with the 2D overlay) beside its 3D pose, two views.

  Args:
    keypoints2d: [J, 2] pixels of `image`.
    pose3d: [J, 3] camera frame, metres (root-centred for display).
    image: uint8 [H, W, 3] RGB, encoded PNG/JPEG bytes, or None for a blank canvas.
    visible: bool [J]; hollow joints where False.
    title: figure title.
    joint_set: the joints' set.

  Returns:
    A figure with three panels: 2D, 3D front, 3D side.
  """
  kp = _points("keypoints2d", keypoints2d, "J 2", joint_set)
  pose = geometry.root_center(_points("pose3d", pose3d, "J 3", joint_set),
                              root=joint_set.root)
  fig = Figure(figsize=(10.0, 3.6), layout="constrained")
  ax = fig.add_subplot(1, 3, 1)
  _show_image(ax, image, kp)
  draw_skeleton_2d(ax, kp, joint_set=joint_set, visible=visible)
  ax.set_title("2D", fontsize=9)
  for col, view in enumerate(VIEWS):
    ax3d = fig.add_subplot(1, 3, col + 2, projection="3d")
    plot_pose_3d(ax3d, pose, joint_set=joint_set)
    _view(ax3d, view)
    ax3d.set_title(f"3D, {view}", fontsize=9)
  if title:
    fig.suptitle(title, fontsize=10)
  return fig


def _text(x: Any) -> str:
  x = x.item() if isinstance(x, np.ndarray) else x
  return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def example_title(meta: dict) -> str:
  """`action` over `subject` of an example's meta (e.g. `deepmimic/humanoid3d_run`)."""
  return f"{_text(meta.get('action', ''))}\n{_text(meta.get('subject', ''))}".strip()


def dataset_gallery(examples: Sequence[dict], *, num_relations: int = 4, seed: int = 0,
                    ncols: int | None = None,
                    joint_set: skeleton.JointSet = skeleton.H36M17) -> Figure:
  """A grid of schema examples: image, 2D joints (hollow = occluded), a few relations.

  Args:
    examples: decoded schema examples (dicts with `keypoints2d`, and optionally `image`
      (uint8 [H, W, 3] or encoded bytes), `visible`, `joint_mask`, `relations`,
      `meta`), e.g. records of a tfds data source.
    num_relations: relations drawn per example (0 for none), chosen at random among
      those whose joints lie at least 1/6 of the image apart.
    seed: picks the relations (example k uses `np.random.default_rng([seed, k])`).
    ncols: grid columns; default min(4, N).
    joint_set: the joints' set.

  Returns:
    A figure with one panel per example, titled by meta action and subject.
  """
  if not examples:
    raise ValueError("examples: expected at least one example")
  ncols = min(4, len(examples)) if ncols is None else ncols
  checks.positive("ncols", ncols)
  nrows = math.ceil(len(examples) / ncols)
  extra = 0.12 * num_relations + (0.25 if num_relations else 0.0)
  fig = Figure(figsize=(2.4 * ncols, (2.75 + extra) * nrows), layout="constrained")
  for k, ex in enumerate(examples):
    if "keypoints2d" not in ex:
      raise ValueError(f"examples[{k}]: missing 'keypoints2d' (expected a schema example)")
    ax = fig.add_subplot(nrows, ncols, k + 1)
    kp = _points(f"examples[{k}].keypoints2d", ex["keypoints2d"], "J 2", joint_set)
    present = _flags(f"examples[{k}].joint_mask", ex.get("joint_mask"), joint_set.num_joints)
    _show_image(ax, ex.get("image"), kp[present] if present.any() else kp)
    draw_skeleton_2d(ax, kp, joint_set=joint_set, visible=ex.get("visible"),
                     joint_mask=present, linewidth=1.0, markersize=3.0)
    rel = np.asarray(ex.get("relations", np.zeros((0, 3), np.int8))).reshape(-1, 3)
    if num_relations and len(rel):
      side = float(np.ptp(np.asarray(ax.get_xlim())))
      draw_relations(ax, kp, rel, max_relations=num_relations, joint_set=joint_set,
                     rng=np.random.default_rng([seed, k]), joint_mask=present,
                     min_separation=side / 6)
    ax.set_title(example_title(ex.get("meta", {})), fontsize=7.5)
  return fig


def curve_figure(values: dict[str, Sequence[float]], *, xlabel: str, ylabel: str,
                 x: Sequence[float] | None = None, title: str | None = None,
                 logy: bool = False) -> Figure:
  """Line plot of named curves, e.g. loss vs depth difference Δz, or metrics vs step.

  Args:
    values: curve name -> y values.
    xlabel, ylabel: axis labels.
    x: shared x values (same length as every curve); default 0, 1, 2, ...
    title: axes title.
    logy: logarithmic y axis.

  Returns:
    A figure with one axes and a legend.
  """
  if not values:
    raise ValueError("values: expected at least one named curve")
  fig = Figure(figsize=(5.0, 3.5), layout="constrained")
  ax = fig.add_subplot(1, 1, 1)
  for name, ys in values.items():
    ys = np.asarray(ys, np.float64).reshape(-1)
    xs = np.arange(len(ys)) if x is None else np.asarray(x, np.float64).reshape(-1)
    if xs.shape != ys.shape:
      raise ValueError(f"values[{name!r}]: expected {len(xs)} values (as x), got {len(ys)}")
    ax.plot(xs, ys, lw=1.8, label=name)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  if logy:
    ax.set_yscale("log")
  if title:
    ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, overwrite: bool = False,
                dpi: int = 120) -> str:
  """Writes a figure (format from the extension), creating parent folders.

  Refuses to replace an existing file unless `overwrite=True`; writes to a temporary
  file first, so an interrupted save leaves no partial figure.

  Returns:
    The path written.
  """
  path = os.fspath(path)
  if os.path.exists(path) and not overwrite:
    raise ValueError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
  ext = os.path.splitext(path)[1].lstrip(".").lower()
  if not ext:
    raise ValueError(f"{path}: expected a file extension giving the format (.png, .pdf, ...)")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  try:
    fig.savefig(tmp, format=ext, dpi=dpi)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return path
