"""The paper's figures (1, 3, 4/5, 6) drawn from stored rows with matplotlib's object API (no pyplot state).

Each function returns a :class:`matplotlib.figure.Figure`, or None when its data are absent;
:func:`figure_png` turns a figure into PNG bytes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import cv2
import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from matplotlib.ticker import MaxNLocator, MultipleLocator
from matplotlib.transforms import Bbox

from pixelspace.report import metrics
from pixelspace.report.metrics import AttackRow

REGION_COLOURS = {"whole": "#1f77b4", "foreground": "#2ca02c", "background": "#d62728", "random": "#7f7f7f",
                  "centre": "#9467bd", "border": "#8c564b"}
SAME_CLASS = "#1f4fd6"  # blue: the foreground and background attacks reach the same class
OTHER_CLASS = "#d62728"  # red: they do not


LAYOUT_DECIMALS = 9  # figure_png rounds laid-out positions to 1e-9 of the (sub)figure: far below a pixel


def _subfigures(fig: Figure | SubFigure) -> list[SubFigure]:
    return [s for sub in fig.subfigs for s in (sub, *_subfigures(sub))]


def freeze_layout(fig: Figure, dpi: int) -> None:
    """Lay ``fig`` out once at ``dpi``, round every subfigure's and axes' position to ``LAYOUT_DECIMALS`` decimals
    (fractions of the parent), and turn the layout engine off; a figure without one is left as it is.

    Constrained layout (kiwisolver) orders the terms of its equations by the memory addresses of its variables, so
    its positions differ in the last bits from one process to the next; drawn at an origin that moved by 1e-13 px,
    an anti-aliased line changes by one intensity unit here and there, and the PNG with it. Rounded, the positions
    are the same in every process, and so are the PNG bytes.
    """
    if fig.get_layout_engine() is None:
        return
    saved_dpi = fig.dpi
    fig.set_dpi(dpi)  # the layout savefig would compute (text extents are measured at the output dpi)
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    for sub in _subfigures(fig):
        sub.bbox_relative.set_points(np.round(sub.bbox_relative.get_points(), LAYOUT_DECIMALS))
    for ax in fig.get_axes():
        ax.set_position(Bbox(np.round(ax.get_position(original=True).get_points(), LAYOUT_DECIMALS)))
        ax.set_in_layout(True)  # set_position takes the axes out of the tight bounding box
    fig.set_dpi(saved_dpi)


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure rendered as PNG bytes, the same bytes in every process (:func:`freeze_layout`)."""
    freeze_layout(fig, dpi)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", bbox_inches="tight", pad_inches=0.06)  # never clip a title
    return buf.getvalue()


def decode_png(png: bytes) -> np.ndarray:
    """PNG bytes -> uint8 RGB (H, W, 3)."""
    arr = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("stored image is not a readable PNG")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr[:, :, ::-1])


