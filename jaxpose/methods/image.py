"""Pavlakos et al. CVPR'18 image methods: depth (3.1), coordinate (3.2) and volumetric (3.3) nets.

Three `Method`s on a stacked hourglass (`jaxpose.models.hourglass`), each with the head
of its section (`jaxpose.models.heads`) and the Sec. 3.4 reconstruction MLP at the end:

  * `ordinal_depth` (Sec. 3.1): one hourglass + `DepthHead`: J depths, nothing else.
  * `ordinal_coordinates` (Sec. 3.2): `CoordinateHead`: 2D in crop units and J depths,
    `L = L_rank + lambda L_keyp`, lambda = 100.
  * `ordinal_volumetric` (Sec. 3.3): J x D volume logits per stack, a softmax over each
    joint's whole volume, 2D heatmap and depth marginals (eq. 3-5; `heads.volume_marginals`),
    depth = sum_z z p(z|j) in bin units, `L = L_rank + lambda L_heat` on every stack
    (Newell's intermediate supervision).

Supervision (`config.supervision`, the one flag of the paper's Table 1):
  * 'ordinal': the depth is trained by the ranking loss (eq. 1-2) on every example with
    relations; 3D never reaches the ConvNet.
  * 'full': the depth is metric (metres; the volumetric bins span
    `config.head.depth_range_m` either side of the root) and trained by an L2 on the
    root-relative depth where an example has 3D; examples with relations but no 3D keep
    the ranking loss (the mixed training of Sec. 4.2).

Mixed batches (Sec. 4.2): every term is masked per example, so an example contributes
exactly the terms it has: 2D terms where `joint_mask` (heatmaps: joints inside the crop),
ranking where `has_ordinal` and `relation_mask`, 3D terms where `has_3d`; padding rows
(`valid` False) contribute nothing.

3D output (Sec. 3.4, Fig. 3b): the network ends with `models.lifting.ReconstructionMLP`
on `[x, y, z]`, x, y the predicted 2D normalised by `lifting.normalize_2d` and z the
predicted depth standardised per pose ('ordinal': its scale is arbitrary) or, for
'full', the root-relative depth in units of 0.1 m. It is trained in the same step, by
the L2 of eq. 6 on the examples with 3D, on the ConvNet's own outputs behind a
stop-gradient: the MLP learns the map from what the ConvNet really predicts to metres,
and the ConvNet's depth stays supervised by relations alone, as Table 1 compares.
(Pavlakos trains the MLP on MoCap with simulated noisy depths, `methods.reconstruction`;
the input normalisation here is the same, so either MLP reads either input.)
`ordinal_depth` predicts no 2D: it reads the batch's `keypoints2d` (annotations, or a 2D
detector's output) for the MLP, as Sec. 3.1's depths need 2D from elsewhere.
"""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxpose import checks, geometry, losses, metrics, skeleton
from jaxpose.data import augment, pipeline, schema
from jaxpose.methods import base, lifting, reconstruction, relative
from jaxpose.models import heads
from jaxpose.models import hourglass
from jaxpose.models import lifting as lifting_models

Array = jax.Array
JOINTS = skeleton.H36M17
ROOT = JOINTS.root
HEADS = ("depth", "coordinates", "volumetric")
SUPERVISIONS = ("ordinal", "full")
# Metres per unit of the reconstruction MLP's output and of its 'full' depth input.
UNIT_M = lifting.OUTPUT_SCALE_M


def image_input(batch: base.Batch) -> Array:
  """[B, S, S, 3] float32 in [-1, 1] from the batch's uint8 `image`."""
  return jnp.asarray(batch["image"], jnp.float32) / 127.5 - 1.0


def crop_size(batch: base.Batch) -> int:
  """S, the side of the batch's square images."""
  checks.shapes(image=(batch["image"], "B S S 3"))
  return int(batch["image"].shape[1])


