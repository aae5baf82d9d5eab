"""The verdict's rules (docs/report.md): Newcombe closeness, Holm-corrected 'clearly lower', power lines, controls."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixelspace.report import load_store, verdict, write_report
from tests.report.store_factory import make_store


def test_closeness_needs_a_valid_interval_not_an_empty_bootstrap(tmp_path: Path) -> None:
    # 40 images, whole and foreground fooled on the same 6, background on 3 of them: no whole − fg discordance.
    # The old paired bootstrap gave [0, 0] and called the foreground "close"; Newcombe's interval is ±7.7 pp,
    # wider than the ±3.75 pp margin (25 % of 15 %).
    path = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=40, targeted_images=0,
                      success_fn=lambda m, region, i: i < (3 if region == "background" else 6))
    v = verdict.verdicts(load_store(path).results)[0]
    assert v.images == 40 and v.whole_fg.diff.b == v.whole_fg.diff.c == 0
    assert v.whole_fg.diff.difference.high == pytest.approx(0.0772, abs=1e-3)
    assert v.whole_fg.diff.difference.low == pytest.approx(-0.0772, abs=1e-3)
    assert v.margin == pytest.approx(0.0375) and not v.close
    paths = write_report(path, tmp_path / "out")
    text = paths.markdown.read_text(encoding="utf-8")
    assert "Foreground close to whole: not shown" in text
    assert "n = 40: detects differences ≥" in text
    # the report opens with the at-a-glance figure, before any table
    assert paths.figures[0].name == "fig0_at_a_glance.png"
    assert text.index("figures/fig0_at_a_glance.png") < text.index("\n| ")


def test_clearly_lower_is_holm_corrected_over_the_fg_bg_tests_only(tmp_path: Path) -> None:
    # 6 images per network, background never fooled, whole and foreground always: b = 6, c = 0, raw p = 2/64 =
    # 0.03125 for each fg − bg test. One network: the family is its one fg − bg test (whole − background is not
    # tested: in a scan no image can succeed in the background alone), so the background is clearly lower.
    path = make_store(tmp_path / "s.sqlite", models=("nin-cifar10",), n_images=6, targeted_images=0,
                      success_fn=lambda m, region, i: region != "background")
    v = verdict.verdicts(load_store(path).results)[0]
    assert v.fg_bg.diff.p_value == pytest.approx(0.03125) and v.fg_bg.p_holm == pytest.approx(0.03125)
    assert v.lower and v.fg_bg.family == 1 and v.whole_bg.p_holm is None
    text = write_report(path, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "Background clearly lower than the foreground: shown for nin-cifar10 (1 px)" in text
    # two networks: Holm over their two fg − bg tests, 0.0625 > 0.05: not shown (raw p alone said yes)
    path = make_store(tmp_path / "t.sqlite", models=("nin-cifar10", "vgg16-cifar10"), n_images=6,
                      targeted_images=0, success_fn=lambda m, region, i: region != "background")
    vs = verdict.verdicts(load_store(path).results)
    assert [x.fg_bg.p_holm for x in vs] == [pytest.approx(0.0625)] * 2 and not any(x.lower for x in vs)
    assert all(x.fg_bg.family == 2 for x in vs)
    text = write_report(path, tmp_path / "out2").markdown.read_text(encoding="utf-8")
    assert "Background clearly lower than the foreground: not shown" in text and "Holm 0.0625" in text


def test_closeness_has_three_answers(tmp_path: Path) -> None:
    # whole fooled on 30 of 40, foreground on 6 of them: whole − fg = 60 pp, wholly outside ±18.75 pp: "no"
    path = make_store(tmp_path / "s.sqlite", models=("allconv-cifar10",), n_images=40, targeted_images=0,
                      success_fn=lambda m, region, i: i < {"whole": 30, "foreground": 6}.get(region, 3))
    v = verdict.verdicts(load_store(path).results)[0]
    assert v.closeness == "not close" and not v.close
    # whole on 20, foreground on 17 of them: +7.5 pp, inside the ±12.5 pp margin, the interval crosses it
    path = make_store(tmp_path / "t.sqlite", models=("allconv-cifar10",), n_images=40, targeted_images=0,
                      success_fn=lambda m, region, i: i < {"whole": 20, "foreground": 17}.get(region, 3))
    v = verdict.verdicts(load_store(path).results)[0]
    iv = v.whole_fg.diff.difference
    assert iv.low < v.margin < iv.high and v.closeness == "not shown"
    text = write_report(path, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "closeness not shown" in text and "the estimate is inside the margin" in text


def test_a_narrow_interval_is_read_as_the_bound_it_sets() -> None:
    from pixelspace.report.metrics import RegionDifference
    from pixelspace.report.stats import Interval

    def comp(low: float, high: float, detectable: float) -> verdict.Comparison:
        d = RegionDifference("m", 1, "Untargeted1", "foreground", "centre", 500, 0.2, 0.21,
                             Interval((low + high) / 2, low, high, "Newcombe"), 10, 12, 0.5)
        return verdict.Comparison(d, 1.0, 9, detectable)

    assert verdict.reading(comp(-0.022, 0.010, 0.03)) == (
        "not shown; the interval excludes a difference above +1.0 pp")
    assert verdict.reading(comp(-0.05, 0.04, 0.03)) == "not shown (underpowered)"


def test_position_controls_are_read(tmp_path: Path) -> None:
    # foreground fooled on every image, centre never; background never, border always
    def ok(m: str, region: str, i: int) -> bool:
        return region in ("whole", "foreground", "border")

    path = make_store(tmp_path / "s.sqlite", models=("vgg16-cifar10",), n_images=12, targeted_images=0,
                      regions=("whole", "foreground", "background", "centre", "border"), success_fn=ok)
    comps = {(c.diff.region_a, c.diff.region_b): c for c in verdict.controls(load_store(path).results)}
    assert set(comps) == {("foreground", "centre"), ("background", "border")}
    assert comps[("foreground", "centre")].lower and comps[("background", "border")].higher
    assert comps[("foreground", "centre")].p_holm == pytest.approx(2 * 2 / 2**12)
    text = write_report(path, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "Does the foreground beat a centred region of the same size? vgg16-cifar10 1 px: yes" in text
    assert "Does the background lose to a border frame of the same size? vgg16-cifar10 1 px: yes" in text


def test_confidence_means_from_fewer_than_five_values_show_no_interval() -> None:
    from pixelspace.report.blocks import mean_cell
    from pixelspace.report.metrics import MeanValue

    # three successes that happen to share one image: the bootstrap interval collapses onto the mean
    assert mean_cell(MeanValue(0.288, 3, 0.288, 0.288, 1)) == ["28.8% (n=3)", "n < 5: no interval"]
    assert mean_cell(MeanValue(0.5, 5, 0.4, 0.6, 5)) == ["50.0% (n=5)", "[40.0, 60.0]"]
