"""`pixelspace run`, `status` and `replay` driven in-process on the tiny campaign."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pixelspace.campaign import campaign_status, format_status, replay_attack
from pixelspace.cli import cli
from tests.campaign.conftest import attack_rows, config_dict, to_toml


@pytest.fixture
def campaign_file(tiny_data: dict[str, Any], tmp_path: Path) -> Path:
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, tmp_path / "store.sqlite", **{"fitness_curves.images": 1})))
    return toml


def test_run_status_replay(campaign_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    runner = CliRunner()
    out = runner.invoke(cli, ["run", str(campaign_file), "--no-progress"])
    assert out.exit_code == 0, out.output
    assert "15/15 attacks stored" in out.output and "4 images attacked, 2 passed over" in out.output

    out = runner.invoke(cli, ["status", str(store)])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "attacks 15/15 (100.0 %)" in out.output
    for region in ("whole", "foreground", "background"):
        assert any(line.split()[:6] == ["tiny", "de", region, "1", "untargeted", "yes"] and "4/4" in line for line in lines)
    assert sum(line.split()[:3] == ["tiny", "de", "whole"] for line in lines) == 2  # with and without early stop

    out = runner.invoke(cli, ["status", str(store), "--keys", "2"])
    assert out.exit_code == 0, out.output
    listed = [line.split()[0] for line in out.output.splitlines()[-2:]]
    assert listed == sorted(row[0] for row in attack_rows(store))[:2]

    key = attack_rows(store)[0][0]
    out = runner.invoke(cli, ["replay", str(store), key[:10]])
    assert out.exit_code == 0, out.output
    assert f"attack {key}" in out.output and "reproduces the stored row" in out.output


def test_replay_every_row_matches(campaign_file: Path, tmp_path: Path) -> None:
    CliRunner().invoke(cli, ["run", str(campaign_file), "--no-progress"])
    rows = attack_rows(tmp_path / "store.sqlite")
    assert len(rows) == 15
    for row in rows:
        r = replay_attack(tmp_path / "store.sqlite", row[0])
        assert r.identical, (row[0], r.differences)  # its whole batch re-run: bit for bit
        assert r.batch_attacks in (1, 2)  # attacks_per_batch = 2 (the last batch of a group may hold one)
        assert r.batch_stored == r.batch_identical == r.batch_attacks  # and every row of that batch with it
    alone = replay_attack(tmp_path / "store.sqlite", rows[0][0], alone=True)
    assert alone.batch_attacks == 1 and alone.stored["seed"] == alone.replayed["seed"]


def test_status_of_a_partial_store(campaign_file: Path, tmp_path: Path) -> None:
    from pixelspace.campaign import CampaignConfig, run_campaign
    from tests.campaign.test_runner import FailingBackend

    with pytest.raises(RuntimeError):
        run_campaign(CampaignConfig.load(campaign_file), progress=False, backend=FailingBackend(after=1))
    status = campaign_status(tmp_path / "store.sqlite")
    assert (status.done, status.total) == (2, 15)
    assert "attacks 2/15" in format_status(status)


def test_report_of_an_unfinished_store_says_so(campaign_file: Path, tmp_path: Path) -> None:
    from pixelspace.campaign import CampaignConfig, run_campaign
    from pixelspace.report import write_report
    from tests.campaign.test_runner import FailingBackend

    with pytest.raises(RuntimeError):
        run_campaign(CampaignConfig.load(campaign_file), progress=False, backend=FailingBackend(after=1))
    md = write_report(tmp_path / "store.sqlite", tmp_path / "partial").markdown.read_text()
    assert "**UNFINISHED CAMPAIGN:** 2 of the 15 planned attacks are stored (13.3 %)" in md
    assert "planned groups have no attack yet" in md
    # Table II marks each cell with its stored / planned attacks (4 images per region; one batch of 2 stored)
    table2 = md.split("Table II")[1].split("Region differences")[0]
    assert table2.count("1/4<br>in progress") == 2, table2
    assert "planned network × region × pixels cells have no attack yet" in table2
    run_campaign(CampaignConfig.load(campaign_file), progress=False)
    md = write_report(tmp_path / "store.sqlite", tmp_path / "complete").markdown.read_text()
    assert "UNFINISHED" not in md and "in progress" not in md


def test_cli_errors_are_messages_not_tracebacks(campaign_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["status", str(tmp_path / "nope.sqlite")])
    assert out.exit_code == 1 and "does not exist" in out.output and "Traceback" not in out.output
    bad = tmp_path / "bad.toml"
    bad.write_text(campaign_file.read_text().replace("population_size", "populaton_size"))
    out = runner.invoke(cli, ["run", str(bad)])
    assert out.exit_code == 1 and "did you mean 'population_size'" in out.output
    runner.invoke(cli, ["run", str(campaign_file), "--no-progress"])
    out = runner.invoke(cli, ["replay", str(tmp_path / "store.sqlite"), "ffffffffff"])
    assert out.exit_code == 1 and "no attack" in out.output


def test_ctrl_c_says_what_is_stored_and_the_rerun_resumes(campaign_file: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import pixelspace.campaign as campaign
    from tests.campaign.test_runner import FailingBackend

    class Interrupted(FailingBackend):
        def run(self, batches: Any, progress: Any = None) -> Any:
            try:
                yield from super().run(batches, progress)
            except RuntimeError:
                raise KeyboardInterrupt from None

    real = campaign.run_campaign
    monkeypatch.setattr(campaign, "run_campaign", lambda config, progress, **kw: real(config, progress=progress,
                                                                                      backend=Interrupted(after=1)))
    out = CliRunner().invoke(cli, ["run", str(campaign_file), "--no-progress"])
    assert out.exit_code == 130, out.output
    assert (f"interrupted: 2/15 attacks are stored in {tmp_path / 'store.sqlite'}; run `pixelspace run "
            f"{campaign_file}` (with the same options) again to resume") in out.output
    monkeypatch.setattr(campaign, "run_campaign", real)
    out = CliRunner().invoke(cli, ["run", str(campaign_file), "--no-progress"])
    assert out.exit_code == 0 and "15/15 attacks stored (13 now" in out.output


def test_a_store_folder_is_accepted_and_a_binary_campaign_file_refused(campaign_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(cli, ["run", str(campaign_file), "--no-progress"])
    out = runner.invoke(cli, ["status", str(tmp_path)])  # the folder holding store.sqlite
    assert out.exit_code == 0 and "attacks 15/15" in out.output
    out = runner.invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "report" / "report.html").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    out = runner.invoke(cli, ["status", str(empty)])
    assert out.exit_code == 1 and "is a folder with no store.sqlite in it" in out.output
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    out = runner.invoke(cli, ["run", str(png)])
    assert out.exit_code == 1 and "not a campaign file (a campaign file is UTF-8 TOML text)" in out.output
    assert "Traceback" not in out.output


def _tamper(store: Path, key: str, **changes: Any) -> None:
    """Overwrite fields of one stored record, as another device's float rounding (or a real bug) would."""
    import json
    import sqlite3

    with sqlite3.connect(store) as con:
        rec = json.loads(con.execute("SELECT record FROM attacks WHERE key = ?", (key,)).fetchone()[0])
        rec.update({k: f(rec[k]) for k, f in changes.items()})
        con.execute("UPDATE attacks SET record = ? WHERE key = ?", (json.dumps(rec), key))