def reconstruction_input(keypoints2d: Array, depth: Array, mask: Array, *,
                         metric: bool) -> Array:
  """[B, J, 3] input of the reconstruction MLP (module docstring).

  Args:
    keypoints2d: [B, J, 2] pixels; depth: [B, J]; mask: bool [B, J] joints to read.
    metric: depth in metres ('full'): root-relative, in units of `UNIT_M`; else
      standardised per pose over the masked joints.
  """
  xy, _ = lifting_models.normalize_2d(keypoints2d, root=ROOT, mask=mask)
  if metric:
    z = (depth - depth[:, ROOT:ROOT + 1]) / UNIT_M
  else:
    z = lifting_models.standardize(jnp.where(mask, depth, 0.0), axis=-1)
  return jnp.concatenate([xy, jnp.where(mask, z, 0.0)[..., None]], axis=-1)


class PavlakosNet(nn.Module):
  """Hourglass -> head -> (stop-gradient) reconstruction MLP, as one module.

  Attributes:
    backbone: a `StackedHourglass` (out_channels J * D for the volumetric head).
    reconstruction: a `ReconstructionMLP`.
    head: 'depth', 'coordinates' or 'volumetric'.
    metric: depth is metric ('full' supervision).
    depth_bins: D (volumetric).
    depth_range_m: metric half-range of the bins (volumetric, 'full').
    pooling: `DepthHead` / `CoordinateHead` pooling.
    num_joints: J.
  """
  backbone: nn.Module
  reconstruction: nn.Module
  head: str
  metric: bool = False
  depth_bins: int = 0
  depth_range_m: float = 1.0
  pooling: str = "avg"
  num_joints: int = JOINTS.num_joints

  def _volumetric(self, image: Array, train: bool) -> dict[str, Any]:
    size = image.shape[1:3]
    stacks = []
    for logits in self.backbone(image, train=train):  # (B, H, W, J*D) per stack
      m = heads.volume_marginals(logits, num_joints=self.num_joints,
                                 depth_bins=self.depth_bins)
      m["keypoints2d"] = heads.heatmap_to_image_coords(
          m["keypoints2d"], heatmap_size=logits.shape[1:3], image_size=size)
      if self.metric:  # bins of 2 R / D metres
        m["depth"] = m["depth"] * (2.0 * self.depth_range_m / self.depth_bins)
      stacks.append(m)
    return {**stacks[-1], "stacks": stacks}

  @nn.compact
  def __call__(self, image: Array, keypoints2d: Array, mask: Array, *,
               train: bool) -> dict[str, Any]:
    """image [B, S, S, 3] float; keypoints2d [B, J, 2] (the given 2D, read by the depth
    head only); mask bool [B, J] joints the MLP reads.

    Returns:
      dict(keypoints2d [B, J, 2] crop pixels, depth [B, J], pose3d [B, J, 3] metres
      root-relative, and for the volumetric head heatmap2d, depth_dist and 'stacks': the
      per-stack marginals), float32.
    """
    checks.one_of("head", self.head, HEADS)
    if self.head == "volumetric":
      out = self._volumetric(image, train)
    else:
      _, features = self.backbone(image, train=train, return_features=True)
      if self.head == "depth":
        depth = heads.DepthHead(self.num_joints, self.pooling, name="head")(features)
        out = {"keypoints2d": jnp.asarray(keypoints2d, jnp.float32), "depth": depth}
      else:
        c = heads.CoordinateHead(self.num_joints, self.pooling, name="head")(features)
        out = {"keypoints2d": c["keypoints2d"] * image.shape[1], "depth": c["depth"],
               "keypoints2d_unit": c["keypoints2d"]}
    if self.head != "depth":  # every joint's 2D is predicted
      mask = jnp.ones_like(mask)
    x = reconstruction_input(jax.lax.stop_gradient(out["keypoints2d"]),
                             jax.lax.stop_gradient(out["depth"]), mask, metric=self.metric)
    pose = self.reconstruction(x, train=train)  # (B, J, 3)
    out["pose3d"] = geometry.root_center(UNIT_M * pose, root=ROOT)
    return out


