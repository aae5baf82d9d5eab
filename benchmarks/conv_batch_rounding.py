"""Does a CPU answer depend on how many images share the call? (the rule behind the sparse search's points)

Usage: python benchmarks/conv_batch_rounding.py [--threads 1]

Prints, for each shipped CIFAR-10 network, how many of 20 sample images get bit-identical probabilities alone (a
batch of one), as the first of a batch of two, and inside a batch of 20; and, for NiN's 192-channel 1x1
convolution, whether a batch of n random maps (n = 1, 2, 8, 15, 16, 17, 32) gives the bits the same maps give
inside a batch of 40, per map size. PyTorch picks its CPU convolution by input size (its ``use_mkldnn``
heuristic), and the two kernels round differently (docs/engine.md, "Rows identical with and without it").
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images = torch.from_numpy(load_cifar10_sample().images[:20].transpose(0, 3, 1, 2).copy())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    for name in ("allconv-cifar10", "nin-cifar10", "vgg16-cifar10", "cnn8-cifar10"):
        clf = Classifier(load(name), batch_size=64, incremental=False)
        together = clf.probabilities(images, count=False)
        alone = sum(torch.equal(clf.probabilities(images[i : i + 1], count=False)[0], together[i]) for i in range(20))
        pair = sum(torch.equal(clf.probabilities(images[[i, (i + 1) % 20]], count=False)[0], together[i])
                   for i in range(20))
        print(f"{name}: identical to the batch of 20: alone {alone}/20, first of two {pair}/20")
    gen = torch.Generator().manual_seed(0)
    weight = torch.randn(192, 192, 1, 1, generator=gen)
    for size in (3, 5, 16, 32):
        maps = torch.randn(40, 192, size, size, generator=gen)
        ref = F.conv2d(maps, weight)
        same = [n for n in (1, 2, 8, 15, 16, 17, 32) if torch.equal(F.conv2d(maps[:n], weight), ref[:n])]
        print(f"1x1 convolution, 192 channels, {size}x{size} maps: batch sizes giving the bits of a batch of 40: {same}")


if __name__ == "__main__":
    main()
