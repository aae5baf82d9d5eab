"""Incremental forward pass vs full forward passes: engine queries/s, raw images/s and a corner-colour scan.

For each network, in one run: raw full-forward inference (images/s, the batch size the Classifier uses), then
``PixelAttack`` on shipped sample images with the incremental pass off and on, for each pixel count and region
(whole image, a seeded 30 % region), and a full corner-colour ``PixelScan`` of one image off and on. Engine rates
are queries / seconds of the whole call, both wall-clock and this process's CPU time (on a machine shared with
other jobs the CPU-time rates are the steadier ones; with ``--threads 1`` they measure work, not waiting).
Ratios compare numbers measured back to back in this run; repeat the run to see the noise.

    python benchmarks/incremental.py --models allconv-cifar10,nin-cifar10 --pixels 1,3,5 --save out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelspace import PixelAttack, SparseRandomSearch, Untargeted
from pixelspace.attack.evaluation import Evaluation
from pixelspace.attack.scan import PixelScan
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier, PixelBases
from pixelspace.search.de import DEConfig

MODELS = ("allconv-cifar10", "nin-cifar10", "vgg16-cifar10", "cnn8-cifar10")


def region_30(rng: np.random.Generator, n: int, h: int = 32, w: int = 32) -> np.ndarray:
    """Seeded rectangular regions covering about 30 % of each image, bool (n, h, w)."""
    masks = np.zeros((n, h, w), dtype=bool)
    side = int(round(np.sqrt(0.3 * h * w)))
    for i in range(n):
        r, c = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        masks[i, r : r + side, c : c + side] = True
    return masks


CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)


class SparseChain:
    """Candidates as ``SparseRandomSearch`` proposes them at k >= 2 once one slot moves per step (at k = 3 and 5
    with the default ``p_init = 0.3`` that is every step: ``max(int(0.3 * k), 1) = 1``), with its acceptance rule.

    State per attack: k distinct region pixels with corner colours (the opposite corner at a pixel's first
    placement, then a uniform corner other than the clean one). A step moves one random slot to a free region
    pixel (the candidate differs from the current point in two pixels: the old one restored to its clean value,
    the new one set) or, when the region has no free pixel, recolours it (one pixel). A candidate is accepted
    when its margin loss ``p_label - max_other`` is not larger than the current one. Attacks never stop (a
    success does not end the chain), so every step evaluates one candidate per attack.

    Args:
        clean: uint8 (A, 3, H, W); labels: (A,); k: pixels; regions: bool (A, H, W) or None (whole image).
    """

    def __init__(self, clean: np.ndarray, labels: np.ndarray, k: int, regions: np.ndarray | None, seed: int) -> None:
        a, _, h, w = clean.shape
        self.clean, self.labels, self.k, self.w = clean, labels, k, w
        self.rng = np.random.default_rng(seed)
        masks = np.ones((a, h, w), bool) if regions is None else regions
        self.region = [np.flatnonzero(m.reshape(-1)) for m in masks]
        px = clean.reshape(a, 3, h * w)
        self.corner_of = np.where(((px == 0) | (px == 255)).all(1),
                                  (px[:, 0] == 255) * 4 + (px[:, 1] == 255) * 2 + (px[:, 2] == 255), -1)
        low = px < 128
        self.opposite = (low[:, 0] * 4 + low[:, 1] * 2 + low[:, 2]).astype(np.int64)
        self.placed: list[set[int]] = [set() for _ in range(a)]
        self.pos = np.stack([self.rng.choice(r, k, replace=False) for r in self.region]).astype(np.int64)
        self.col = np.array([[self._place(i, int(p)) for p in self.pos[i]] for i in range(a)], dtype=np.int64)
        self.fitness = np.full(a, np.inf)
        self.one_pixel = self.two_pixel = self.accepted = self.proposed = 0
        self._pending: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _place(self, a: int, p: int) -> int:
        if p not in self.placed[a]:
            self.placed[a].add(p)
            return int(self.opposite[a, p])
        avoid = int(self.corner_of[a, p])
        if avoid < 0:
            return int(self.rng.integers(8))
        c = int(self.rng.integers(7))
        return c + (c >= avoid)

    def point_images(self) -> np.ndarray:
        """The current points, uint8 (A, 3, H, W)."""
        return self.images(np.arange(len(self.labels)), self.pos, self.col)

    def images(self, attacks: np.ndarray, pos: np.ndarray, col: np.ndarray) -> np.ndarray:
        out = self.clean[attacks].copy()
        for j in range(pos.shape[1]):
            out[np.arange(attacks.size), :, pos[:, j] // self.w, pos[:, j] % self.w] = CORNERS[col[:, j]]
        return out

    def propose(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One candidate per attack: (attacks (A,), its k pixels (A, k) and corner indices (A, k), and its
        difference from the current point: positions (A, 2), uint8 colours (A, 2, 3), applied (A, 2))."""
        a = len(self.labels)
        new_pos, new_col = self.pos.copy(), self.col.copy()
        d_pos = np.zeros((a, 2), np.int64)
        d_col = np.zeros((a, 2, 3), np.uint8)
        d_on = np.zeros((a, 2), bool)
        for i in range(a):
            s = int(self.rng.integers(self.k))
            taken = set(self.pos[i].tolist())
            if self.region[i].size > len(taken):
                while True:
                    p = int(self.region[i][self.rng.integers(self.region[i].size)])
                    if p not in taken:
                        break
                old = int(self.pos[i, s])
                new_pos[i, s], new_col[i, s] = p, self._place(i, p)
                d_pos[i] = (old, p)
                d_col[i, 0] = self.clean[i, :, old // self.w, old % self.w]
                d_col[i, 1] = CORNERS[new_col[i, s]]
                d_on[i] = True
                self.two_pixel += 1
            else:
                avoid = int(new_col[i, s])
                c = int(self.rng.integers(7))
                new_col[i, s] = c + (c >= avoid)
                d_pos[i, 0], d_col[i, 0], d_on[i, 0] = new_pos[i, s], CORNERS[new_col[i, s]], True
                self.one_pixel += 1
        self._pending = (new_pos, new_col, np.arange(a))
        self.proposed += a
        return np.arange(a), new_pos, new_col, d_pos, d_col, d_on

    def accept(self, probs: np.ndarray, force: np.ndarray | None = None) -> np.ndarray:
        """Which candidates of the last :meth:`propose` are accepted (A,) bool; the state moves to them.
        ``force`` (A,) bool: accept these whatever their loss (exactness runs keep the bases moving)."""
        assert self._pending is not None
        new_pos, new_col, att = self._pending
        lab = self.labels[att]
        p_true = probs[np.arange(att.size), lab]
        other = probs.copy()
        other[np.arange(att.size), lab] = -np.inf
        fit = p_true - other.max(1)
        acc = fit <= self.fitness[att]
        if force is not None:
            acc |= force
        self.pos[att[acc]], self.col[att[acc]], self.fitness[att[acc]] = new_pos[acc], new_col[acc], fit[acc]
        self.accepted += int(acc.sum())
        self._pending = None
        return acc

    def start(self, probs: np.ndarray) -> None:
        """Set the fitness of the starting points from their probabilities (A, K)."""
        lab = self.labels
        other = probs.copy()
        other[np.arange(lab.size), lab] = -np.inf
        self.fitness = probs[np.arange(lab.size), lab] - other.max(1)


def sparse_chain_rate(clf: Classifier, mode: str, clean: np.ndarray, labels: np.ndarray, k: int,
                      regions: np.ndarray | None, steps: int, seed: int) -> dict[str, Any]:
    """Queries/s of ``steps`` steps of a :class:`SparseChain` answered one way: ``"raw"`` (candidate images by
    full forward passes), ``"clean"`` (the incremental pass against the clean image: k changed pixels, as
    today), ``"base"`` (against the current point: one or two changed pixels; acceptance commits windows) or
    ``"base-full"`` (the same, a commit recomputing the base by one pass through the chain)."""
    chain = SparseChain(clean, labels, k, regions, seed)
    start = torch.from_numpy(chain.point_images())
    bases = clf.pixel_bases(start) if mode.startswith("base") else None
    if bases is not None:  # the starting points' evaluation computes the bases' activations (not timed)
        chain.start(bases.base_probabilities(count=False).numpy())
        if mode == "base-full":
            assert bases._bases is not None
            bases._bases.update = "full"
    else:
        chain.start(clf.probabilities(start, count=False).numpy())
    clean_t = torch.from_numpy(clean)
    commit_s = 0.0
    with Timer() as t:
        for _ in range(steps):
            att, pos, col, d_pos, d_col, d_on = chain.propose()
            if mode == "raw":
                probs = clf.probabilities(torch.from_numpy(chain.images(att, pos, col)), count=False)
            elif mode == "clean":
                inc = clf.pixel_probabilities(clean_t, att, pos, CORNERS[col], np.ones(pos.shape, bool), count=False)
                assert inc is not None
                probs = inc
            else:
                assert bases is not None
                probs = bases.probabilities(att, d_pos, d_col, d_on, count=False)
            acc = chain.accept(probs.numpy())
            if bases is not None:
                c0 = time.perf_counter()
                bases.commit(att[acc], d_pos[acc], d_col[acc], d_on[acc])
                commit_s += time.perf_counter() - c0
    q = chain.proposed
    return {"rate": q / t.wall, "rate_cpu": q / t.cpu, "queries": q, "accepted": chain.accepted,
            "one_pixel": chain.one_pixel, "two_pixel": chain.two_pixel, "commit_share": commit_s / t.wall,
            "fitness_sum": float(chain.fitness.sum())}


class Timer:
    """Wall-clock and process CPU seconds of a ``with`` block."""

    def __enter__(self) -> Timer:
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0


def raw_rate(clf: Classifier, images: torch.Tensor, seconds: float) -> tuple[float, float]:
    """(wall, CPU) images/s of full forward passes (uint8 -> probabilities) at the classifier's batch size."""
    bs = clf.resolve_batch_size(images.shape[2], images.shape[3])
    x = images[torch.arange(bs) % images.shape[0]]
    clf.probabilities(x, count=False)
    done = 0
    with Timer() as t:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            clf.probabilities(x, count=False)
            done += bs
        if clf.device.type == "cuda":
            torch.cuda.synchronize(clf.device)
    return done / t.wall, done / t.cpu


def engine_rate(module: torch.nn.Module, incremental: bool, batch_size: int, images: np.ndarray, labels: np.ndarray,
                pixels: int, regions: np.ndarray | None, de: DEConfig) -> tuple[float, float, int]:
    """(wall queries/s, CPU queries/s, successes) of one PixelAttack call."""
    clf = Classifier(module, batch_size=batch_size, incremental=incremental)
    attack = PixelAttack(pixels=pixels, de=de, batch_size=batch_size, early_stop=False)
    with Timer() as t:
        res = attack(clf, images, Untargeted(labels), regions=regions, seed=0)
    q = float(res.queries.sum())
    return q / t.wall, q / t.cpu, int(res.success.sum())


SPARSE_MODES = ("raw", "clean", "base", "base-full")


def sparse_block(module: torch.nn.Module, name: str, bs: int, sample: Any, args: argparse.Namespace,
                 raw: float) -> list[dict[str, Any]]:
    """The SparseChain rows of one network: each pixel count and region answered the four ways, back to back."""
    rng = np.random.default_rng(1)
    pick = rng.choice(len(sample), args.sparse_attacks, replace=False)
    clean = sample.images[pick].transpose(0, 3, 1, 2).copy()
    clf = Classifier(module, batch_size=bs, incremental=True)  # forced on: "clean" is compared where auto is off
    labels = clf.probabilities(torch.from_numpy(clean), count=False).argmax(1).numpy()
    regions = {"whole": None, "30%": region_30(rng, args.sparse_attacks)}
    engine = clf._incremental_engine()
    assert engine is not None
    out = []
    for k in (int(v) for v in args.sparse_pixels.split(",")):
        for rname, reg in regions.items():
            res = {mode: sparse_chain_rate(clf, mode, clean, labels, k, reg, args.sparse_steps, seed=k)
                   for mode in SPARSE_MODES}
            # modes whose chain left the raw one (accepted another candidate somewhere): "base-full" recomputes a
            # base at the batch of the step's accepted candidates, which rounds differently from a larger batch
            # on this CPU (VGG-16, CNN-8 at batch 1; docs/engine.md), so it can
            differ = [m for m, r in res.items() if (r["accepted"], r["fitness_sum"]) != (
                res["raw"]["accepted"], res["raw"]["fitness_sum"])]
            same = "none" if not differ else ",".join(differ)
            first = res["raw"]
            one = first["one_pixel"] / max(1, first["one_pixel"] + first["two_pixel"])
            row = {"model": name, "pixels": k, "region": rname, "attacks": args.sparse_attacks,
                   "steps": args.sparse_steps, "raw_tuned": raw, "one_pixel_share": one,
                   "accept_share": first["accepted"] / first["queries"], "chains_unlike_raw": same,
                   "cost_share_k": engine.cost_share(3, 32, 32, k, clf.device),
                   "cost_share_2": engine.cost_share(3, 32, 32, 2, clf.device),
                   "cost_share_1": engine.cost_share(3, 32, 32, 1, clf.device),
                   "bytes_per_attack": engine.clean_bytes(3, 32, 32, clf.device)}
            for mode, r in res.items():
                row[mode], row[f"{mode}_cpu"], row[f"{mode}_commit_share"] = r["rate"], r["rate_cpu"], r["commit_share"]
            out.append(row)
            chain_raw = raw
            print(f"  sparse k={k} {rname:5s} ({args.sparse_attacks} attacks x {args.sparse_steps} steps; "
                  f"{100 * one:.0f} % one-pixel, {100 * (1 - one):.0f} % two-pixel differences, "
                  f"{100 * row['accept_share']:.0f} % accepted; chains unlike raw's: {same})\n"
                  f"    q/s wall: raw chain {res['raw']['rate']:.0f} ({res['raw']['rate'] / chain_raw:.2f}x raw), "
                  f"clean {res['clean']['rate']:.0f} ({res['clean']['rate'] / chain_raw:.2f}x), "
                  f"base {res['base']['rate']:.0f} ({res['base']['rate'] / chain_raw:.2f}x; "
                  f"{res['base']['rate'] / res['clean']['rate']:.2f}x clean; commits "
                  f"{100 * res['base']['commit_share']:.0f} % of its time), "
                  f"base-full {res['base-full']['rate']:.0f} ({res['base-full']['rate'] / res['raw']['rate']:.2f}x)\n"
                  f"    CPU time: clean {res['clean']['rate_cpu'] / res['raw']['rate_cpu']:.2f}x raw chain, "
                  f"base {res['base']['rate_cpu'] / res['raw']['rate_cpu']:.2f}x raw chain; "
                  f"estimated cost share of a full pass: {k} px {row['cost_share_k']:.2f}, "
                  f"2 px {row['cost_share_2']:.2f}, 1 px {row['cost_share_1']:.2f}", flush=True)
    return out


SEARCH_FIELDS = ("success", "pixels", "colors", "queries", "generations", "predicted", "confidence",
                 "adv_top5_probs", "fitness_history")
DECISION_FIELDS = ("success", "pixels", "colors", "queries", "generations", "predicted")
#: the regions of the SparseRandomSearch rows: the whole image and a seeded 30 % region (region_30)
SEARCH_REGIONS = ("whole", "30%")
#: the SparseRandomSearch routes timed: (name, follow_points, look_ahead); the first is the path before issue 31
SEARCH_ROUTES = (("clean", False, 1), ("points", True, 1), ("ahead", True, None))


def _bound(row: dict[str, Any], alone: dict[int, float]) -> float:
    """Queries per CPU-second if the look-ahead route cost only its candidates and refreshes at the rate
    they have alone: a leave-one-out candidate or refresh is one changed pixel, a candidate against the point
    two (an attack's first point, k from the clean image, is counted as one of those: a slight overestimate)."""
    passes = sum(row["answered"].values()) + row["refreshes"]
    rate = alone[1] if row["plan"] == "leave-one-out" else alone[2]
    return row["queries"] / passes * rate if passes else float("nan")


def _float_gap(a: Any, b: Any) -> float:
    """The largest absolute difference between two results' float fields (NaN where both are NaN ignored)."""
    gap = 0.0
    for f in ("confidence", "adv_top5_probs", "fitness_history"):
        x, y = np.asarray(getattr(a, f), dtype=np.float64), np.asarray(getattr(b, f), dtype=np.float64)
        both = np.isnan(x) & np.isnan(y)
        gap = max(gap, float(np.nanmax(np.where(both, 0.0, np.abs(x - y)), initial=0.0)))
    return gap


def changed_pixel_rate(module: torch.nn.Module, bs: int, imgs: np.ndarray, changed: int, seconds: float) -> float:
    """Candidates per CPU-second that differ from their base in ``changed`` pixels, answered against held bases
    (``PixelBases``, the incremental pass) in calls of 64 with nothing else around them: what a search's
    candidates would cost without refreshes, accepts or the search's own work."""
    clf = Classifier(module, batch_size=bs)
    bases = PixelBases(clf, torch.from_numpy(imgs.transpose(0, 3, 1, 2).copy()))
    rng = np.random.default_rng(0)
    n, b = imgs.shape[0], 64

    def ask() -> None:
        bases.probabilities(rng.integers(0, n, b), rng.integers(0, imgs.shape[1] * imgs.shape[2], (b, changed)),
                            rng.integers(0, 256, (b, changed, 3)).astype(np.uint8), np.ones((b, changed), bool),
                            count=False)

    ask()  # the bases' activations: computed once, as a search does at its start
    done, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        ask()
        done += b
    return done / (time.process_time() - start)


def search_block(module: torch.nn.Module, name: str, bs: int, sample: Any, args: argparse.Namespace,
                 raw: float, raw_cpu: float) -> list[dict[str, Any]]:
    """The SparseRandomSearch rows of one network: each pixel count and region run on the routes of
    ``--search-routes`` back to back with the same seed (SEARCH_ROUTES): candidates against the clean image one
    at a time (the path before issue 31), against the current points one at a time, and against the points with
    look-ahead (the default). The decisions must be identical to the first route's; the floats may differ in
    their last bits (docs/engine.md). With the look-ahead route alone nothing is compared, only timed."""
    rng = np.random.default_rng(2)
    pick = rng.choice(len(sample), args.search_attacks, replace=False)
    imgs = sample.images[pick]
    clf = Classifier(module, batch_size=bs)
    labels = SparseRandomSearch(pixels=1).clean_predictions(clf, imgs)
    # the 30 % region is drawn even when not run, so the stream (and the region) is the same whatever is asked
    regions = {"whole": None, "30%": region_30(rng, args.search_attacks)}
    regions = {r: regions[r] for r in args.search_regions.split(",")}
    routes = [r for r in SEARCH_ROUTES if r[0] in args.search_routes.split(",")]
    out = []
    # what one candidate against a base costs alone: 1 changed pixel (leave-one-out), 2 (the point plan)
    alone = {c: changed_pixel_rate(module, bs, imgs, c, args.seconds) for c in (1, 2)}
    print(f"  candidates against held bases alone (calls of 64): 1 changed pixel {alone[1] / raw_cpu:.2f}x raw, "
          f"2 changed pixels {alone[2] / raw_cpu:.2f}x raw (per CPU-second)", flush=True)
    followed: list[Evaluation] = []
    original = Evaluation.follow_points

    def spy(self: Evaluation, pixels: int) -> bool:
        followed.append(self)
        return original(self, pixels)

    for k in (int(v) for v in args.search_pixels.split(",")):
        for rname, reg in regions.items():
            res, timers, points = {}, {}, {}
            for route, follow, ahead in routes:
                attack = SparseRandomSearch(pixels=k, max_queries=args.search_queries, batch_size=bs,
                                            follow_points=follow)
                if ahead is not None:
                    attack = dataclasses.replace(attack, look_ahead=ahead)
                followed.clear()
                Evaluation.follow_points = spy  # type: ignore[method-assign]
                try:
                    with Timer() as timers[route]:
                        res[route] = attack(Classifier(module, batch_size=bs), imgs, Untargeted(labels),
                                            regions=reg, seed=0)
                finally:
                    Evaluation.follow_points = original  # type: ignore[method-assign]
                points[route] = followed[0].points if followed else None
            base = res[routes[0][0]]
            differ = {r: [f for f in DECISION_FIELDS if not np.array_equal(getattr(base, f), getattr(res[r], f))]
                      for r in res}
            bits = {r: [f for f in SEARCH_FIELDS if not np.array_equal(getattr(base, f), getattr(res[r], f),
                                                                       equal_nan=True)] for r in res}
            q = {r: float(res[r].queries.sum()) for r in res}
            ap = points["ahead"]
            answered = dict(ap.answered) if ap is not None else {}
            total = max(1, sum(answered.values()))
            row = {"model": name, "pixels": k, "region": rname, "attacks": args.search_attacks,
                   "max_queries": args.search_queries, "raw": raw, "raw_cpu": raw_cpu,
                   "plan": ap.plan if ap is not None else None, "queries": q["ahead"],
                   "successes": int(res["ahead"].success.sum()),
                   "decisions_differing": {r: v for r, v in differ.items() if v},
                   "bits_differing": {r: v for r, v in bits.items() if v},
                   "largest_float_gap": {r: _float_gap(base, res[r]) for r in res},
                   "answered": answered, "refreshes": ap.refreshes if ap is not None else 0,
                   "alone_cpu": alone, "routes": list(res), "compared_with": routes[0][0],
                   "one_pixel_share": answered.get("leave-one-out", 0) / total}
            for r in res:
                row[r] = q[r] / timers[r].wall
                row[r + "_cpu"] = q[r] / timers[r].cpu
            out.append(row)
            print(f"  SparseRandomSearch k={k} {rname:5s} ({args.search_attacks} attacks, {args.search_queries} "
                  f"queries each; plan {row['plan']}; {int(q['ahead'])} queries, {row['successes']} successes; "
                  + (f"decisions against {routes[0][0]} "
                     f"{'identical' if not row['decisions_differing'] else 'DIFFER: ' + str(differ)}; "
                     f"floats identical except {row['bits_differing'] or 'none'}, largest gap "
                     f"{max(row['largest_float_gap'].values()):.1e})\n" if len(res) > 1 else "one route: not compared)\n")
                  + f"    look-ahead candidates against a leave-one-out base (1 changed pixel) "
                  f"{100 * row['one_pixel_share']:.0f} %, against the point {100 * answered.get('point', 0) / total:.0f} %, "
                  f"other {100 * answered.get('other', 0) / total:.0f} % ({total} answered for {int(q['ahead'])} "
                  f"queries); refreshes {row['refreshes']}; bound without the search's own work "
                  f"{_bound(row, alone) / raw_cpu:.2f}x raw\n"
                  f"    q/CPU-s, x raw: " + ", ".join(f"{r} {row[r + '_cpu'] / raw_cpu:.2f}x" for r in res)
                  + " | wall: " + ", ".join(f"{r} {row[r] / raw:.2f}x" for r in res), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--pixels", default="1,3,5")
    ap.add_argument("--images", type=int, default=4, help="sample images attacked per setting")
    ap.add_argument("--population", type=int, default=100)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing window of the raw rate")
    ap.add_argument("--scan-models", default="allconv-cifar10,nin-cifar10",
                    help="networks whose full corner-colour scan of one image is timed ('' for none)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    ap.add_argument("--device", default="cpu", help="where the networks run (on cuda the incremental pass is "
                    "forced on for the 'on' rows; 'auto' leaves it off there until measured)")
    ap.add_argument("--rows", default="de,scan,sparse,search", help="which rows: 'de' (PixelAttack off/on), "
                    "'scan' (corner scans of --scan-models), 'sparse' (SparseChain: raw / clean / base / base-full), "
                    "'search' (SparseRandomSearch: clean image / current points / points with look-ahead)")
    ap.add_argument("--sparse-pixels", default="3,5")
    ap.add_argument("--sparse-attacks", type=int, default=32, help="attacks (sample images) per sparse chain")
    ap.add_argument("--sparse-steps", type=int, default=40, help="steps per sparse chain (one candidate per "
                    "attack per step)")
    ap.add_argument("--search-pixels", default="3,5")
    ap.add_argument("--search-attacks", type=int, default=12, help="attacks (sample images) per SparseRandomSearch row")
    ap.add_argument("--search-queries", type=int, default=800, help="query budget per attack of those rows")
    ap.add_argument("--search-routes", default="clean,points,ahead", help="the routes timed per row, of "
                    "clean, points, ahead (the default route); decisions are compared with the earliest of that order")
    ap.add_argument("--search-regions", default="whole,30%", help="whole, 30%% (a seeded 30 %% region) or both")
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args()
    kinds = set(args.rows.split(","))
    names = args.search_routes.split(",")
    if "ahead" not in names or not set(names) <= {r[0] for r in SEARCH_ROUTES}:
        ap.error(f"--search-routes {args.search_routes!r}: name some of {', '.join(r[0] for r in SEARCH_ROUTES)}, "
                 "'ahead' (the default route, the one the rows report) among them")
    if not set(args.search_regions.split(",")) <= set(SEARCH_REGIONS):
        ap.error(f"--search-regions {args.search_regions!r}: whole, 30% or both")
    if args.threads:
        torch.set_num_threads(args.threads)
    sample = load_cifar10_sample()
    rng = np.random.default_rng(0)
    imgs = sample.images[rng.choice(len(sample), args.images, replace=False)]
    regions = {"whole": None, "30%": region_30(rng, args.images)}
    de = DEConfig(population_size=args.population, max_generations=args.generations)
    rows: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
    sparse_rows: list[dict[str, Any]] = []
    search_rows: list[dict[str, Any]] = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.images} images, population "
          f"{args.population}, {args.generations} generations (+ generation 0), no early stop")
    for name in args.models.split(","):
        module = load(name).to(args.device)
        clf = Classifier(module, incremental=False)
        bs = clf.resolve_batch_size(32, 32)
        clean = torch.from_numpy(imgs.transpose(0, 3, 1, 2).copy())
        labs = clf.probabilities(clean, count=False).argmax(1).numpy()  # attack the clean predictions
        raw, raw_cpu = raw_rate(clf, clean, args.seconds)
        print(f"{name}: raw {raw:.0f} images/s wall, {raw_cpu:.0f} per CPU-second (batch {bs})")
        model_rows = []
        for k in (int(v) for v in args.pixels.split(",") if "de" in kinds):
            for rname, reg in regions.items():
                off, off_cpu, s_off = engine_rate(module, False, bs, imgs, labs, k, reg, de)
                on, on_cpu, s_on = engine_rate(module, True, bs, imgs, labs, k, reg, de)
                row = {"model": name, "pixels": k, "region": rname, "raw": raw, "off": off, "on": on,
                       "raw_cpu": raw_cpu, "off_cpu": off_cpu, "on_cpu": on_cpu, "batch_size": bs,
                       "successes_off": s_off, "successes_on": s_on}
                model_rows.append(row)
                print(f"  k={k} {rname:5s}  wall: off {off:5.0f} q/s ({off / raw:.2f}x raw), on {on:5.0f} q/s "
                      f"({on / raw:.2f}x raw, {on / off:.2f}x off) | CPU time: off {off_cpu / raw_cpu:.2f}x raw, "
                      f"on {on_cpu / raw_cpu:.2f}x raw, {on_cpu / off_cpu:.2f}x off; successes {s_off}/{s_on}")
        if "sparse" in kinds:
            sparse_rows.extend(sparse_block(module, name, bs, sample, args, raw))
        if "search" in kinds:
            search_rows.extend(search_block(module, name, bs, sample, args, raw, raw_cpu))
        # raw again after the engine rows: the pair brackets the drift of the machine during them
        raw_after, raw_cpu_after = raw_rate(clf, clean, args.seconds)
        print(f"{name}: raw again {raw_after:.0f} images/s wall, {raw_cpu_after:.0f} per CPU-second; "
              f"on / raw with the mean of both: " + ", ".join(
                  f"k={r['pixels']} {r['region']} {2 * r['on'] / (raw + raw_after):.2f}x" for r in model_rows))
        for r in model_rows:
            r.update(raw_after=raw_after, raw_cpu_after=raw_cpu_after)
        for r in search_rows:
            if r["model"] == name:
                r.update(raw_after=raw_after, raw_cpu_after=raw_cpu_after)
                print(f"  SparseRandomSearch k={r['pixels']} {r['region']}: / raw with the mean of both, CPU time "
                      f"(wall): " + ", ".join(
                          f"{route} {2 * r[route + '_cpu'] / (raw_cpu + raw_cpu_after):.2f}x "
                          f"({2 * r[route] / (raw + raw_after):.2f}x)" for route in r["routes"])
                      + f"; bound without the search's own work {2 * _bound(r, r['alone_cpu']) / (raw_cpu + raw_cpu_after):.2f}x")
        for r in sparse_rows:
            if r["model"] == name:
                r.update(raw_after=raw_after, raw_cpu_after=raw_cpu_after)
                print(f"  sparse k={r['pixels']} {r['region']}: base / raw with the mean of both "
                      f"{2 * r['base'] / (raw + raw_after):.2f}x")
        rows.extend(model_rows)
        if "scan" in kinds and name in args.scan_models.split(","):
            timers = {}
            for inc in (False, True):
                scan_clf = Classifier(module, batch_size=bs, incremental=inc)
                with Timer() as timers[inc]:
                    vmap = PixelScan(batch_size=bs)(scan_clf, imgs[:1], labs[:1])[0]
            off_t, on_t = timers[False], timers[True]
            scans.append({"model": name, "off_s": off_t.wall, "on_s": on_t.wall, "off_cpu_s": off_t.cpu,
                          "on_cpu_s": on_t.cpu, "queries": int(vmap.queries)})
            print(f"  corner scan of one image ({vmap.queries} queries): off {off_t.wall:.1f} s, on {on_t.wall:.1f} s "
                  f"({off_t.wall / on_t.wall:.2f}x wall); CPU {off_t.cpu:.1f} s vs {on_t.cpu:.1f} s "
                  f"({off_t.cpu / on_t.cpu:.2f}x)")
    if args.save is not None:
        args.save.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "attacks": rows,
                                         "scans": scans, "sparse": sparse_rows, "search": search_rows,
                                         "threads": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
