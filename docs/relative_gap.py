"""Where relative lifting's extra error lies: a diagnosis of trained lifting-suite runs.

    python docs/relative_gap.py --root=/tmp/jaxpose_results --steps=12000

Reads the runs that `launch/results.py --suite=lifting --root=ROOT --steps=STEPS` trained
(Ronchi's relative net and Martinez' supervised one, with the papers' and with the tuned
settings) and prints, on the held-out subjects (PA-MPJPE in mm, mean per action):

  * the optimum of Ronchi's loss itself: each pose rebuilt bone by bone from its true
    x, y, the true depth sign of every bone and the training-mean bone ratios at the
    pose's true size (a bone shorter in 2D than its reference gets Delta z = 0);
  * for each net: its own error; with every bone's depth sign replaced by the true one
    (its own |Delta z|); with every |Delta z| replaced by the true one (its own signs);
    the fraction of bones pointing the wrong way in depth (all, and |Delta z| > 10 cm);
    the mean |Delta z| error per bone; the mean relative error of its bone-length ratios.

Predictions are first scaled so their x, y best match the truth (least squares), so
depths and bone lengths compare in metres; rebuilt poses keep the net's x, y.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from jaxpose import metrics, results, skeleton  # noqa: E402  pylint: disable=g-import-not-at-top
from jaxpose.methods import relative  # noqa: E402
from jaxpose.train import data as data_lib  # noqa: E402
from jaxpose.train import train_lib  # noqa: E402

JOINTS = skeleton.H36M17
CHILD, PARENT = JOINTS.bones[:, 0], JOINTS.bones[:, 1]
RUNS = ("relative", "relative_drop02_skel3", "supervised", "supervised_drop02")


def held_out(config, method, variables):
  """(true [N, J, 3], prediction [N, J, 3], actions [N]) on the held-out split, root-centred,
  metres."""
  true, pred, actions = [], [], []
  for batch in data_lib.eval_iterator(config):
    valid = np.asarray(batch["valid"]).astype(bool)
    true.append(np.asarray(batch["keypoints3d"], np.float64)[valid])
    actions.append(np.asarray(batch["meta"]["action"])[valid])
    arrays = jax.tree.map(jnp.asarray, {k: v for k, v in batch.items() if k != "meta"})
    pred.append(np.asarray(method.predict(variables, arrays), np.float64)[valid])
  centre = lambda x: x - x[:, JOINTS.root:JOINTS.root + 1]
  return centre(np.concatenate(true)), centre(np.concatenate(pred)), np.concatenate(actions)


def pa(pred, true, actions):
  per_pose = metrics.pa_mpjpe(jnp.asarray(pred, jnp.float32), jnp.asarray(true, jnp.float32),
                              reduction="none")
  return metrics.mean_over_actions(np.asarray(per_pose), actions)


def rebuild(xy, dz):
  """Poses with the given x, y [N, J, 2] and per-bone depth steps dz [N, K] (child - parent).

  H36M17's parents precede their children, so one pass in joint order suffices.
  """
  out = np.zeros(xy.shape[:2] + (3,))
  out[..., :2] = xy
  bone_of = {int(c): k for k, c in enumerate(CHILD)}
  for j in range(1, JOINTS.num_joints):
    k = bone_of[j]
    out[:, j, 2] = out[:, PARENT[k], 2] + dz[:, k]
  return out


def bone_dz(pose):
  return pose[:, CHILD, 2] - pose[:, PARENT, 2]


def bone_lengths(pose):
  return np.linalg.norm(pose[:, CHILD] - pose[:, PARENT], axis=-1)


def loss_optimum(config, true, actions):
  reference = np.asarray(relative.reference_bones(config), np.float64)
  size = bone_lengths(true).sum(1, keepdims=True) / reference.sum()
  dxy2 = np.sum((true[:, CHILD, :2] - true[:, PARENT, :2]) ** 2, -1)
  dz = np.sign(bone_dz(true)) * np.sqrt(np.maximum((reference * size) ** 2 - dxy2, 0.0))
  return pa(rebuild(true[..., :2], dz), true, actions)


def diagnose(pred, true, actions):
  scale = np.sum(pred[..., :2] * true[..., :2], (1, 2)) / np.sum(pred[..., :2] ** 2, (1, 2))
  pred = pred * scale[:, None, None]
  dz_pred, dz_true = bone_dz(pred), bone_dz(true)
  wrong = np.sign(dz_pred) != np.sign(dz_true)
  ratios = lambda p: bone_lengths(p) / bone_lengths(p).sum(1, keepdims=True)
  return {
      "PA-MPJPE": pa(pred, true, actions),
      "true signs": pa(rebuild(pred[..., :2], np.sign(dz_true) * np.abs(dz_pred)), true,
                       actions),
      "true abs dz": pa(rebuild(pred[..., :2], np.sign(dz_pred) * np.abs(dz_true)), true,
                      actions),
      "wrong sign %": 100 * wrong.mean(),
      "wrong, abs dz > 10 cm %": 100 * (wrong & (np.abs(dz_true) > 0.1)).mean(),
      "abs dz error cm": 100 * np.abs(np.abs(dz_pred) - np.abs(dz_true)).mean(),
      "ratio error %": 100 * np.abs(ratios(pred) / ratios(true) - 1).mean(),
  }


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--root", required=True, help="the lifting suite's --root")
  parser.add_argument("--steps", type=int, required=True, help="the lifting suite's --steps")
  args = parser.parse_args(argv)
  experiments = {e.name: e for e in results.lifting_suite(args.steps)[0]}
  rows, optimum = {}, None
  for name in RUNS:  # every run evaluates on the same held-out poses
    exp = experiments[name]
    config = results.load_config(exp.config, exp.overrides)
    method, variables, _ = train_lib.restore(config, os.path.join(args.root, name),
                                             which="latest")
    true, pred, actions = held_out(config, method, variables)
    rows[name] = diagnose(pred, true, actions)
    if name == "relative":  # its config names the training-mean reference bones
      optimum = loss_optimum(config, true, actions)
  print(f"Ronchi's loss optimum (true signs, training-mean bone ratios at the true size): "
        f"PA-MPJPE {optimum:.1f} mm\n")
  keys = list(next(iter(rows.values())))
  print("| run | " + " | ".join(keys) + " |")
  print("|---|" + "---|" * len(keys))
  for name, row in rows.items():
    print(f"| `{name}` | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
  main()
