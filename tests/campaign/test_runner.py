"""The runner end to end on a tiny net: selection, masks, keys, resume after failure or SIGKILL, errors."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pixelspace.campaign import CampaignConfig, Store, run_campaign
from pixelspace.campaign.backends import Batch, BatchResult, ProgressFn
from pixelspace.campaign.backends.local import LocalBackend
from pixelspace.campaign.store import decode_mask_png
from pixelspace.errors import ConfigError, DataError, StoreError, WeightsError
from tests.campaign.conftest import (
    BAD_MASK,
    MISCLASSIFIED,
    PLANTED_OUTCOMES,
    REPO,
    attack_rows,
    config_dict,
    planted_dict,
    to_toml,
)

RECORD_FIELDS = {
    "success", "pixels", "colors", "changed", "predicted", "confidence", "target_probability", "clean_probability",
    "label", "target", "clean_top5_classes", "clean_top5_probs", "adv_top5_classes", "adv_top5_probs",
    "adv_probs_of_clean_top5", "generations", "queries", "fitness_history", "seed", "region_size", "mode",
    "region_mode",
}


def _query(store: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


class FailingBackend(LocalBackend):
    """The local backend, failing after ``after`` batches (an injected crash)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def run(self, batches: Iterable[Batch], progress: ProgressFn | None = None) -> Iterator[BatchResult]:
        for i, result in enumerate(super().run(batches, progress)):
            if i == self.after:
                raise RuntimeError("injected failure")
            yield result


def test_tiny_campaign_end_to_end(make_config: Any, tiny_data: dict[str, Any]) -> None:
    cfg = make_config()
    summary = run_campaign(cfg, progress=False)
    store = Path(cfg.campaign.store)
    assert (summary.attacks_total, summary.attacks_run, summary.images_attacked) == (12, 12, 4) and summary.complete
    images = {r[0]: r for r in _query(store, "SELECT image_id, source_id, label, pool_index, status, reason FROM images")}
    ids = tiny_data["ids"]
    predicted = (tiny_data["labels"][MISCLASSIFIED] - 1) % 10
    assert images[ids[MISCLASSIFIED]][4:] == ("skipped", f"misclassified by tiny (as class{predicted})")
    assert images[ids[BAD_MASK]][4] == "skipped" and images[ids[BAD_MASK]][5] == "mask: foreground has 1 px < 3"
    assert sorted(r[3] for r in images.values()) == list(range(len(images)))
    attacked = [i for i, r in images.items() if r[4] == "attacked"]
    masks = _query(store, "SELECT image_id, region, png FROM masks")
    assert len(masks) == 4 * 3 and {m[0] for m in masks} == set(attacked)
    fg = {m[0]: decode_mask_png(m[2]) for m in masks if m[1] == "foreground"}
    for image_id, mask in fg.items():
        assert np.array_equal(mask, tiny_data["fg"][ids.index(image_id)])
    assert len(_query(store, "SELECT * FROM predictions")) == len(images)
    rows = _query(store, "SELECT region, pixels, mode, target, early_stop, success, generations, queries, record FROM attacks")
    assert len(rows) == 12
    for region, _pixels, _mode, target, early_stop, success, generations, queries, record in rows:
        rec = json.loads(record)
        assert set(rec) == RECORD_FIELDS - {"seed"} and target == -1 and early_stop == 1  # compact: seed is a column
        assert (rec["success"], rec["generations"], rec["queries"]) == (bool(success), generations, queries)
        assert rec["region_size"] == {"whole": 64, "foreground": 16, "background": 48}[region]
    meta = dict(_query(store, "SELECT key, value FROM meta"))
    for key in ("schema_version", "config_json", "config_hash", "campaign_seed", "batch_size", "package_version",
                "torch_version", "device", "created_utc", "dataset", "segmenter", "class_names_json"):
        assert key in meta, key
    assert json.loads(meta["config_json"]) == cfg.to_dict() and meta["batch_size"] == "16"
    model = _query(store, "SELECT model, weights_hash, pool_accuracy, pool_count FROM models")[0]
    assert model[0] == "tiny" and len(model[1]) == 64 and model[3] == len(images)
    again = run_campaign(cfg, progress=False)
    assert again.attacks_run == 0 and again.attacks_before == 12
    assert len(attack_rows(store)) == 12


