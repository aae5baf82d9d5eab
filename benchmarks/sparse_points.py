"""SparseRandomSearch answered against the current points vs the clean image: identical results, and the speed.

Usage: python benchmarks/sparse_points.py [--models allconv-cifar10,nin-cifar10,vgg16-cifar10] [--pixels 3,5]
       [--images 30] [--queries 2000] [--threads 1]

For each network and k, the first ``--images`` shipped sample images (whole image, their clean predictions as
labels) are attacked twice with the same seed: ``follow_points=False`` (every candidate against its clean image,
the path before issue 31) and the default (against the current points, :mod:`pixelspace.attack.points`). It
prints which result fields differ (none is the claim), the queries, the successes, each run's CPU seconds and
their ratio (CPU time of this process: steadier than wall time on a shared machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pixelspace import SparseRandomSearch, Untargeted
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier

FIELDS = ("success", "pixels", "colors", "changed", "adversarial", "predicted", "confidence", "target_probability",
          "adv_top5_classes", "adv_top5_probs", "adv_probs_of_clean_top5", "queries", "generations",
          "fitness_history")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="allconv-cifar10,nin-cifar10,vgg16-cifar10")
    ap.add_argument("--pixels", default="3,5")
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    images = load_cifar10_sample().images[: args.images]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {len(images)} images, whole image, "
          f"{args.queries} queries per attack, seed 0")
    for name in args.models.split(","):
        model = load(name)
        labels = SparseRandomSearch(pixels=1).clean_predictions(model, images)
        for k in (int(v) for v in args.pixels.split(",")):
            res, cpu = {}, {}
            for follow in (False, True):
                attack = SparseRandomSearch(pixels=k, max_queries=args.queries, follow_points=follow)
                c0 = time.process_time()
                res[follow] = attack(Classifier(model), images, Untargeted(labels), seed=0)
                cpu[follow] = time.process_time() - c0
            differ = [f for f in FIELDS if not np.array_equal(getattr(res[False], f), getattr(res[True], f),
                                                              equal_nan=True)]
            r = res[True]
            print(f"{name} k={k}: fields differing: {differ or 'none'}; {int(r.queries.sum())} queries, "
                  f"{int(r.success.sum())}/{len(images)} successes; CPU s clean image {cpu[False]:.1f}, points "
                  f"{cpu[True]:.1f} ({cpu[False] / cpu[True]:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
