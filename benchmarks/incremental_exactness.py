"""Exactness of the incremental forward pass on the shipped networks: random few-pixel candidates on shipped
sample images, answered by full forward passes and by the incremental pass (forced on).

    python benchmarks/incremental_exactness.py --candidates 10000 --pixels 1,3,5

Prints, per network and pixel count, the candidates checked, how many predicted classes differ and the largest
absolute probability difference.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from pixelspace.attack.encoding import Decoded
from pixelspace.attack.perturb import perturb
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="allconv-cifar10,nin-cifar10,vgg16-cifar10,cnn8-cifar10")
    ap.add_argument("--pixels", default="1,3,5")
    ap.add_argument("--candidates", type=int, default=10000)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sample = load_cifar10_sample()
    rng = np.random.default_rng(0)
    imgs = sample.images[rng.choice(len(sample), args.images, replace=False)]
    clean = torch.from_numpy(imgs.transpose(0, 3, 1, 2).copy())
    h, w = clean.shape[2], clean.shape[3]
    for name in args.models.split(","):
        clf = Classifier(load(name), batch_size=args.batch_size, incremental=True)
        for k in (int(v) for v in args.pixels.split(",")):
            mismatches, worst, done = 0, 0.0, 0
            while done < args.candidates:
                b = min(args.batch_size * 4, args.candidates - done)
                rows = rng.integers(0, len(imgs), b)
                dec = Decoded(rng.integers(0, h * w, (b, k)), rng.integers(0, 256, (b, k, 3), dtype=np.uint8),
                              np.ones((b, k), bool))
                full = clf.probabilities(perturb(clean, rows, dec))
                inc = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
                assert inc is not None
                mismatches += int((full.argmax(1) != inc.argmax(1)).sum())
                worst = max(worst, float((full - inc).abs().max()))
                done += b
            print(f"{name} k={k}: {done} candidates, {mismatches} predicted classes differ, "
                  f"max |p_full - p_incremental| = {worst:.3g}", flush=True)


if __name__ == "__main__":
    main()
