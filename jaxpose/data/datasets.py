"""Dataset registry: every tfds builder by name, building it on demand, reading its splits.

Names are tfds names with an optional config, `NAME[/CONFIG]`:

  * embedded default, built offline from real MoCap: `mocap_lifting`, `mocap_images`;
  * real datasets (manual download, see each builder's docstring and the README):
    `h36m_videopose3d[/protocol1|protocol3]`, `h36m_pavlakos`,
    `lsp_mpii_ordinal/lsp|mpii`, `ronchi_lsp`.

Reading never needs TensorFlow: splits come back as tfds array_record data sources.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow_datasets as tfds

from jaxpose.data import builders
from jaxpose.data.builders import embedded

BUILDERS = {**embedded.BUILDERS, **builders.BUILDERS}
DEFAULT_DATA_DIR = os.path.join("~", "tensorflow_datasets")


def _split_name(name: str) -> tuple[str, str | None]:
  base, _, config = name.partition("/")
  if base not in BUILDERS:
    raise ValueError(f"dataset: unknown {base!r}; known: {', '.join(sorted(BUILDERS))}")
  return base, config or None


def get_builder(name: str, *, data_dir: str | None = None, config: Any = None,
                **kwargs) -> tfds.core.DatasetBuilder:
  """A builder by `NAME[/CONFIG]`; `config` may instead be a BuilderConfig instance.

  Extra kwargs go to the builder (e.g. `allow_pickle=True` for `h36m_videopose3d`).
  """
  base, config_name = _split_name(name)
  cls = BUILDERS[base]
  config = config if config is not None else config_name
  if isinstance(config, str):
    known = [c.name for c in (cls.BUILDER_CONFIGS or [])]
    if known and config not in known:
      raise ValueError(f"dataset: {base!r} has no config {config!r}; known: {', '.join(known)}")
  data_dir = os.path.expanduser(data_dir or DEFAULT_DATA_DIR)
  return cls(data_dir=data_dir, config=config, **kwargs)


def prepare(name: str, *, data_dir: str | None = None, manual_dir: str | None = None,
            config: Any = None, **kwargs) -> tfds.core.DatasetBuilder:
  """Builds the dataset unless it is already there; returns the prepared builder."""
  builder = get_builder(name, data_dir=data_dir, config=config, **kwargs)
  download_config = tfds.download.DownloadConfig(
      manual_dir=os.path.expanduser(manual_dir) if manual_dir else None)
  builder.download_and_prepare(download_config=download_config)
  return builder


def data_source(name: str, split: str, **kwargs) -> Any:
  """The split's random-access data source (building the dataset first if needed)."""
  builder = prepare(name, **kwargs)
  sources = builder.as_data_source()
  if split not in sources:
    raise ValueError(f"split: {name!r} has no split {split!r}; known: {', '.join(sources)}")
  return sources[split]
