"""A CPU store records the level of PyTorch's CPU kernels it was made with; a resume on another level warns, and
`pixelspace replay` runs at the store's level (or says why a row made elsewhere may not replay)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from pixelspace.campaign import replay_attack, run_campaign
from pixelspace.cli import cli
from pixelspace.errors import ConfigError
from pixelspace.runtime import CAPABILITY_ENV, cpu_capability
from tests.campaign.backends import FirstBatchOnly
from tests.campaign.conftest import REPO, attack_rows, config_dict, to_toml


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ATEN_CPU_CAPABILITY`` unset here and restored after the test (the replay may set it)."""
    monkeypatch.delenv(CAPABILITY_ENV, raising=False)


def _meta(store: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(store: Path, key: str, value: str | None) -> None:
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        if value is None:
            conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def threads_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets PyTorch's thread count each time a batch is run for a replay (from now on)."""
    from pixelspace.campaign.backends import local

    seen: list[int] = []
    real = local.run_batch

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(local, "run_batch", spy)
    return seen


def _without_runs(store: Path) -> None:
    """Make ``store`` look like one from before runs were recorded: what it was made with is then only in meta."""
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        conn.execute("DROP TABLE IF EXISTS runs")


def _another_level() -> str:
    return "DEFAULT" if cpu_capability() != "DEFAULT" else "AVX2"


def test_a_cpu_store_records_its_kernels_and_a_resume_on_others_warns(
        make_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_config()
    run_campaign(cfg, progress=False)
    assert _meta(Path(cfg.campaign.store))["cpu_capability"] == cpu_capability()
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False)  # the same kernels: nothing to say
    assert "CPU kernels" not in caplog.text
    _set_meta(Path(cfg.campaign.store), "cpu_capability", _another_level())
    _without_runs(Path(cfg.campaign.store))  # else its last run, not its creation, is what a resume matches
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False)
    assert (f"store made with PyTorch's {_another_level()} CPU kernels, resumed with {cpu_capability()}"
            in caplog.text and f"{CAPABILITY_ENV}={_another_level().lower()}" in caplog.text)


def test_a_cpu_store_records_its_thread_count_and_a_resume_with_another_warns(
        make_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_config()
    run_campaign(cfg, progress=False)
    store = Path(cfg.campaign.store)
    assert _meta(store)["torch_threads"] == str(torch.get_num_threads())
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False)
    assert "PyTorch threads" not in caplog.text
    _set_meta(store, "torch_threads", str(torch.get_num_threads() + 3))
    _without_runs(store)
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False)
    assert (f"store made with {torch.get_num_threads() + 3} PyTorch threads, resumed with {torch.get_num_threads()}"
            in caplog.text and f"OMP_NUM_THREADS={torch.get_num_threads() + 3}" in caplog.text)


def test_a_resume_is_matched_against_the_last_run_that_wrote_rows(
        make_config: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A store created under other settings but last extended under today's says nothing; one whose last run used
    another thread count or kernel level warns, naming that run."""
    cfg = make_config()
    run_campaign(cfg, progress=False, backend=FirstBatchOnly())
    store = Path(cfg.campaign.store)
    _set_meta(store, "torch_threads", str(torch.get_num_threads() + 3))  # created elsewhere ...
    _set_meta(store, "cpu_capability", _another_level())
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False, backend=FirstBatchOnly())  # ... but its last run matches this one
    assert "PyTorch threads" not in caplog.text and "CPU kernels" not in caplog.text
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        conn.execute("UPDATE runs SET details = json_set(details, '$.torch_threads', ?, '$.cpu_capability', ?) "
                     "WHERE run = (SELECT MAX(run) FROM runs)", (str(torch.get_num_threads() + 5), _another_level()))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_campaign(cfg, progress=False)
    assert (f"store's last run used {torch.get_num_threads() + 5} PyTorch threads, resumed with "
            f"{torch.get_num_threads()}" in caplog.text), caplog.text
    assert (f"store's last run used PyTorch's {_another_level()} CPU kernels, resumed with {cpu_capability()}"
            in caplog.text), caplog.text


def test_replay_runs_with_the_stored_thread_count_and_restores_its_own(
        tiny_data: dict[str, Any], tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The re-run happens under the store's thread count (or the one asked for); the process's count is back
    afterwards; a store without a recorded count replays under the process's own and the note says so."""
    store = tmp_path / "store.sqlite"
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, store)))
    assert CliRunner().invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
    key = attack_rows(store)[0][0]
    own = torch.get_num_threads()
    seen = threads_seen(monkeypatch)
    other = own + 1
    _without_runs(store)
    _set_meta(store, "torch_threads", str(other))
    r = replay_attack(store, key)
    assert seen[-1] == other and (r.threads, r.stored_threads) == (other, other)
    assert torch.get_num_threads() == own
    r = replay_attack(store, key, threads=None)
    assert seen[-1] == own and r.threads == own and "thread" in r.kernel_note()
    r = replay_attack(store, key, threads=2)
    assert seen[-1] == 2 and r.threads == 2 and torch.get_num_threads() == own
    _set_meta(store, "torch_threads", None)
    r = replay_attack(store, key)
    assert seen[-1] == own and r.stored_threads is None
    assert "does not record PyTorch's thread count" in r.kernel_note() and "--threads" in r.kernel_note()
    with pytest.raises(ConfigError, match="threads must be a positive number"):
        replay_attack(store, key, threads=0)
    out = CliRunner().invoke(cli, ["replay", str(store), key, "--threads", "many"])
    assert out.exit_code == 2 and "'many' is not 'store', 'native' or a number" in out.output, out.output


