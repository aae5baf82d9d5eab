"""How far two segmenters agree on the shipped CIFAR-10 sample: GrabCut (the shipped masks every campaign uses)
against U²-Netp (the shipped ONNX, the image upscaled 32 -> 320 as ``pixelspace segment --method u2net`` does).

Usage: python benchmarks/segmenter_agreement.py [--store results/cifar10-scan-500/store.sqlite]
                                                [--out benchmarks/results] [--thresholds 0.3,0.7]

Reads the two shipped mask files (``load_cifar10_sample_masks()`` and ``load_cifar10_sample_masks(method="u2net")``)
and the images of a scan store (``images`` rows with status ``attacked``; their ``image_id`` is the sample id), and
checks that the store's ``foreground`` masks are the shipped GrabCut masks. For all 1,000 sample images and for
the store's images it prints:

* the foreground IoU |G & U| / |G | U| per image (1 where both foregrounds are empty): mean, quantiles, a
  histogram in tenths, how many are below 0.5 (with a Wilson interval), and the median per class;
* the foreground areas: medians of both, the paired difference U - G (median with a 95 % percentile bootstrap
  interval over images, seeded; mean; how often U is larger);
* which images each segmenter's masks would drop (the quality guard, 20 pixels), and the same summary on the store's
  images that both keep (those a verdict with U²-Netp masks would use);
* with ``--thresholds``: U²-Netp rerun on the store's images (minutes on a CPU) and the IoU with GrabCut at each
  saliency threshold and with rembg's per-image min-max stretch, to see whether the 0.5 threshold drives the
  disagreement (``--saliency FILE`` caches the rerun maps).

Writes ``OUT/segmenter_agreement.txt`` (the printout), ``OUT/segmenter_agreement_per_image.csv`` (one row per
sample image) and two contact sheets: ``OUT/segmenter_agreement_lowest30.png``, the 30 store images with the
lowest IoU, and ``OUT/segmenter_agreement_lowest30_usable.png``, the 30 lowest among the store images whose masks
both pass the quality guard (those a U²-Netp verdict would keep). Each image appears as the image, the GrabCut
overlay and the U²-Netp overlay (background tinted, foreground outlined in yellow), captioned with the sample index,
class and IoU, lowest first; images tied at the same IoU come in a seeded random order. A section of the .txt from
a line starting ``## By eye`` on (a person's description of the contact sheets) is kept.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np

from pixelspace.campaign.store import Store, decode_mask_png
from pixelspace.data.samples import asset_path, load_cifar10_sample
from pixelspace.report.stats import wilson_interval
from pixelspace.segment import U2Net, load_cifar10_sample_masks, mask_quality, overlay
from pixelspace.segment.masks import SAMPLE_MASK_FILES, SampleMasks

QUANTILES = (0.0, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95, 1.0)
SCALE, GAP, PAD, CAPTION = 4, 2, 8, 14
BOOTSTRAP_SEED, RESAMPLES = 0, 10_000
#: Seed of the order in which images tied at the same IoU enter the contact sheets.
SHEET_SEED = 0
#: The hand-written section of the .txt (what the contact sheet shows, by eye): kept when the numbers are rewritten.
BY_EYE = "## By eye"


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image IoU of two bool mask stacks (N, H, W) -> float64 (N,); 1.0 where both are empty."""
    inter = (a & b).reshape(len(a), -1).sum(1)
    union = (a | b).reshape(len(a), -1).sum(1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def store_images(store: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """The ids of the attacked images of a scan store (in pool order) and the ``foreground`` mask it recorded
    for each, bool (H, W) by image id."""
    with Store.open_readonly(store) as st:
        ids = [str(r[0]) for r in st.query("SELECT image_id FROM images WHERE status = 'attacked' ORDER BY pool_index")]
        rows = st.query("SELECT image_id, png FROM masks WHERE region = 'foreground'")
    return ids, {str(i): decode_mask_png(png) for i, png in rows}


def median_difference(d: np.ndarray) -> tuple[float, float, float]:
    """Median of paired differences (n,) with a 95 % percentile bootstrap interval over images (seeded)."""
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, d.size, size=(RESAMPLES, d.size))
    lo, hi = np.percentile(np.median(d[idx], axis=1), [2.5, 97.5])
    return float(np.median(d)), float(lo), float(hi)


def describe(name: str, values: np.ndarray, gc: np.ndarray, u2: np.ndarray, labels: np.ndarray,
             classes: tuple[str, ...]) -> list[str]:
    """The IoU and area summary of one image set (values: IoU (n,); gc, u2: bool (n, H, W))."""
    n = values.size
    lines = [f"## {name}: {n} images", ""]
    qs = np.quantile(values, QUANTILES)
    lines.append(f"foreground IoU: mean {values.mean():.3f}, median {np.median(values):.3f}")
    lines.append("quantiles: " + ", ".join(f"q{int(q * 100):02d} {v:.3f}" for q, v in zip(QUANTILES, qs, strict=True)))
    counts, edges = np.histogram(values, bins=np.linspace(0, 1, 11))
    lines.append("histogram (IoU in [a, b), last bin [0.9, 1.0]):")
    lines += [f"  [{a:.1f}, {b:.1f}{']' if k == 9 else ')'}: {c:4d}  {'#' * int(round(60 * c / n))}"
              for k, (a, b, c) in enumerate(zip(edges[:-1], edges[1:], counts, strict=True))]
    low = int((values < 0.5).sum())
    wl, wh = wilson_interval(low, n)
    lines.append(f"IoU < 0.5: {low} of {n} = {low / n:.1%} (Wilson 95 % [{wl:.1%}, {wh:.1%}]); "
                 f"IoU < 0.25: {int((values < 0.25).sum())}; IoU >= 0.75: {int((values >= 0.75).sum())}")
    per_class = [f"{classes[c]} {np.median(values[labels == c]):.2f} (n={int((labels == c).sum())})"
                 for c in range(len(classes)) if (labels == c).any()]
    lines.append("median IoU per class: " + ", ".join(per_class))
    a_gc = gc.reshape(n, -1).sum(1)
    a_u2 = u2.reshape(n, -1).sum(1)
    d = (a_u2 - a_gc).astype(np.float64)
    med, lo, hi = median_difference(d)
    lines.append(f"foreground area (pixels of 1,024): GrabCut median {np.median(a_gc):.0f} (mean {a_gc.mean():.1f}), "
                 f"U²-Netp median {np.median(a_u2):.0f} (mean {a_u2.mean():.1f})")
    lines.append(f"paired U²-Netp - GrabCut: median {med:+.1f} px [{lo:+.1f}, {hi:+.1f}] (95 % bootstrap over images, "
                 f"seed {BOOTSTRAP_SEED}, {RESAMPLES} resamples), mean {d.mean():+.1f} px; U²-Netp larger on "
                 f"{int((d > 0).sum())}, smaller on {int((d < 0).sum())}, equal on {int((d == 0).sum())}")
    inside_gc = (gc & u2).reshape(n, -1).sum(1) / np.maximum(a_u2, 1)
    inside_u2 = (gc & u2).reshape(n, -1).sum(1) / np.maximum(a_gc, 1)
    lines.append(f"share of U²-Netp's foreground inside GrabCut's: median {np.median(inside_gc[a_u2 > 0]):.2f}; "
                 f"share of GrabCut's inside U²-Netp's: median {np.median(inside_u2[a_gc > 0]):.2f}")
    lines.append("")
    return lines


def quality_lines(name: str, gc: SampleMasks, u2: SampleMasks, idx: np.ndarray) -> list[str]:
    """Which images of ``idx`` each segmenter's masks would drop (the quality guard)."""
    qg, qu = gc.quality.flagged[idx], u2.quality.flagged[idx]
    fg0 = int((u2.foreground[idx].reshape(idx.size, -1).sum(1) == 0).sum())
    reasons = [u2.quality.reasons[i] for i in idx if u2.quality.flagged[i]]
    small_bg = sum("background" in r for r in reasons)
    return [f"quality guard ({name}, 20 pixels each side): GrabCut drops {int(qg.sum())}, U²-Netp drops "
            f"{int(qu.sum())} ({fg0} with an empty foreground, {small_bg} with too small a background), "
            f"both {int((qg & qu).sum())}"]


def write_per_image(path: Path, ids: tuple[str, ...], labels: np.ndarray, classes: tuple[str, ...],
                    in_store: set[int], gc: SampleMasks, u2: SampleMasks, values: np.ndarray) -> Path:
    """One CSV row per sample image: both areas, the IoU and both quality-guard reasons."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "id", "class", "in_store", "grabcut_px", "u2netp_px", "iou", "grabcut_flag", "u2netp_flag"])
        for k, image_id in enumerate(ids):
            w.writerow([k, image_id, classes[labels[k]], int(k in in_store), int(gc.foreground[k].sum()),
                        int(u2.foreground[k].sum()), f"{values[k]:.4f}", gc.quality.reasons[k], u2.quality.reasons[k]])
    return path


def contact_sheet(images: np.ndarray, gc: np.ndarray, u2: np.ndarray, captions: list[str], *, title: str,
                  columns: int = 5) -> np.ndarray:
    """Triplets (image | GrabCut overlay | U²-Netp overlay) on a white grid, captioned, row by row."""
    big = images.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    ov_g, ov_u = overlay(images, gc, scale=SCALE), overlay(images, u2, scale=SCALE)
    h, w = big.shape[1:3]
    gap = np.full((h, GAP, 3), 255, np.uint8)
    tiles = [np.concatenate([big[k], gap, ov_g[k], gap, ov_u[k]], axis=1) for k in range(len(images))]
    th, tw = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    head = 2 * CAPTION
    sheet = np.full((head + PAD + rows * (th + CAPTION + PAD), PAD + columns * (tw + PAD), 3), 255, np.uint8)
    cv2.putText(sheet, title, (PAD, CAPTION + 2), cv2.FONT_HERSHEY_PLAIN, 1.0, (0, 0, 0), 1, cv2.LINE_AA)
    for k, t in enumerate(tiles):
        r, c = divmod(k, columns)
        y, x = head + PAD + r * (th + CAPTION + PAD), PAD + c * (tw + PAD)
        cv2.putText(sheet, captions[k], (x, y + CAPTION - 3), cv2.FONT_HERSHEY_PLAIN, 0.9, (0, 0, 0), 1, cv2.LINE_AA)
        sheet[y + CAPTION : y + CAPTION + th, x : x + tw] = t
    return sheet


def variant_line(name: str, m: np.ndarray, gc: np.ndarray) -> str:
    """IoU with GrabCut, guard drops and areas of one U²-Netp decision rule (m, gc: bool (n, H, W))."""
    v = iou(gc, m)
    n = len(m)
    area = m.reshape(n, -1).sum(1)
    inside = (gc & m).reshape(n, -1).sum(1) / np.maximum(area, 1)
    return (f"{name}: IoU with GrabCut mean {v.mean():.3f}, median {np.median(v):.3f}, < 0.5 on {int((v < 0.5).sum())}; "
            f"guard drops {int(mask_quality(m).flagged.sum())} ({int((area == 0).sum())} empty); area median "
            f"{np.median(area):.0f} px; share inside GrabCut's median {np.median(inside[area > 0]):.2f}")


def threshold_lines(args: argparse.Namespace, images: np.ndarray, gc: np.ndarray, u2: SampleMasks,
                    idx: np.ndarray, ids: list[str]) -> list[str]:
    """U²-Netp's saliency rerun on the store's images (or read from ``--saliency``) under other decision rules."""
    s = u2.settings
    cache: Path | None = args.saliency
    if cache is not None and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            assert [str(i) for i in z["ids"]] == ids, f"{cache} holds other images"
            sal = z["saliency"]
    else:
        sal = U2Net(size=int(s["size"])).saliency(images)  # type: ignore[call-overload]
        if cache is not None:
            np.savez_compressed(cache, saliency=sal, ids=np.array(ids))
    shipped = u2.foreground[idx]
    lines = [f"## Other U²-Netp decision rules on the store's images (saliency rerun; >= {s['threshold']} equals the "
             f"shipped masks: {np.array_equal(sal >= float(s['threshold']), shipped)})"]  # type: ignore[arg-type]
    peak = sal.reshape(len(sal), -1).max(1)
    lines.append("per-image maximum saliency: " + ", ".join(
        f"q{int(q * 100):02d} {v:.3f}" for q, v in zip(QUANTILES, np.quantile(peak, QUANTILES), strict=True)))
    mid = ((sal > 0.1) & (sal < 0.5)).reshape(len(sal), -1).mean(1)
    lines.append(f"pixels with saliency in (0.1, 0.5) per image: median {np.median(mid):.1%}, mean {mid.mean():.1%}")
    for t in sorted({float(v) for v in args.thresholds.split(",")} | {float(s["threshold"])}):  # type: ignore[arg-type]
        lines.append(variant_line(f"saliency >= {t:.2f}", sal >= t, gc))
    lo = sal.reshape(len(sal), -1).min(1)[:, None, None]
    stretched = (sal - lo) / np.maximum(peak[:, None, None] - lo, 1e-6)
    lines.append(variant_line("min-max stretched per image (as rembg) >= 0.5", stretched >= 0.5, gc))
    lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("results/cifar10-scan-500/store.sqlite"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--thresholds", default="", help="comma-separated U²-Netp saliency thresholds to rerun")
    ap.add_argument("--saliency", type=Path, default=None,
                    help="npz cache of the rerun saliency maps (read if present, else written)")
    ap.add_argument("--lowest", type=int, default=30)
    args = ap.parse_args()

    sample = load_cifar10_sample()
    gc, u2 = load_cifar10_sample_masks(), load_cifar10_sample_masks(method="u2net")
    assert gc.ids == sample.ids == u2.ids
    position = {image_id: i for i, image_id in enumerate(sample.ids)}
    ids, stored = store_images(args.store)
    idx = np.array([position[i] for i in ids], dtype=np.int64)
    same = sum(np.array_equal(stored[i], gc.foreground[k]) for i, k in zip(ids, idx, strict=True))

    out: list[str] = ["# Segmenter agreement: shipped GrabCut vs shipped U²-Netp on the CIFAR-10 sample", ""]
    out.append("command: python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    for m in ("grabcut", "u2net"):
        f = asset_path(SAMPLE_MASK_FILES[m])
        out.append(f"{m}: {f.name} sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}")
    s = u2.settings
    out.append(f"U²-Netp: {s['weights']} sha256 {s['weights_sha256']}, input {s['size']}x{s['size']}, 32 -> {s['size']} "
               f"with {s['upscale']}, saliency back to 32x32 with {s['downscale']}, foreground = saliency >= "
               f"{s['threshold']} (onnxruntime {s['onnxruntime']}, OpenCV {s['opencv']})")
    out.append("GrabCut: " + ", ".join(f"{k} {v}" for k, v in gc.settings.items() if k != "method"))
    out.append(f"store: {args.store}: {len(ids)} attacked images; its foreground masks equal the shipped GrabCut "
               f"masks on {same} of {len(ids)}")
    out.append("")

    all_iou = iou(gc.foreground, u2.foreground)
    kept = idx[~u2.quality.flagged[idx] & ~gc.quality.flagged[idx]]
    sets = (("all sample images", np.arange(len(sample))), (f"the store's images ({args.store.parent.name})", idx),
            ("the store's images both masks keep (a U²-Netp verdict's images)", kept))
    for name, sel in sets:
        out += describe(name, all_iou[sel], gc.foreground[sel], u2.foreground[sel], sample.labels[sel], sample.classes)
        out += quality_lines(name, gc, u2, sel)
        out.append("")
    csv_path = write_per_image(args.out / "segmenter_agreement_per_image.csv", sample.ids, sample.labels,
                               sample.classes, set(idx.tolist()), gc, u2, all_iou)
    out.append(f"per image (sample index, id, class, in the store, areas, IoU, guard flags): {csv_path.name}")
    out.append("")

    if args.thresholds:
        out += threshold_lines(args, sample.images[idx], gc.foreground[idx], u2, idx, [sample.ids[k] for k in idx])

    # ties at the bottom (IoU 0: an empty U²-Netp foreground) in a seeded random order, not by class
    tie = np.random.default_rng(SHEET_SEED).permutation(len(idx))
    usable = ~u2.quality.flagged[idx] & ~gc.quality.flagged[idx]
    sheets = (("segmenter_agreement_lowest30.png", "all store images", np.ones(len(idx), bool)),
              ("segmenter_agreement_lowest30_usable.png", "store images whose masks both pass the guard", usable))
    for fname, what, keep in sheets:
        pos = np.flatnonzero(keep)
        order = idx[pos[np.lexsort((tie[pos], all_iou[idx[pos]]))]][: args.lowest]
        captions = [f"#{k} {sample.classes[sample.labels[k]]} IoU {all_iou[k]:.2f}" for k in order]
        sheet = contact_sheet(sample.images[order], gc.foreground[order], u2.foreground[order], captions,
                              title=f"{len(order)} lowest IoU, {what} ({int(keep.sum())}); each: image | GrabCut "
                                    f"(shipped) | U2-Netp (>= 0.5); lowest first")
        png = args.out / fname
        png.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        ties = int((all_iou[idx[pos]] == 0).sum())
        out.append(f"## {png.name}: the {len(order)} lowest-IoU of {what} ({int(keep.sum())}; {ties} of them at "
                   f"IoU 0, ties drawn in a random order, seed {SHEET_SEED}), lowest first")
        out += [f"  #{k} {sample.ids[k]}: IoU {all_iou[k]:.3f}, GrabCut {int(gc.foreground[k].sum())} px, "
                f"U²-Netp {int(u2.foreground[k].sum())} px" for k in order]
        out.append("")
    text = "\n".join(out) + "\n"
    print(text, end="")
    txt = args.out / "segmenter_agreement.txt"
    kept = txt.read_text().partition(BY_EYE)[2] if txt.is_file() else ""
    txt.write_text(text + ("\n" + BY_EYE + kept if kept else ""))


if __name__ == "__main__":
    main()