def direct_pose(keypoints2d: Array, depth: Array, mask: Array, *, ratio: float,
                bones: Array) -> Array:
  """The Sec. 3.4 ablation: the ConvNet's own `[x, y, k z]`, no reconstruction MLP.

  x, y are the predicted 2D normalised as the MLP reads them and z the predicted depth
  standardised per pose (for 'full' too, so both supervisions are read alike), scaled by
  `ratio` (`reconstruction.depth_to_plane_ratio`: training MoCap's depth-to-plane spread)
  and the pose scaled to the reference skeleton (`relative.to_metres`): the
  `methods.reconstruction` "direct" baseline on the image network's outputs. Score it
  with PA-MPJPE.

  Returns:
    [B, J, 3] root-relative metres.
  """
  x = reconstruction_input(keypoints2d, depth, mask, metric=False)
  pose = relative.to_metres(x * jnp.asarray([1.0, 1.0, ratio], jnp.float32), bones)
  return geometry.root_center(pose, root=ROOT)


# ---------------------------------------------------------------------- loss terms


def heatmap_targets(keypoints2d: Array, *, heatmap_size: tuple[int, int],
                    image_size: tuple[int, int], sigma: float, mask: Array) -> Array:
  """[B, H, W, J] Gaussian targets normalised to sum 1 (the marginals are distributions).

  Keypoints are corner-origin image pixels, as heatmap cells and `soft_argmax_2d` (cell c
  centred at c + 0.5), so a target's mean is its keypoint away from the borders. Masked
  joints get zero maps.
  """
  hm = heads.image_to_heatmap_coords(keypoints2d, heatmap_size=heatmap_size,
                                     image_size=image_size)
  maps = losses.gaussian_heatmaps(hm, size=heatmap_size, sigma=sigma, mask=mask)
  total = jnp.sum(maps, axis=(1, 2), keepdims=True)
  return jnp.where(total > 1e-6, maps / jnp.maximum(total, 1e-6), 0.0)


def inside_crop(keypoints2d: Array, size: int) -> Array:
  """bool [B, J]: keypoints inside the S x S crop."""
  return jnp.all((keypoints2d >= 0) & (keypoints2d < size), axis=-1)


def _depth_terms(depth: Array, batch: base.Batch, *, metric: bool) -> dict[str, Array]:
  """'rank' (eq. 1-2) and, for metric depth, 'depth_l2' on the root-relative depth."""
  rel_mask = base.relation_mask(batch)
  if not metric:
    return {"rank": losses.ranking_loss(depth=depth, relations=batch["relations"],
                                        mask=rel_mask)}
  has_3d = batch["has_3d"] & batch["valid"]
  rank = losses.ranking_loss(depth=depth, relations=batch["relations"],
                             mask=rel_mask & ~has_3d[:, None])
  target = lifting.pose_target(batch)[..., 2:]
  pred = (depth - depth[:, ROOT:ROOT + 1])[..., None]
  return {"rank": rank,
          "depth_l2": losses.joint_l2(pred=pred, target=target, mask=base.pose_mask(batch))}


def _stack_terms(out: dict[str, Any], batch: base.Batch, *, head: str, metric: bool,
                 sigma: float) -> dict[str, Array]:
  """The ConvNet's terms; for the volumetric head summed over stacks."""
  size = crop_size(batch)
  kp_mask = batch["joint_mask"] & batch["valid"][:, None]
  if head == "depth":
    return _depth_terms(out["depth"], batch, metric=metric)
  if head == "coordinates":
    terms = _depth_terms(out["depth"], batch, metric=metric)
    terms["keyp"] = losses.joint_l2(pred=out["keypoints2d_unit"],
                                    target=batch["keypoints2d"] / size, mask=kp_mask)
    return terms
  kp_mask = kp_mask & inside_crop(batch["keypoints2d"], size)
  total: dict[str, Array] = {}
  for m in out["stacks"]:
    hm_size = m["heatmap2d"].shape[1:3]
    target = heatmap_targets(batch["keypoints2d"], heatmap_size=hm_size,
                             image_size=(size, size), sigma=sigma, mask=kp_mask)
    terms = _depth_terms(m["depth"], batch, metric=metric)
    terms["heat"] = losses.heatmap_l2(pred=m["heatmap2d"], target=target, mask=kp_mask)
    total = {k: total.get(k, 0.0) + v for k, v in terms.items()}
  return total


