"""Which corner colour flips a pixel, and how the 1-pixel search should walk the pairs: the measurement behind
``SparseRandomSearch(first_color="opposite", single_pixel="enumerate")``.

Usage: python benchmarks/first_color.py STORE [--max-queries 12000] [--repeats 50]

STORE holds corner-colour scans (e.g. ``stores/cifar10-scan-500.sqlite`` or ``results/cifar10-scan-500/store.sqlite``):
for every scanned image, pixel and the 8 corners of the RGB cube, the predicted class. Per network it prints

* the flip rate (predicted class != label) of the corners ranked by L1 distance from the clean pixel (rank 0:
  the opposite corner, each channel 255 where the clean value is below 128, else 0), with the ratio of rank 0
  to the mean of ranks 1-7 and a 95 % bootstrap interval over images;
* a replay of the 1-pixel random search on the stored outcomes (no model call), whole image. ``enumerate``
  (``SparseRandomSearch``'s default): every pixel once with its opposite corner in a random order, then every
  other (pixel, corner) pair in a random order, no pair twice. The other rules draw: each iteration draws a
  pixel uniformly and a colour by the rule, a candidate drawn before is free (the evaluation memo) but costs an
  iteration; queries count the clean image, the distinct candidates and the confirmation, at most
  ``--max-queries``, with ``2 * max_queries`` iterations. ``random``: every colour uniform among the 7 corners
  other than the clean pixel (the authors' rule); ``opposite``: a pixel's first draw takes its opposite corner,
  later draws are uniform (``single_pixel="random"``); ``authors``: ``random`` without the memo, a
  repeated candidate costs a query (as in the authors' code). Queries are counted our way for all three.
  Expected successes and mean / median queries per success over ``--repeats`` draws, and, paired by image,
  the mean over images of each rule's expected queries minus ``enumerate``'s, on the images every rule solves
  in every draw, with a 95 % bootstrap interval over images.
"""

from __future__ import annotations

import argparse
import io
import sqlite3
from collections import defaultdict

import numpy as np
from PIL import Image

from pixelspace.report.stats import bootstrap_paired_difference, bootstrap_ratio

RULES = ("enumerate", "opposite", "random", "authors")


