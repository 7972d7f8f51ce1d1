"""Training methods by name: `get_method(config) -> Method` (interface in `methods.base`)."""

from typing import Any, Callable

from jaxpose.methods import dpnet, explicit2d, image, lifting, reconstruction, relative
from jaxpose.methods import drpose_full, prcnn
from jaxpose.methods.base import Method

# config.method -> factory (config) -> Method.
METHODS: dict[str, Callable[[Any], Method]] = {
    "supervised_lifting": lifting.supervised_lifting,
    "relative_lifting": relative.relative_lifting,
    "ordinal_reconstruction": reconstruction.ordinal_reconstruction,
    "drpose_dpnet": dpnet.drpose_dpnet,
    "drpose_prcnn": prcnn.drpose_prcnn,
    "drpose_full": drpose_full.drpose_full,
    "ordinal_depth": image.ordinal_depth,
    "ordinal_coordinates": image.ordinal_coordinates,
    "ordinal_volumetric": image.ordinal_volumetric,
    "explicit2d": explicit2d.explicit2d,
}


def get_method(config: Any) -> Method:
  """The method named by `config.method`, built from the rest of the config."""
  name = config.method
  if name not in METHODS:
    raise ValueError(f"method: unknown {name!r}; known: {', '.join(sorted(METHODS))}")
  return METHODS[name](config)
