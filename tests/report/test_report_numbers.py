"""The rendered report against its metrics: every Table II cell shows metrics.table2()'s numbers for the same
store, and the bootstrap intervals agree with an independent resampling of the images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pixelspace.report import load_store, metrics, write_report
from tests.report.store_factory import make_store

COLUMNS = ("untargeted1", "confidence_u", "untargeted2", "targeted", "confidence_t")


def _fmt(x: float) -> str:
    return f"{100 * x:.1f}"


def _table2_rows(md: str) -> dict[tuple[str, str, int], list[str]]:
    block = md[md.index("Table II: success rates"):md.index("Region differences")]
    out = {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 + len(COLUMNS) and cells[2].isdigit():
            out[(cells[0], cells[1], int(cells[2]))] = cells[3:]
    return out


def test_every_rendered_table2_cell_equals_metrics(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s.sqlite", n_images=6, targeted_images=3)
    paths = write_report(path, tmp_path / "out")
    rendered = _table2_rows(paths.markdown.read_text(encoding="utf-8"))
    cells = metrics.table2(load_store(path).results)
    assert len(cells) == 6 and set(rendered) == {(c.model, c.region, c.pixels) for c in cells}
    checked = 0
    for c in cells:
        for col, text in zip(COLUMNS, rendered[(c.model, c.region, c.pixels)], strict=True):
            v = getattr(c, col)
            parts = text.split("<br>")
            if isinstance(v, metrics.Rate):
                assert v.total > 0
                unit = f" attacks on {v.images} img" if col == "targeted" else ""
                assert parts[0] == f"{_fmt(v.value)}% ({v.successes}/{v.total}{unit})", (c, col, text)
            else:
                if v.count == 0:
                    assert parts[0] == "—", (c, col, text)
                    continue
                assert parts[0] == f"{_fmt(v.value)}% (n={v.count})", (c, col, text)
                if v.count < 5:  # a mean of fewer than 5 values gets no interval (docs/report.md)
                    assert parts[1] == "n < 5: no interval", (c, col, text)
                    checked += 1
                    continue
            assert parts[1] == f"[{_fmt(v.low)}, {_fmt(v.high)}]", (c, col, text)
            checked += 1
    assert checked >= 25  # rates and confidences in every cell but a few empty confidences


def _reference_bootstrap(values: np.ndarray, weights: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """Percentile interval of sum(values) / sum(weights) over images drawn with replacement, one loop per draw."""
    rng = np.random.default_rng(seed)
    n = len(values)
    draws = []
    for _ in range(resamples):
        pick = [int(rng.integers(n)) for _ in range(n)]
        draws.append(sum(values[i] for i in pick) / sum(weights[i] for i in pick))
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def test_bootstrap_intervals_agree_with_a_reference_resampling(tmp_path: Path) -> None:
    # every attack on every third image succeeds, none on the others: outcomes cluster by image, so the
    # bootstrap over images is about twice as wide as a Wilson interval over the 360 attacks would be
    path = make_store(tmp_path / "s.sqlite", models=("nin-cifar10",), regions=("whole",), n_images=40,
                      targeted_images=40, success_fn=lambda model, region, i: i % 3 == 0)
    rows = load_store(path).results
    per = metrics.targeted_by_image(rows)
    succ = np.array([s for s, _ in per.values()], float)
    tot = np.array([n for _, n in per.values()], float)
    assert len(per) == 40 and set(succ) == {0.0, 9.0} and tot.sum() == 360
    rate = metrics.targeted(rows)
    assert rate.value == pytest.approx(14 / 40)
    lo, hi = _reference_bootstrap(succ, tot, 4000, seed=12345)
    # two independent bootstraps (2,000 and 4,000 draws) agree within a few points; Wilson would miss by ~10
    assert abs(rate.low - lo) < 0.05 and abs(rate.high - hi) < 0.05, ((rate.low, rate.high), (lo, hi))
    wilson = metrics.stats.wilson_interval(rate.successes, rate.total)
    assert rate.high - rate.low > 1.5 * (wilson[1] - wilson[0])
    conf = metrics.confidence_t(rows)
    vals: dict[str, list[float]] = {}
    for r in rows:
        if r.mode == "targeted" and metrics.attack_succeeded(r):
            vals.setdefault(r.image_id, []).append(float(r.record["target_probability"]))
    # the mean over successful attacks, bootstrapping images: per-image sums over per-image counts
    sums = np.array([np.sum(v) for v in vals.values()])
    counts = np.array([len(v) for v in vals.values()], float)
    assert conf.count == counts.sum() and len(sums) >= 5 and conf.value == pytest.approx(sums.sum() / counts.sum())
    lo, hi = _reference_bootstrap(sums, counts, 4000, seed=54321)
    assert math.isfinite(conf.low) and abs(conf.low - lo) < 0.02 and abs(conf.high - hi) < 0.02, (conf, lo, hi)
