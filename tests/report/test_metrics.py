"""Metrics on hand-made rows whose answers are worked out by hand in the comments."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pytest

from pixelspace.report import metrics, stored
from pixelspace.report.metrics import AttackRow
from tests.report.store_factory import make_record


def row(image: str, *, success: bool, label: int = 3, predicted: int | None = None, mode: str = "untargeted",
        target: int = -1, region: str = "whole", pixels: int = 1, model: str = "m", generations: int = 1,
        confidence: float = 0.5, **rec: object) -> AttackRow:
    pred = predicted if predicted is not None else ((target if mode == "targeted" else label + 1) if success
                                                    else label)
    record = make_record(success=success, label=label, predicted=pred, confidence=confidence, target=target,
                         generations=generations, mode=mode, **rec)  # type: ignore[arg-type]
    return AttackRow.from_mapping({"key": f"{model}/{image}/{region}/{pixels}/{mode}/{target}", "model": model,
                                   "image_id": image, "region": region, "pixels": pixels, "mode": mode,
                                   "target": target, "success": int(success), "generations": generations,
                                   "queries": 10, "record": record})


def test_untargeted1_and_confidence_u() -> None:
    rows = [row("a", success=True, confidence=0.6), row("b", success=True, confidence=0.8),
            row("c", success=False, confidence=0.99), row("d", success=True, confidence=0.7)]
    u1 = metrics.untargeted1(rows)
    assert (u1.successes, u1.total, u1.value) == (3, 4, 0.75)
    assert (u1.low, u1.high) == pytest.approx((0.30064, 0.95441), abs=1e-4)
    cu = metrics.confidence_u(rows)
    assert cu.count == 3
    assert cu.value == pytest.approx((0.6 + 0.8 + 0.7) / 3)  # the failed attack's 0.99 is left out


def targeted_rows() -> list[AttackRow]:
    """Image A (clean class 3): 9 targets; hits on targets 0 and 1; target 2 ends in class 5 (a third class,
    stored as a failure); target 4 is flagged successful by the store but predicts 6 != 4 (still a failure).
    Image B (clean class 7): 9 targets, no success."""
    a = [row("A", success=False, mode="targeted", target=t) for t in range(10) if t not in (3, 0, 1, 2, 4)]
    a += [row("A", success=True, mode="targeted", target=0, target_probability=0.6, confidence=0.6),
          row("A", success=True, mode="targeted", target=1, target_probability=0.5, confidence=0.5),
          row("A", success=False, mode="targeted", target=2, predicted=5, confidence=0.7, target_probability=0.1),
          row("A", success=True, mode="targeted", target=4, predicted=6, confidence=0.8, target_probability=0.1)]
    b = [row("B", success=False, label=7, mode="targeted", target=t) for t in range(10) if t != 7]
    return a + b


def test_targeted_third_class_is_failure() -> None:
    rows = targeted_rows()
    assert len(rows) == 18
    t = metrics.targeted(rows)
    assert (t.successes, t.total, t.images) == (2, 18, 2)
    assert t.value == pytest.approx(2 / 18)
    assert t.low <= t.value <= t.high
    u2 = metrics.untargeted2(rows)
    assert (u2.successes, u2.total) == (1, 2)
    ct = metrics.confidence_t(rows)
    assert (ct.count, ct.value) == (2, pytest.approx(0.55))
    assert metrics.inconsistent_successes(rows) == 1  # the target-4 row
    third = next(r for r in rows if r.target == 2 and r.image_id == "A")
    assert third.predicted == 5 and not metrics.attack_succeeded(third)
    # Fig. 3: A reached 2 targets, B none. Fig. 5: clean 3 -> targets 0 and 1.
    assert metrics.targets_reached_distribution(rows, 10).tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    pairs = metrics.class_pair_counts(rows, 10, "targeted")
    assert pairs.sum() == 2 and pairs[3, 0] == 1 and pairs[3, 1] == 1


def test_untargeted_class_pairs() -> None:
    rows = [row("a", success=True, label=3, predicted=5), row("b", success=True, label=3, predicted=5),
            row("c", success=True, label=1, predicted=9), row("d", success=False, label=2)]
    m = metrics.class_pair_counts(rows, 10, "untargeted")
    assert m[3, 5] == 2 and m[1, 9] == 1 and m.sum() == 3


def test_mean_generations_raw_and_reference_counting() -> None:
    rows = [row("a", success=True, generations=0), row("b", success=True, generations=2),
            row("c", success=True, generations=4), row("d", success=False, generations=100),
            row("e", success=True, generations=9, pixels=3)]  # 3-pixel: not in Table IV
    g = metrics.mean_generations(rows)
    assert g.count == 3
    assert g.raw_mean == pytest.approx(2.0)  # (0 + 2 + 4) / 3
    assert g.reference_mean == pytest.approx(7 / 3)  # (1 + 2 + 4) / 3
    assert (g.raw_median, g.reference_median) == (2.0, 2.0)
    assert g.histogram == (1, 0, 1, 1, 0, 0, 0, 0)  # bins 0, 1, 2, 3–5, 6–10, 11–20, 21–50, ≥51
    assert math.isnan(metrics.mean_generations([]).raw_mean)


def test_generation_median_resists_a_late_success() -> None:
    # four successes by generation 1 and one at generation 79: the mean is pulled up, the median is not
    rows = [row(str(i), success=True, generations=gen) for i, gen in enumerate([0, 0, 1, 1, 79])]
    g = metrics.mean_generations(rows)
    assert g.raw_mean == pytest.approx(16.2) and g.raw_median == 1.0
    assert g.reference_mean == pytest.approx(16.6) and g.reference_median == 1.0
    assert g.histogram[0] == 2 and g.histogram[-1] == 1


def test_table3_metrics() -> None:
    succ = row("s", success=True, label=3, predicted=5, clean_top5_classes=[3, 5, 1, 2, 0],
               clean_top5_probs=[0.6, 0.2, 0.1, 0.05, 0.03], adv_top5_classes=[5, 2, 1, 3, 0],
               adv_probs_of_clean_top5=[0.3, 0.4, 0.1, 0.05, 0.03])
    fail = row("f", success=False, label=3, clean_top5_classes=[3, 5, 1, 2, 0],
               clean_top5_probs=[0.5, 0.3, 0.1, 0.05, 0.02], adv_top5_classes=[3, 1, 7, 5, 4],
               adv_probs_of_clean_top5=[0.45, 0.3, 0.13, 0.05, 0.02])
    rows = [succ, fail]
    assert metrics.conf_decrease_topk(rows, 1).value == pytest.approx(0.3)  # successful only: 0.6 - 0.3
    assert metrics.conf_decrease_topk(rows, 3).value == pytest.approx((0.05 + 0 - 0.03) / 3)  # unsuccessful
    assert metrics.conf_decrease_topk(rows, 5).value == pytest.approx((0.05 - 0.03) / 5)
    assert metrics.ori_top1_in_topk(rows, 3).value == 0.0  # class 3 is 4th in the adversarial top-5
    assert metrics.ori_top1_in_topk(rows, 5).value == 1.0
    assert metrics.ori_topk_in_topk(rows, 3).value == pytest.approx(2 / 3)  # {3,5,1} ∩ {3,1,7}
    assert metrics.ori_topk_in_topk(rows, 5).value == pytest.approx(3 / 5)  # {3,5,1,2,0} ∩ {3,1,7,5,4} = {3,5,1}
    assert set(metrics.table3(rows)) == {k for k, _ in metrics.TABLE3_METRICS}


def test_region_difference_with_known_mcnemar() -> None:
    # 20 images: both regions succeed on 5, only whole on 8, only foreground on 1, neither on 6.
    pattern = [(1, 1)] * 5 + [(1, 0)] * 8 + [(0, 1)] * 1 + [(0, 0)] * 6
    rows = []
    for i, (w, f) in enumerate(pattern):
        rows += [row(f"i{i}", success=bool(w), region="whole"), row(f"i{i}", success=bool(f), region="foreground")]
    rows.append(row("only-whole", success=True, region="whole"))  # unpaired: left out
    d = metrics.region_difference(rows, model="m", pixels=1, region_a="whole", region_b="foreground")
    assert d is not None
    assert (d.images, d.b, d.c) == (20, 8, 1)
    assert d.p_value == 0.0390625
    assert d.difference.value == pytest.approx((13 - 6) / 20)
    assert d.rate_a == pytest.approx(13 / 20) and d.rate_b == pytest.approx(6 / 20)
    assert d.difference.low <= d.difference.value <= d.difference.high
    assert metrics.region_difference(rows, model="m", pixels=1, region_a="whole", region_b="background") is None


def test_region_pairs_include_controls() -> None:
    assert metrics.region_pairs(["background", "whole", "foreground"]) == [
        ("whole", "foreground"), ("whole", "background"), ("foreground", "background")]
    pairs = metrics.region_pairs(["whole", "foreground", "background", "random"])
    assert ("foreground", "random") in pairs and ("background", "random") in pairs and len(pairs) == 6


def test_fig6_selection_and_mean_curve() -> None:
    rows = []
    for m in ("m1", "m2"):
        for g in ("whole", "foreground", "background"):
            rows += [row("x", success=True, region=g, model=m), row("y", success=(g != "background"), region=g,
                                                                       model=m)]
    assert metrics.images_successful_everywhere(rows) == ["x"]
    mc = metrics.mean_curve([np.array([1.0, 0.5]), np.array([1.0, 0.8, 0.6, 0.2])])
    assert mc.tolist() == pytest.approx([1.0, 0.65, 0.55, 0.35])


def test_paper_table_ii_transcription() -> None:
    assert metrics.PAPER_TABLE_II[("VGG-16(C)", "whole", 1, "untargeted1")] == pytest.approx(0.434)
    assert metrics.PAPER_TABLE_II[("AllConv", "background", 5, "confidence_t")] == pytest.approx(0.7207)
    assert len(metrics.PAPER_TABLE_II) == 3 * 5 * 9
    assert metrics.paper_network("vgg16-cifar10", "JPEG-CIFAR-10") == "VGG-16(C)"
    assert metrics.paper_network("effnet-lite0", "ImageNet samples") is None


def test_paper_table_ii_transcription_matches_paper(shared_data: Path) -> None:
    paper = shared_data.parent / "reference" / "paper.md"  # ../shared/reference next to ../shared/data
    assert paper.is_file(), f"{paper} absent: cannot cross-check the transcription"
    text = paper.read_text(encoding="utf-8")
    block = text[text.index("#### TABLE II"):text.index("proportionally increasing")]
    lines = [re.findall(r"(\d+\.\d+)%", ln) for ln in block.splitlines()]
    lines = [ln for ln in lines if len(ln) == 9]
    assert len(lines) == 15
    ours = [[metrics.PAPER_TABLE_II[(net, g, k, met)] for g in metrics.CORE_REGIONS for k in (1, 3, 5)]
            for net in ("AllConv", "NiN", "VGG-16(C)") for met in metrics.TABLE2_METRICS]
    assert np.allclose(np.array(ours) * 100, np.array(lines, dtype=float))


def test_pixels_outside_region() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :] = True
    def at(image: str, coords: list[list[int]]) -> AttackRow:
        r = row(image, success=True)
        return dataclasses.replace(r, record={**r.record, "pixels": coords})

    rows = [at("a", [[0, 1], [-1, -1]]), at("a", [[2, 2]]), at("b", [[3, 3]])]  # image b has no mask: not checked
    assert metrics.pixels_outside_region(rows, {("a", "whole"): mask}) == (1, 2)


def test_paper_table_iii_transcribed() -> None:
    from pixelspace.report import metrics as mt

    assert mt.PAPER_TABLE_III[("AlexNet", "whole", "untargeted")] == 0.1119
    assert mt.PAPER_TABLE_III[("ResNet-50", "background", "ori_top5_in_top5")] == 0.9671
    assert mt.PAPER_TABLE_III[("VGG-16(I)", "foreground", "conf_decrease_top1")] == 0.1445
    assert len(mt.PAPER_TABLE_III) == 3 * 3 * 9
    assert mt.paper_imagenet_network("resnet50-imagenet") == "ResNet-50"
    assert mt.paper_imagenet_network("efficientnet-lite0-imagenet") is None


def test_a_corrupt_record_is_a_store_error(tmp_path: Path) -> None:
    import sqlite3

    from pixelspace.errors import StoreError
    from tests.report.store_factory import make_store

    path = make_store(tmp_path / "s.sqlite", n_images=2, targeted_images=0)
    assert len(stored.load_store(path).attacks) > 0
    with sqlite3.connect(path) as con:
        key = con.execute("SELECT key FROM attacks ORDER BY key LIMIT 1").fetchone()[0]
        con.execute("UPDATE attacks SET record = ? WHERE key = ?", ('{"success": tru', key))
    with pytest.raises(StoreError, match=rf"the record of attack {key} is not a valid JSON object.*DELETE FROM"):
        stored.load_store(path)
    with sqlite3.connect(path) as con:
        con.execute("UPDATE attacks SET record = '[1, 2]' WHERE key = ?", (key,))
    with pytest.raises(StoreError, match="not a valid JSON object"):
        stored.load_store(path)