def test_pixels_stay_in_their_region(make_config: Any, tiny_data: dict[str, Any]) -> None:
    cfg = make_config(**{"attack.pixels": [1, 3]})
    run_campaign(cfg, progress=False)
    store = Path(cfg.campaign.store)
    masks = {(i, r): decode_mask_png(p) for i, r, p in _query(store, "SELECT image_id, region, png FROM masks")}
    rows = _query(store, "SELECT image_id, region, pixels, record FROM attacks")
    assert len(rows) == 24
    for image_id, region, k, record in rows:
        rec = json.loads(record)
        assert len(rec["pixels"]) == k
        for r, c in rec["pixels"]:
            assert r == -1 or masks[(image_id, region)][r, c]


def test_interrupted_run_resumes_to_the_same_rows(make_config: Any) -> None:
    reference = make_config("reference.sqlite")
    run_campaign(reference, progress=False)
    cfg = make_config("interrupted.sqlite")
    with pytest.raises(RuntimeError, match="injected"):
        run_campaign(cfg, progress=False, backend=FailingBackend(after=2))
    assert len(attack_rows(Path(cfg.campaign.store))) == 4  # two whole batches of two attacks
    summary = run_campaign(cfg, progress=False)
    assert (summary.attacks_before, summary.attacks_run) == (4, 8)
    assert attack_rows(Path(cfg.campaign.store)) == attack_rows(Path(reference.campaign.store))


def test_execution_settings_are_not_part_of_keys(make_config: Any) -> None:
    a = make_config("a.sqlite")
    b = make_config("b.sqlite", **{"execution.batch_size": 3, "execution.attacks_per_batch": 5,
                                   "campaign.name": "other"})
    run_campaign(a, progress=False)
    run_campaign(b, progress=False)
    rows_a, rows_b = attack_rows(Path(a.campaign.store)), attack_rows(Path(b.campaign.store))
    assert len(rows_a) == 12 and [r[:10] for r in rows_a] == [r[:10] for r in rows_b]  # keys, seeds, key fields
    # outcomes normally agree too, but only the same batches on the same device guarantee bit-identical rows


def test_search_settings_change_every_key(make_config: Any) -> None:
    a = make_config("a.sqlite")
    b = make_config("b.sqlite", **{"de.success_check": "best"})
    run_campaign(a, progress=False)
    run_campaign(b, progress=False)
    keys_a = {r[0] for r in attack_rows(Path(a.campaign.store))}
    keys_b = {r[0] for r in attack_rows(Path(b.campaign.store))}
    assert len(keys_a) == len(keys_b) == 12 and not keys_a & keys_b


