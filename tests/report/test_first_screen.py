"""The report's first screen (issue 33, item 7): its title, the verdict before the figure, the opening figure's
scales and searches, long or empty tables folded away, map titles with their maps, small values and Fig. 6."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from pixelspace.report import figures, write_report
from pixelspace.report.blocks import interval, mean_cell, pct
from pixelspace.report.metrics import MeanValue
from tests.report.store_factory import make_store
from tests.report.test_metrics import row

CAMPAIGN_CONFIG = {"campaign": {"name": "paper-grid-slice", "seed": 0},
                   "de": {"population_size": 40, "max_generations": 10, "early_stop": True}}


def _copy_rows_as(path: Path, search: str, extra: dict[str, Any] | None = None) -> None:
    """Add a copy of every untargeted row of the store at ``path`` as a row of ``search``."""
    con = sqlite3.connect(path)
    rows = con.execute("SELECT * FROM attacks WHERE mode = 'untargeted'").fetchall()
    for r in rows:
        rec = {**json.loads(r[13]), "search": search, **(extra or {})}
        con.execute("INSERT INTO attacks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (f"{search}-{r[0]}", *r[1:7], f"{search}-hash", *r[8:13], json.dumps(rec)))
    con.commit()
    con.close()


def _only_search(path: Path, search: str) -> None:
    """Turn every row of the store at ``path`` into a row of ``search`` (a scan-only store, say)."""
    con = sqlite3.connect(path)
    for key, rec in con.execute("SELECT key, record FROM attacks").fetchall():
        con.execute("UPDATE attacks SET record = ? WHERE key = ?",
                    (json.dumps({**json.loads(rec), "search": search, "reachable_classes": [1],
                                 "flipping_pixels": 2}), key))
    con.commit()
    con.close()


# ------------------------------------------------------------------------------------------- title, order


def test_the_report_is_titled_by_its_campaign_not_its_file(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store.sqlite", models=("allconv-cifar10",), n_images=4, targeted_images=0,
                       config=CAMPAIGN_CONFIG)
    paths = write_report(store, tmp_path / "out")
    md, html = paths.markdown.read_text(encoding="utf-8"), paths.html.read_text(encoding="utf-8")
    first = md.splitlines()[0]
    assert first.startswith("# ") and "paper-grid-slice" in first and "store.sqlite" not in first
    assert "<title>" in html and "paper-grid-slice" in html.split("</title>")[0]


def test_a_store_without_a_campaign_name_keeps_its_file_name(tmp_path: Path) -> None:
    store = make_store(tmp_path / "mine.sqlite", models=("allconv-cifar10",), n_images=2, targeted_images=0,
                       config={"de": {"population_size": 40}})
    first = write_report(store, tmp_path / "out").markdown.read_text(encoding="utf-8").splitlines()[0]
    assert "mine.sqlite" in first


def test_the_verdict_sentence_comes_before_the_figure_and_the_setup(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=6, targeted_images=0)
    paths = write_report(store, tmp_path / "out")
    md, html = paths.markdown.read_text(encoding="utf-8"), paths.html.read_text(encoding="utf-8")
    for text, heading in ((md, "## What this run shows"), (html, "What this run shows</h2>")):
        verdict = text.index("pattern, foreground success close to whole-image success")
        assert text.index(heading) < verdict < text.index("fig0_at_a_glance")
        assert verdict < text.index("This run attacked")


# ------------------------------------------------------------------------------------------ opening figure


def test_the_opening_figure_zooms_the_rate_axis_to_the_data() -> None:
    # rates of 10–33 % with n = 500 intervals: on a 0–100 axis the intervals hide under the dots
    rates = {"net": [("whole", 0.33, 0.29, 0.37, 500), ("foreground", 0.26, 0.22, 0.30, 500),
                     ("background", 0.10, 0.08, 0.13, 500)]}
    diffs = {"net": [("foreground − background (n=500)", 0.16, 0.12, 0.20)]}
    fig = figures.figure_at_a_glance({"DE": rates}, {"DE": diffs}, "t")
    assert fig is not None
    lo, hi = fig.axes[0].get_xlim()
    assert lo <= 8 and hi >= 37  # every interval inside
    assert hi - lo <= 45  # and the axis no wider than the data needs, with a margin


def test_the_opening_figure_keeps_one_rate_scale_for_every_network() -> None:
    rates = {"a": [("whole", 0.10, 0.08, 0.12, 500)], "b": [("whole", 0.60, 0.55, 0.65, 500)]}
    fig = figures.figure_at_a_glance({"DE": rates}, {"DE": {}}, "t")
    assert fig is not None
    top = [ax for ax in fig.axes if ax.get_xlabel().startswith("success rate")]
    assert len(top) == 2 and top[0].get_xlim() == top[1].get_xlim()
    assert top[0].get_xlim()[0] <= 8 and top[0].get_xlim()[1] >= 65


def test_a_store_with_de_and_sparse_search_rows_shows_both_in_the_opening_figure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=6, targeted_images=0)
    _copy_rows_as(store, "sparse-rs")
    drawn: list[Any] = []
    real = figures.figure_at_a_glance

    def spy(rates: Any, diffs: Any, title: str) -> Any:
        drawn.append((rates, diffs, title))
        return real(rates, diffs, title)

    monkeypatch.setattr(figures, "figure_at_a_glance", spy)
    paths = write_report(store, tmp_path / "out")
    assert len(drawn) == 1
    rates, diffs, _ = drawn[0]
    assert list(rates) == ["DE", "sparse random search"]
    assert all(rates[s]["allconv-cifar10"] for s in rates) and all(diffs[s]["allconv-cifar10"] for s in diffs)
    md = paths.markdown.read_text(encoding="utf-8")
    opening = md.split("## What this run shows")[1].split("\n## ")[0]
    caption = next(line for line in opening.splitlines() if line.startswith("*The answer at a glance"))
    assert "DE" in caption and "sparse random search" in caption


def test_the_opening_figure_tells_two_searches_apart() -> None:
    rates = {"net": [("whole", 0.30, 0.25, 0.35, 50), ("background", 0.10, 0.05, 0.15, 50)]}
    diffs = {"net": [("foreground − background (n=50)", 0.1, 0.0, 0.2)]}
    fig = figures.figure_at_a_glance({"DE": rates, "sparse random search": rates}, {"DE": diffs,
                                      "sparse random search": diffs}, "t")
    assert fig is not None
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["DE", "sparse random search"]
    points = [ln for ln in fig.axes[0].get_lines() if np.size(ln.get_xdata()) == 1]
    assert len({float(np.asarray(ln.get_ydata())[0]) for ln in points}) == 4  # two regions × two searches, side by side


# -------------------------------------------------------------------------------------- folded-away tables


def test_a_long_table_of_passed_over_images_folds_away(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=2, targeted_images=0)
    con = sqlite3.connect(store)
    png = con.execute("SELECT png FROM images LIMIT 1").fetchone()[0]
    for i in range(30):
        con.execute("INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (f"skip{i}", f"x/{i}.jpg", 0, png, 100 + i, "skipped", f"misclassified as class {i}"))
    con.commit()
    con.close()
    paths = write_report(store, tmp_path / "out")
    for text in (paths.html.read_text(encoding="utf-8"), paths.markdown.read_text(encoding="utf-8")):
        table1 = text.split("Table I: clean accuracy")[1].split("Table II")[0]
        folded = table1.split("<details>", 1)
        assert len(folded) == 2, "the passed-over table is not folded"
        assert "Pool images passed over" in folded[1].split("</details>")[0]
        assert "misclassified as class 29" in folded[1].split("</details>")[0]


def test_the_scan_beside_de_table_of_a_scan_only_store_folds_away_without_empty_de_columns(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=4, targeted_images=0)
    _only_search(store, "scan")
    html = write_report(store, tmp_path / "out").html.read_text(encoding="utf-8")
    scan = html.split("Pixel vulnerability maps (scan)</h2>")[1]
    assert "The scan beside Table II" not in scan  # no DE rows: nothing to set beside
    folded = scan.split("<details>")
    assert any("The scan per region" in part.split("</details>")[0] for part in folded[1:])
    per_region = scan.split("The scan per region")[1].split("</table>")[0]
    assert "DE success" not in per_region and "McNemar" not in per_region


# ----------------------------------------------------------------------------------------------- maps


def test_each_map_title_sits_with_its_image_and_map() -> None:
    rng = np.random.default_rng(0)
    entries = [(f"net: cls{i}", rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), rng.random((8, 8)),
                rng.random((8, 8)) < 0.2, None) for i in range(4)]
    fig = figures.vulnerability_grid(entries)
    assert fig is not None
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    titles = [t for sub in fig.subfigs for t in sub.subfigs or [sub]]
    pairs = [s for s in titles if s.axes and len(s.axes) == 2]
    assert len(pairs) == 4
    for i, pair in enumerate(pairs):
        image_ax, map_ax = pair.axes
        assert len(pair.texts) == 1  # one title over the pair
        title = pair.texts[0]
        assert f"cls{i}" in title.get_text() and "flipping px" in title.get_text()
        box = title.get_window_extent(renderer)
        left = image_ax.get_window_extent(renderer).x0
        right = map_ax.get_window_extent(renderer).x1
        assert left <= box.x0 and box.x1 <= right  # above its own pair, not straddling two
        assert abs((box.x0 + box.x1) / 2 - (left + right) / 2) < 0.1 * (right - left)


# ------------------------------------------------------------------------------------------- small values


def test_small_percentages_keep_enough_digits_to_not_read_zero() -> None:
    assert interval(0.0, 0.005) == "[0.0, 0.5]"  # unchanged where one decimal suffices
    assert interval(0.00001, 0.00003) == "[0.001, 0.003]"
    assert interval(0.0000123, 0.0000456) == "[0.0012, 0.0046]"
    assert pct(0.0000123) == "0.0012%" and pct(0.1234) == "12.3%" and pct(0.0) == "0.0%"
    assert pct(-0.0000004) == "-0.00004%"
    cell = mean_cell(MeanValue(0.00002, 16, 0.00001, 0.00003, 16))
    assert cell == ["0.002% (n=16)", "[0.001, 0.003]"]


# ----------------------------------------------------------------------------------------------- Fig. 6


def test_fig6_one_point_panels_get_a_generation_axis() -> None:
    rows = [row("i0", success=True, generations=0, region=region, fitness_history=[0.2])
            for region in ("whole", "foreground")]
    fig = figures.figure6_fitness(rows, ["i0"])
    assert fig is not None
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        assert lo <= -0.4 and hi >= 1.0  # not −0.04…0.04 around a single point
        assert all(float(t).is_integer() for t in ax.get_xticks() if lo <= t <= hi)
        ylo, yhi = ax.get_ylim()
        assert ylo <= 0.0 and yhi >= 1.0  # a probability axis


def test_fig6_caption_counts_one_image_in_the_singular(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=4, targeted_images=0,
                       success_fn=lambda m, region, i: i == 0)
    md = write_report(store, tmp_path / "out").markdown.read_text(encoding="utf-8")
    caption = next(line for line in md.splitlines() if line.startswith("*Fig. 6"))
    assert "all 1 images" not in caption and "1 image whose" in caption
