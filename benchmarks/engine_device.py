"""Engine vs raw inference on one device (built for the lent GPU machine), with a CPU agreement check.

Usage:
    PYTHONPATH=src python benchmarks/engine_device.py [--device cuda] [--models cnn8-cifar10,vgg16-cifar10]
        [--images 32] [--population 400] [--generations 10] [--compare-cpu]

For each model: one 1-pixel untargeted attack call on N shipped images (the engine's queries/s) and raw
batched inference of random inputs at batch 4,096 for 2 s (images/s), on ``--device``. With ``--compare-cpu``
the same attacks also run on the CPU and the script prints how often success and the chosen pixel agree
(CUDA's TF32 convolutions round differently from CPU float32, so DE may take another path).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pixelspace import DEConfig, PixelAttack, Untargeted
from pixelspace.attack.result import AttackResult
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def attack_rate(model: torch.nn.Module, device: str, images: np.ndarray, de: DEConfig) -> tuple[AttackResult, float]:
    """(result, queries/s) of one attack call with ``model`` (already on ``device``)."""
    attack = PixelAttack(pixels=1, de=de)
    labels = attack.clean_predictions(model, images)
    t = time.perf_counter()
    result = attack(model, images, Untargeted(labels), seed=0)
    sync(device)
    return result, float(result.queries.sum()) / (time.perf_counter() - t)


def raw_rate(model: torch.nn.Module, device: str, batch: int = 4096, seconds: float = 2.0) -> float:
    """Images/s of plain batched inference on random inputs (``model`` already on ``device``)."""
    x = torch.rand(batch, 3, 32, 32, device=device)
    with torch.inference_mode():
        model(x)
        sync(device)
        t, n = time.perf_counter(), 0
        while time.perf_counter() - t < seconds:
            model(x)
            n += batch
        sync(device)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="cnn8-cifar10,vgg16-cifar10,nin-cifar10,allconv-cifar10")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--population", type=int, default=400)
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--compare-cpu", action="store_true")
    args = ap.parse_args()
    print(f"allocator tuned: {tune_malloc_unless_disabled()}")
    images = load_cifar10_sample().images[: args.images]
    de = DEConfig(population_size=args.population, max_generations=args.generations)
    print(f"device {args.device}: {args.images} images, population {args.population} x {args.generations} generations")
    for name in args.models.split(","):
        model = load(name).to(args.device).eval()
        result, rate = attack_rate(model, args.device, images, de)
        raw = raw_rate(model, args.device)
        print(f"{name:<16} engine {rate:>10,.0f} q/s  raw {raw:>10,.0f} img/s  ratio {rate / raw:.2f}  "
              f"success {int(result.success.sum())}/{len(images)}", flush=True)
        if args.compare_cpu and args.device != "cpu":
            ref, _ = attack_rate(model.cpu(), "cpu", images, de)
            same_pixel = np.all(ref.pixels == result.pixels, axis=tuple(range(1, ref.pixels.ndim)))
            print(f"{'':<16} vs CPU: success agrees {np.mean(ref.success == result.success):.3f}, "
                  f"pixels agree {np.mean(same_pixel):.3f}")


if __name__ == "__main__":
    main()
