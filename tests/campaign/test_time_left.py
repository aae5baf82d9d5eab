"""The time-left estimate of ``pixelspace status``: the runner times each batch into its run, the estimate prices
the attacks left with those rates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign import run_campaign
from pixelspace.campaign.status import StatusRow
from pixelspace.campaign.time_left import estimate_time_left, format_time_left
from tests.campaign.backends import FirstBatchOnly


def Group(model: str, region: str, pixels: int, mode: str, search: str, done: int, total: int,  # noqa: N802
          mean_queries: float) -> StatusRow:
    """A status row (the estimate reads no success count or early stop)."""
    return StatusRow(model, region, pixels, mode, True, done, total, 0, mean_queries, search)


def _timing(model: str, pixels: int, queries: int, seconds: float, batches: int = 1) -> dict[str, Any]:
    return {"model": model, "pixels": pixels, "mode": "untargeted", "search": "sparse-rs", "batches": batches,
            "attacks": 10 * batches, "queries": queries, "seconds": seconds}


def _run(run: int, timing: list[dict[str, Any]], workers: int = 1) -> dict[str, Any]:
    return {"run": run, "details": {"timing": timing, "workers": [{}] * workers}}


def test_the_estimate_prices_each_group_with_its_own_mean_and_its_network_s_rate() -> None:
    groups = [
        Group("a", "whole", 3, "untargeted", "sparse-rs", 10, 20, 100.0),      # 10 left × 100 q
        Group("a", "whole", 5, "untargeted", "sparse-rs", 0, 10, 0.0),         # borrows a's mean: 100 q
        Group("b", "whole", 3, "untargeted", "sparse-rs", 4, 4, 50.0),         # finished
        Group("c", "whole", 3, "untargeted", "sparse-rs", 0, 7, 0.0),          # no row of c: left out
    ]
    runs = [{"run": 1, "started_utc": "x", "ended_utc": None, "details": {}},  # before batches were timed
            _run(2, [_timing("a", 3, 1000, 2.0), _timing("a", 5, 1000, 6.0), _timing("b", 3, 200, 1.0)],
                 workers=2)]
    e = estimate_time_left(groups, runs)
    assert e is not None
    assert e.attacks == 20 and e.queries == pytest.approx(2000.0)
    # a at 3 px: its own rate (2 s per 1000 q); a at 5 px: its own rate (6 s per 1000 q)
    assert e.worker_seconds == pytest.approx(1000 * 0.002 + 1000 * 0.006)
    assert e.borrowed == ["a whole 5 px untargeted"] and list(e.unpriced) == ["c whole 3 px untargeted"]
    assert e.unpriced_attacks == 7
    assert e.runs == [2] and e.timed_batches == 3 and e.workers == 2
    assert e.wall_seconds == pytest.approx(8.0 / 2)  # the last timed run's 2 workers
    assert e.by_model == pytest.approx({"a": 8.0})  # b is finished, c unpriced
    text = " ".join(format_time_left(e).split())
    assert "20 attacks" in text and "1 group(s) with no row yet" in text and "Not in these hours: 7 more attacks in 1 group(s)" in text, text


def test_a_pixel_count_never_timed_takes_the_network_s_rate_over_all_pixel_counts() -> None:
    groups = [Group("a", "whole", 3, "untargeted", "sparse-rs", 1, 2, 10.0),
              Group("a", "whole", 5, "untargeted", "sparse-rs", 1, 3, 30.0)]
    runs = [_run(1, [_timing("a", 3, 100, 1.0)]), _run(2, [_timing("a", 3, 300, 1.0)])]
    e = estimate_time_left(groups, runs)
    assert e is not None and e.runs == [1, 2]
    # both runs pooled: 2 s per 400 q at 3 px, the only timing of a, also prices 5 px
    assert e.worker_seconds == pytest.approx((1 * 10 + 2 * 30) * 2.0 / 400)
    two = estimate_time_left([*groups, Group("b", "whole", 3, "untargeted", "sparse-rs", 1, 4, 100.0)],
                             [*runs, _run(3, [_timing("b", 3, 100, 3.0)])])
    assert two is not None and two.by_model == pytest.approx({"a": 0.35, "b": 9.0})
    text = " ".join(format_time_left(two).split())
    assert "per network a 0.0 worker-h (4 %), b 0.0 worker-h (96 %)" in text, text


def test_a_reference_store_prices_the_groups_with_no_row_of_the_same_search() -> None:
    def row(region: str, pixels: int, done: int, total: int, mean: float, search_hash: str = "h") -> StatusRow:
        return StatusRow("a", region, pixels, "untargeted", True, done, total, 0, mean, "sparse-rs", search_hash)

    groups = [row("whole", 3, 10, 10, 100.0),      # finished: sets the network's own mean (100)
              row("whole", 5, 0, 10, 0.0),         # the reference has this group: 40 q
              row("centre", 5, 0, 10, 0.0),        # the reference lacks centre: its 5 px mean over regions, 85 q
              row("whole", 5, 0, 10, 0.0, "other")]  # other search settings: the network's own mean, 100 q
    reference = [row("whole", 5, 10, 10, 40.0), row("foreground", 5, 30, 30, 100.0),
                 row("whole", 5, 10, 10, 1e6, "other2")]
    # the reference's 5 px mean over its regions, weighted by rows: (10 * 40 + 30 * 100) / 40 = 85
    runs = [_run(1, [_timing("a", 3, 1000, 1.0)])]
    e = estimate_time_left(groups, runs, reference=reference, reference_name="pilot.sqlite")
    assert e is not None and e.attacks == 30
    assert e.queries == pytest.approx(10 * 40 + 10 * 85 + 10 * 100)
    assert e.referenced == ["a whole 5 px untargeted", "a centre 5 px untargeted (over the reference's regions)"]
    assert e.borrowed == ["a whole 5 px untargeted"]
    text = " ".join(format_time_left(e).split())
    assert "2 group(s) with no row yet take the mean queries of the same group in pilot.sqlite" in text, text
    plain = estimate_time_left(groups, runs)  # without it every such group borrows the network's own mean
    assert plain is not None and plain.queries == pytest.approx(30 * 100) and not plain.referenced


def test_no_estimate_without_timed_runs_or_without_work_left() -> None:
    left = [Group("a", "whole", 3, "untargeted", "sparse-rs", 1, 2, 10.0)]
    assert estimate_time_left(left, [{"run": 1, "details": {"backend": "local"}}]) is None
    done = [Group("a", "whole", 3, "untargeted", "sparse-rs", 2, 2, 10.0)]
    assert estimate_time_left(done, [_run(1, [_timing("a", 3, 100, 1.0)])]) is None
    assert format_time_left(None) == ""


def test_each_run_records_the_worker_time_of_its_batches_and_status_estimates_the_rest(make_config: Any) -> None:
    """Two calls of a tiny campaign: each run's ``timing`` holds exactly the attacks and queries it stored, per
    network × pixels × mode × search, with positive seconds; ``status`` prints an estimate while work is left
    and none once the campaign is complete."""
    from pixelspace.campaign.status import campaign_status, format_status
    from pixelspace.campaign.store import Store

    cfg = make_config()
    run_campaign(cfg, progress=False, backend=FirstBatchOnly())
    path = Path(cfg.campaign.store)
    text = " ".join(format_status(campaign_status(path)).split())  # the estimate is wrapped
    assert "time left (an estimate)" in text and "run(s) 1)" in text, text
    from click.testing import CliRunner

    from pixelspace.cli import cli

    out = CliRunner().invoke(cli, ["status", str(path), "--queries-from", str(path)])  # its own rows as the pilot
    assert out.exit_code == 0 and "mean queries of the same group in" in " ".join(out.output.split()), out.output
    run_campaign(cfg, progress=False)
    assert "time left" not in format_status(campaign_status(path))
    with Store.open_readonly(path) as store:
        runs = store.runs()
        assert len(runs) == 2 and all(r["rows"] > 0 for r in runs)  # the loop below checks both
        for run in runs:
            stored = {}
            for model, pixels, mode, n, q in store.query(
                    "SELECT model, pixels, mode, COUNT(*), SUM(queries) "
                    "FROM attacks WHERE rowid BETWEEN ? AND ? GROUP BY model, pixels, mode",
                    (run["first_rowid"], run["last_rowid"])):
                stored[(model, pixels, mode)] = (n, q)
            timing = run["details"]["timing"]
            assert stored and len(timing) == len(stored)
            assert {(t["model"], t["pixels"], t["mode"]): (t["attacks"], t["queries"]) for t in timing} == stored
            assert all(t["seconds"] > 0 and t["batches"] >= 1 for t in timing)
