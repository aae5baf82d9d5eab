"""Sparse random search (ours) vs DE vs scan-seeded DE, and the authors' Sparse-RS, for k-pixel attacks.

Usage: python benchmarks/sparse_search.py [--models cnn8-cifar10 vgg16-cifar10] [--images 20] [--k 1 3 5]
                                          [--regions whole foreground background] [--max-queries 12000]
                                          [--methods sparse-rs de seeded] [--population 400] [--p-init 0.3]
                                          [--first-color opposite|random] [--out FILE.json]
                                          [--sparse-rs-dir .peers/sparse-rs] [--seed 0]

On N correctly classified shipped JPEG-CIFAR-10 images (usable GrabCut masks, ``shipped_images.pick_images``),
untargeted, restrict mode, the same per-attack budget ``max_queries`` for every method:

* ``sparse-rs``: :class:`pixelspace.SparseRandomSearch` (ours), inside the region;
* ``de``: :class:`pixelspace.PixelAttack`, population ``--population`` (Latin-hypercube generation 0);
* ``seeded``: :class:`pixelspace.attack.seeded.ScanSeededAttack`, scan of the region included in the budget;
* ``authors``: with ``--sparse-rs-dir`` pointing at a checkout of github.com/fra31/sparse-rs, its ``RSAttack``
  (``norm="L0"``, ``eps=k``, margin loss, ``p_init`` as ours, ``n_queries = max_queries``, ``seed``), whole image
  only (it has no regions). Its query count is its own: candidates evaluated, without the clean image (ours
  counts the clean image, every evaluated candidate and the success confirmation).

Prints, per model, region and k: successes, mean and median queries per success, seconds, and paired counts
against ours (images solved by the method and not by ours, and the reverse; on images both solved, how often
the method used fewer and more queries than ours, and its mean query difference to ours with a 95 % paired
bootstrap interval over those images: a mean over successes alone also moves with which images each method
solves).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from shipped_images import pick_images

from pixelspace import Classifier, DEConfig, PixelAttack, SparseRandomSearch, Untargeted
from pixelspace.attack.seeded import ScanSeededAttack
from pixelspace.models import load
from pixelspace.report.stats import bootstrap_paired_difference
from pixelspace.runtime import tune_malloc_unless_disabled


@dataclass(frozen=True)
class Outcome:
    """One method on one (model, region, k): success bool (N,), queries int (N,), wall seconds."""

    success: np.ndarray
    queries: np.ndarray
    seconds: float


def run_authors(rs_dir: Path, module: torch.nn.Module, images: np.ndarray, labels: np.ndarray, k: int,
                max_queries: int, p_init: float, seed: int) -> Outcome:
    """The authors' ``RSAttack`` (L0, margin loss) on the whole image; success is re-checked on its output."""
    sys.path.insert(0, str(rs_dir))
    try:
        rs_attacks = importlib.import_module("rs_attacks")
    finally:
        sys.path.remove(str(rs_dir))
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(labels)
    module.eval()

    def predict(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(t)

    attack = rs_attacks.RSAttack(predict, norm="L0", eps=k, n_queries=max_queries, p_init=p_init, loss="margin",
                                 seed=seed, verbose=False, device=torch.device("cpu"))
    t = time.perf_counter()
    queries, adv = attack.perturb(x, y)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        success = (module(adv).argmax(1) != y).numpy()
    changed = ((adv - x).abs().amax(1) > 0).flatten(1).sum(1).numpy()
    assert (changed[success] <= k).all(), "the authors' attack changed more than k pixels"
    return Outcome(success, queries.numpy().astype(np.int64), seconds)


def _row(name: str, out: Outcome, ours: Outcome | None) -> str:
    n = out.success.size
    ok = out.success
    mean_q = f"{out.queries[ok].mean():.0f}" if ok.any() else "-"
    median_q = f"{np.median(out.queries[ok]):.0f}" if ok.any() else "-"
    paired = ""
    if ours is not None:
        both = ok & ours.success
        fewer = int((out.queries[both] < ours.queries[both]).sum())
        more = int((out.queries[both] > ours.queries[both]).sum())
        diff = bootstrap_paired_difference(out.queries[both], ours.queries[both])
        shift = "-" if not both.any() else f"{diff.value:+.0f} [{diff.low:+.0f}, {diff.high:+.0f}] (n={both.sum()})"
        paired = (f"{int((ok & ~ours.success).sum()):>6}{int((ours.success & ~ok).sum()):>6}{f'{fewer}/{more}':>9}"
                  f"   {shift}")
    return f"  {name:<10}{int(ok.sum()):>5}/{n:<4}{mean_q:>10}{median_q:>8}{out.seconds:>9.0f}{paired}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["cnn8-cifar10"])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--k", type=int, nargs="+", default=[1, 3, 5])
    ap.add_argument("--regions", nargs="+", default=["whole", "foreground"],
                    choices=["whole", "foreground", "background"])
    ap.add_argument("--methods", nargs="+", default=["sparse-rs", "de", "seeded"],
                    choices=["sparse-rs", "de", "seeded"])
    ap.add_argument("--max-queries", type=int, default=12_000)
    ap.add_argument("--population", type=int, default=400)
    ap.add_argument("--p-init", type=float, default=SparseRandomSearch.p_init)
    ap.add_argument("--first-color", choices=["opposite", "random"], default=SparseRandomSearch.first_color,
                    help="ours: a pixel's first placement takes its opposite corner, or a uniform one (the authors')")
    ap.add_argument("--single-pixel", choices=["enumerate", "random"], default=SparseRandomSearch.single_pixel,
                    help="ours at k = 1: every (pixel, corner) pair once in a random order, or pairs drawn with "
                         "repetition (the authors')")
    ap.add_argument("--sparse-rs-dir", type=Path, default=None,
                    help="checkout of github.com/fra31/sparse-rs (its rs_attacks.py) to compare against")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="also write every method's per-image success and queries here (JSON), rewritten after each row")
    args = ap.parse_args()
    rows: list[dict[str, object]] = []

    def record(model_name: str, region: str, k: int, method: str, out: Outcome) -> None:
        if args.out is None:
            return
        rows.append({"model": model_name, "region": region, "k": k, "method": method, "seconds": out.seconds,
                     "success": out.success.tolist(), "queries": out.queries.tolist()})
        args.out.write_text(json.dumps({"args": {k_: str(v) for k_, v in vars(args).items()}, "rows": rows}))

    if args.sparse_rs_dir is not None and not (args.sparse_rs_dir / "rs_attacks.py").is_file():
        ap.error(f"--sparse-rs-dir {args.sparse_rs_dir} has no rs_attacks.py")
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    print(f"untargeted, restrict mode, max_queries {args.max_queries} per attack, seed {args.seed}; DE population "
          f"{args.population}; p_init {args.p_init}; ours: first colour {args.first_color}, "
          f"k = 1 pairs {args.single_pixel}\n")
    for model_name in args.models:
        module = load(model_name)
        clf = Classifier(module, batch_size=args.batch_size)
        images, labels, fg = pick_images(clf, args.images, args.seed)
        regions = {"whole": np.ones_like(fg), "foreground": fg, "background": ~fg}
        print(f"{model_name}: {len(images)} images")
        print(f"  {'method':<10}{'success':>9} {'q/success':>10}{'median':>8}{'seconds':>9}{'only':>6}{'not':>6}"
              f"{'<q / >q':>9}   {'q - ours [95 %]'}\n"
              "  (only / not: solved by this method and not by ours / by ours and not by this method; on the images "
              "both solved: <q / >q, how often this method used fewer / more queries than ours, and q - ours, its "
              "mean query difference to ours with a paired bootstrap interval over those images)")
        for region in args.regions:
            for k in args.k:
                print(f" {region}, k = {k}")
                ours: Outcome | None = None
                for method in args.methods:
                    t = time.perf_counter()
                    attack: SparseRandomSearch | PixelAttack | ScanSeededAttack
                    if method == "sparse-rs":
                        attack = SparseRandomSearch(pixels=k, max_queries=args.max_queries, p_init=args.p_init,
                                                    batch_size=args.batch_size, first_color=args.first_color,
                                                    single_pixel=args.single_pixel)
                    elif method == "de":
                        attack = PixelAttack(pixels=k, batch_size=args.batch_size, de=DEConfig(
                            population_size=args.population, max_generations=100_000, max_queries=args.max_queries))
                    else:
                        if k == 1:
                            continue  # the scan itself answers k = 1 (benchmarks/scan_regions.py)
                        attack = ScanSeededAttack(pixels=k, max_queries=args.max_queries, batch_size=args.batch_size,
                                                  de=DEConfig(population_size=args.population, max_generations=100_000))
                    res = attack(clf, images, Untargeted(labels), regions=regions[region], seed=args.seed)
                    assert (res.queries <= args.max_queries).all()
                    out = Outcome(res.success, res.queries, time.perf_counter() - t)
                    print(_row("ours" if method == "sparse-rs" else method, out, ours), flush=True)
                    record(model_name, region, k, method, out)
                    if method == "sparse-rs":
                        ours = out
                if args.sparse_rs_dir is not None and region == "whole":
                    out = run_authors(args.sparse_rs_dir, module, images, labels, k, args.max_queries, args.p_init,
                                      args.seed)
                    print(_row("authors", out, ours), flush=True)
                    record(model_name, region, k, "authors", out)
        print()


if __name__ == "__main__":
    main()
