"""Overhead of the Ray backend: one campaign slice on the local backend and on Ray with 1 and 2 workers.

Usage: python benchmarks/ray_overhead.py [--attacks 128] [--per-batch 64] [--population 20] [--generations 2]

The slice: ``--attacks`` 1-pixel untargeted attacks on the whole image of shipped CIFAR-10 sample images,
against a CIFAR-10 network (``--arch``, seeded random weights written to a temporary safetensors file: the
speed is that of trained weights), early stop off so every attack spends the same budget, ``--per-batch``
attack keys per batch. The local run uses one torch thread; each Ray worker reserves one CPU (one thread).
Ray runs on a private instance started once before the runs (its start-up time is printed, not charged).
Ray starts its workers with niceness 15 (below the driver's 0): on a machine shared with other jobs they then
get less CPU than the local run; ``--worker-niceness 0`` measures Ray's own overhead at equal priority.

Prints, per run: attacks/s over the attack phase (worker start-up and model loading included), attacks/s
after the last worker was ready (steady state), and each one's ratio to local; and whether every Ray run
stored exactly the local rows.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pixelspace.runtime import tune_malloc_unless_disabled

ARCHS = {
    "cnn8": "pixelspace.models.architectures.cnn8:CNN8",
    "nin": "pixelspace.models.architectures.nin:NiN",
    "allconv": "pixelspace.models.architectures.allconv:AllConv",
    "vgg16": "pixelspace.models.architectures.vgg:VGG16Cifar",
}


def write_weights(factory: str, path: Path, seed: int = 0) -> None:
    """Save the seeded initial weights of ``factory``'s network as safetensors."""
    import importlib

    from safetensors.torch import save_file

    module_name, _, attr = factory.partition(":")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = getattr(importlib.import_module(module_name), attr)()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))


def campaign(store: Path, factory: str, weights: Path, args: argparse.Namespace, **execution: Any) -> Any:
    """The benchmark's campaign config, written to ``store``."""
    from pixelspace.campaign import CampaignConfig

    return CampaignConfig.from_dict({
        "campaign": {"name": "ray-overhead", "seed": 0, "store": str(store)},
        "models": [{"name": "bench", "factory": factory, "weights": str(weights)}],
        "images": {"dataset": "cifar10-sample", "count": args.attacks, "selection": "all"},
        "regions": {"names": ["whole"]},
        "attack": {"pixels": [1], "modes": ["untargeted"]},
        "de": {"population_size": args.population, "max_generations": args.generations, "early_stop": False},
        "execution": {"device": "cpu", "batch_size": args.batch_size, "attacks_per_batch": args.per_batch,
                      **execution},
    })


def rows(store: Path) -> list[tuple[Any, ...]]:
    """Every attacks row of a store, by key."""
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT * FROM attacks ORDER BY key").fetchall()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), default="cnn8")
    ap.add_argument("--attacks", type=int, default=128)
    ap.add_argument("--per-batch", type=int, default=64, help="attack keys per batch (= per Ray task)")
    ap.add_argument("--population", type=int, default=20)
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256, help="images per model call")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--worker-niceness", type=int, default=None,
                    help="nice value of Ray's worker processes (Ray's default: 15; 0 = the driver's priority)")
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if args.worker_niceness is not None:
        os.environ["RAY_worker_niceness"] = str(args.worker_niceness)
    torch.set_num_threads(1)

    import ray
    from pixelspace.campaign import run_campaign
    from pixelspace.campaign.backends.ray import RayBackend

    factory = ARCHS[args.arch]
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        root = Path(tmp)
        weights = root / "weights.safetensors"
        write_weights(factory, weights)
        budget = 1 + args.population * (args.generations + 1) + 1
        print(f"{args.arch} (seeded random weights), {args.attacks} attacks of {budget} queries, "
              f"{args.per_batch} attack keys per batch, model batch {args.batch_size}, cpu, 1 thread per process; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; Ray worker niceness "
              f"{os.environ.get('RAY_worker_niceness', '15 (Ray default)')}")
        t0 = time.perf_counter()
        ray.init(num_cpus=max(args.workers), include_dashboard=False, logging_level=logging.WARNING,
                 object_store_memory=100 * 1024 * 1024)
        print(f"ray.init (private instance, not charged below): {time.perf_counter() - t0:.1f} s")
        results: list[tuple[str, float, float, bool | None]] = []
        try:
            store = root / "local.sqlite"
            s = run_campaign(campaign(store, factory, weights, args), progress=False)
            print(f"  local: {s.seconds:.1f} s attack phase, {s.seconds / -(-args.attacks // args.per_batch):.1f} s per batch")
            reference = rows(store)
            results.append(("local", s.attacks_run / s.seconds, s.attacks_run / s.seconds, None))
            for n in args.workers:
                store = root / f"ray-{n}.sqlite"
                backend = RayBackend(workers=n, worker_cpus=1)
                s = run_campaign(campaign(store, factory, weights, args, backend="ray"), progress=False,
                                 backend=backend)
                startup = max((w["startup_seconds"] or 0.0) for w in backend.worker_stats())
                results.append((f"ray, {n} worker{'s' if n > 1 else ''}", s.attacks_run / s.seconds,
                                s.attacks_run / max(s.seconds - startup, 1e-9), rows(store) == reference))
                stats = backend.worker_stats()
                print(f"  ray {n}: {s.seconds:.1f} s attack phase, worker start-up {startup:.1f} s, "
                      f"batches per worker {[w['batches'] for w in stats]}, "
                      f"seconds in the engine per batch {backend.engine_seconds() / max(1, sum(w['batches'] for w in stats)):.1f}")
        finally:
            ray.shutdown()
    local = results[0][1]
    print(f"{'run':<16} {'attacks/s':>10} {'ratio':>7} {'steady attacks/s':>17} {'ratio':>7}  rows = local")
    for name, rate, steady, same in results:
        print(f"{name:<16} {rate:10.2f} {rate / local:7.3f} {steady:17.2f} {steady / local:7.3f}  "
              f"{'-' if same is None else ('yes' if same else 'NO')}")


if __name__ == "__main__":
    main()
