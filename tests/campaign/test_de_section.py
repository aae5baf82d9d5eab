"""The campaign's ``[de]`` section: DE's search settings plus the attack's early stop and success check, as
campaign files have always written them (issue 32: ``DEConfig`` holds search settings only)."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import pytest

from pixelspace.attack.pixel_attack import PixelAttack
from pixelspace.campaign.backends import AttackSpec, Batch
from pixelspace.campaign.backends.local import search_attack
from pixelspace.campaign.config import CampaignConfig, DESection
from pixelspace.campaign.keys import search_hash, search_settings
from pixelspace.errors import ConfigError
from pixelspace.search.de import DEConfig

MODELS: list[dict[str, Any]] = [{"name": "vgg16-cifar10"}]


def test_the_section_is_deconfigs_fields_then_the_two_attack_settings_with_the_librarys_defaults() -> None:
    search = [f.name for f in dataclasses.fields(DEConfig)]
    assert [f.name for f in dataclasses.fields(DESection)] == [*search, "early_stop", "success_check"]
    section, attack = DESection(), PixelAttack()
    assert section.settings == DEConfig()
    assert (section.early_stop, section.success_check) == (attack.early_stop, attack.success_check)
    # the stored table is field for field the DEConfig table stores have held (names, order, values)
    assert dataclasses.asdict(section) == {**dataclasses.asdict(DEConfig()), "early_stop": True, "success_check": "any"}


def test_a_campaign_file_writes_all_nine_keys_in_its_de_section() -> None:
    cfg = CampaignConfig.from_dict({"models": MODELS, "de": {
        "population_size": 40, "max_generations": 7, "strategy": "best1bin", "early_stop": False,
        "success_check": "best"}})
    assert cfg.de.settings == DEConfig(population_size=40, max_generations=7, strategy="best1bin")
    assert (cfg.de.early_stop, cfg.de.success_check) == (False, "best")
    assert list(cfg.to_dict()["de"]) == [f.name for f in dataclasses.fields(DESection)]
    assert cfg.replace(**{"de.success_check": "any"}).de.success_check == "any"
    with pytest.raises(ConfigError, match=r"\[de\] population_size must be an int >= 4"):
        CampaignConfig.from_dict({"models": MODELS, "de": {"population_size": 3}})
    with pytest.raises(ConfigError, match=r"de.success_check: got 'sometimes'; allowed: 'any' or 'best'"):
        CampaignConfig.from_dict({"models": MODELS, "de": {"success_check": "sometimes"}})


def test_the_de_search_hash_is_unchanged() -> None:
    # values computed by the code before the section had its own type (DEConfig held the two settings)
    pinned: dict[tuple[tuple[str, Any], ...], str] = {(): "d43cfd438f3ff115", (("early_stop", False),): "487958a2a366cb08",
              (("success_check", "best"),): "454fcae10a399170",
              (("early_stop", False), ("success_check", "best"), ("population_size", 100), ("mutation", 0.5)):
                  "fe6ed1378baa5bb6"}
    for change, expected in pinned.items():
        assert search_hash(DESection(**dict(change)), "restrict") == expected, change
        # a DEConfig still hashes as the section it stands for (its deprecated settings included)
        search: dict[str, Any] = {k: v for k, v in change if k not in ("early_stop", "success_check")}
        moved: dict[str, Any] = {k: v for k, v in change if k in ("early_stop", "success_check")}
        with pytest.warns(DeprecationWarning) if moved else contextlib.nullcontext():
            old = DEConfig(**search, **moved)
        assert search_hash(old, "restrict") == expected, change
    assert list(search_settings(DESection(), "restrict")["de"]) == [f.name for f in dataclasses.fields(DESection)]


@pytest.mark.parametrize("early_stop", [True, False])
def test_the_backend_hands_the_sections_attack_settings_to_the_attack(early_stop: bool) -> None:
    cfg = CampaignConfig.from_dict({"models": MODELS, "de": {"population_size": 40, "success_check": "best"},
                                    "attack": {"region_mode": "index"}})
    spec = AttackSpec(key="k", model="vgg16-cifar10", image_id="i", region="whole", pixels=3, mode="untargeted",
                      target=-1, search_hash="h", early_stop=early_stop, seed=0, label=0)
    attack = search_attack(cfg, Batch(0, "vgg16-cifar10", 3, "untargeted", early_stop, (spec,)), batch_size=16)
    assert isinstance(attack, PixelAttack)
    assert attack.de == DEConfig(population_size=40) and not attack.de.deprecated_attack_settings
    assert (attack.early_stop, attack.success_check) == (early_stop, "best")
    assert (attack.pixels, attack.region_mode, attack.batch_size) == (3, "index", 16)
