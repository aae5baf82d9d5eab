"""Why does a 4-px shift lower the clean confidence? The lost strip of content, or the move? (issue 29, item 1)

Usage: python benchmarks/shift_confidence.py [--store results/cifar10-scan-500/store.sqlite]
                                             [--shift 4,4 --shift -4,-4] [--shifted STORE ...]
                                             [--out FILE] [--sheet PNG]

The translation scans (``campaigns/cifar10-scan-500-shift-*.toml``) move each image by s = (dy, dx) with reflect
padding. That does two things at once: the content on the far side (a 4-px strip) leaves the image while a mirror
strip comes in, and the content that stays moves by s. Per image of the unshifted scan store (the ids its
``selection_json`` lists per network) this script computes the network's clean probability of the true class on
three images that separate the two:

* ``A``, the image;
* ``D``, the image with the strip that the shift pushes out replaced by the mirror of the content next to it: the
  same content as the shifted image, at the original position (``place_images(x, s, "in-place")``, the images of
  a campaign with ``images.shift_mode = "in-place"``);
* ``B``, the shifted image (``shift_images(x, s)``), as the translation scan scanned it.

``D - A`` is what losing the strip costs with the object where it was; ``B - D`` is what moving the same content by
s costs (both carry a 4-px mirror strip, on opposite sides). Their sum is ``B - A``, the change the report's
"Where does the rise come from?" table gives. Each is a mean over images in percentage points with a 95 % paired
bootstrap interval (images resampled, seeded), on every image of the store, on those the network still classifies
correctly once shifted, and (``--shifted STORE``, a translation store; its shift is read from its config) on the
images that store selected for the network (scanned, or planned where it is not complete): for a complete store
the n of the report's table, whose ``B - A`` column it then reproduces.
Clean passes only: about a minute on one CPU core.

An image sheet (``--sheet``) shows A, D and B for the first images so the construction can be looked at.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from pixelspace import models
from pixelspace.data.shift import place_images, shift_images
from pixelspace.report import figures as figs
from pixelspace.report import stats
from pixelspace.report.stored import load_store

BATCH = 250


def true_class_probability(module: torch.nn.Module, images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probability of ``labels`` (N,) float64, predicted class (N,)) for uint8 images (N, H, W, 3), fp32."""
    probs = []
    with torch.no_grad():
        for i in range(0, len(images), BATCH):
            x = torch.from_numpy(images[i:i + BATCH]).permute(0, 3, 1, 2).float().div(255)
            probs.append(torch.softmax(module(x.contiguous(memory_format=torch.channels_last)), dim=1).double())
    p = torch.cat(probs).numpy()
    return p[np.arange(len(labels)), labels], p.argmax(axis=1)


def variants(images: np.ndarray, shift: tuple[int, int]) -> dict[str, np.ndarray]:
    """The three images per input image: A (as is), D (strip lost, content in place), B (shifted)."""
    shifted = shift_images(images, shift)
    return {"A": images, "D": place_images(images, shift, "in-place"), "B": shifted}


def _parse_shift(text: str) -> tuple[int, int]:
    """"dy,dx" -> (dy, dx)."""
    dy, dx = (int(v) for v in text.split(","))
    return dy, dx


def _interval(a: np.ndarray, b: np.ndarray) -> str:
    iv = stats.bootstrap_paired_difference(100 * a, 100 * b)
    return f"{iv.value:+6.2f} [{iv.low:+6.2f}, {iv.high:+6.2f}]"


def write_sheet(images: np.ndarray, shifts: list[tuple[int, int]], path: Path, count: int = 6, scale: int = 4) -> None:
    """A PNG: per image one row of A, then D and B for each shift, upscaled ``scale`` times (nearest)."""
    rows = []
    gap = np.full((32 * scale, 2 * scale, 3), 255, np.uint8)
    for x in images[:count]:
        tiles = [x]
        for s in shifts:
            v = variants(x[None], s)
            tiles += [v["D"][0], v["B"][0]]
        big = [cv2.resize(t, (32 * scale, 32 * scale), interpolation=cv2.INTER_NEAREST) for t in tiles]
        rows.append(np.concatenate([c for t in big for c in (t, gap)][:-1], axis=1))
        rows.append(np.full((2 * scale, rows[-1].shape[1], 3), 255, np.uint8))
    sheet = np.concatenate(rows[:-1], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="results/cifar10-scan-500/store.sqlite", help="the unshifted scan store")
    ap.add_argument("--shift", action="append", default=None, help="dy,dx (repeatable; default 4,4 and -4,-4)")
    ap.add_argument("--shifted", action="append", default=[],
                    help="a translation store: its shift, and a row on the images it scanned (repeatable)")
    ap.add_argument("--out", type=Path, default=None, help="also write the printout to this file")
    ap.add_argument("--sheet", type=Path, default=None, help="write an image sheet (A | D, B per shift) here")
    args = ap.parse_args(argv)
    store = load_store(args.store)
    scanned: dict[tuple[int, int], tuple[str, dict[str, list[str]]]] = {}
    for path in args.shifted:
        other = load_store(path)
        s = tuple(json.loads(other.meta["config_json"])["images"]["shift"])
        scanned[(int(s[0]), int(s[1]))] = (path, json.loads(other.meta["selection_json"]))
    shifts = [_parse_shift(s) for s in (args.shift or ["4,4", "-4,-4"])]
    shifts += [s for s in scanned if s not in shifts]
    selection = json.loads(store.meta["selection_json"])
    by_id = {r.image_id: r for r in store.images}
    torch.manual_seed(0)
    lines = [f"store {args.store}; clean probability of the true class, fp32, {torch.get_num_threads()} thread(s)",
             "A image, D strip lost (content in place), B shifted; mean pp with 95 % paired bootstrap interval "
             f"(seed {stats.DEFAULT_SEED}, {stats.DEFAULT_RESAMPLES} resamples)"]
    for shift in shifts:
        dy, dx = shift
        lines += ["", f"## shift ({dy:+d}, {dx:+d})"]
        if shift in scanned:
            lines.append(f"(last row: the images {scanned[shift][0]} selected for the network, scanned or planned)")
        lines += [
                  f"{'network':<17}{'images':<22}{'n':>4}  {'D − A (strip lost)':>24}  {'B − D (move)':>24}  "
                  f"{'B − A (shift)':>24}"]
        for model in sorted(selection):
            ids = sorted(i for i in selection[model] if by_id[i].status == "attacked")  # the report's order
            x = np.stack([figs.decode_png(by_id[i].png) for i in ids])
            labels = np.array([by_id[i].label for i in ids])
            module = models.load(model)
            p = {}
            predicted_b = None
            for name, imgs in variants(x, shift).items():
                p[name], pred = true_class_probability(module, imgs, labels)
                if name == "B":
                    predicted_b = pred
            assert predicted_b is not None
            rows = [("all scanned", np.ones(len(ids), bool)), ("correct once shifted", predicted_b == labels)]
            if shift in scanned:
                in_store = set(scanned[shift][1].get(model, []))
                rows.append(("translation selection", np.array([i in in_store for i in ids])))
            for label, sel in rows:
                a, d, b = p["A"][sel], p["D"][sel], p["B"][sel]
                lines.append(f"{model:<17}{label:<22}{int(sel.sum()):>4}  {_interval(d, a):>24}  "
                             f"{_interval(b, d):>24}  {_interval(b, a):>24}")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.sheet:
        first = next(iter(selection.values()))
        imgs = np.stack([figs.decode_png(by_id[i].png) for i in first[:6]])
        write_sheet(imgs, shifts, args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
