"""Time of a vulnerability scan on ImageNet-sized images, and what stride or a region saves.

Usage: python benchmarks/scan_imagenet_time.py [--model efficientnet-lite0-imagenet] [--images 1] [--stride 8]
                                               [--batch-size 64]

Scans the first N shipped 224x224 ImageNet sample images on every ``stride``-th row and column with the 8
RGB-cube corners, measures queries/s, and prints the measured time beside what a full scan (401,409 queries)
and strides 2 and 4 would take at that rate.
"""

from __future__ import annotations

import argparse
import time

from pixelspace import Classifier
from pixelspace.attack.scan import PixelScan
from pixelspace.campaign.scan_batches import stride_grid
from pixelspace.data.imagenet import load_imagenet_sample
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="efficientnet-lite0-imagenet")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--stride", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    sample = load_imagenet_sample()
    images = sample.images[: args.images]
    h, w = images.shape[1:3]
    clf = Classifier(load(args.model), batch_size=args.batch_size)
    grid = stride_grid((h, w), args.stride)
    t0 = time.perf_counter()
    maps = PixelScan(batch_size=args.batch_size)(clf, images, regions=grid)
    seconds = time.perf_counter() - t0
    queries = sum(m.queries for m in maps)
    rate = queries / seconds
    print(f"{args.model}: {len(maps)} image(s) {h}x{w}, stride {args.stride}: {queries:,} queries in {seconds:.1f} s "
          f"= {rate:,.0f} queries/s; {sum(int(m.flips.sum()) for m in maps)} flipping pixels found")
    for s in (1, 2, 4, 8):
        q = int(stride_grid((h, w), s).sum()) * 8 + 1
        print(f"  stride {s}: {q:>8,} queries per image -> {q / rate / 60:7.1f} min per image at this rate")


if __name__ == "__main__":
    main()
