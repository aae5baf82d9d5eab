"""Every stored config format the project has written still loads to its hash, its keys and its rows.

``fixtures/stored_formats/<store>.json`` are extracted from the committed stores (``results/*/store.sqlite``,
``fixtures/extract_stored_formats.py``): the stored config and hash, the plan inputs of the first images and
a few rows of every group. ``written.json`` (``fixtures/make_written_formats.py``) pins the formats today's
code writes that no committed store holds (Sparse-RS, precision, shift, scan settings, every option off its
default), each also as a store from before its options existed wrote it. A changed value here means existing
stores no longer resume or replay.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign.config import CampaignConfig, canonical_json
from pixelspace.campaign.runner import StoredInputs, expand_attacks
from tests.campaign.fixtures.make_written_formats import inputs as written_inputs

REPO = Path(__file__).resolve().parents[2]
FORMATS = Path(__file__).resolve().parent / "fixtures" / "stored_formats"
COMMITTED = sorted(p.stem for p in FORMATS.glob("*.json") if p.stem != "written")
WRITTEN = json.loads((FORMATS / "written.json").read_text())


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FORMATS / f"{name}.json").read_text())
    return data


def _inputs(fx: dict[str, Any]) -> StoredInputs:
    return StoredInputs(
        images={}, regions={},
        mask_hashes={(i, r): h for i, r, h in fx["mask_hashes"]},
        predictions={(i, m): int(p) for i, m, p in fx["predictions"]},
        selection=fx["selection"], weights=fx["weights"], batch_size=1, attacks_per_batch=1,
    )


def test_every_committed_store_has_a_fixture() -> None:
    stores = sorted(p.parent.name for p in REPO.glob("results/*/store.sqlite"))
    assert len(COMMITTED) >= 7
    assert not set(stores) - set(COMMITTED), "run tests/campaign/fixtures/extract_stored_formats.py"


@pytest.mark.parametrize("name", COMMITTED)
def test_a_committed_store_config_loads_to_its_hash_and_keys(name: str) -> None:
    fx = _fixture(name)
    config = CampaignConfig.from_stored(fx["config_json"], name)
    assert config.config_hash() == fx["config_hash"]
    specs = {s.key: s for s in expand_attacks(config, _inputs(fx), fx["num_classes"])}
    assert fx["rows"]
    for row in fx["rows"]:
        spec = specs.get(row["key"])
        assert spec is not None, f"{name}: stored attack {row['key']} is no longer in the plan"
        assert (spec.model, spec.image_id, spec.region, spec.pixels, spec.mode, spec.target) == (
            row["model"], row["image_id"], row["region"], row["pixels"], row["mode"], row["target"])
        assert (spec.search_hash, spec.early_stop, spec.seed) == (row["search_hash"], row["early_stop"], row["seed"])
    # every stored search hash of these images is one the plan still has
    assert {r["search_hash"] for r in fx["rows"]} <= {s.search_hash for s in specs.values()}


def _digest(config: CampaignConfig) -> tuple[int, str]:
    specs = expand_attacks(config, written_inputs(), WRITTEN["num_classes"])
    rows = [[s.key, s.seed, s.search, s.search_hash, s.early_stop] for s in specs]
    return len(rows), hashlib.sha256(canonical_json(rows).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(WRITTEN["cases"]))
def test_a_written_format_keeps_its_hash_and_keys(name: str) -> None:
    case = WRITTEN["cases"][name]
    config = CampaignConfig.from_stored(case["config_json"], name)
    assert config.to_dict() == case["config_json"]
    assert config.config_hash() == case["config_hash"]
    specs = expand_attacks(config, written_inputs(), WRITTEN["num_classes"])
    hashes: dict[str, list[str]] = {}
    for s in specs:
        hashes.setdefault(f"{s.search}/{s.pixels}/{s.early_stop}", [])
        if s.search_hash not in hashes[f"{s.search}/{s.pixels}/{s.early_stop}"]:
            hashes[f"{s.search}/{s.pixels}/{s.early_stop}"].append(s.search_hash)
    assert hashes == case["search_hashes"]
    assert [[s.key, s.seed, s.search, s.search_hash, s.early_stop] for s in specs[:2]] == case["first"]
    assert _digest(config) == (case["attacks"], case["sha256"])


@pytest.mark.parametrize("name", sorted(WRITTEN["cases"]))
def test_a_format_from_before_its_options_reads_them_as_their_old_values(name: str) -> None:
    case = WRITTEN["cases"][name]
    old = CampaignConfig.from_stored(case["legacy_json"], name)
    assert old.config_hash() == case["config_hash"]
    assert old.to_dict() == case["config_json"]
    assert _digest(old) == (case["attacks"], case["sha256"])


def test_the_written_cases_cover_every_old_default() -> None:
    # each option with an old value appears left out (legacy) in some case and set otherwise in another
    left_out, set_otherwise = set(), set()
    for case in WRITTEN["cases"].values():
        for section, table in case["config_json"].items():
            if not isinstance(table, dict):
                continue
            for option in table:
                if option not in case["legacy_json"][section]:
                    left_out.add((section, option))
    for section, options in _old_values().items():
        for option, old in options.items():
            if any(c["config_json"][section][option] != old for c in WRITTEN["cases"].values()):
                set_otherwise.add((section, option))
    expected = {(s, o) for s, opts in _old_values().items() for o in opts}
    assert left_out == expected and set_otherwise == expected


def test_the_written_cases_follow_the_old_defaults_table() -> None:
    # a new row of OLD_DEFAULTS needs a case here: add it to make_written_formats.py and rerun it
    from pixelspace.campaign.legacy import OLD_DEFAULTS

    table = {(r.section, r.name): json.loads(json.dumps(r.old)) for r in OLD_DEFAULTS}
    assert table == {(s, o): v for s, opts in _old_values().items() for o, v in opts.items()}


def _old_values() -> dict[str, dict[str, Any]]:
    from tests.campaign.fixtures.make_written_formats import OLD_VALUES

    return OLD_VALUES


# -- replays of committed rows (the CPU stores: bit-for-bit within rel. 1e-5) -------------------------------------
REPLAYS = [
    ("cifar10-best1bin", "4711c0b42e2ca07a5c5d03d2b3d91f7f"),  # DE best1bin, a store with every option written
    ("cifar10-de-calibration", "de033e6eb18bf73ca88dbb9b8c48d8e8"),  # DE with the memo and the incremental pass
    ("cifar10-scan-500", "0a46ded5287062698d344e7062c9a3ea"),  # a corner scan of one region
]


@pytest.mark.parametrize(("name", "key"), REPLAYS)
def test_a_committed_row_replays(name: str, key: str) -> None:
    from pixelspace.campaign.status import replay_attack
    from pixelspace.errors import WeightsError

    store = REPO / "results" / name / "store.sqlite"
    if not store.is_file():
        pytest.skip(f"{store} is absent")
    try:
        r = replay_attack(store, key, device="cpu", alone=True)
    except WeightsError as exc:
        pytest.skip(f"shipped weights unavailable: {exc}")
    assert r.matches, (name, key, r.differences)
