"""Train-step throughput: a config's real jitted train step, the PyTorch references, sgemm peak.

  rate = bench_train.train_rate(config, batch_size=64, steps=100, rounds=5)
  table = bench_train.compare_torch(config, torch_python="/path/to/python", rounds=5)
  peak = bench_train.sgemm_peak(torch_python="/path/to/python")

jaxpose's side is `jaxpose.train.steps.train_step` of the config's method and optimiser,
jitted with donated state as the training loop does (`steps.jit_train_step`), on
device-resident synthetic batches (the input pipeline is timed separately); with
`steps_per_call=K` one call runs K steps under `lax.scan` (the same steps: each still folds
its step number into the dropout key). The PyTorch side runs the reference scripts of the
shared benchmark folder (`torch_lifting_ref.py`: the Martinez MLP; `torch_hourglass_ref.py`:
the stacked hourglass with the volumetric output) unchanged, in a subprocess, so jaxpose
never imports torch. Warm-up (compilation, first steps) is excluded on both sides; rounds
alternate so that machine load hits both alike.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import re
import statistics
import subprocess
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxpose import methods, skeleton
from jaxpose.train import data as data_lib
from jaxpose.train import optim, sharding, steps

_TORCH_SGEMM = r'''
import sys, time, torch
n, repeats = int(sys.argv[1]), int(sys.argv[2])
a, b = torch.randn(n, n), torch.randn(n, n)
torch.mm(a, b)
best = float("inf")
for _ in range(repeats):
  t0 = time.perf_counter()
  torch.mm(a, b)
  best = min(best, time.perf_counter() - t0)
print(f"gflops={2 * n ** 3 / best / 1e9}")
'''

# glibc malloc settings (mallopt parameters and their environment variables).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 1 << 30
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(_KEEP_BYTES),
              "MALLOC_TRIM_THRESHOLD_": str(_KEEP_BYTES)}


def keep_freed_memory() -> bool:
  """Makes glibc malloc serve blocks up to 1 GiB from the heap and keep what is freed.

  XLA:CPU allocates every call's temporaries afresh as one block (34 MB for the
  two-stage width-1024 Martinez step at batch 256). Above glibc's mmap threshold (at most
  32 MB when left dynamic) each call maps new pages that the kernel zero-fills on first
  touch: ~8,500 page faults and ~15 ms of system time per step, which this removes. Also
  sets the matching environment variables, so child processes (the torch reference,
  grain workers) get the same allocator settings.

  Returns:
    Whether it applied (False where the C library is not glibc).
  """
  try:
    libc = ctypes.CDLL("libc.so.6")
    mallopt = libc.mallopt
  except (OSError, AttributeError):
    return False
  if not (mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) and mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES)):
    return False
  os.environ.update(MALLOC_ENV)
  return True


def train_flops(num_params: int, samples_per_sec: float) -> float:
  """GFLOP/s of training at `samples_per_sec`: 6 FLOPs per parameter and sample (a
  multiply-add forward, two backward), the torch reference's formula."""
  return 6.0 * num_params * samples_per_sec / 1e9


# ------------------------------------------------------------------ jaxpose train step


def synthetic_batch(config: Any, batch_size: int, *, seed: int = 0,
                    with_image: bool = False) -> dict[str, np.ndarray]:
  """A random, fully valid batch of the pipeline layout (`data.dummy_batch`'s fields).

  2D keypoints are pixels around (500, 500), 3D keypoints metres around 5 m depth, every
  joint visible with a 3D target, relations random pairs with their depth order.
  """
  rng = np.random.default_rng(seed)
  batch = data_lib.dummy_batch(config, batch_size, with_image=with_image)
  num_joints, num_pairs = skeleton.H36M17.num_joints, config.data.num_pairs
  batch["keypoints2d"] = (500 + 100 * rng.standard_normal((batch_size, num_joints, 2))
                          ).astype(np.float32)
  points = 0.3 * rng.standard_normal((batch_size, num_joints, 3))
  batch["keypoints3d"] = (points + [0.0, 0.0, 5.0]).astype(np.float32)
  for name in ("visible", "joint_mask", "has_3d", "relation_mask", "has_ordinal"):
    batch[name][...] = True
  i = rng.integers(0, num_joints, (batch_size, num_pairs))
  j = (i + rng.integers(1, num_joints, (batch_size, num_pairs))) % num_joints
  depth = batch["keypoints3d"][..., 2]
  closer = np.take_along_axis(depth, i, 1) < np.take_along_axis(depth, j, 1)
  batch["relations"] = np.stack([i, j, np.where(closer, 1, -1)], -1).astype(np.int8)
  batch["index"] = np.arange(batch_size, dtype=np.int32)
  if with_image:
    batch["image"] = rng.integers(0, 256, batch["image"].shape, dtype=np.uint8)
  return batch