def test_replay_names_the_kernels_and_why_a_row_from_elsewhere_may_differ(
        tiny_data: dict[str, Any], tmp_path: Path, clean_env: None) -> None:
    store = tmp_path / "store.sqlite"
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, store)))
    runner = CliRunner()
    assert runner.invoke(cli, ["run", str(toml), "--no-progress"]).exit_code == 0
    key = attack_rows(store)[0][0]
    r = replay_attack(store, key)
    assert r.identical and (r.cpu_capability, r.stored_cpu_capability) == (cpu_capability(), cpu_capability())
    assert r.kernel_note() == ""
    out = runner.invoke(cli, ["replay", str(store), key])
    assert out.exit_code == 0 and f"CPU kernels {cpu_capability()}, {torch.get_num_threads()} thread(s))" \
        in out.output, out.output

    # a store from before the level was recorded, whose row this replay does not reproduce
    _without_runs(store)
    _set_meta(store, "cpu_capability", None)
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        rec = json.loads(conn.execute("SELECT record FROM attacks WHERE key = ?", (key,)).fetchone()[0])
        rec["queries"] += 1
        conn.execute("UPDATE attacks SET record = ? WHERE key = ?", (json.dumps(rec), key))
    r = replay_attack(store, key)
    assert r.stored_cpu_capability is None and "queries" in r.differences
    out = runner.invoke(cli, ["replay", str(store), key])
    assert out.exit_code == 1 and "does NOT reproduce" in out.output
    assert "does not record the level of PyTorch's CPU kernels" in out.output and "--cpu-capability" in out.output

    # a store made with other kernels: this process cannot switch any more, so the replay says so
    _set_meta(store, "cpu_capability", _another_level())
    out = runner.invoke(cli, ["replay", str(store), key])
    assert f"note: the store was made with PyTorch's {_another_level()} CPU kernels" in out.output, out.output
    assert f"made with PyTorch's {_another_level()} CPU kernels and this replay ran with {cpu_capability()}" \
        in out.output
    out = runner.invoke(cli, ["replay", str(store), key, "--cpu-capability", "native"])
    assert "note:" not in out.output and "made with PyTorch's" in out.output


