"""Plain DE vs scan-seeded DE for k-pixel attacks at equal total query budgets.

Usage: python benchmarks/scan_seeded.py [--model cnn8-cifar10] [--weights FILE] [--images 20]
                                        [--pixels 3 5] [--regions whole foreground] [--population 100]
                                        [--max-queries 12000] [--top 32] [--weighting damage]
                                        [--random-fraction 0.2] [--seed 0]

On N correctly classified shipped JPEG-CIFAR-10 images (usable GrabCut masks), for each region and k, untargeted
restrict-mode attacks with the same population and the same per-attack budget `max_queries`:

* plain: `PixelAttack` (Latin-hypercube generation 0), up to `max_queries` queries;
* seeded: `ScanSeededAttack`: an 8-corner scan of the region (region pixels x 8 + 1 queries: 8,193 for the whole
  32x32 image) and DE started from the scan's most damaging pixels, scan + DE within `max_queries`.

Each image is scanned once over the whole image; the foreground maps are that scan masked to the foreground and
are charged what a foreground-only scan costs (foreground pixels x 8 + 1), which is what it would return (up to
the model's batch-size float noise). Prints success counts, mean queries per attack (scan included), the images
whose scan alone finds a 1-pixel flip in the region, and paired counts (solved by one method and not the other).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from shipped_images import pick_images

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.attack.scan import PixelScan, VulnerabilityMap
from pixelspace.attack.seeded import ScanSeededAttack
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


def _restrict(vmap: VulnerabilityMap, region: np.ndarray) -> VulnerabilityMap:
    """The map a scan of ``region`` (bool (H, W), within the scanned pixels) alone would give, with its cost."""
    c = vmap.colors.shape[0]
    prob = np.where(region[..., None], vmap.probability, np.nan).astype(np.float32)
    pred = np.where(region[..., None], vmap.predicted, -1).astype(np.int32)
    return VulnerabilityMap(vmap.label, vmap.clean_probability, vmap.colors, prob, pred, region.copy(),
                            int(region.sum()) * c + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn8-cifar10")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--pixels", type=int, nargs="+", default=[3, 5])
    ap.add_argument("--regions", nargs="+", default=["whole", "foreground"], choices=["whole", "foreground"])
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--max-queries", type=int, default=12_000)
    ap.add_argument("--top", type=int, default=ScanSeededAttack.top)
    ap.add_argument("--weighting", default=ScanSeededAttack.weighting, choices=["damage", "uniform"])
    ap.add_argument("--random-fraction", type=float, default=ScanSeededAttack.random_fraction)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    clf = Classifier(load(args.model, weights=args.weights), batch_size=256)
    images, labels, fg = pick_images(clf, args.images, args.seed)
    n = len(images)
    t0 = time.perf_counter()
    whole_maps = PixelScan(batch_size=256)(clf, images, labels)
    scan_s = time.perf_counter() - t0
    regions = {"whole": np.ones_like(fg), "foreground": fg}
    de = DEConfig(population_size=args.population, max_generations=100_000)
    print(f"{args.model}: {n} images, untargeted, restrict mode, population {args.population}, max_queries "
          f"{args.max_queries} per attack (seeded: scan included); seeding top {args.top}, {args.weighting}, "
          f"random fraction {args.random_fraction}; whole-image scans took {scan_s:.0f} s\n")
    print(f"{'region':<12}{'k':>2}  {'method':<8}{'success':>9}{'mean queries':>14}{'scan queries':>14}"
          f"{'scan flips':>12}{'only this':>11}{'seconds':>9}")
    for name in args.regions:
        region = regions[name]
        maps = whole_maps if name == "whole" else [_restrict(m, r) for m, r in zip(whole_maps, region, strict=True)]
        scan_q = np.array([m.queries for m in maps])
        flips = int(sum(bool((m.flips & r).any()) for m, r in zip(maps, region, strict=True)))
        for k in args.pixels:
            t = time.perf_counter()
            plain = PixelAttack(pixels=k, de=dataclasses.replace(de, max_queries=args.max_queries))(
                clf, images, Untargeted(labels), regions=region, seed=args.seed)
            plain_s = time.perf_counter() - t
            t = time.perf_counter()
            seeded = ScanSeededAttack(pixels=k, de=de, max_queries=args.max_queries, top=args.top,
                                      weighting=args.weighting, random_fraction=args.random_fraction)(
                clf, images, Untargeted(labels), regions=region, seed=args.seed, maps=maps)
            seeded_s = time.perf_counter() - t
            assert (seeded.queries <= args.max_queries).all() and (plain.queries <= args.max_queries).all()
            for method, res, other, dt, sq in (("plain", plain, seeded, plain_s, "0"),
                                               ("seeded", seeded, plain, seeded_s, f"{scan_q.mean():.0f}")):
                print(f"{name:<12}{k:>2}  {method:<8}{int(res.success.sum()):>5}/{n:<3}{res.queries.mean():>14.0f}"
                      f"{sq:>14}{flips:>12}{int((res.success & ~other.success).sum()):>11}{dt:>9.0f}")


if __name__ == "__main__":
    main()
