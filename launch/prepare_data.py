r"""Prepares data: MoCap folders -> canonical MoCap npz, and builds tfds datasets.

  # Any folder of supported MoCap (BVH, ASF/AMC, DeepMimic) -> one canonical npz:
  python launch/prepare_data.py --mocap=DIR1,DIR2 --out=my_mocap.npz [--fps=20]

  # Build datasets (the embedded default needs no downloads):
  python launch/prepare_data.py --datasets=mocap_lifting,mocap_images [--data_dir=DIR]

  # ...the embedded builders on your own MoCap npz (a config named after the file):
  python launch/prepare_data.py --datasets=mocap_lifting --mocap_path=my_mocap.npz

  # Real datasets, from the files you downloaded (see README "Real datasets"):
  python launch/prepare_data.py --datasets=h36m_videopose3d/protocol1 \
      --manual_dir=~/h36m --allow_pickle
"""

import os

from absl import app, flags

from jaxpose.data import datasets, mocap
from jaxpose.data.builders import embedded

_MOCAP = flags.DEFINE_list("mocap", [], "MoCap folders/files to convert (with --out).")
_OUT = flags.DEFINE_string("out", None, "Output canonical MoCap npz for --mocap.")
_FPS = flags.DEFINE_float("fps", 20.0, "Target frame rate of the canonical npz.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing --out.")
_DATASETS = flags.DEFINE_list("datasets", [], "Datasets to build, NAME[/CONFIG].")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "tfds data dir (~/tensorflow_datasets).")
_MANUAL_DIR = flags.DEFINE_string("manual_dir", None, "Folder of manually downloaded files.")
_MOCAP_PATH = flags.DEFINE_string("mocap_path", None, "Canonical npz for the embedded builders.")
_ALLOW_PICKLE = flags.DEFINE_bool("allow_pickle", False,
                                  "Opt in to unpickling VideoPose3D npz files you trust.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not _MOCAP.value and not _DATASETS.value:
    raise app.UsageError("nothing to do: pass --mocap=... --out=... and/or --datasets=...")
  try:
    if _MOCAP.value:
      if not _OUT.value:
        raise ValueError("--out: required with --mocap (the canonical npz to write)")
      data = mocap.build_canonical(_MOCAP.value, _OUT.value, target_fps=_FPS.value,
                                   overwrite=_OVERWRITE.value)
      print(f"wrote {_OUT.value}\n{mocap.summarize(data)}")
    for name in _DATASETS.value:
      kwargs = {"allow_pickle": True} if _ALLOW_PICKLE.value else {}
      if _MOCAP_PATH.value and name.split("/")[0] in embedded.BUILDERS:
        stem = os.path.splitext(os.path.basename(_MOCAP_PATH.value))[0]
        kwargs["config"] = embedded.EmbeddedConfig(name=stem, mocap_path=_MOCAP_PATH.value)
      builder = datasets.prepare(name, data_dir=_DATA_DIR.value, manual_dir=_MANUAL_DIR.value,
                                 **kwargs)
      sizes = {k: v.num_examples for k, v in builder.info.splits.items()}
      print(f"{name}: {builder.data_dir} {sizes}")
  except ValueError as e:
    raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
  app.run(main)