def test_replay_runs_at_the_level_the_store_was_made_with(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    """End to end in fresh processes: a store made with the default (unvectorised) kernels replays with them."""
    store = tmp_path / "store.sqlite"
    toml = tmp_path / "tiny.toml"
    toml.write_text(to_toml(config_dict(tiny_data, store)))
    env = {k: v for k, v in os.environ.items() if k != CAPABILITY_ENV}

    def pixelspace(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pixelspace", *args], capture_output=True, text=True,
                              cwd=REPO, env={**env, **extra}, timeout=300)

    made = pixelspace("run", str(toml), "--no-progress", **{CAPABILITY_ENV: "default"})
    assert made.returncode == 0, made.stderr
    assert _meta(store)["cpu_capability"] == "DEFAULT"
    key = attack_rows(store)[0][0]
    out = pixelspace("replay", str(store), key)
    assert out.returncode == 0, out.stderr
    assert "CPU kernels DEFAULT, " in out.stdout and "reproduces the stored row exactly" in out.stdout


BEST1BIN = REPO / "results" / "cifar10-best1bin" / "store.sqlite"


def stored_float_matches(store: Path, batch_index: int) -> dict[str, int]:
    """How many of a stored batch's rows this process computes bit for bit, without any search: the clean pass
    (the batch's clean images at once, fp32) against ``clean_top5_probs``, and each success's confirmation (its
    adversarial image alone, fp32) against ``adv_top5_probs``. Run in a fresh process per kernel level."""
    import numpy as np
    import torch

    from pixelspace.campaign.config import CampaignConfig
    from pixelspace.campaign.prepare import load_model
    from pixelspace.campaign.runner import expand_attacks, make_batches, read_inputs
    from pixelspace.campaign.store import Store
    from pixelspace.models.classifier import Classifier

    with Store.open_readonly(store) as st:
        meta, inputs = st.meta(), read_inputs(st)
        stored = {k: json.loads(r) for k, r in st.query("SELECT key, record FROM attacks")}
    config = CampaignConfig.from_stored(json.loads(meta["config_json"]), str(store))
    specs = expand_attacks(config, inputs, len(json.loads(meta["class_names_json"])))
    batch = make_batches(specs, inputs.attacks_per_batch)[batch_index]
    clf = Classifier(load_model(next(m for m in config.models if m.name == batch.model)).module,
                     batch_size=inputs.batch_size, incremental=False)
    clean = torch.from_numpy(np.stack([inputs.images[s.image_id] for s in batch.attacks])).permute(0, 3, 1, 2)
    probs = clf.probabilities(clean.contiguous(), count=False, precision="fp32").numpy()
    out = {"rows": 0, "clean": 0, "successes": 0, "confirmations": 0}

    def top5(p: np.ndarray) -> np.ndarray:
        return np.sort(p)[::-1][:5].astype(np.float32)

    for i, spec in enumerate(batch.attacks):
        rec = stored[spec.key]
        out["rows"] += 1
        out["clean"] += bool(np.array_equal(top5(probs[i]), np.float32(rec["clean_top5_probs"])))
        if rec["success"]:
            x = clean[i : i + 1].clone()
            for (y, col), colour in zip(rec["pixels"], rec["colors"], strict=True):
                x[0, :, y, col] = torch.tensor(colour, dtype=torch.uint8)
            adv = clf.probabilities(x, count=False, precision="fp32").numpy()[0]
            out["successes"] += 1
            out["confirmations"] += bool(np.array_equal(top5(adv), np.float32(rec["adv_top5_probs"])))
    return out


@pytest.mark.skipif(not BEST1BIN.is_file(), reason="results/cifar10-best1bin is absent")
def test_the_best1bin_store_was_made_with_avx2_kernels() -> None:
    """results/cifar10-best1bin records no kernel level (made before it was recorded); its floats are those of
    PyTorch's AVX2 kernels, bit for bit, and (on a CPU with AVX-512) not those of the AVX-512 kernels."""
    from pixelspace.runtime import cpu_supports

    if not cpu_supports("avx2"):
        pytest.skip("this CPU has no AVX2")
    code = ("import json, sys\n"
            "from pixelspace.errors import WeightsError, DataError\n"
            "from tests.campaign.test_cpu_kernels import stored_float_matches, BEST1BIN\n"
            "try:\n"
            "    print(json.dumps(stored_float_matches(BEST1BIN, 0)))\n"
            "except (WeightsError, DataError) as exc:\n"
            "    print(json.dumps({'skip': str(exc)}))\n")
    env = {k: v for k, v in os.environ.items() if k != CAPABILITY_ENV}
    levels = ["avx2"] + (["avx512"] if cpu_supports("avx512") else [])
    got = {}
    for level in levels:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                             env={**env, CAPABILITY_ENV: level, "OMP_NUM_THREADS": "1"})
        assert out.returncode == 0, out.stderr
        got[level] = json.loads(out.stdout.splitlines()[-1])
        if "skip" in got[level]:
            pytest.skip(f"shipped weights or data unavailable: {got[level]['skip']}")
    avx2 = got["avx2"]
    assert avx2["rows"] == 11 and avx2["successes"] == 3
    assert avx2["clean"] == avx2["rows"] and avx2["confirmations"] == avx2["successes"], avx2
    if "avx512" in got:
        assert got["avx512"]["confirmations"] < got["avx512"]["successes"], got["avx512"]


