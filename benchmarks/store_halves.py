"""Split a store's attacked images into halves (pool order) and compare 1-pixel untargeted success between them.

Usage:
    python benchmarks/store_halves.py STORE [--split N]

Prints, per network × region, successes on the first N attacked images (default: half) and on the rest, with
the two-sided Fisher exact p of the 2×2 table; then the mean foreground and background mask sizes in pixels.
A difference between halves of one sample says how much a small-sample rate moves with the images drawn.
"""

from __future__ import annotations

import argparse

import numpy as np

from pixelspace.report import figures, metrics, stats, stored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--split", type=int, default=None, help="attacked images in the first part (default: half)")
    args = ap.parse_args()
    store = stored.load_store(args.store)
    order = [im.image_id for im in sorted(store.images, key=lambda im: im.pool_index) if im.status == "attacked"]
    split = args.split if args.split is not None else len(order) // 2
    first = set(order[:split])
    rows = [r for r in store.results if r.mode == "untargeted" and r.pixels == 1]
    print(f"{'network':<18} {'region':<11} {'first':>9} {'rest':>9} {'Fisher p':>9}")
    for model in sorted({r.model for r in rows}):
        for region in metrics.region_order(r.region for r in rows if r.model == model):
            ok = metrics.untargeted1_by_image(metrics.select(rows, model=model, region=region))
            a = sum(v for k, v in ok.items() if k in first)
            n1 = sum(1 for k in ok if k in first)
            c = sum(v for k, v in ok.items() if k not in first)
            n2 = len(ok) - n1
            p = stats.fisher_exact(a, n1 - a, c, n2 - c)
            print(f"{model:<18} {region:<11} {f'{a}/{n1}':>9} {f'{c}/{n2}':>9} {p:>9.4f}")
    sizes: dict[str, list[int]] = {"foreground": [], "background": []}
    for (_, region), png in store.masks.items():
        if region in sizes:
            sizes[region].append(int((figures.decode_png(png)[:, :, 0] > 127).sum()))
    if sizes["foreground"] and sizes["background"]:
        fg, bg = float(np.mean(sizes["foreground"])), float(np.mean(sizes["background"]))
        print(f"mean mask size: foreground {fg:.1f} px, background {bg:.1f} px ({bg / fg:.2f}x), "
              f"{len(sizes['foreground'])} images")


if __name__ == "__main__":
    main()
