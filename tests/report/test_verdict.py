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


def test_clearly_lower_is_holm_corrected(tmp_path: Path) -> None:
    # 6 images, background never fooled, whole and foreground always: b = 6, c = 0, raw p = 2/64 = 0.03125 for
    # both tests; Holm over the two: 0.0625 > 0.05, so the background is not "clearly lower" (raw p alone said yes).
    path = make_store(tmp_path / "s.sqlite", models=("nin-cifar10",), n_images=6, targeted_images=0,
                      success_fn=lambda m, region, i: region != "background")
    v = verdict.verdicts(load_store(path).results)[0]
    assert v.fg_bg.diff.p_value == pytest.approx(0.03125)
    assert v.fg_bg.p_holm == pytest.approx(0.0625) and v.whole_bg.p_holm == pytest.approx(0.0625)
    assert not v.lower and v.fg_bg.family == 2
    text = write_report(path, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "Background clearly lower than both: not shown" in text and "Holm 0.0625" in text


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
