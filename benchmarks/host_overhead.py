"""The engine's own work per candidate (everything but the model), measured with a nearly free model.

Usage: python benchmarks/host_overhead.py [--images 40] [--population 400] [--generations 20] [--repeats 3]

On a GPU the model runs so fast that the engine's host-side work (the DE step, decoding, the evaluation memo,
building candidates) decides how close an attack gets to raw inference speed. This script measures that work
on the CPU: 1-pixel untargeted attacks on shipped CIFAR-10 images (early stop off, so every run does the same
work) against a model that reads 1/16 of each image's pixels, for both DE strategies, with and without the
memo. Each configuration runs ``--repeats`` times and the fastest run is kept; the model's own time on the same
number of images is measured separately and subtracted. Prints candidates/s of engine work.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.runtime import tune_malloc_unless_disabled


class Sparse(nn.Module):
    """Logits (B, 10) from every 4th row and column of uint8 images (B, 3, 32, 32): about as cheap as a model gets."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3 * 8 * 8, 10, generator=torch.Generator().manual_seed(0)) / 255)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::4, ::4].reshape(x.shape[0], -1).float() @ self.weight


def model_seconds(clf: Classifier, images: torch.Tensor, n: int, repeats: int, chunk: int = 16000) -> float:
    """Fastest time of ``clf`` on n images, fed in chunks of ``chunk`` built from ``images`` (uint8 NCHW)."""
    x = images[torch.arange(chunk) % images.shape[0]]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for start in range(0, n, chunk):
            clf.probabilities(x[: min(chunk, n - start)], count=False)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--population", type=int, default=400)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    images = load_cifar10_sample().images[: args.images]
    clf = Classifier(Sparse().eval(), input_dtype="uint8", batch_size=16384)
    labels = PixelAttack(pixels=1).clean_predictions(clf, images)
    nchw = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    print(f"{args.images} images, population {args.population}, {args.generations} generations, "
          f"torch threads {torch.get_num_threads()}; fastest of {args.repeats} runs")
    print(f"{'search':<22}{'candidates':>12}{'engine s':>10}{'model s':>9}{'engine work, candidates/s':>28}")
    for strategy in ("rand1bin", "best1bin"):
        for reuse in (True, False):
            cfg = DEConfig(population_size=args.population, max_generations=args.generations, strategy=strategy)
            attack = PixelAttack(pixels=1, de=cfg, reuse_evaluations=reuse, early_stop=False)
            best, queries = float("inf"), 0
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                res = attack(clf, images, Untargeted(labels), seed=0)
                best = min(best, time.perf_counter() - t0)
                queries = int(res.queries.sum())
            model = model_seconds(clf, nchw, queries, args.repeats)
            candidates = args.images * args.population * (args.generations + 1)
            name = f"{strategy}{'' if reuse else ', no memo'}"
            print(f"{name:<22}{candidates:>12}{best:>10.2f}{model:>9.2f}{candidates / (best - model):>28.0f}")


if __name__ == "__main__":
    main()