# ---------------------------------------------------------------------- methods


def _build(config: Any, head: str) -> tuple[PavlakosNet, bool]:
  """The network of `config` for `head`, and whether its depth is metric."""
  supervision = config.supervision
  checks.one_of("config.supervision", supervision, SUPERVISIONS)
  h = config.head
  bins = int(h.depth_bins) if head == "volumetric" else 0
  if head == "volumetric":
    checks.positive("config.head.depth_bins", bins)
    checks.positive("config.head.depth_range_m", h.depth_range_m)
  # The depth and coordinate heads read the last stack's features; its 1x1 output
  # layer (1 channel) then only feeds the merge between stacks.
  out_channels = JOINTS.num_joints * bins if bins else 1
  backbone = base.model_from_config(hourglass.get_model, config.model,
                                    out_channels=out_channels)
  recon = base.model_from_config(lifting_models.get_model, config.reconstruction,
                                 num_joints=JOINTS.num_joints)
  metric = supervision == "full"
  net = PavlakosNet(backbone, recon, head, metric=metric, depth_bins=bins,
                    depth_range_m=float(h.depth_range_m), pooling=h.pooling)
  return net, metric


def _net_inputs(batch: base.Batch) -> tuple[Array, Array, Array]:
  return image_input(batch), batch["keypoints2d"], base.input_mask(batch)


def pavlakos_method(config: Any, head: str, name: str) -> base.Method:
  """The `Method` of one Pavlakos head (module docstring); weights from `config.loss`."""
  net, metric = _build(config, head)
  lw = config.loss
  weights = {"keyp": lw.keyp_weight, "heat": lw.heat_weight,
             "depth_l2": lw.depth_weight, "recon": lw.recon_weight}
  sigma = float(config.head.heatmap_sigma)
  skip_reconstruction = bool(config.head.get("skip_reconstruction", False))
  if skip_reconstruction:
    ratio = reconstruction.depth_to_plane_ratio(*relative.mocap_split_args(config))
    bones = jnp.asarray(relative.reference_bones(config))

  def init(key: Array, batch: base.Batch) -> base.Variables:
    return base.init_variables(net, key, *_net_inputs(batch))

  def loss(variables: base.Variables, batch: base.Batch, key: Array):
    out, batch_stats = base.apply_train(net, variables, *_net_inputs(batch), key=key)
    terms = _stack_terms(out, batch, head=head, metric=metric, sigma=sigma)
    target, mask = lifting.pose_target(batch), base.pose_mask(batch)
    terms["recon"] = losses.joint_l2(pred=out["pose3d"], target=target, mask=mask)
    mpjpe = metrics.mpjpe(out["pose3d"], target, mask=mask, root=ROOT)
    return base.total_loss(terms, batch_stats,
                           weights={k: v for k, v in weights.items() if k in terms},
                           extra={"mpjpe_mm": mpjpe})

  def predict_outputs(variables: base.Variables, batch: base.Batch) -> dict[str, Array]:
    out = base.apply_eval(net, variables, *_net_inputs(batch))
    keep = {"pose3d": out["pose3d"], "depth": out["depth"]}
    if skip_reconstruction:
      mask = base.input_mask(batch) if head == "depth" else jnp.ones_like(batch["joint_mask"])
      keep["pose3d"] = direct_pose(out["keypoints2d"], out["depth"], mask, ratio=ratio,
                                   bones=bones)
    if head != "depth":
      keep["keypoints2d"] = out["keypoints2d"]
    return keep

  def predict(variables: base.Variables, batch: base.Batch) -> Array:
    return predict_outputs(variables, batch)["pose3d"]

  return base.Method(name, "image", init, loss, predict, net, predict_outputs)