IMAGENET_CPU = REPO / "results" / "imagenet-cpu" / "store.sqlite"


@pytest.mark.skipif(not IMAGENET_CPU.is_file(), reason="results/imagenet-cpu is absent")
def test_the_imagenet_cpu_store_was_made_with_avx2_kernels_and_two_threads() -> None:
    """results/imagenet-cpu records neither its kernel level nor its thread count (made before either was
    recorded); EfficientNet-Lite0's clean probabilities in its first batch are those of PyTorch's AVX2 kernels
    under 2 threads, bit for bit, and not those under 1 thread (docs/campaigns.md, "Replay on another machine")."""
    from pixelspace.runtime import cpu_supports

    if not cpu_supports("avx2"):
        pytest.skip("this CPU has no AVX2")
    code = ("import json, sys\n"
            "from pixelspace.errors import WeightsError, DataError\n"
            "from tests.campaign.test_cpu_kernels import stored_float_matches, IMAGENET_CPU\n"
            "try:\n"
            "    print(json.dumps(stored_float_matches(IMAGENET_CPU, 0)))\n"
            "except (WeightsError, DataError) as exc:\n"
            "    print(json.dumps({'skip': str(exc)}))\n")
    env = {k: v for k, v in os.environ.items() if k != CAPABILITY_ENV}
    got = {}
    for threads in ("2", "1"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                             env={**env, CAPABILITY_ENV: "avx2", "OMP_NUM_THREADS": threads})
        assert out.returncode == 0, out.stderr
        got[threads] = json.loads(out.stdout.splitlines()[-1])
        if "skip" in got[threads]:
            pytest.skip(f"shipped weights or data unavailable: {got[threads]['skip']}")
    two, one = got["2"], got["1"]
    assert two["rows"] == 4 and two["clean"] == 4 and two["confirmations"] == two["successes"], two
    assert one["clean"] < one["rows"], one