def first_success(flip: np.ndarray, opposite: np.ndarray, clean: np.ndarray, rule: str, max_queries: int,
                  rng: np.random.Generator) -> int | None:
    """Queries of the simulated 1-pixel search until its first success (None: none within the budget).

    Args:
        flip: bool (P, 8), whether corner c at pixel p changes the class.
        opposite: (P,) the opposite corner's index; clean: (P,) the clean pixel's corner index or -1.
    """
    n_px = flip.shape[0]
    if rule == "enumerate":
        order1 = rng.permutation(n_px)
        rest = np.ones((n_px, 8), dtype=bool)
        rest[np.arange(n_px), opposite] = False
        rest[np.flatnonzero(clean >= 0), clean[clean >= 0]] = False
        order = np.concatenate([order1 * 8 + opposite[order1], rng.permutation(np.flatnonzero(rest.reshape(-1)))])
        hits = np.flatnonzero(flip.reshape(-1)[order[: max_queries - 2]])
        return int(hits[0]) + 3 if hits.size else None
    iters = 2 * max_queries
    p = rng.integers(n_px, size=iters)
    c = rng.integers(8, size=iters)
    while (bad := c == clean[p]).any():  # uniform among the corners other than the clean pixel
        c[bad] = rng.integers(8, size=int(bad.sum()))
    if rule == "opposite":
        first = np.zeros(iters, dtype=bool)
        first[np.unique(p, return_index=True)[1]] = True
        c = np.where(first, opposite[p], c)
    cand = p * 8 + c
    if rule == "authors":  # no memo: every draw is a query
        evaluated = cand[: max_queries - 2]
    else:
        evaluated = cand[np.sort(np.unique(cand, return_index=True)[1])[: max_queries - 2]]
    hits = np.flatnonzero(flip.reshape(-1)[evaluated])
    return int(hits[0]) + 3 if hits.size else None  # clean image + candidates up to the hit + confirmation


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--max-queries", type=int, default=12_000)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    con = sqlite3.connect(f"file:{args.store}?mode=ro", uri=True)
    pixels = {iid: np.array(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(np.int64)
              for iid, png in con.execute("SELECT image_id, png FROM images")}
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    per_rank: dict[str, list[np.ndarray]] = defaultdict(list)  # per image: flips per distance rank (8,)
    searches: dict[tuple[str, str], list[list[int | None]]] = defaultdict(list)
    for model, image_id, blob in con.execute("SELECT model, image_id, npz FROM scans ORDER BY model, image_id"):
        z = np.load(io.BytesIO(blob))
        if not np.array_equal(z["colors"], corners):
            continue  # not a corner scan
        px = pixels[image_id]
        flip = (z["predicted"] != z["label"]).reshape(-1, 8) & z["scanned"].reshape(-1, 1)
        dist = np.abs(px[:, None, :] - corners[None]).sum(-1)
        rank = np.argsort(np.argsort(-dist, axis=1, kind="stable"), axis=1)
        per_rank[model].append(np.array([flip[rank == r].sum() for r in range(8)]))
        low = px < 128
        opposite = low[:, 0] * 4 + low[:, 1] * 2 + low[:, 2]
        is_corner = ((px == 0) | (px == 255)).all(1)
        clean = np.where(is_corner, (px[:, 0] == 255) * 4 + (px[:, 1] == 255) * 2 + (px[:, 2] == 255), -1)
        for rule in RULES:
            draws = [first_success(flip, opposite, clean, rule, args.max_queries, np.random.default_rng(rep))
                     for rep in range(args.repeats)] if flip.any() else []
            searches[(model, rule)].append(draws)
    print(f"store {args.store}; 1-pixel search replayed {args.repeats} times per image, {args.max_queries} queries\n")
    for model, rows in per_rank.items():
        counts = np.stack(rows)  # (images, 8)
        n_px = 1024 * len(rows)
        rates = counts.sum(0) / n_px * 100
        ratio = bootstrap_ratio(counts[:, 0], counts[:, 1:].mean(1))
        print(f"{model}: {len(rows)} images; flip rate (%) by corner rank, 0 = opposite: "
              + " ".join(f"{r:.3f}" for r in rates))
        print(f"  rank 0 / mean of ranks 1-7: {ratio.value:.2f} [{ratio.low:.2f}, {ratio.high:.2f}] "
              f"({ratio.method}); rank 0 holds {counts[:, 0].sum() / max(counts.sum(), 1) * 100:.0f} % of flips")
        always = [i for i, r in enumerate(searches[(model, RULES[0])]) if r
                  and all(None not in searches[(model, rule)][i] for rule in RULES)]
        mean_q = {rule: np.array([np.mean([q or 0 for q in searches[(model, rule)][i]]) for i in always])
                  for rule in RULES}  # every draw of these images succeeded
        for rule in RULES:
            runs = searches[(model, rule)]
            expected = sum(float(np.mean([q is not None for q in r])) for r in runs if r)
            qs = [q for r in runs for q in r if q is not None]
            stats = f"mean {np.mean(qs):.0f}, median {np.median(qs):.0f}" if qs else "-"
            diff = bootstrap_paired_difference(mean_q[rule], mean_q[RULES[0]])
            paired = (f"; paired, minus {RULES[0]}: {diff.value:+.0f} [{diff.low:+.0f}, {diff.high:+.0f}] "
                      f"(n = {len(always)} images)" if rule != RULES[0] and always else "")
            print(f"  search, rule {rule:<8}: expected successes {expected:.2f} of {len(runs)}; "
                  f"queries per success {stats}{paired}")
        print()


if __name__ == "__main__":
    main()
