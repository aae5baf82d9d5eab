"""restrict vs index region mode at equal query budgets, on shipped images with their shipped GrabCut masks.

Usage: python benchmarks/region_modes.py [--model cnn8-cifar10] [--weights FILE] [--images 40]
                                         [--population 100] [--max-queries 2000] [--pixels 1]

Both modes attack the same correctly classified images in the foreground and in the background (1-pixel
untargeted by default) with the same DE settings and the same per-attack budget (`max_queries`); prints the
success count and the mean queries per attack for each mode and region, and a paired count of images one
mode solves and the other does not.
"""

from __future__ import annotations

import argparse
import time

from shipped_images import pick_images

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn8-cifar10")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--max-queries", type=int, default=2000)
    ap.add_argument("--pixels", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    model = load(args.model, weights=args.weights)
    clf = Classifier(model, batch_size=256)
    images, labels, fg = pick_images(clf, args.images, args.seed)
    cfg = DEConfig(population_size=args.population, max_generations=10_000, max_queries=args.max_queries)
    print(f"{args.model}: {len(images)} images, {args.pixels}-pixel untargeted, population {args.population}, "
          f"max_queries {args.max_queries}")
    print(f"\n{'region':<12}{'mode':<10}{'success':>10}{'mean queries':>14}{'seconds':>9}")
    results = {}
    for region_name, region in (("foreground", fg), ("background", ~fg)):
        for mode in ("restrict", "index"):
            t0 = time.perf_counter()
            res = PixelAttack(pixels=args.pixels, region_mode=mode, de=cfg)(  # type: ignore[arg-type]
                clf, images, Untargeted(labels), regions=region, seed=args.seed)
            dt = time.perf_counter() - t0
            results[region_name, mode] = res.success
            print(f"{region_name:<12}{mode:<10}{int(res.success.sum()):>6}/{len(images):<3}"
                  f"{res.queries.mean():>14.0f}{dt:>9.1f}")
    print("\npaired (solved by the first mode and not the second):")
    for region_name in ("foreground", "background"):
        r, i = results[region_name, "restrict"], results[region_name, "index"]
        print(f"  {region_name}: restrict-only {int((r & ~i).sum())}, index-only {int((i & ~r).sum())}")


if __name__ == "__main__":
    main()