def apply_perturbation(image: np.ndarray, record: Mapping[str, object]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The adversarial image: ``image`` (H, W, 3) uint8 with the record's pixels set to its colours.

    Returns the image and the (row, col) positions changed (slots of -1, restored by restrict mode, skipped).
    """
    out = image.copy()
    changed = []
    pixels = record.get("pixels") or []
    colors = record.get("colors") or []
    for (r, c), rgb in zip(pixels, colors, strict=False):  # type: ignore[call-overload]
        r, c = int(r), int(c)
        if 0 <= r < out.shape[0] and 0 <= c < out.shape[1]:
            out[r, c] = np.asarray(rgb, dtype=np.uint8)
            changed.append((r, c))
    return out, changed


def _show(ax: Axes, image: np.ndarray) -> None:
    h, w = image.shape[:2]
    scale = max(1, 256 // max(h, w))
    big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)  # nearest neighbour: pixels stay square
    ax.imshow(big, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    ax.set_xticks([])
    ax.set_yticks([])


def _circle(ax: Axes, positions: Sequence[tuple[int, int]], size: int) -> None:
    radius = max(1.6, size / 16)
    for r, c in positions:
        ax.add_patch(Circle((c, r), radius, fill=False, edgecolor="white", linewidth=3.0))
        ax.add_patch(Circle((c, r), radius, fill=False, edgecolor="red", linewidth=1.6))


def pick_examples(rows: Sequence[AttackRow], model: str, limit: int) -> list[tuple[AttackRow, AttackRow]]:
    """Fig. 1 candidates for ``model``: (foreground, background) 1-pixel untargeted rows of the same image,
    images where both attacks succeeded first, then those where one did."""
    fg = {r.image_id: r for r in metrics.select(rows, model=model, region="foreground", pixels=1, mode="untargeted")}
    bg = {r.image_id: r for r in metrics.select(rows, model=model, region="background", pixels=1, mode="untargeted")}
    pairs = [(fg[i], bg[i]) for i in sorted(set(fg) & set(bg))]
    both = [p for p in pairs if metrics.attack_succeeded(p[0]) and metrics.attack_succeeded(p[1])]
    one = [p for p in pairs if metrics.attack_succeeded(p[0]) != metrics.attack_succeeded(p[1])]
    return (both + one)[:limit]


def label_colours(fg: AttackRow, bg: AttackRow) -> tuple[str, str]:
    """Fig. 1 label colours of the foreground and background attacks: blue for both when both succeed and reach
    the same class, red for a success otherwise, black for a failed attack."""
    ok = (metrics.attack_succeeded(fg), metrics.attack_succeeded(bg))
    same = all(ok) and fg.predicted == bg.predicted
    return tuple(("black" if not s else SAME_CLASS if same else OTHER_CLASS) for s in ok)  # type: ignore[return-value]


def figure1_examples(
    examples: Sequence[tuple[str, np.ndarray, AttackRow, AttackRow, float | None, int | None]],
    class_names: Sequence[str],
) -> Figure | None:
    """Fig. 1: per example a row of clean / foreground-attacked / background-attacked images.

    Args:
        examples: (model, clean uint8 (H, W, 3), foreground row, background row, clean confidence or None,
            dataset label or None). The clean panel names the clean prediction (the class the attacks move away
            from) and adds the dataset label when the two differ.
        class_names: names indexed by class.
    Labels are blue when both attacks reach the same class, red otherwise; a failed attack is labelled
    in black. The modified pixel is circled in red.
    """
    if not examples:
        return None
    n = len(examples)
    fig = Figure(figsize=(7.2, 2.55 * n), layout="constrained")
    axes = fig.subplots(n, 3, squeeze=False)

    def name(c: int | None) -> str:
        return "?" if c is None else (class_names[c] if 0 <= c < len(class_names) else str(c))

    for i, (model, clean, fg, bg, clean_conf, true_label) in enumerate(examples):
        colours = label_colours(fg, bg)
        _show(axes[i, 0], clean)
        conf = clean_conf if clean_conf is not None else float(fg.record.get("clean_probability", float("nan")))
        text = f"{name(fg.clean_class)} ({conf:.0%})"
        if true_label is not None and fg.clean_class is not None and true_label != fg.clean_class:
            text += f"\nlabel: {name(true_label)}"
        axes[i, 0].set_xlabel(text, color="black", fontsize=10)
        axes[i, 0].set_ylabel(model, fontsize=10)
        for j, (row, colour) in enumerate(zip((fg, bg), colours, strict=True), start=1):
            adv, changed = apply_perturbation(clean, row.record)
            _show(axes[i, j], adv)
            _circle(axes[i, j], changed, max(clean.shape[:2]))
            text = f"{name(row.predicted)} ({float(row.record.get('confidence', float('nan'))):.0%})"
            axes[i, j].set_xlabel(text if metrics.attack_succeeded(row) else f"not fooled: {text}", color=colour,
                                  fontsize=10)
    for j, head in enumerate(("clean", "foreground attacked", "background attacked")):
        axes[0, j].set_title(head, fontsize=11, fontweight="bold")
    return fig


def figure3_targets_reached(rows: Sequence[AttackRow], n_classes: int) -> Figure | None:
    """Fig. 3: share of images whose targeted attacks reach 0 … n_classes−1 target classes.

    One panel per network (rows) × pixels (columns); bars grouped by region.
    """
    tgt = [r for r in rows if r.mode == "targeted"]
    if not tgt:
        return None
    models = sorted({r.model for r in tgt})
    pixels = sorted({r.pixels for r in tgt})
    fig = Figure(figsize=(3.8 * len(pixels) + 0.6, 2.6 * len(models) + 0.4), layout="constrained")
    axes = fig.subplots(len(models), len(pixels), squeeze=False, sharey=True)
    x = np.arange(n_classes)
    for i, model in enumerate(models):
        for j, k in enumerate(pixels):
            ax = axes[i, j]
            regions = metrics.region_order(r.region for r in tgt if r.model == model and r.pixels == k)
            dist = {region: metrics.targets_reached_distribution(
                metrics.select(tgt, model=model, region=region, pixels=k), n_classes) for region in regions}
            _targets_reached_bars(ax, dist, regions, first_column=j == 0, last_row=i == len(models) - 1,
                                  legend=i == 0 and j == 0)
            ax.set_xticks(x)
            ax.set_title(f"{model}, {k} pixel{'s' if k > 1 else ''}", fontsize=10)
    return fig


def _targets_reached_bars(ax: Axes, dist: Mapping[str, np.ndarray], regions: Sequence[str], *, first_column: bool,
                          last_row: bool, legend: bool) -> None:
    """One Fig. 3 panel: per region (in ``regions`` order) the % of images per number of targets reached."""
    width = 0.8 / max(1, len(regions))
    for g, region in enumerate(regions):
        counts = np.asarray(dist[region])
        x = np.arange(counts.size)
        ax.bar(x + (g - (len(regions) - 1) / 2) * width, 100 * counts / max(1, counts.sum()), width=width,
               label=region, color=REGION_COLOURS.get(region))
        ax.set_xticks(x)
    if first_column:
        ax.set_ylabel("% of images")
    if last_row:
        ax.set_xlabel("target classes reached")
    if legend:
        ax.legend(fontsize=8)


def figure_class_pairs(rows: Sequence[AttackRow], class_names: Sequence[str], mode: str) -> Figure | None:
    """Fig. 4 (``mode="untargeted"``: clean → adversarial class) or Fig. 5 (``"targeted"``: clean → target):
    heat maps of successful 1-pixel attacks, networks in rows, regions in columns."""
    one = [r for r in rows if r.mode == mode and r.pixels == 1]
    n = len(class_names)
    if not one or n > 20:
        return None
    counts = {model: {g: metrics.class_pair_counts(metrics.select(one, model=model, region=g), n, mode)
                      for g in metrics.region_order(r.region for r in one)}
              for model in sorted({r.model for r in one})}
    return figure_pair_heatmaps(counts, "adversarial class" if mode == "untargeted" else "target class")


def figure_pair_heatmaps(counts: Mapping[str, Mapping[str, np.ndarray]], xlabel: str, *,
                         unit: str = "successful attacks", title: str | None = None) -> Figure | None:
    """Heat maps of clean class (rows) × another class (columns) counts: networks in rows, regions in columns
    (the regions of every network, in the paper's order; a network without a region leaves that panel empty).

    Args:
        counts: network -> region -> int (K, K) counts, rows = clean class; the diagonal is drawn grey.
        xlabel: what the columns are, e.g. 'target class'; unit: the colour bar's label; title: a suptitle.
    """
    models = [m for m in counts if counts[m]]
    if not models:
        return None
    regions = metrics.region_order(g for m in models for g in counts[m])
    n = next(iter(counts[models[0]].values())).shape[0]
    fig = Figure(figsize=(3.5 * len(regions) + 0.8, 3.3 * len(models) + 0.3 + (0.3 if title else 0.0)),
                 layout="constrained")
    axes = fig.subplots(len(models), len(regions), squeeze=False)
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#e4e4e4")
    for i, model in enumerate(models):
        top = max(1, *(int(m.max()) for m in counts[model].values()))  # one colour scale per network
        image = None
        for j, region in enumerate(regions):
            ax = axes[i, j]
            m = counts[model].get(region)
            if m is None:
                ax.set_axis_off()
                continue
            shown = np.ma.masked_array(m.astype(np.float64), mask=np.eye(n, dtype=bool))  # diagonal: not a pair
            image = ax.imshow(shown, cmap=cmap, vmin=0, vmax=top, interpolation="nearest")
            for (a, b), v in np.ndenumerate(m):
                if v:
                    ax.text(b, a, str(v), ha="center", va="center", fontsize=6.5,
                            color="white" if v > top / 2 else "black")
            ax.set_xticks(range(n), labels=[str(c) for c in range(n)] if i == len(models) - 1 else [])
            ax.set_yticks(range(n), labels=[str(c) for c in range(n)] if j == 0 else [])
            ax.tick_params(labelsize=7)
            ax.set_title(f"{model}: {region} ({int(m.sum())})", fontsize=10)
            if j == 0:
                ax.set_ylabel("clean class")
            if i == len(models) - 1:
                ax.set_xlabel(xlabel)
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes[i, :]), shrink=0.85, label=unit)
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def figure_targets_reached_panels(panels: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]]) -> Figure | None:
    """Fig. 3 for several pixel counts or searches: share of images whose targets reached number 0 … K−1, one
    panel per network (rows) × column (e.g. '3 px, sparse random search, n = 100'), bars grouped by region.

    Args:
        panels: network -> column title -> region -> int (K,) image counts per number of targets reached.
    """
    models = [m for m in panels if panels[m]]
    if not models:
        return None
    columns = list(dict.fromkeys(c for m in models for c in panels[m]))
    fig = Figure(figsize=(4.0 * len(columns) + 0.6, 2.7 * len(models) + 0.4), layout="constrained")
    axes = fig.subplots(len(models), len(columns), squeeze=False, sharey=True)
    for i, model in enumerate(models):
        for j, column in enumerate(columns):
            ax = axes[i, j]
            dist = panels[model].get(column)
            if not dist:
                ax.set_axis_off()
                continue
            _targets_reached_bars(ax, dist, metrics.region_order(dist), first_column=j == 0,
                                  last_row=i == len(models) - 1, legend=i == 0 and j == 0)
            ax.set_title(f"{model}\n{column}", fontsize=9)
    return fig


def _curve_style(curve: np.ndarray, size: float) -> dict[str, object]:
    """Plot options that keep a curve visible: a one-point curve (a success at generation 0) gets a marker."""
    return {"marker": "o", "markersize": size} if len(curve) == 1 else {}


def figure6_fitness(rows: Sequence[AttackRow], image_ids: Sequence[str]) -> Figure | None:
    """Fig. 6: best fitness per generation of 1-pixel untargeted attacks on ``image_ids``.

    Networks in rows; one column per region (grey: each image; red dotted: the mean, each curve carried
    forward at its last value after an early stop) and a last column overlaying the regions' means. A curve of
    one generation (a success at generation 0) is drawn as a marker, and a panel whose curves are all such
    points says so.
    """
    ids = set(image_ids)
    rel = [r for r in rows if r.mode == "untargeted" and r.pixels == 1 and r.image_id in ids
           and r.record.get("fitness_history")]
    if not rel:
        return None
    models = sorted({r.model for r in rel})
    regions = metrics.region_order(r.region for r in rel)
    fig = Figure(figsize=(3.0 * (len(regions) + 1) + 0.4, 2.5 * len(models) + 0.3), layout="constrained")
    axes = fig.subplots(len(models), len(regions) + 1, squeeze=False, sharex=True, sharey=True)
    for i, model in enumerate(models):
        means: dict[str, np.ndarray] = {}
        for j, region in enumerate(regions):
            ax = axes[i, j]
            curves = metrics.fitness_curves(metrics.select(rel, model=model, region=region))
            for c in curves:
                ax.plot(np.arange(len(c)), c, color="0.6", linewidth=0.9, **_curve_style(c, 3))
            if curves:
                means[region] = metrics.mean_curve(curves)
                ax.plot(np.arange(len(means[region])), means[region], color="red", linestyle=":", linewidth=2.2,
                        **_curve_style(means[region], 6))
            if curves and max(len(c) for c in curves) == 1:
                ax.text(0.5, 0.95, "every attack succeeded at generation 0:\none point each", transform=ax.transAxes,
                        ha="center", va="top", fontsize=7)
            elif not curves:
                ax.text(0.5, 0.5, "no attack here recorded its fitness", transform=ax.transAxes, ha="center",
                        va="center", fontsize=7)
            ax.set_title(f"{model}: {region} (n={len(curves)})", fontsize=9)
            if j == 0:
                ax.set_ylabel("best fitness (p of clean class)", fontsize=8)
            if i == len(models) - 1:
                ax.set_xlabel("generation")
        ax = axes[i, len(regions)]
        for region, mc in means.items():
            ax.plot(np.arange(len(mc)), mc, color=REGION_COLOURS.get(region), linewidth=1.8, label=region,
                    **_curve_style(mc, 5))
        ax.set_title(f"{model}: means", fontsize=9)
        if means:
            ax.legend(fontsize=7)
        if i == len(models) - 1:
            ax.set_xlabel("generation")
    # shared axes: whole generations from 0 (at least 0–1, so one-point panels get an axis, not ±0.04 around
    # their point) and the probability's full range
    last = max((len(h) - 1 for r in rel for h in [r.record.get("fitness_history") or [0]]), default=0)
    axes[0, 0].set_xlim(-0.5, max(1, last) + 0.5)
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylim(-0.03, 1.03)
    return fig


def side_by_side(
    clean: np.ndarray,
    adversarial: np.ndarray,
    positions: Sequence[tuple[int, int]],
    clean_title: str,
    adversarial_title: str,
    region: np.ndarray | None = None,
) -> Figure:
    """Clean and adversarial uint8 images (H, W, 3) side by side, the changed pixels circled; with a region,
    a third panel shows it tinted."""
    panels = 3 if region is not None else 2
    fig = Figure(figsize=(3.2 * panels, 3.6), layout="constrained")
    axes = fig.subplots(1, panels)
    _show(axes[0], clean)
    axes[0].set_title(clean_title, fontsize=10)
    _show(axes[1], adversarial)
    _circle(axes[1], positions, max(clean.shape[:2]))
    axes[1].set_title(adversarial_title, fontsize=10)
    if region is not None:
        tint = clean.astype(np.float32)
        tint[~region] = 0.35 * tint[~region] + 0.65 * np.array([40, 40, 40])
        _show(axes[2], tint.astype(np.uint8))
        axes[2].contour(region.astype(float), levels=[0.5], colors="yellow", linewidths=1.5)
        axes[2].set_title(f"region ({int(region.sum())} px)", fontsize=10)
    return fig


def vulnerability_figure(
    image: np.ndarray,
    min_probability: np.ndarray,
    flips: np.ndarray,
    title: str,
    foreground: np.ndarray | None = None,
) -> Figure:
    """An image (H, W, 3) beside its vulnerability map: the lowest clean-class probability reachable at each
    pixel (dark = vulnerable), flipping pixels marked with dots, the foreground outline drawn over both."""
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax_img, ax_map = fig.subplots(1, 2)
    _show(ax_img, image)
    ax_img.set_title(title, fontsize=10)
    im = ax_map.imshow(min_probability, cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
    ys, xs = np.nonzero(flips)
    ax_map.scatter(xs, ys, s=6, c="cyan", marker="o", linewidths=0)
    ax_map.set_xticks([])
    ax_map.set_yticks([])
    ax_map.set_title(f"lowest p(clean class); {int(flips.sum())} flipping px (cyan)", fontsize=10)
    if foreground is not None:
        for ax in (ax_img, ax_map):
            ax.contour(foreground.astype(float), levels=[0.5], colors="yellow", linewidths=1.2)
    fig.colorbar(im, ax=ax_map, fraction=0.046, pad=0.04)
    return fig


def vulnerability_grid(
    entries: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]],
) -> Figure | None:
    """Several images beside their vulnerability maps, two pairs per row; each pair is one panel on a grey
    ground under one title (the image's and the map's), so a title cannot be read as the next row's.

    Args:
        entries: (title, image uint8 (H, W, 3), lowest clean-class probability float (H, W) with NaN where not
            scanned, flipping pixels bool (H, W), foreground bool (H, W) or None).
    """
    if not entries:
        return None
    cols = min(2, len(entries))
    rows = math.ceil(len(entries) / cols)
    fig = Figure(figsize=(3.3 * 2 * cols + 1.0, 3.5 * rows + 0.2), layout="constrained")
    outer = fig.subfigures(1, 2, squeeze=False, width_ratios=[3.3 * 2 * cols, 1.0])
    grid, bar = outer[0, 0], outer[0, 1]
    pairs = grid.subfigures(rows, cols, squeeze=False, wspace=0.04, hspace=0.04)
    im = None
    for n, (title, image, min_p, flips, fg) in enumerate(entries):
        pair = pairs[n // cols, n % cols]
        pair.set_facecolor("#f2f2f2")
        ax_img, ax_map = pair.subplots(1, 2)
        _show(ax_img, image)
        im = ax_map.imshow(min_p, cmap="magma", vmin=0.0, vmax=1.0, interpolation="nearest")
        ys, xs = np.nonzero(flips)
        ax_map.scatter(xs, ys, s=max(2.0, 600.0 / max(image.shape[:2])), c="cyan", marker="o", linewidths=0)
        ax_map.set_xticks([])
        ax_map.set_yticks([])
        pair.suptitle(f"{title}: {int(flips.sum())} flipping px (cyan)", fontsize=9)
        if fg is not None and fg.any() and not fg.all():
            for ax in (ax_img, ax_map):
                ax.contour(fg.astype(float), levels=[0.5], colors="yellow", linewidths=1.0)
    if im is not None:
        fig.colorbar(im, cax=bar.add_axes((0.1, 0.5 - min(0.4, 1.2 / rows), 0.22, 2 * min(0.4, 1.2 / rows))),
                     label="lowest p(clean class)")
    return fig


def figure_reachable_classes(distributions: Mapping[str, Mapping[str, np.ndarray]]) -> Figure | None:
    """Fig. 3 from the maps: share of images whose scan reaches 0 … K−1 other classes, one panel per network,
    bars grouped by region.

    Args:
        distributions: network -> region -> int (K,) image counts per number of reachable classes.
    """
    if not distributions:
        return None
    models = list(distributions)
    fig = Figure(figsize=(4.2 * len(models) + 0.6, 2.8), layout="constrained")
    axes = fig.subplots(1, len(models), squeeze=False, sharey=True)[0]
    for ax, model in zip(axes, models, strict=True):
        regions = metrics.region_order(distributions[model])
        width = 0.8 / max(1, len(regions))
        for g, region in enumerate(regions):
            counts = np.asarray(distributions[model][region])
            x = np.arange(counts.size)
            ax.bar(x + (g - (len(regions) - 1) / 2) * width, 100 * counts / max(1, counts.sum()), width=width,
                   label=region, color=REGION_COLOURS.get(region))
            ax.set_xticks(x)
        ax.set_title(model, fontsize=10)
        ax.set_xlabel("other classes reachable (scan)")
    axes[0].set_ylabel("% of images")
    axes[0].legend(fontsize=8)
    return fig


SEARCH_MARKERS = ("o", "s", "D", "^")  # the opening figure's marker per search, in the order given


def rate_axis(ends: Sequence[float]) -> tuple[float, float]:
    """A success-rate axis (percent) spanning ``ends`` with a margin, on a 5-point grid inside 0–100 and at
    least 20 points wide: intervals of a few points stay visible where 0–100 would hide them under the dots."""
    finite = [x for x in ends if math.isfinite(x)]
    if not finite:
        return 0.0, 100.0
    lo, hi = min(finite), max(finite)
    pad = max(2.0, 0.08 * (hi - lo))
    lo, hi = max(0.0, 5 * math.floor((lo - pad) / 5)), min(100.0, 5 * math.ceil((hi + pad) / 5))
    while hi - lo < 20:
        lo, hi = max(0.0, lo - 5), min(100.0, hi + 5)
    return lo, hi


def _split_n(label: str) -> tuple[str, str]:
    """'foreground − background (n=40)' -> ('foreground − background', '40'); '?' without an n."""
    name, sep, n = label.rpartition(" (n=")
    return (name, n.rstrip(")")) if sep else (label, "?")


def figure_at_a_glance(
    rates: Mapping[str, Mapping[str, Sequence[tuple[str, float, float, float, int]]]],
    differences: Mapping[str, Mapping[str, Sequence[tuple[str, float, float, float]]]],
    title: str,
) -> Figure | None:
    """The answer at a glance: per network, each region's success rate with its 95 % interval (top) and the
    paired differences with theirs (bottom); several searches side by side, each with its own marker.

    Args:
        rates: search (e.g. 'DE') -> network -> (region, rate, low, high, images) per region; fractions.
        differences: search -> network -> (label such as 'foreground − background (n=40)', value, low, high);
            fractions.
        title: the figure's title (what the rows are: DE or the scan, pixels).
    """
    searches = [s for s in rates if any(rates[s].values())]
    models = sorted({m for s in searches for m, rows in rates[s].items() if rows})
    if not models:
        return None
    many = len(searches) > 1
    step = 0.34 / max(1, len(searches) - 1) if many else 0.0  # vertical offset between searches in one row
    fig = Figure(figsize=(3.6 * len(models) + 0.8, 4.6 + (0.6 if many else 0.0)), layout="constrained")
    axes = fig.subplots(2, len(models), squeeze=False, height_ratios=[3, 2])
    ends = [abs(x) for s in searches for ds in differences.get(s, {}).values() for d in ds for x in d[1:]
            if math.isfinite(x)]
    reach = 100 * max(ends, default=0.1) * 1.1  # one symmetric scale for every network's differences
    span = rate_axis([100 * x for s in searches for rows in rates[s].values() for r in rows for x in r[1:4]])
    for j, model in enumerate(models):
        for row, key in ((0, "rates"), (1, "diffs")):
            ax = axes[row, j]
            # per search: (row name, n, value, low, high)
            series = {s: [(g, str(n), v, lo, hi) for g, v, lo, hi, n in rates[s].get(model, ())] if key == "rates"
                      else [(*_split_n(label), v, lo, hi) for label, v, lo, hi in differences.get(s, {}).get(model, ())]
                      for s in searches}
            labels: dict[str, list[str]] = {}  # row name -> the n of each search
            for found in series.values():
                for name, n, _, _, _ in found:
                    labels.setdefault(name, []).append(n)
            order = list(labels)
            for k, found in enumerate(series.values()):
                for name, _, v, lo, hi in found:
                    y = order.index(name) + (k * step - step * (len(searches) - 1) / 2)
                    colour = REGION_COLOURS.get(name, "#333333") if key == "rates" else "black"
                    if math.isfinite(lo):
                        ax.plot([100 * lo, 100 * hi], [y, y], color=colour, lw=2.2, solid_capstyle="butt")
                    face = colour if k == 0 else "white"
                    ax.plot([100 * v], [y], SEARCH_MARKERS[k % len(SEARCH_MARKERS)], color=colour, ms=6,
                            markerfacecolor=face)
            ax.set_yticks(range(len(order)), [f"{name} (n={' / '.join(dict.fromkeys(ns)) if ns else '?'})"
                                              for name, ns in labels.items()], fontsize=8)
            ax.grid(axis="x", alpha=0.3)
            if order:
                ax.set_ylim(len(order) - 0.5, -0.5)
            if key == "rates":
                ax.set_xlim(*span)
                width = span[1] - span[0]
                ax.xaxis.set_major_locator(MultipleLocator(5 if width <= 30 else 10 if width <= 60 else 20))
                ax.set_xlabel("success rate, % (95 % interval)", fontsize=8)
                ax.set_title(model, fontsize=10)
            else:
                ax.axvline(0, color="#999999", lw=1, ls="--")
                ax.set_xlim(-reach, reach)
                ax.set_xlabel("paired difference, pp (95 % interval)", fontsize=8)
                if not order:
                    ax.text(0, 0.5, "no two regions share images yet:\nno paired difference", ha="center",
                            va="center", fontsize=8, color="#666666", transform=ax.get_yaxis_transform())
    if many:
        handles = [Line2D([], [], marker=SEARCH_MARKERS[k % len(SEARCH_MARKERS)], color="#444444", linestyle="none",
                          markerfacecolor="#444444" if k == 0 else "white", label=s) for k, s in enumerate(searches)]
        fig.legend(handles=handles, fontsize=8, loc="outside lower center", ncols=len(handles), frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig
