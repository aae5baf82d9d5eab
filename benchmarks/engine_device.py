"""Engine vs raw inference on one device (built for the lent GPU machine), with a CPU agreement check.

Usage:
    PYTHONPATH=src python benchmarks/engine_device.py [--device cuda] [--models cnn8-cifar10,vgg16-cifar10]
        [--images 32] [--population 400] [--generations 10] [--compare-cpu] [--precisions fp32,bf16]

For each model: one 1-pixel untargeted attack call on N shipped images (the engine's queries/s) and raw
batched inference of random inputs at batch 4,096 for 2 s (images/s), on ``--device``. With ``--compare-cpu``
the same attacks also run on the CPU and the script prints how often success and the chosen pixel agree
(CUDA's TF32 convolutions round differently from CPU float32, so DE may take another path). With
``--precisions fp32,bf16`` (any of fp32, tf32, bf16, fp16) each precision gets its own engine and raw rate
(raw under the same precision), and every precision after the first is compared with the first on the same
images and seeds: how often success and the chosen pixel agree.
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
from pixelspace.models.precision import Precision, check_precision, inference_precision
from pixelspace.runtime import tune_malloc_unless_disabled


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def attack_rate(model: torch.nn.Module, device: str, images: np.ndarray, de: DEConfig,
                precision: Precision = "fp32") -> tuple[AttackResult, float]:
    """(result, queries/s) of one attack call with ``model`` (already on ``device``)."""
    attack = PixelAttack(pixels=1, de=de, precision=precision)
    labels = attack.clean_predictions(model, images)
    t = time.perf_counter()
    result = attack(model, images, Untargeted(labels), seed=0)
    sync(device)
    return result, float(result.queries.sum()) / (time.perf_counter() - t)


def raw_rate(model: torch.nn.Module, device: str, batch: int = 4096, seconds: float = 2.0,
             precision: Precision = "fp32") -> float:
    """Images/s of plain batched inference on random inputs (``model`` already on ``device``)."""
    x = torch.rand(batch, 3, 32, 32, device=device)
    with torch.inference_mode(), inference_precision(precision, torch.device(device)):
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
    ap.add_argument("--precisions", default="fp32", help="comma-separated: fp32, tf32, bf16, fp16")
    args = ap.parse_args()
    precisions = [check_precision(p) for p in args.precisions.split(",")]
    print(f"allocator tuned: {tune_malloc_unless_disabled()}")
    images = load_cifar10_sample().images[: args.images]
    de = DEConfig(population_size=args.population, max_generations=args.generations)
    print(f"device {args.device}: {args.images} images, population {args.population} x {args.generations} generations")
    for name in args.models.split(","):
        model = load(name).to(args.device).eval()
        first: AttackResult | None = None
        for precision in precisions:
            result, rate = attack_rate(model, args.device, images, de, precision)
            raw = raw_rate(model, args.device, precision=precision)
            print(f"{name:<16} {precision:<5} engine {rate:>10,.0f} q/s  raw {raw:>10,.0f} img/s  ratio "
                  f"{rate / raw:.2f}  success {int(result.success.sum())}/{len(images)}", flush=True)
            if first is None:
                first = result
            else:
                same = np.all(first.pixels == result.pixels, axis=tuple(range(1, first.pixels.ndim)))
                print(f"{'':<16} {precision} vs {precisions[0]}: success agrees "
                      f"{np.mean(first.success == result.success):.3f}, pixels agree {np.mean(same):.3f} "
                      f"(n = {len(images)})", flush=True)
        assert first is not None
        result = first
        if args.compare_cpu and args.device != "cpu":
            ref, _ = attack_rate(model.cpu(), "cpu", images, de)
            same_pixel = np.all(ref.pixels == result.pixels, axis=tuple(range(1, ref.pixels.ndim)))
            print(f"{'':<16} vs CPU: success agrees {np.mean(ref.success == result.success):.3f}, "
                  f"pixels agree {np.mean(same_pixel):.3f}")


if __name__ == "__main__":
    main()