def jit_multi_step(method: methods.Method, tx: Any, mesh: jax.sharding.Mesh,
                   steps_per_call: int) -> Callable[..., tuple[Any, dict[str, jax.Array]]]:
  """`(state, batches, dropout_key) -> (state, metrics)`: `steps_per_call` train steps
  under `lax.scan`, batches stacked [K, B, ...] (sharded on B), state donated, metrics
  [K] per term. Step k is exactly `steps.train_step` on `batches[k]`."""
  step = functools.partial(steps.train_step, method=method, tx=tx)

  def multi(state, batches, dropout_key):
    return jax.lax.scan(lambda s, b: step(s, b, dropout_key), state, batches,
                        length=steps_per_call)

  rep = sharding.replicated(mesh)
  return jax.jit(multi, in_shardings=(rep, NamedSharding(mesh, P(None, sharding.DATA_AXIS)),
                                      rep), out_shardings=(rep, rep), donate_argnums=0,
                 compiler_options=sharding.compiler_options(mesh))


def _step_and_batch(config: Any, method: methods.Method, tx: Any, mesh: jax.sharding.Mesh, *,
                    batch_size: int, steps_per_call: int, seed: int) -> tuple[Callable, Any]:
  """The jitted call (`steps.jit_train_step`, or K steps under scan) and its device batch
  (K stacked synthetic batches for K > 1)."""
  image = method.data_kind == "image"
  batches = [synthetic_batch(config, batch_size, seed=seed + k, with_image=image)
             for k in range(steps_per_call)]
  if steps_per_call == 1:
    return steps.jit_train_step(method, tx, mesh), sharding.shard_batch(batches[0], mesh)
  stacked = jax.tree.map(lambda *x: np.stack(x), *batches)
  return (jit_multi_step(method, tx, mesh, steps_per_call),
          jax.device_put(stacked, NamedSharding(mesh, P(None, sharding.DATA_AXIS))))


