"""Figure helpers: perturbation replay, PNG decoding, Fig. 1 colours, and that figures draw (or are omitted)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pixelspace.report import figures
from tests.report.store_factory import encode_png
from tests.report.test_metrics import row, targeted_rows


def test_decode_png_and_apply_perturbation() -> None:
    img = np.zeros((4, 5, 3), dtype=np.uint8)
    img[0, 0] = (10, 20, 30)
    assert np.array_equal(figures.decode_png(encode_png(img)), img)  # RGB round trip
    adv, changed = figures.apply_perturbation(img, {"pixels": [[1, 2], [-1, -1]], "colors": [[255, 0, 7], [9, 9, 9]]})
    assert changed == [(1, 2)]  # the restored (-1) slot is skipped
    assert adv[1, 2].tolist() == [255, 0, 7] and int((adv != img).any(axis=2).sum()) == 1
    assert img[1, 2].tolist() == [0, 0, 0]  # the clean image is not modified


def test_fig1_label_colours() -> None:
    same = figures.label_colours(row("a", success=True, predicted=5, region="foreground"),
                                 row("a", success=True, predicted=5, region="background"))
    assert same == (figures.SAME_CLASS, figures.SAME_CLASS)
    other = figures.label_colours(row("a", success=True, predicted=5), row("a", success=True, predicted=6))
    assert other == (figures.OTHER_CLASS, figures.OTHER_CLASS)
    failed = figures.label_colours(row("a", success=True, predicted=5), row("a", success=False))
    assert failed == (figures.OTHER_CLASS, "black")


def test_figures_draw_or_are_omitted() -> None:
    names = [str(i) for i in range(10)]
    tgt = targeted_rows()
    assert figures.figure3_targets_reached(tgt, 10) is not None
    assert figures.figure3_targets_reached([row("a", success=True)], 10) is None  # no targeted rows
    assert figures.figure_class_pairs(tgt, names, "targeted") is not None
    assert figures.figure_class_pairs(tgt, [str(i) for i in range(100)], "targeted") is None  # too many classes
    assert figures.figure6_fitness([row("a", success=True)], ["a"]) is not None
    assert figures.figure6_fitness([row("a", success=True)], ["b"]) is None
    assert figures.figure1_examples([], names) is None
    png = figures.figure_png(figures.figure3_targets_reached(tgt, 10))  # type: ignore[arg-type]
    assert png[:4] == b"\x89PNG"


def test_report_imports_no_model_code() -> None:
    code = ("import sys, pixelspace.report; bad = [m for m in ('torch', 'pixelspace.models', 'pixelspace.attack', "
            "'pixelspace.campaign', 'pixelspace.segment') if m in sys.modules]; print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fig6_draws_successes_at_generation_0() -> None:
    # issue 21: one-point curves (a success at generation 0) were not drawn: a blank panel, a legend without a line
    from matplotlib.lines import Line2D

    rows = [row(f"i{k}", success=True, generations=0, region=region, fitness_history=[0.2 + 0.01 * k])
            for k in range(11) for region in ("whole", "foreground")]
    rows.append(row("i0", success=True, generations=2, region="background", fitness_history=[0.9, 0.6, 0.3]))
    fig = figures.figure6_fitness(rows, [f"i{k}" for k in range(11)])
    assert fig is not None
    axes = {ax.get_title(): ax for ax in fig.axes}
    for title in ("m: whole (n=11)", "m: foreground (n=11)"):
        lines = [ln for ln in axes[title].get_lines() if isinstance(ln, Line2D)]
        assert len(lines) == 12  # 11 images and their mean
        assert all(np.size(ln.get_xdata()) == 1 and ln.get_marker() not in (None, "None", "", " ") for ln in lines)
        assert any("succeeded at generation 0" in t.get_text() for t in axes[title].texts)
    background = axes["m: background (n=1)"]
    assert all(ln.get_marker() in (None, "None", "", " ") for ln in background.get_lines())  # longer curves: lines
    assert not background.texts
    legend = axes["m: means"].get_legend()
    assert legend is not None
    handles = {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert set(handles) == {"whole", "foreground", "background"}
    for region in ("whole", "foreground"):
        handle = handles[region]
        assert isinstance(handle, Line2D) and handle.get_marker() not in (None, "None", "", " ")  # the legend entry shows what is drawn
    figures.figure_png(fig)


def _disk_entry(size: int = 32) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    min_p = rng.random((size, size))
    fg = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2  # a round outline: diagonal, anti-aliased
    return "net: cat (99%)", rng.integers(0, 256, (size, size, 3), dtype=np.uint8), min_p, min_p < 0.05, fg


def test_figure_png_ignores_the_last_bits_of_the_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    # constrained layout (kiwisolver) orders its equations' terms by the memory addresses of its variables, so its
    # positions differed in the last bits from run to run, and so did the committed scan maps' PNG (by 1 intensity
    # unit along the outlines); here the layout is nudged by a few ulps, as that noise does
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.layout_engine import ConstrainedLayoutEngine
    from matplotlib.transforms import Bbox

    execute = ConstrainedLayoutEngine.execute

    def subfigures(fig: Figure | SubFigure) -> list[SubFigure]:
        return [s for sub in fig.subfigs for s in (sub, *subfigures(sub))]

    def png(ulps: int) -> bytes:
        def nudged(self: ConstrainedLayoutEngine, fig: Figure) -> object:
            out = execute(self, fig)
            for sub in subfigures(fig):
                pts = sub.bbox_relative.get_points()
                sub.bbox_relative.set_points(pts + ulps * np.spacing(pts))
            for ax in fig.get_axes():
                pts = ax.get_position(original=True).get_points()
                ax.set_position(Bbox(pts + ulps * np.spacing(pts)))
                ax.set_in_layout(True)
            return out

        monkeypatch.setattr(ConstrainedLayoutEngine, "execute", nudged)
        fig = figures.vulnerability_grid([_disk_entry()])
        assert fig is not None
        return figures.figure_png(fig)

    first = png(0)
    assert all(png(ulps) == first for ulps in (1, 2, 4))