def ordinal_depth(config: Any) -> base.Method:
  """Pavlakos Sec. 3.1: hourglass + fully connected depth head (2D read from the batch)."""
  return pavlakos_method(config, "depth", "ordinal_depth")


def ordinal_coordinates(config: Any) -> base.Method:
  """Pavlakos Sec. 3.2: 2D coordinates and depths, `L = L_rank + 100 L_keyp`."""
  return pavlakos_method(config, "coordinates", "ordinal_coordinates")


def ordinal_volumetric(config: Any) -> base.Method:
  """Pavlakos Sec. 3.3: volumetric marginals, `L = L_rank + 100 L_heat`."""
  return pavlakos_method(config, "volumetric", "ordinal_volumetric")


# ---------------------------------------------------------------------- raw images


def person_box(image_shape: Sequence[int], bbox: Sequence[float] | None = None, *,
               name: str = "bbox", min_inside: float = 0.5) -> tuple[np.ndarray, float]:
  """(centre [2], side) of the square crop: around `bbox` (x, y, w, h pixels; side
  max(w, h)), or the whole image (side max(H, W)) when None.

  Raises:
    ValueError: (message starting with `name`) for a malformed box, or one with less
      than `min_inside` of its area inside the image: it would crop mostly padding.
  """
  h, w = image_shape[:2]
  if bbox is None:
    return np.array([w / 2.0, h / 2.0]), float(max(w, h))
  try:
    x, y, bw, bh = (float(v) for v in bbox)
  except (TypeError, ValueError):
    x = y = bw = bh = float("nan")
  if not (bw > 0 and bh > 0 and np.isfinite([x, y, bw, bh]).all()):
    raise ValueError(f"{name}: expected x, y, w, h (pixels, w and h > 0), got {tuple(bbox)}")
  inside = (max(0.0, min(x + bw, w) - max(x, 0.0)) *
            max(0.0, min(y + bh, h) - max(y, 0.0))) / (bw * bh)
  if inside < min_inside:
    raise ValueError(f"{name}: the box x, y, w, h = {x:g}, {y:g}, {bw:g}, {bh:g} has "
                     f"{int(100 * inside)} % of its area inside the {w} x {h} (W x H) image; "
                     f"expected a box in image pixels with at least "
                     f"{100 * min_inside:.0f} % of it inside")
  return np.array([x + bw / 2.0, y + bh / 2.0]), float(max(bw, bh))


def image_batch(images: Sequence[np.ndarray], boxes: Sequence[tuple[np.ndarray, float]], *,
                output_size: int, num_pairs: int) -> dict:
  """A batch of S x S crops of RGB images (uint8 [H, W, 3]) around `boxes` (`person_box`),
  cut as evaluation cuts them (`augment.augment_example`, no random part); nothing but
  the image is annotated."""
  config = augment.AugmentConfig(output_size=output_size)
  examples = []
  for k, (image, (center, side)) in enumerate(zip(images, boxes)):
    checks.shapes(image=(image, "H W 3"))
    ex = schema.empty_example()
    ex["image"] = np.asarray(image, np.uint8)
    ex["bbox"] = {"center": np.asarray(center, np.float32), "scale": np.float32(side)}
    examples.append(pipeline.prepare_example(ex, index=k, rng=np.random.default_rng(0),
                                             num_pairs=num_pairs, augment=config,
                                             train=False))
  return pipeline.collate(examples)


def to_image_pixels(keypoints2d: np.ndarray, box: tuple[np.ndarray, float],
                    output_size: int) -> np.ndarray:
  """[J, 2] crop pixels -> pixels of the image the crop was cut from (inverse crop)."""
  a = np.vstack([augment.crop_affine(box[0], box[1], output_size), [0.0, 0.0, 1.0]])
  return augment.apply_affine(np.linalg.inv(a)[:2], keypoints2d)