def test_replay_tells_float_drift_from_a_different_search(campaign_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    runner = CliRunner()
    runner.invoke(cli, ["run", str(campaign_file), "--no-progress"])
    key = attack_rows(store)[0][0]
    _tamper(store, key, confidence=lambda c: c + 3e-3,
            fitness_history=lambda h: [v - 1e-3 for v in h])  # floats only: same search path
    r = replay_attack(store, key)
    assert not r.matches and r.search_reproduced
    assert set(r.float_differences) == {"confidence", "fitness_history"}
    assert r.float_differences["confidence"] == pytest.approx(3e-3, rel=1e-3)
    out = runner.invoke(cli, ["replay", str(store), key])
    assert out.exit_code == 0 and "the search is reproduced" in out.output and "confidence 0.003" in out.output
    out = runner.invoke(cli, ["replay", str(store), key, "--strict"])
    assert out.exit_code == 1 and "floats differ beyond 1e-5" in out.output

    _tamper(store, key, queries=lambda q: q + 1)  # a discrete field: the search did not take the same path
    r = replay_attack(store, key)
    assert not r.search_reproduced and "queries" in r.differences
    out = runner.invoke(cli, ["replay", str(store), key])
    assert out.exit_code == 1 and "does NOT reproduce" in out.output


def test_a_store_from_before_the_memo_replays_without_it(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    import json
    import sqlite3

    from pixelspace.campaign import CampaignConfig

    store = tmp_path / "old.sqlite"
    old = config_dict(tiny_data, store, **{"attack.reuse_evaluations": False})
    toml = tmp_path / "old.toml"
    toml.write_text(to_toml(old))
    assert CliRunner().invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
    # what a store written before the memo existed records: no attack.reuse_evaluations at all
    with sqlite3.connect(store) as con:
        cfg = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config_json'").fetchone()[0])
        assert cfg["attack"].pop("reuse_evaluations") is False
        con.execute("UPDATE meta SET value = ? WHERE key = 'config_json'", (json.dumps(cfg),))
    assert CampaignConfig.from_stored(cfg).attack.reuse_evaluations is False
    assert CampaignConfig.from_dict(cfg).attack.reuse_evaluations is True  # a user's file: the default
    # its config hash is the one it had before the memo existed; the default (memo on) is another config
    without = CampaignConfig.from_dict(config_dict(tiny_data, store))
    assert CampaignConfig.from_stored(cfg).config_hash() != without.config_hash()
    assert "reuse_evaluations" not in CampaignConfig.from_stored(cfg).result_dict()["attack"]
    for row in attack_rows(store)[:4]:
        r = replay_attack(store, row[0])
        assert r.identical, (row[0], r.differences)
    # resuming it with today's default config names the key to set
    new_toml = tmp_path / "new.toml"
    new_toml.write_text(to_toml(config_dict(tiny_data, store)))
    out = CliRunner().invoke(cli, ["run", str(new_toml), "--no-progress"])
    assert out.exit_code != 0 and "reuse_evaluations = false" in out.output, out.output


def test_time_limit_stops_at_a_batch_boundary_and_the_rerun_completes(campaign_file: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    runner = CliRunner()
    out = runner.invoke(cli, ["run", str(campaign_file), "--no-progress", "--time-limit", "0.001s"])
    assert out.exit_code == 0, out.output
    # the start and the setup used the limit up: the setup is stored, no batch starts (issue 33)
    assert "0/15 attacks stored" in out.output
    assert "time limit reached (reached before the first batch" in out.output
    assert ": 0 of 15 attacks are done" in out.output
    assert len(attack_rows(store)) == 0
    out = runner.invoke(cli, ["run", str(campaign_file), "--no-progress", "--time-limit", "1h"])
    assert out.exit_code == 0, out.output
    assert "15/15 attacks stored (15 now" in out.output and "time limit" not in out.output
    reference = tmp_path / "reference.toml"
    reference.write_text(campaign_file.read_text().replace(str(store), str(tmp_path / "reference.sqlite")))
    assert runner.invoke(cli, ["run", str(reference), "--no-progress"]).exit_code == 0
    assert attack_rows(store) == attack_rows(tmp_path / "reference.sqlite")


def test_time_limit_refuses_what_is_not_a_duration(campaign_file: Path) -> None:
    for bad in ("soon", "0s", "-5m"):
        out = CliRunner().invoke(cli, ["run", str(campaign_file), "--time-limit", bad])
        assert out.exit_code == 2 and "--time-limit" in out.output and "Traceback" not in out.output, out.output


def test_parse_duration() -> None:
    from pixelspace.cli import parse_duration

    assert [parse_duration(t) for t in ("90", "90s", "8m", "1h30m", "1.5h", "2h5s")] == [
        90, 90, 480, 5400, 5400, 7205]


def test_messages_name_the_fix(campaign_file: Path, tmp_path: Path) -> None:
    # issue 21: a folder given to `run`, a truncated store and a text file given to `report` named the symptom only
    runner = CliRunner()
    out = runner.invoke(cli, ["run", str(campaign_file), "--no-progress"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["run", str(tmp_path)])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert f"{tmp_path} is a folder, not a campaign file" in out.output and "does not exist" not in out.output
    assert "campaign files in it: tiny.toml" in out.output and "store file(s) store.sqlite" in out.output

    text = tmp_path / "notes.txt"
    text.write_text("not a store " * 100)
    for command in ("status", "report"):
        out = runner.invoke(cli, [command, str(text)] + (["--out", str(tmp_path / "r")] if command == "report" else []))
        assert out.exit_code == 1 and "file is not a database (the file is not an SQLite database" in out.output

    store = tmp_path / "store.sqlite"
    data = store.read_bytes()
    store.write_bytes(data[: len(data) // 2])  # as an interrupted copy leaves it
    for args in (["status", str(store)], ["report", str(store), "--out", str(tmp_path / "r")],
                 ["run", str(campaign_file), "--no-progress"]):
        out = runner.invoke(cli, args)
        assert out.exit_code == 1 and "Traceback" not in out.output, out.output
        message = " ".join(out.output.split())
        assert f"store {store}: database disk image is malformed (the file is damaged" in message, message
        assert f"`sqlite3 {store} .recover | sqlite3 recovered.sqlite`" in message
        assert "or run the campaign again into a new store path" in message


def test_a_store_from_before_the_incremental_pass_replays_without_it(tiny_data: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    import json
    import sqlite3

    from pixelspace.campaign import CampaignConfig

    store = tmp_path / "old.sqlite"
    old = config_dict(tiny_data, store, **{"attack.incremental": False})
    toml = tmp_path / "old.toml"
    toml.write_text(to_toml(old))
    assert CliRunner().invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
    # what a store written before the incremental pass existed records: no attack.incremental at all
    with sqlite3.connect(store) as con:
        cfg = json.loads(con.execute("SELECT value FROM meta WHERE key = 'config_json'").fetchone()[0])
        assert cfg["attack"].pop("incremental") is False
        con.execute("UPDATE meta SET value = ? WHERE key = 'config_json'", (json.dumps(cfg),))
    assert CampaignConfig.from_stored(cfg).attack.incremental is False
    assert CampaignConfig.from_dict(cfg).attack.incremental is True  # a user's file: the default
    assert "incremental" not in CampaignConfig.from_stored(cfg).result_dict()["attack"]
    assert "incremental" in CampaignConfig.from_dict(cfg).result_dict()["attack"]  # on: part of the hash
    for row in attack_rows(store)[:2]:
        r = replay_attack(store, row[0])
        assert r.identical, (row[0], r.differences)
    new_toml = tmp_path / "new.toml"
    new_toml.write_text(to_toml(config_dict(tiny_data, store)))
    out = CliRunner().invoke(cli, ["run", str(new_toml), "--no-progress"])
    assert out.exit_code != 0 and "incremental = false" in out.output, out.output
    assert "reuse_evaluations = false" not in out.output
    # the same store resumes with the option set, and the incremental pass gives the same attack rows
    assert CliRunner().invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
