"""Model registries: build a registered Flax module by name with checked attribute overrides."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import flax.linen as nn


def build(registry: Mapping[str, Any], name: str, kind: str, /, **kwargs: Any) -> nn.Module:
  """`registry[name](**kwargs)` with one-line errors for unknown names and attributes.

  Args:
    registry: {name: module class or functools.partial of one}.
    name: the entry to build.
    kind: what the registry holds, for the error message (e.g. 'backbone').
    **kwargs: attribute overrides.

  Raises:
    ValueError: for an unknown name (listing the known ones) or an unknown attribute.
  """
  if name not in registry:
    raise ValueError(f"{kind}: unknown name {name!r}; known: {sorted(registry)}")
  factory = registry[name]
  cls = factory.func if isinstance(factory, functools.partial) else factory
  allowed = sorted(f.name for f in dataclasses.fields(cls) if f.name != "parent")
  unknown = sorted(set(kwargs) - set(allowed))
  if unknown:
    raise ValueError(f"{name}: unknown attributes {unknown}; expected some of {allowed}")
  return factory(**kwargs)
