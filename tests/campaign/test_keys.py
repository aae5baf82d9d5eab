"""Attack keys and keyed seeds: stable, sensitive to result-changing settings only."""

from __future__ import annotations

import dataclasses

import numpy as np

from pixelspace.campaign.keys import KeyFields, attack_seed, mask_hash, search_hash
from pixelspace.search.de import DEConfig

FIELDS = KeyFields(model="vgg16-cifar10", weights_hash="ab" * 32, image_id="test/cat/0001.jpg", region="foreground",
                   mask_hash="0123456789abcdef", pixels=1, mode="targeted", target=3, search_hash=search_hash(DEConfig(), "restrict"))


def test_key_is_stable_across_versions() -> None:
    # a changed value here means every existing store's keys change: only with a schema version bump
    assert search_hash(DEConfig(), "restrict") == "d43cfd438f3ff115"
    assert FIELDS.key() == "45f8f53f064c15557827b23aafd333b3"
    assert attack_seed(0, FIELDS.key()) == 7220708029452006870


def test_every_field_changes_the_key() -> None:
    changes = dict(model="nin-cifar10", weights_hash="cd" * 32, image_id="test/cat/0002.jpg", region="background",
                   mask_hash="fedcba9876543210", pixels=3, mode="untargeted", target=-1, search_hash="x" * 16)
    keys = {dataclasses.replace(FIELDS, **{k: v}).key() for k, v in changes.items()}
    assert len(keys) == len(changes) and FIELDS.key() not in keys


def test_search_hash_covers_result_changing_settings_only() -> None:
    base = search_hash(DEConfig(), "restrict")
    for change in [dict(early_stop=False), dict(success_check="best"), dict(population_size=100),
                   dict(max_generations=10), dict(max_queries=500), dict(mutation=0.5), dict(crossover=0.7),
                   dict(strategy="best1bin"), dict(init="random")]:
        assert search_hash(DEConfig(**change), "restrict") != base, change  # type: ignore[arg-type]
    assert search_hash(DEConfig(), "index") != base
    assert search_hash(DEConfig(), "restrict") == base  # batch size, device, backend are not inputs at all


def test_seed_is_keyed_63_bit_and_deterministic() -> None:
    key = FIELDS.key()
    s = attack_seed(0, key)
    assert s == attack_seed(0, key) and 0 <= s < 2**63
    assert attack_seed(1, key) != s and attack_seed(0, "f" * 32) != s


def test_mask_hash_depends_on_content_and_shape() -> None:
    a = np.zeros((4, 4), bool)
    b = a.copy()
    b[1, 1] = True
    assert mask_hash(a) != mask_hash(b)
    assert mask_hash(np.zeros((2, 8), bool)) != mask_hash(a)
    assert mask_hash(a) == mask_hash(a.copy())