def prepare_train(config: Any, *, batch_size: int | None = None, steps_per_call: int = 1,
                  warmup_steps: int = 20, seed: int = 0,
                  prng_impl: str | None = None) -> tuple[Callable[[int], dict], dict]:
  """Compiles and warms up the config's train step; returns (timed_round, info).

  Args:
    config: an experiment config (method, model, optimizer, data.num_pairs).
    batch_size: global batch (default `config.batch_size`).
    steps_per_call: K train steps per jitted call (`lax.scan`); 1 = `steps.jit_train_step`.
    warmup_steps: steps run (untimed) after compiling, rounded up to whole calls.
    seed: init / data / dropout seed.
    prng_impl: PRNG implementation of the dropout key (e.g. 'unsafe_rbg'); default
      JAX's ('threefry2x32').

  Returns:
    `timed_round(n)`: runs >= n steps (whole calls), returns {'samples_per_sec',
    'samples_per_cpu_sec' (per second of this process's CPU time, all threads), 'steps',
    'seconds'}; `info`: {'method', 'batch_size', 'steps_per_call', 'params'}.
  """
  batch_size = config.batch_size if batch_size is None else batch_size
  if steps_per_call < 1:
    raise ValueError(f"steps_per_call: expected an int >= 1, got {steps_per_call!r}")
  mesh = sharding.make_mesh()
  sharding.check_batch_size("batch_size", batch_size, mesh)
  method = methods.get_method(config)
  tx = optim.from_config(config.optimizer)
  state = steps.jit_init_state(method, tx, mesh)(
      jax.random.key(seed), data_lib.dummy_batch(config, 2,
                                                 with_image=method.data_kind == "image"))
  dropout_key = jax.device_put(jax.random.key(seed + 1, impl=prng_impl),
                               sharding.replicated(mesh))
  call, device_batch = _step_and_batch(config, method, tx, mesh, batch_size=batch_size,
                                       steps_per_call=steps_per_call, seed=seed)
  holder = {"state": state}

  def run_calls(num_calls: int) -> None:
    for _ in range(num_calls):
      holder["state"], _ = call(holder["state"], device_batch, dropout_key)
    jax.block_until_ready(holder["state"])

  run_calls(max(1, -(-warmup_steps // steps_per_call)))

  def timed_round(num_steps: int) -> dict:
    calls = max(1, -(-num_steps // steps_per_call))
    start, cpu_start = time.perf_counter(), time.process_time()
    run_calls(calls)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    done = calls * steps_per_call
    return {"samples_per_sec": done * batch_size / seconds,
            "samples_per_cpu_sec": done * batch_size / cpu, "steps": done, "seconds": seconds}

  params = sum(int(np.size(x)) for x in jax.tree.leaves(holder["state"]["variables"]["params"]))
  info = {"method": method.name, "batch_size": batch_size, "steps_per_call": steps_per_call,
          "params": params}
  return timed_round, info


def summarize(rounds: list[dict], num_params: int) -> dict:
  """Median / min / max samples/s of rounds, the median's GFLOP/s, the median samples per
  CPU second (what load on a shared machine distorts least), and the per-round rates."""
  rates = [r["samples_per_sec"] for r in rounds]
  median = statistics.median(rates)
  return {"samples_per_sec": median, "min": min(rates), "max": max(rates),
          "rounds": len(rates), "gflops": train_flops(num_params, median),
          "samples_per_cpu_sec": statistics.median(r["samples_per_cpu_sec"] for r in rounds),
          "per_round": rates}


def train_rate(config: Any, *, batch_size: int | None = None, steps: int = 100,
               rounds: int = 5, steps_per_call: int = 1, warmup_steps: int = 20,
               prng_impl: str | None = None) -> dict:
  """jaxpose's train-step throughput: the median of `rounds` rounds of `steps` steps.

  Returns:
    `summarize`'s figures and `prepare_train`'s info: {'samples_per_sec' (median), 'min',
    'max', 'rounds', 'gflops', 'samples_per_cpu_sec', 'per_round', 'params', 'batch_size',
    'steps_per_call', 'method'}.
  """
  timed_round, info = prepare_train(config, batch_size=batch_size,
                                    steps_per_call=steps_per_call,
                                    warmup_steps=warmup_steps, prng_impl=prng_impl)
  return {**summarize([timed_round(steps) for _ in range(rounds)], info["params"]), **info}


# ------------------------------------------------------------------ PyTorch references


@dataclasses.dataclass(frozen=True)
class TorchReference:
  """A reference script of the shared benchmark folder and how to read its last line."""
  script: str  # file name in the reference folder
  result: str  # regex with groups (params, samples per second)


REFERENCES = {
    "lifting": TorchReference("torch_lifting_ref.py", r"params=(\d+) samples/s=([0-9.]+)"),
    "hourglass": TorchReference("torch_hourglass_ref.py", r"params=(\d+) images/s=([0-9.]+)"),
}
# Where the reference scripts live in a development checkout (../shared/bench).
DEFAULT_REFERENCE_DIR = os.environ.get("JAXPOSE_TORCH_REF_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "shared", "bench"))
IMAGE_VOLUMETRIC = "ordinal_volumetric"


def _run_python(python: str, program: list[str], args: list[Any], *, timeout: float,
                threads: int = 0) -> str:
  """Runs `python *program *args` (program: [script] or ['-c', source]); its stdout
  (ValueError on failure)."""
  env = dict(os.environ)
  if threads:
    env["OMP_NUM_THREADS"] = str(threads)
  try:
    proc = subprocess.run([python, *program, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
  except FileNotFoundError:
    raise ValueError(f"torch_python: {python!r} cannot be run") from None
  if proc.returncode:
    last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    raise ValueError(f"torch_python: {python} {os.path.basename(program[-1])[:40]} failed "
                     f"(exit {proc.returncode}): {last}")
  return proc.stdout


def torch_available(python: str) -> bool:
  """Whether the interpreter `python` can import torch."""
  try:
    return subprocess.run([python, "-c", "import torch"], capture_output=True,
                          timeout=120, check=False).returncode == 0
  except (OSError, subprocess.TimeoutExpired):
    return False


def reference_for(config: Any, *, batch_size: int, steps: int) -> tuple[str, list[Any]]:
  """(reference name, its command-line arguments) timing the same network as `config`.

  The lifting reference is the Martinez MLP (width 1024, BN, dropout 0.5, Adam 1e-3,
  clip 1; stages from the config); the hourglass reference is Newell's stacked hourglass
  (depth 4, 256 features) with Pavlakos' J x D volumetric output, trained by RMSprop
  (stacks, input side and depth bins from the config). Raises a one-line ValueError for
  a config that trains another network.
  """
  m = config.model
  if config.method == "supervised_lifting":
    ref = {"name": "martinez", "width": 1024, "dropout": 0.5, "use_bn": True}
    wrong = {k: m.get(k) for k, v in ref.items() if m.get(k) != v}
    opt = config.optimizer
    if opt.name != "adam" or opt.clip_norm != 1.0 or opt.learning_rate != 1e-3:
      wrong["optimizer"] = f"{opt.name} lr={opt.learning_rate} clip={opt.clip_norm}"
    if wrong:
      raise ValueError(f"config: the torch lifting reference is a Martinez MLP (width 1024, "
                       f"dropout 0.5, BN, Adam 1e-3, clip 1); this config differs: {wrong}")
    return "lifting", [batch_size, steps, m.num_stages]
  if config.method == IMAGE_VOLUMETRIC:
    wrong = {k: m.get(k) for k, v in {"depth": 4, "features": 256}.items() if m.get(k) != v}
    if wrong:
      raise ValueError(f"config: the torch hourglass reference has depth 4 and 256 features; "
                       f"this config differs: {wrong} (override them with --config.model.*)")
    return "hourglass", [batch_size, steps, m.num_stacks, config.data.augment.output_size,
                         config.head.depth_bins]
  raise ValueError(f"config: no torch reference for method {config.method!r} (references: "
                   f"supervised_lifting, {IMAGE_VOLUMETRIC})")


def torch_round(python: str, name: str, args: list[Any], *,
                reference_dir: str = DEFAULT_REFERENCE_DIR, threads: int = 0,
                timeout: float = 1800) -> dict:
  """One run of a reference script (its own warm-up, then its timed steps).

  Args:
    python: an interpreter with torch.
    name: a key of `REFERENCES`.
    args: the script's arguments (`reference_for`).
    reference_dir: folder holding the reference scripts.
    threads: OMP_NUM_THREADS for it (0 = torch's default, one per core).

  Returns:
    {'samples_per_sec', 'params'}.
  """
  ref = REFERENCES[name]
  script = os.path.join(reference_dir, ref.script)
  if not os.path.isfile(script):
    raise ValueError(f"torch_ref_dir: {script} not found (the folder of {ref.script}, "
                     "e.g. ../shared/bench)")
  out = _run_python(python, [script], args, timeout=timeout, threads=threads)
  found = re.search(ref.result, out)
  if not found:
    raise ValueError(f"torch_python: unexpected {ref.script} output {out.strip()!r}")
  return {"samples_per_sec": float(found.group(2)), "params": int(found.group(1))}


def compare_torch(config: Any, *, torch_python: str, batch_size: int | None = None,
                  steps: int = 100, rounds: int = 5, steps_per_call: int = 1,
                  torch_threads: int = 0, warmup_steps: int = 20,
                  prng_impl: str | None = None, reference_dir: str = DEFAULT_REFERENCE_DIR,
                  report: Callable[[dict], None] | None = None) -> dict:
  """jaxpose vs the PyTorch reference, rounds alternating (jaxpose, torch, jaxpose, ...).

  Both sides time `steps` steps per round after their warm-up; the medians over rounds
  are compared, so machine load that comes and goes hits both alike.

  Args:
    config: a config `reference_for` accepts.
    torch_python: interpreter with torch.
    report: called with every round's measurement as it completes (e.g. print).

  Returns:
    {'jaxpose': train_rate-like summary, 'torch': summary, 'ratio': of the median
     samples/s, 'reference': the reference's name}.
  """
  batch_size = config.batch_size if batch_size is None else batch_size
  name, args = reference_for(config, batch_size=batch_size, steps=steps)
  timed_round, info = prepare_train(config, batch_size=batch_size,
                                    steps_per_call=steps_per_call,
                                    warmup_steps=warmup_steps, prng_impl=prng_impl)
  jax_rounds, torch_rounds = [], []
  for r in range(rounds):
    jax_rounds.append(timed_round(steps))
    torch_rounds.append(torch_round(torch_python, name, args, reference_dir=reference_dir,
                                    threads=torch_threads))
    if report:
      report({"round": r, "jaxpose": jax_rounds[-1]["samples_per_sec"],
              "torch": torch_rounds[-1]["samples_per_sec"]})
  torch_params = torch_rounds[0]["params"]
  if name == "lifting" and abs(torch_params - info["params"]) > 0.01 * torch_params:
    raise ValueError(f"config: {info['params']} params, the torch reference {torch_params}")
  rates = [r["samples_per_sec"] for r in torch_rounds]
  jax_summary = {**summarize(jax_rounds, info["params"]), **info}
  torch_summary = {"samples_per_sec": statistics.median(rates), "min": min(rates),
                   "max": max(rates), "rounds": len(rates), "per_round": rates,
                   "gflops": train_flops(torch_params, statistics.median(rates)),
                   "params": torch_params, "batch_size": batch_size,
                   "threads": torch_threads or "default", "reference": REFERENCES[name].script}
  if name != "lifting":  # 6 FLOPs per parameter and sample holds for MLPs only
    jax_summary.pop("gflops")
    torch_summary.pop("gflops")
  return {"jaxpose": jax_summary, "torch": torch_summary, "reference": name,
          "ratio": jax_summary["samples_per_sec"] / torch_summary["samples_per_sec"]}


# ------------------------------------------------------------------ sgemm peak


def sgemm_jax(*, size: int = 2048, repeats: int = 5) -> float:
  """Best GFLOP/s of a jitted float32 [size, size] @ [size, size] (HIGHEST precision)."""
  a, b = (jax.random.normal(k, (size, size), jnp.float32)
          for k in jax.random.split(jax.random.key(0)))
  mm = jax.jit(lambda x, y: jnp.matmul(x, y, precision=jax.lax.Precision.HIGHEST))
  jax.block_until_ready(mm(a, b))
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(mm(a, b))
    best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 / best / 1e9


def sgemm_torch(python: str, *, size: int = 2048, repeats: int = 5) -> float:
  """Best GFLOP/s of `torch.mm` on float32 [size, size] matrices, in a subprocess."""
  out = _run_python(python, ["-c", _TORCH_SGEMM], [size, repeats], timeout=600)
  return float(out.strip().rsplit("=", 1)[1])


def sgemm_peak(*, torch_python: str | None = None, sizes: tuple[int, ...] = (512, 1024, 2048),
               repeats: int = 20) -> dict:
  """This machine's measured float32 matmul peak: the best of JAX and (if given) torch.

  Returns:
    {'jax': {size: GFLOP/s}, 'torch': {size: GFLOP/s} (only with torch_python),
     'peak_gflops': the best figure}.
  """
  out: dict[str, Any] = {"jax": {n: sgemm_jax(size=n, repeats=repeats) for n in sizes}}
  if torch_python:
    out["torch"] = {n: sgemm_torch(torch_python, size=n, repeats=repeats) for n in sizes}
  out["peak_gflops"] = max(v for k in ("jax", "torch") for v in out.get(k, {}).values())
  return out


# ------------------------------------------------------------------ launcher report


def train_report(config: Any, *, batch_size: int | None = None, steps: int = 100,
                 rounds: int = 5, steps_per_call: int = 1, torch_python: str | None = None,
                 torch_threads: int = 0, prng_impl: str | None = None,
                 with_sgemm: bool = False, reference_dir: str = DEFAULT_REFERENCE_DIR,
                 emit: Callable[[dict], None] = lambda record: None) -> dict[str, dict]:
  """What `launch/benchmark.py --mode=train` reports: jaxpose's train step, optionally
  against the torch reference (alternating rounds) and as a fraction of the sgemm peak.

  Args:
    torch_python: compare with the torch reference run by this interpreter (None = no;
      one that cannot import torch skips the comparison with a 'skipped' record).
    with_sgemm: also measure the sgemm peak (`sgemm_peak`) and report % of it.
    emit: called with every record (each round, then each summary) as it is measured.

  Returns:
    {'jaxpose_train': summary, and with torch 'torch_train' and 'ratio', with sgemm
     'sgemm'}: JSON-able dicts, each with its 'name'.
  """
  common = {"batch_size": batch_size, "steps": steps, "rounds": rounds,
            "steps_per_call": steps_per_call, "prng_impl": prng_impl}
  info = {"num_stages": config.model.get("num_stages"), "width": config.model.get("width"),
          "steps_per_round": steps, "load_before": os.getloadavg()[0]}
  results: dict[str, dict] = {}
  if torch_python and not torch_available(torch_python):
    results["torch_train"] = {"skipped": f"{torch_python} cannot import torch"}
    torch_python = None
  if torch_python:
    out = compare_torch(config, torch_python=torch_python, torch_threads=torch_threads,
                        reference_dir=reference_dir,
                        report=lambda r: emit({"name": "round", **r}), **common)
    results.update(jaxpose_train=out["jaxpose"], torch_train=out["torch"],
                   ratio={"jaxpose_over_torch": out["ratio"], "reference": out["reference"]})
  else:
    results["jaxpose_train"] = train_rate(config, **common)
  if with_sgemm:
    results["sgemm"] = sgemm_peak(torch_python=torch_python)
    for record in results.values():
      if "gflops" in record:
        record["percent_of_sgemm_peak"] = 100 * record["gflops"] / results["sgemm"]["peak_gflops"]
  info["load_after"] = os.getloadavg()[0]
  for name, record in results.items():
    results[name] = {"name": name, **record, **(info if "gflops" in record else {})}
    emit(results[name])
  return results
