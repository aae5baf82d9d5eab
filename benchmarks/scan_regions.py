"""Vulnerability scan vs DE per region, on the same shipped images and masks.

Usage: python benchmarks/scan_regions.py [--model cnn8-cifar10] [--weights FILE] [--images 20]
                                         [--population 100] [--generations 20]

For N correctly classified shipped JPEG-CIFAR-10 images (usable GrabCut masks), one whole-image scan with the 8
RGB-cube corners gives the scan's success, flipping pixels and reachable classes in the whole image, the
foreground and the background (exact for that colour set); 1-pixel untargeted DE (restrict mode) attacks the
same images in the same regions; scan-first (the same pairs in a seeded random order, stopping at the first
flip) runs as an attack. Prints all three per region with queries per image and per success, and the paired
counts (scan vs DE).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from shipped_images import pick_images

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.attack.scan import PixelScan, region_stats, scan_first
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn8-cifar10")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    clf = Classifier(load(args.model, weights=args.weights), batch_size=256)
    images, labels, fg = pick_images(clf, args.images, args.seed)
    n = len(images)
    t0 = time.perf_counter()
    maps = PixelScan(batch_size=256)(clf, images, labels)
    scan_s = time.perf_counter() - t0
    regions = {"whole": np.ones_like(fg), "foreground": fg, "background": ~fg}
    cfg = DEConfig(population_size=args.population, max_generations=args.generations)
    print(f"{args.model}: {n} images; scan = 8 RGB corners x every pixel ({maps[0].queries} queries per image, "
          f"{scan_s:.0f} s); DE = 1-pixel untargeted, restrict, population {args.population} x <= {args.generations} "
          f"generations\n")
    print(f"{'region':<12}{'scan success':>14}{'flipping px (mean)':>20}{'classes (mean)':>16}"
          f"{'DE success':>12}{'DE queries':>12}{'DE q/success':>14}{'scan-only':>11}{'DE-only':>9}"
          f"{'first success':>15}{'first q/attack':>16}{'first q/success':>17}")
    for name, region in regions.items():
        stats = [region_stats(m, r) for m, r in zip(maps, region, strict=True)]
        scan_ok = np.array([s.success for s in stats])
        res = PixelAttack(pixels=1, de=cfg)(clf, images, Untargeted(labels), regions=region, seed=args.seed)
        first = scan_first(clf, images, labels, regions=region, seed=args.seed, batch_size=256)
        if not np.array_equal(first.success, scan_ok):
            raise RuntimeError("scan-first and the full scan disagree on an image: both are exhaustive")
        print(f"{name:<12}{int(scan_ok.sum()):>10}/{n:<3}{np.mean([s.flipping_pixels for s in stats]):>20.1f}"
              f"{np.mean([s.reachable_classes for s in stats]):>16.2f}{int(res.success.sum()):>8}/{n:<3}"
              f"{res.queries.mean():>12.0f}{_per_success(res.queries, res.success):>14}"
              f"{int((scan_ok & ~res.success).sum()):>11}{int((res.success & ~scan_ok).sum()):>9}"
              f"{int(first.success.sum()):>11}/{n:<3}{first.queries.mean():>16.0f}"
              f"{_per_success(first.queries, first.success):>17}")


def _per_success(queries: np.ndarray, success: np.ndarray) -> str:
    """All queries spent over the successes (what one success costs on average), or '-'."""
    return f"{queries.sum() / success.sum():,.0f}" if success.any() else "-"


if __name__ == "__main__":
    main()
