"""Regenerates the committed figures of docs/figures from the embedded default datasets.

    python docs/make_figures.py --data_dir=/tmp/tfds --out=docs/figures [--overwrite]

Builds `mocap_images` and `mocap_lifting` at their default settings into `--data_dir`
unless they are already there (a few minutes on two cores), then writes

  * mocap_images_gallery.png: training examples of `mocap_images`, one per motion type
    (walk, run, jump, salsa, dance, punch, ...), with their 2D joints (hollow = occluded
    in the rendering) and a few ordinal relations drawn as arrows closer -> farther;
  * mocap_lifting_views.png: held-out-subject poses of `mocap_lifting`, each seen by its
    `test` camera (training elevation range, top row) and by its `test_cameras` camera
    (held-out, higher elevation range, bottom row).

Existing figures are kept unless `--overwrite` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

from jaxpose import viz
from jaxpose.data import datasets

# Substrings of meta `action` (sequence names of the default asset), one example each.
MOTIONS = ("walk", "run", "jump", "salsa", "dance", "punch", "kick", "backflip", "crawl",
           "roll", "getup", "cmu_asfamc/01")
GALLERY = "mocap_images_gallery.png"
LIFTING = "mocap_lifting_views.png"


def _text(x) -> str:
  return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def pick_by_motion(source, motions: Sequence[str], seed: int) -> list[dict]:
  """One record per motion substring (in `motions` order), scanning in a seeded order."""
  found: dict[str, dict] = {}
  for index in np.random.default_rng(seed).permutation(len(source)):
    record = source[int(index)]
    action = _text(record["meta"]["action"])
    motion = next((m for m in motions if m not in found and m in action), None)
    if motion is not None:
      found[motion] = record
      if len(found) == len(motions):
        break
  missing = [m for m in motions if m not in found]
  if missing:
    raise ValueError(f"motions: no training example whose action contains {missing}")
  return [found[m] for m in motions]


def images_gallery(data_dir: str, *, num_examples: int, seed: int):
  """The gallery figure of `mocap_images` training examples."""
  builder = datasets.prepare("mocap_images", data_dir=data_dir)
  examples = pick_by_motion(builder.as_data_source()["train"], MOTIONS[:num_examples], seed)
  return viz.dataset_gallery(examples, num_relations=4, seed=seed, ncols=4)


def _by_frame(source) -> dict[int, dict]:
  return {int(r["meta"]["frame"]): r for r in (source[k] for k in range(len(source)))}


def lifting_views(data_dir: str, *, num_poses: int, seed: int):
  """Held-out-subject poses from their `test` camera (top) and `test_cameras` (bottom)."""
  builder = datasets.prepare("mocap_lifting", data_dir=data_dir)
  config, sources = builder.builder_config, builder.as_data_source()
  test, held_out = _by_frame(sources["test"]), _by_frame(sources["test_cameras"])
  frames, actions = [], set()
  for frame in np.random.default_rng(seed).permutation(sorted(test)):
    action = _text(test[frame]["meta"]["action"])
    if action not in actions and frame in held_out:
      frames.append(frame)
      actions.add(action)
    if len(frames) == num_poses:
      break
  rows = []
  for split, records, cameras in (("test", test, config.cameras),
                                  ("test_cameras", held_out, config.test_cameras)):
    lo, hi = cameras.elevation_deg
    for frame in frames:
      record = dict(records[frame])
      record["meta"] = dict(record["meta"], subject=(
          f"{_text(record['meta']['subject'])}, {split}: elev. {lo:g}..{hi:g} deg"))
      rows.append(record)
  return viz.dataset_gallery(rows, num_relations=3, seed=seed, ncols=len(frames))


def main(argv: Sequence[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--data_dir", required=True, help="tfds data dir (built if missing)")
  parser.add_argument("--out", default=os.path.join("docs", "figures"), help="output folder")
  parser.add_argument("--overwrite", action="store_true", help="replace existing figures")
  parser.add_argument("--num_examples", type=int, default=12,
                      help=f"gallery examples, one per motion type (at most {len(MOTIONS)})")
  parser.add_argument("--seed", type=int, default=0, help="which examples and relations")
  parser.add_argument("--dpi", type=int, default=100)
  args = parser.parse_args(argv)
  if not 1 <= args.num_examples <= len(MOTIONS):
    parser.error(f"--num_examples: expected 1..{len(MOTIONS)}, got {args.num_examples}")
  data_dir = os.path.expanduser(args.data_dir)
  targets = {GALLERY: lambda: images_gallery(data_dir, num_examples=args.num_examples,
                                             seed=args.seed),
             LIFTING: lambda: lifting_views(data_dir, num_poses=4, seed=args.seed)}
  for name in targets:
    path = os.path.join(args.out, name)
    if os.path.exists(path) and not args.overwrite:   # fail before the slow build
      sys.exit(f"{path}: exists; pass --overwrite to replace it")
  for name, make in targets.items():
    path = viz.save_figure(make(), os.path.join(args.out, name), overwrite=args.overwrite,
                           dpi=args.dpi)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
  main()
