"""The device mesh, and how batches (split on 'data') and the train state (replicated) sit on it.

One 1-D mesh over every device (of every process): data parallelism. Batches are global
`jax.Array`s sharded on their leading axis, `P('data')`; the train state is replicated,
`P()`. Each process reads its own slice of the global batch (`process_batch_size`) and
`shard_batch` assembles the global array; evaluation batches are read whole by every
process and laid out with `shard_global_batch`.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(devices: Sequence[jax.Device] | None = None) -> jax.sharding.Mesh:
  """A 1-D ('data',) mesh over `devices` (default: all of them, every process).

  The axis is `AxisType.Auto` (XLA inserts the cross-device reductions, e.g. for batch
  norm statistics), passed explicitly because recent JAX defaults to explicit axes.
  """
  devices = list(jax.devices() if devices is None else devices)
  return jax.make_mesh((len(devices),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


# XLA:CPU (jaxlib 0.10) hands dots, reductions AND convolutions to YNNPACK by default; its
# convolution weight gradient ran 4-5x slower than Eigen's on this project's hourglass
# shapes (3x3, 128 channels at 64x64, batch 4: 122 vs 25 ms; whole paper-config train step
# 1.2 -> 1.5 images/s). Convolutions go to Eigen; dots and reductions stay with YNNPACK.
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
                        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


def compiler_options(mesh: jax.sharding.Mesh) -> dict[str, str] | None:
  """XLA options for jaxpose's functions jitted over `mesh`: `CPU_COMPILER_OPTIONS` on CPU."""
  if all(d.platform == "cpu" for d in mesh.devices.flat):
    return dict(CPU_COMPILER_OPTIONS)
  return None


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Leading (batch) axis split over 'data'."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  """A full copy on every device (the train state, metrics)."""
  return NamedSharding(mesh, P())


def check_batch_size(name: str, global_batch: int, mesh: jax.sharding.Mesh) -> int:
  """Raises a one-line ValueError unless the global batch splits evenly over the devices."""
  n = mesh.size
  if isinstance(global_batch, bool) or not isinstance(global_batch, (int, np.integer)) or (
      global_batch < 1):
    raise ValueError(f"{name}: expected a positive int, got {global_batch!r}")
  if global_batch % n:
    raise ValueError(f"{name}: the global batch of {global_batch} is not divisible by the "
                     f"{n} devices; use a multiple of {n}")
  if global_batch % jax.process_count():
    raise ValueError(f"{name}: the global batch of {global_batch} is not divisible by the "
                     f"{jax.process_count()} processes")
  return int(global_batch)


def process_batch_size(global_batch: int) -> int:
  """The slice of a global batch that this process reads."""
  return global_batch // jax.process_count()


def _leading_sizes(batch: Any) -> set[int]:
  return {int(np.shape(x)[0]) for x in jax.tree.leaves(batch)}


def shard_batch(batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """This process's NumPy slice of a batch -> global arrays sharded on 'data'.

  Args:
    batch: pytree of NumPy arrays with a common leading size b (this process's slice;
      no strings: drop host-only fields first).
    mesh: the mesh; b * process_count must be divisible by its device count.
  """
  sizes = _leading_sizes(batch)
  if len(sizes) != 1:
    raise ValueError(f"batch: expected one leading batch size for every field, got {sorted(sizes)}")
  check_batch_size("batch_size", sizes.pop() * jax.process_count(), mesh)
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      batch)


def shard_global_batch(batch: Any, mesh: jax.sharding.Mesh) -> Any:
  """A whole global batch, the same on every process -> global arrays sharded on 'data'."""
  sizes = _leading_sizes(batch)
  if len(sizes) != 1:
    raise ValueError(f"batch: expected one leading batch size for every field, got {sorted(sizes)}")
  check_batch_size("eval_batch_size", sizes.pop(), mesh)
  sharding = batch_sharding(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(put, batch)
