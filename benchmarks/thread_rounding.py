"""Does a CPU answer depend on PyTorch's thread count? (why a store records ``torch_threads``)

Usage: python benchmarks/thread_rounding.py [--threads 2,4] [--images 200] [--imagenet]

For each shipped CIFAR-10 network (and EfficientNet-Lite0 on the shipped ImageNet sample with ``--imagenet``),
computes the probabilities of the sample images in calls of 1, 7 and 64 images with one thread, then again with
each thread count asked for, all in this process, and prints how many images' probabilities differ in any bit
and the largest difference. Full forward passes (no incremental pass), float32, this CPU's kernel level.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pixelspace.models import load
from pixelspace.models.classifier import Classifier
from pixelspace.runtime import cpu_capability

CALLS = (1, 7, 64)


def probabilities(module: torch.nn.Module, images: torch.Tensor, call: int, threads: int) -> np.ndarray:
    """Probabilities (N, K) of uint8 images (N, 3, H, W) in calls of ``call`` images under ``threads`` threads."""
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        clf = Classifier(module, batch_size=call, incremental=False)
        return clf.probabilities(images, count=False).numpy()
    finally:
        torch.set_num_threads(saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="2", help="thread counts compared with one thread, comma-separated")
    ap.add_argument("--images", type=int, default=200, help="CIFAR-10 sample images (ImageNet: at most 16)")
    ap.add_argument("--imagenet", action="store_true", help="also EfficientNet-Lite0 on 16 ImageNet images")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    from pixelspace.data.samples import load_cifar10_sample

    sets = [(name, load_cifar10_sample().images[: args.images]) for name in
            ("allconv-cifar10", "nin-cifar10", "vgg16-cifar10", "cnn8-cifar10")]
    if args.imagenet:
        from pixelspace.data.imagenet import load_imagenet_sample

        sets.append(("efficientnet-lite0-imagenet", load_imagenet_sample().images[:16]))
    print(f"torch {torch.__version__}, CPU kernels {cpu_capability()}; images differing in any bit from 1 thread")
    print(f"{'network':<28} {'call':>5} " + " ".join(f"{f'{t} threads':>22}" for t in counts))
    for name, imgs in sets:
        module = load(name).eval()
        x = torch.from_numpy(np.ascontiguousarray(imgs.transpose(0, 3, 1, 2)))
        for call in CALLS:
            ref = probabilities(module, x, call, 1)
            cells = []
            for t in counts:
                other = probabilities(module, x, call, t)
                differ = int((ref != other).any(axis=1).sum())
                cells.append(f"{differ:>4}/{len(x)} (max {np.abs(ref - other).max():.1e})")
            print(f"{name:<28} {call:>5} " + " ".join(f"{c:>22}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