def test_each_run_is_recorded_with_its_rows_and_replay_uses_the_run_that_made_a_row(
        make_config: Any, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> None:
    """A campaign run in two calls records two runs whose rowid ranges hold exactly the rows each wrote; a
    replay takes the thread count of the run that made the row, not the store's first one."""
    from pixelspace.campaign.store import Store

    cfg = make_config()
    first = run_campaign(cfg, progress=False, backend=FirstBatchOnly())
    assert 0 < first.attacks_run < first.attacks_total
    rest = run_campaign(cfg, progress=False)
    assert rest.attacks_run == first.attacks_total - first.attacks_run
    assert run_campaign(cfg, progress=False).attacks_run == 0  # nothing left: no run recorded
    store_path = Path(cfg.campaign.store)
    with Store.open_readonly(store_path) as store:
        runs = store.runs()
        assert [r["rows"] for r in runs] == [first.attacks_run, rest.attacks_run]
        assert runs[0]["first_rowid"] == 1 and runs[0]["last_rowid"] + 1 == runs[1]["first_rowid"]
        assert runs[1]["last_rowid"] == first.attacks_total
        assert runs[0]["details"]["torch_threads"] == str(torch.get_num_threads())
        assert runs[0]["details"]["backend"] == "local" and runs[0]["ended_utc"] >= runs[0]["started_utc"]
        by_run: dict[int, list[str]] = {r["run"]: [] for r in runs}
        keys = [k for (k,) in store.query("SELECT key FROM attacks ORDER BY rowid")]
        for key in keys:
            run = store.run_of(key)
            assert run is not None
            by_run[run["run"]].append(key)
        assert [len(v) for v in by_run.values()] == [first.attacks_run, rest.attacks_run]
    from pixelspace.campaign.status import campaign_status, format_status

    text = format_status(campaign_status(store_path))
    assert "runs (2;" in text and f"{first.attacks_run} rows, cpu" in text, text
    # the first run under another thread count: its rows replay under that count, the second run's under theirs
    with contextlib.closing(sqlite3.connect(store_path)) as conn, conn:
        conn.execute("UPDATE runs SET details = json_set(details, '$.torch_threads', ?) WHERE run = ?",
                     (str(torch.get_num_threads() + 2), runs[0]["run"]))
    seen = threads_seen(monkeypatch)
    r = replay_attack(store_path, by_run[runs[0]["run"]][0])
    assert seen[-1] == torch.get_num_threads() + 2 and r.stored_threads == torch.get_num_threads() + 2
    r = replay_attack(store_path, by_run[runs[1]["run"]][0])
    assert seen[-1] == torch.get_num_threads() and r.stored_threads == torch.get_num_threads() and r.identical


def test_a_backend_s_workers_environment_is_recorded_with_its_run(make_config: Any, clean_env: None) -> None:
    """A backend whose workers are other processes (Ray) says how they compute; the run records it, so a replay
    of its rows knows the level and thread count (a local run records its own process's)."""
    from pixelspace.campaign.backends.local import LocalBackend
    from pixelspace.campaign.status import made_with
    from pixelspace.campaign.store import Store

    workers = [{"host": "h", "device": "cpu", "threads": 3, "cpu_capability": "AVX2"}]

    class Remote(LocalBackend):
        """The local backend, claiming remote workers whose settings arrive with the results."""

        name = "remote"

        def environment(self) -> dict[str, Any]:
            return {"workers": workers, "cpu_capability": "AVX2", "torch_threads": "3"}

    cfg = make_config()
    summary = run_campaign(cfg, progress=False, backend=Remote())
    assert summary.attacks_run > 0
    with Store.open_readonly(Path(cfg.campaign.store)) as store:
        (run,) = store.runs()
        assert run["details"]["backend"] == "remote" and run["details"]["workers"] == workers
        key = store.query("SELECT key FROM attacks ORDER BY rowid LIMIT 1")[0][0]
        assert made_with(store, key) == {"device": "cpu", "cpu_capability": "AVX2", "torch_threads": "3"}


def test_run_details_merge_replace_and_drop_what_is_no_longer_agreed(tmp_path: Path) -> None:
    from pixelspace.campaign.store import Store
    from pixelspace.errors import StoreError

    with Store.open_for_campaign(tmp_path / "s.sqlite", "{}", "h", {}) as store:
        run = store.begin_run({"backend": "ray", "device": "cpu"})
        store.add_run_details(run, {"cpu_capability": "AVX512", "torch_threads": "1", "workers": [1]})
        store.add_run_details(run, {"cpu_capability": None, "torch_threads": "1", "workers": [1, 2]})  # disagree
        assert store.runs()[0]["details"] == {"backend": "ray", "device": "cpu", "torch_threads": "1",
                                              "workers": [1, 2]}
        with pytest.raises(StoreError, match="no run 7"):
            store.add_run_details(7, {"x": 1})


def test_a_run_stopped_before_its_first_batch_is_listed_as_such(make_config: Any) -> None:
    """A run killed before it stored a row (e.g. its workers killed for memory) stays in ``runs`` with 0 rows and
    no end; ``status`` says so instead of calling it a run that wrote rows, and the next run resumes normally."""
    from pixelspace.campaign.backends.local import LocalBackend
    from pixelspace.campaign.status import campaign_status, format_status
    from pixelspace.campaign.store import Store

    class Killed(LocalBackend):
        def run(self, batches: Any, progress: Any = None) -> Any:
            raise RuntimeError("workers killed")
            yield  # a generator, as a backend is

    cfg = make_config()
    with pytest.raises(RuntimeError, match="workers killed"):
        run_campaign(cfg, progress=False, backend=Killed())
    done = run_campaign(cfg, progress=False)
    assert done.attacks_run == done.attacks_total > 0
    store_path = Path(cfg.campaign.store)
    with Store.open_readonly(store_path) as store:
        runs = store.runs()
    assert [(r["rows"], r["ended_utc"] is None) for r in runs] == [(0, True), (done.attacks_total, False)]
    text = format_status(campaign_status(store_path))
    assert "runs (2;" in text and "stopped before its first batch was stored" in text, text
