"""Campaign config: defaults, the shipped campaign files, typo suggestions, bad values, hashing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign import CampaignConfig, load_config
from pixelspace.campaign.config import DESection
from pixelspace.errors import ConfigError
from pixelspace.search.de import DEConfig
from tests.campaign.conftest import REPO, config_dict, to_toml


def _load(tmp_path: Path, text: str) -> CampaignConfig:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return load_config(p)


def test_defaults_are_in_the_dataclasses() -> None:
    cfg = CampaignConfig.from_dict({"models": [{"name": "vgg16-cifar10"}]})
    assert cfg.images.selection == "correct-by-all" and cfg.images.dataset == "cifar10-sample"
    assert cfg.regions.names == ("whole", "foreground", "background")
    assert cfg.de == DESection() and cfg.de.settings == DEConfig() and cfg.attack.region_mode == "restrict"
    assert cfg.execution.backend == "local" and cfg.execution.batch_size == "auto"
    assert cfg.segmenter.method == "grabcut" and cfg.segmenter.use_shipped


def test_round_trip_through_stored_json(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    cfg = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "s.sqlite", **{"de.mutation": [0.4, 0.9]}))
    again = CampaignConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.de.mutation == (0.4, 0.9)
    assert _load(tmp_path, to_toml(cfg.to_dict())) == cfg


@pytest.mark.parametrize("name", ["demo", "paper-cifar10", "cifar10-cpu", "cifar10-cpu-scan", "imagenet-cpu"])
def test_shipped_campaign_files_load(name: str) -> None:
    cfg = load_config(REPO / "campaigns" / f"{name}.toml")
    assert cfg.images.selection == "correct-by-all"


def test_paper_campaign_matches_the_paper() -> None:
    cfg = load_config(REPO / "campaigns" / "paper-cifar10.toml")
    assert {m.name for m in cfg.models} == {"allconv-cifar10", "nin-cifar10", "vgg16-cifar10"}
    assert cfg.images.count == 500 and cfg.attack.pixels == (1, 3, 5)
    assert cfg.attack.modes == ("untargeted", "targeted") and cfg.regions.names == ("whole", "foreground", "background")
    assert (cfg.de.population_size, cfg.de.max_generations, cfg.de.success_check) == (400, 100, "best")


@pytest.mark.parametrize(("text", "bad", "suggested"), [
    ("[[models]]\nname = 'x'\n[de]\npopulaton_size = 5\n", "populaton_size", "population_size"),
    ("[[models]]\nname = 'x'\n[atack]\npixels = [1]\n", "atack", "attack"),
    ("[[models]]\nname = 'x'\nweigths = 'a'\n", "weigths", "weights"),
    ("[[models]]\nname = 'x'\n[images]\nselecton = 'all'\n", "selecton", "selection"),
    ("[[models]]\nname = 'x'\n[DE]\npopulation_size = 10\n", "DE", "de"),
])
def test_unknown_key_names_it_and_suggests(tmp_path: Path, text: str, bad: str, suggested: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert f"'{bad}'" in str(err.value) and f"did you mean '{suggested}'" in str(err.value)


def test_a_model_without_a_name_is_named_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[models\[0\]\] needs 'name' \(missing\)"):
        _load(tmp_path, "[[models]]\nweights = 'a.safetensors'\n")


@pytest.mark.parametrize(("section", "line", "words"), [
    ("images", "selection = 'most'", ["images.selection", "'correct-by-all'", "'all'"]),
    ("images", "count = 'ten'", ["images.count", "an integer"]),
    ("images", "count = 0", ["images.count", ">= 1"]),
    ("attack", "pixels = [0]", ["attack.pixels", ">= 1"]),
    ("attack", "modes = ['sideways']", ["attack.modes", "'untargeted'", "'targeted'"]),
    ("de", "success_check = 'sometimes'", ["de.success_check", "'any'", "'best'"]),
    ("de", "population_size = 2", ["de", "population_size", ">= 4"]),
    ("regions", "names = ['whole', 'forground']", ["regions.names", "'forground'", "did you mean 'foreground'"]),
    ("execution", "batch_size = 'big'", ["execution.batch_size", "'auto'", "an integer"]),
    ("execution", "backend = 'spark'", ["execution.backend", "'local'", "'ray'"]),
    ("segmenter", "method = 'files'", ["mask_folder"]),
])
def test_bad_value_names_field_and_allowed(tmp_path: Path, section: str, line: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, f"[[models]]\nname = 'x'\n[{section}]\n{line}\n")
    for w in words:
        assert w in str(err.value)


def test_missing_file_invalid_toml_and_no_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        _load(tmp_path, "[de\n")
    with pytest.raises(ConfigError, match="at least one"):
        _load(tmp_path, "[de]\nmax_generations = 3\n")


def test_config_hash_ignores_execution_and_store(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    base = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "a.sqlite"))
    moved = base.replace(store=str(tmp_path / "b.sqlite"), batch_size=3, device="cpu", backend="ray",
                         attacks_per_batch=9, name="other")
    assert moved.config_hash() == base.config_hash()
    assert dataclasses.replace(base, de=dataclasses.replace(base.de, max_generations=4)).config_hash() != base.config_hash()
    assert base.replace(**{"campaign.seed": 8}).config_hash() != base.config_hash()
