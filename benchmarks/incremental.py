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
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pixelspace import PixelAttack, Untargeted
from pixelspace.attack.scan import PixelScan
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier
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
    ap.add_argument("--save", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sample = load_cifar10_sample()
    rng = np.random.default_rng(0)
    imgs = sample.images[rng.choice(len(sample), args.images, replace=False)]
    regions = {"whole": None, "30%": region_30(rng, args.images)}
    de = DEConfig(population_size=args.population, max_generations=args.generations)
    rows: list[dict[str, Any]] = []
    scans: list[dict[str, Any]] = []
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
        for k in (int(v) for v in args.pixels.split(",")):
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
        # raw again after the engine rows: the pair brackets the drift of the machine during them
        raw_after, raw_cpu_after = raw_rate(clf, clean, args.seconds)
        print(f"{name}: raw again {raw_after:.0f} images/s wall, {raw_cpu_after:.0f} per CPU-second; "
              f"on / raw with the mean of both: " + ", ".join(
                  f"k={r['pixels']} {r['region']} {2 * r['on'] / (raw + raw_after):.2f}x" for r in model_rows))
        for r in model_rows:
            r.update(raw_after=raw_after, raw_cpu_after=raw_cpu_after)
        rows.extend(model_rows)
        if name in args.scan_models.split(","):
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
                                         "scans": scans, "threads": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