def test_sigkill_mid_run_then_rerun(planted_data: dict[str, Any], tmp_path: Path) -> None:
    # the planted campaign: 14 of 18 attacks succeed, so early stop and confirmation run across the resume
    one = {"execution.attacks_per_batch": 1}
    reference = CampaignConfig.from_dict(planted_dict(planted_data, tmp_path / "reference.sqlite", **one))
    assert run_campaign(reference, progress=False).successes == 14
    store = tmp_path / "killed.sqlite"
    toml = tmp_path / "killed.toml"
    toml.write_text(to_toml(planted_dict(planted_data, store, **one)))
    # the same thread count as this process: CPU kernels may round differently with another split of the work
    # this checkout's src first: an installed (editable) pixelspace may be another checkout's
    env = {**os.environ, "PIXELSPACE_TINY_DELAY": "0.05", "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
           "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen([sys.executable, "-m", "pixelspace", "run", str(toml), "--no-progress"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored, deadline = 0, time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(sqlite3.Error):
                stored = _query(store, "SELECT COUNT(*) FROM attacks")[0][0] if store.exists() else 0
            if stored >= 3:
                break
            time.sleep(0.02)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, f"exit {proc.returncode} with {stored} attacks stored: {err}"
    at_kill = len(attack_rows(store))
    assert 3 <= at_kill < 18, f"killed with {at_kill} of 18 attacks stored"
    config = CampaignConfig.load(toml)
    summary = run_campaign(config, progress=False)
    assert summary.attacks_before == at_kill and summary.attacks_run == 18 - at_kill
    rows, ref_rows = attack_rows(store), attack_rows(Path(reference.campaign.store))
    assert len(rows) == 18
    assert rows == ref_rows  # every column of every row, the record JSON included
    assert _query(store, "SELECT COUNT(*) FROM attacks WHERE success = 1")[0][0] == 14
    tables = ("images", "masks", "predictions", "models")
    for t in tables:
        assert _query(store, f"SELECT * FROM {t} ORDER BY 1, 2") == _query(
            Path(reference.campaign.store), f"SELECT * FROM {t} ORDER BY 1, 2"), t


def test_fitness_curves_run_without_early_stop(make_config: Any) -> None:
    cfg = make_config(**{"fitness_curves.images": 2, "fitness_curves.regions": ["whole", "background"]})
    summary = run_campaign(cfg, progress=False)
    assert summary.attacks_total == 12 + 2 * 2
    rows = _query(Path(cfg.campaign.store), "SELECT image_id, region, early_stop, generations, record FROM attacks")
    curves = [r for r in rows if r[2] == 0]
    assert len(curves) == 4 and {r[1] for r in curves} == {"whole", "background"}
    for r in curves:
        assert r[3] == cfg.de.max_generations and len(json.loads(r[4])["fitness_history"]) == cfg.de.max_generations + 1
    stopped = {(r[0], r[1]) for r in rows if r[2] == 1}
    assert {(r[0], r[1]) for r in curves} <= stopped  # the same attacks, under other keys


def test_targeted_mode_attacks_every_other_class(planted_data: dict[str, Any], tmp_path: Path) -> None:
    from pixelspace.report import metrics, stored

    store = tmp_path / "planted.sqlite"
    summary = run_campaign(CampaignConfig.from_dict(planted_dict(planted_data, store)), progress=False)
    assert summary.attacks_total == 2 * 3 * (1 + 2) and summary.successes == 14
    rows = _query(store, "SELECT image_id, region, mode, target, success, record FROM attacks")
    by_image: dict[str, set[int]] = {}
    for image_id, region, mode, target, success, record in rows:
        rec = json.loads(record)
        assert (rec["target"], rec["success"]) == (target, bool(success))
        expected, predicted = PLANTED_OUTCOMES[(region, mode, target)]
        assert rec["success"] == expected, (image_id, region, mode, target, rec["predicted"])
        assert predicted is None or rec["predicted"] == predicted, (image_id, region, mode, target, rec["predicted"])
        if mode == "targeted":
            assert target != rec["label"] and (rec["predicted"] == target) == rec["success"]
            by_image.setdefault(image_id, set()).add(target)
        else:
            assert (rec["predicted"] != rec["label"]) == rec["success"]
    assert by_image == {i: {1, 2} for i in by_image} and len(by_image) == 2
    # the report's metrics count the background's third-class endings (class 1 for target 2) as failures
    loaded = stored.load_store(store)
    bg = metrics.select(loaded.attacks, region="background")
    third = [r for r in bg if r.mode == "targeted" and r.target == 2]
    assert len(third) == 2 and all(r.predicted == 1 != r.clean_class for r in third)
    assert not any(metrics.attack_succeeded(r) for r in third)
    rate = metrics.targeted(bg)
    assert (rate.successes, rate.total) == (2, 4)
    assert (metrics.untargeted1(bg).successes, metrics.targeted(metrics.select(loaded.attacks, region="whole")).successes) == (2, 4)


def test_selection_rules(make_config: Any, tiny_data: dict[str, Any]) -> None:
    two = [{"name": "tiny", "factory": "tests.campaign.tinynet:tiny_cnn"},
           {"name": "tiny-b", "factory": "tests.campaign.tinynet:tiny_cnn_b"}]
    d = config_dict(tiny_data, Path(make_config().campaign.store).with_name("each.sqlite"),
                    **{"images.selection": "correct-by-each", "images.count": 2, "regions.names": ["whole"]})
    d["models"] = two
    run_campaign(CampaignConfig.from_dict(d), progress=False)
    sel = json.loads(dict(_query(Path(d["campaign"]["store"]), "SELECT key, value FROM meta"))["selection_json"])
    preds = dict(((i, m), p) for i, m, p in _query(Path(d["campaign"]["store"]), "SELECT image_id, model, predicted FROM predictions"))
    labels = dict(zip(tiny_data["ids"], tiny_data["labels"].tolist(), strict=True))
    assert len(sel["tiny"]) == 2
    for m, ids in sel.items():
        assert len(ids) <= 2 and all(preds[(i, m)] == labels[i] for i in ids)
    cfg_all = make_config("all.sqlite", **{"images.selection": "all", "images.count": 6, "segmenter.min_pixels": 1})
    run_campaign(cfg_all, progress=False)
    statuses = dict(_query(Path(cfg_all.campaign.store), "SELECT image_id, status FROM images"))
    assert statuses[tiny_data["ids"][MISCLASSIFIED]] == "attacked"


def test_control_regions_and_precomputed_masks(make_config: Any, tiny_data: dict[str, Any]) -> None:
    cfg = make_config(**{"regions.names": ["foreground", "random", "centre", "border"], "segmenter.method": "grabcut",
                         "segmenter.mask_folder": None, "images.count": 2})
    fg = dict(zip(tiny_data["ids"], tiny_data["fg"], strict=True))
    run_campaign(cfg, progress=False, foreground=fg)
    store = Path(cfg.campaign.store)
    masks = {(i, r): decode_mask_png(p) for i, r, p in _query(store, "SELECT image_id, region, png FROM masks")}
    for (image_id, region), m in masks.items():
        n_fg = int(fg[image_id].sum())
        assert int(m.sum()) == {"foreground": n_fg, "random": n_fg, "centre": n_fg, "border": 64 - n_fg}[region]
    assert dict(_query(store, "SELECT key, value FROM meta"))["segmenter"] == "precomputed"


def test_bad_inputs_are_clear_errors(make_config: Any, tiny_data: dict[str, Any], tmp_path: Path) -> None:
    d = config_dict(tiny_data, tmp_path / "w.sqlite")
    d["models"][0]["weights"] = str(tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="missing.safetensors"):
        run_campaign(CampaignConfig.from_dict(d), progress=False)
    assert not (tmp_path / "w.sqlite").exists()
    d["models"] = [{"name": "no-such-net"}]
    with pytest.raises(ConfigError, match="unknown model 'no-such-net'"):
        run_campaign(CampaignConfig.from_dict(d), progress=False)
    holey = tmp_path / "holey"
    holey.mkdir()
    for f in sorted(Path(tiny_data["masks"]).iterdir())[1:]:
        (holey / f.name).write_bytes(f.read_bytes())
    with pytest.raises(DataError, match="no mask for image id"):
        run_campaign(make_config("holey.sqlite", **{"segmenter.mask_folder": str(holey), "images.count": 6,
                                                    "images.selection": "all"}), progress=False)
    run_campaign(make_config("s.sqlite"), progress=False)
    with pytest.raises(StoreError, match=r"another campaign config.*It differs in: de\.max_generations: store \d+, "
                                          r"this file 4$"):
        run_campaign(make_config("s.sqlite", **{"de.max_generations": 4}), progress=False)
    with pytest.raises(DataError, match="no pool image qualifies"):
        run_campaign(make_config("none.sqlite", **{"segmenter.min_pixels": 60}), progress=False)


def test_store_refuses_changed_weights(make_config: Any, tmp_path: Path) -> None:
    import torch

    from tests.campaign.tinynet import tiny_cnn

    weights = tmp_path / "w.pt"
    torch.save(tiny_cnn().state_dict(), weights)
    d = make_config().to_dict()
    d["models"][0]["weights"] = str(weights)
    run_campaign(CampaignConfig.from_dict(d), progress=False)
    model = tiny_cnn()
    with torch.no_grad():
        model.conv1.bias += 1  # type: ignore[operator, assignment]  # a conv layer's bias is set here
    torch.save(model.state_dict(), weights)
    with pytest.raises(StoreError, match="weights of 'tiny' changed"):
        run_campaign(CampaignConfig.from_dict(d), progress=False)


def test_store_readable_while_open(make_config: Any) -> None:
    cfg = make_config()
    run_campaign(cfg, progress=False)
    with Store.open_readonly(cfg.campaign.store) as s:
        assert s.count_attacks() == 12


def test_a_registered_model_at_another_image_size_fails_before_anything_is_stored(
        tiny_data: dict[str, Any], tmp_path: Path) -> None:
    from tests.campaign.conftest import config_dict

    store = tmp_path / "s.sqlite"
    d = config_dict(tiny_data, store)
    d["models"] = [{"name": "allconv-cifar10"}]  # accepts any size, but was trained at 32x32; these images are 8x8
    with pytest.raises(ConfigError, match=r"\[\[models\]\] allconv-cifar10: this model was registered for 32x32 "
                                          r"images .*; the campaign's images are 8x8"):
        run_campaign(CampaignConfig.from_dict(d), progress=False)
    assert not store.exists()  # a store this call made is deleted again when its setup fails
    # nothing was stored, so the corrected config makes the store afresh
    summary = run_campaign(CampaignConfig.from_dict(config_dict(tiny_data, store)), progress=False)
    assert summary.complete


def test_execution_order_fills_the_cheap_cells_first_on_every_network() -> None:
    """1-pixel untargeted on all networks (interleaved) before targeted, before 3 and 5 pixels; curves last in a
    cell; batches keep their attacks."""
    from pixelspace.campaign.runner import execution_order

    batches: list[Batch] = []
    for model in ("a", "b"):
        for pixels in (3, 1):
            for mode in ("targeted", "untargeted"):
                for early_stop in (False, True):
                    for _ in range(2):
                        batches.append(Batch(len(batches), model, pixels, mode, early_stop, ()))
    ordered = execution_order(batches)
    assert sorted(b.index for b in ordered) == list(range(len(batches)))
    cells = [(b.pixels, b.mode, b.early_stop) for b in ordered]
    assert cells == sorted(cells, key=lambda c: (c[0], c[1] != "untargeted", not c[2]))
    first = ordered[:4]  # 1 pixel, untargeted, early stop: the networks alternate
    assert [b.model for b in first] == ["a", "b", "a", "b"]
    assert all((b.pixels, b.mode, b.early_stop) == (1, "untargeted", True) for b in first)


def test_bad_inputs_leave_no_half_made_store(make_config: Any, tiny_data: dict[str, Any], tmp_path: Path) -> None:
    # issue 21: a campaign whose dataset path does not exist left a half-set-up store file behind
    cases = [
        ("images.dataset", str(tmp_path / "no-such-data.npz"), DataError, "images.dataset: .*no-such-data.npz does not exist"),
        ("segmenter.mask_folder", str(tmp_path / "no-masks"), DataError, "segmenter.mask_folder: mask folder .*no-masks does not exist"),
        ("regions.folders", {"mine": str(tmp_path / "no-region")}, DataError, "regions.folders.mine: mask folder .*no-region does not exist"),
        ("segmenter.min_pixels", 60, DataError, "no pool image qualifies"),  # found during the setup
    ]
    for i, (key, value, error, message) in enumerate(cases):
        store = tmp_path / f"sub{i}" / "s.sqlite"
        config = make_config(f"sub{i}/s.sqlite", **{key: value})
        assert Path(config.campaign.store) == store
        with pytest.raises(error, match=message):
            run_campaign(config, progress=False)
        assert not store.exists() and not Path(f"{store}-wal").exists(), key
    # resuming a store whose setup is done reads no dataset: the check does not block it
    copy = tmp_path / "copy.npz"
    copy.write_bytes(Path(tiny_data["npz"]).read_bytes())
    config = make_config("kept.sqlite", **{"images.dataset": str(copy), "de.max_generations": 1})
    with pytest.raises(RuntimeError):
        run_campaign(config, progress=False, backend=FailingBackend(after=1))
    kept = tmp_path / "kept.sqlite"
    before = _query(kept, "SELECT COUNT(*) FROM attacks")[0][0]
    copy.unlink()
    summary = run_campaign(config, progress=False)
    assert summary.attacks_before == before and summary.attacks_run == summary.attacks_total - before > 0
