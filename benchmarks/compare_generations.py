"""Compare the 1-pixel untargeted attacks of two stores on their shared images: success and success generation.

Usage:
    python benchmarks/compare_generations.py STORE_A STORE_B [--labels A B] [--max-generation G]
                                             [--regions whole foreground background]

For example DE's strategy (issue 17, item 5): `results/cifar10-cpu/` (rand1bin, 20 generations) against
`results/cifar10-best1bin/` (best1bin, the public one-pixel code's strategy, same budget and images). Per
network × region and pooled: successes of each with the exact McNemar p of the discordant images and Newcombe's
paired 95 % interval of the difference; over each store's successes the raw generation (0 = the initial
population succeeded) as mean and median, the mean of max(generations, 1) (the public code's count), and the
share of successes by generation 1. ``--max-generation`` counts a success after generation G as a failure in
both stores (to compare a longer run with a shorter one at the shorter budget).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np

from pixelspace.outcomes import AttackRow
from pixelspace.report import metrics, stats, stored


def outcomes(rows: Sequence[AttackRow], max_generation: int | None) -> dict[tuple[str, str, str], tuple[bool, int]]:
    """(model, region, image id) -> (success, generations) of 1-pixel untargeted attacks."""
    out = {}
    for r in rows:
        if r.mode != "untargeted" or r.pixels != 1:
            continue
        ok = metrics.attack_succeeded(r)
        if ok and max_generation is not None and r.generations > max_generation:
            ok = False
        out[(r.model, r.region, r.image_id)] = (ok, int(r.generations))
    return out


def describe(gens: list[int]) -> str:
    """'n, mean / median raw, mean max(g, 1), share by generation 1' of successful attacks' generations."""
    if not gens:
        return f"{0:>4} {'-':>6} {'-':>6} {'-':>6} {'-':>6}"
    g = np.asarray(gens)
    return (f"{g.size:>4} {g.mean():>6.2f} {np.median(g):>6.1f} {np.maximum(g, 1).mean():>6.2f} "
            f"{(g <= 1).mean():>6.0%}")


def line(name: str, keys: list[tuple[str, str, str]], a: dict, b: dict) -> str:
    sa = np.array([a[k][0] for k in keys])
    sb = np.array([b[k][0] for k in keys])
    only_a, only_b = int((sa & ~sb).sum()), int((sb & ~sa).sum())
    both, neither = int((sa & sb).sum()), int((~sa & ~sb).sum())
    diff = stats.paired_difference_newcombe(both, only_a, only_b, neither)
    p = stats.mcnemar_exact(only_a, only_b)
    ga = [a[k][1] for k in keys if a[k][0]]
    gb = [b[k][1] for k in keys if b[k][0]]
    return (f"{name:<30} {len(keys):>4} {int(sa.sum()):>4} {int(sb.sum()):>4} {only_a:>3}/{only_b:<3} {p:>6.3f} "
            f"{100 * diff.value:>+6.1f} [{100 * diff.low:+.1f}, {100 * diff.high:+.1f}] | "
            f"{describe(ga)} | {describe(gb)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store_a")
    ap.add_argument("store_b")
    ap.add_argument("--labels", nargs=2, default=["A", "B"])
    ap.add_argument("--max-generation", type=int, default=None)
    ap.add_argument("--regions", nargs="+", default=None, help="only these regions (default: all shared)")
    args = ap.parse_args()
    a = outcomes(stored.load_store(args.store_a).results, args.max_generation)
    b = outcomes(stored.load_store(args.store_b).results, args.max_generation)
    shared = sorted(k for k in set(a) & set(b) if args.regions is None or k[1] in args.regions)
    if not shared:
        raise SystemExit("the two stores share no 1-pixel untargeted attack (model, region, image)")
    la, lb = args.labels
    print(f"A = {la}: {args.store_a}\nB = {lb}: {args.store_b}")
    if args.max_generation is not None:
        print(f"successes after generation {args.max_generation} count as failures in both")
    print(f"{'network / region':<30} {'n':>4} {'A':>4} {'B':>4} {'A/B only':>7} {'p':>6} {'A-B pp [95 %]':>22} | "
          f"A successes: n, mean, median, mean max(g,1), by gen 1 | B: the same")
    cells = sorted({(k[0], k[1]) for k in shared})
    for model, region in cells:
        keys = [k for k in shared if k[0] == model and k[1] == region]
        print(line(f"{model} {region}", keys, a, b))
    print(line("pooled", shared, a, b))


if __name__ == "__main__":
    main()
