"""Attack keys and keyed seeds: stable, sensitive to result-changing settings only."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pixelspace.campaign.config import DESection
from pixelspace.campaign.keys import KeyFields, attack_seed, mask_hash, search_hash
from pixelspace.search.de import DEConfig

REPO = Path(__file__).resolve().parents[2]

FIELDS = KeyFields(model="vgg16-cifar10", weights_hash="ab" * 32, image_id="test/cat/0001.jpg", region="foreground",
                   mask_hash="0123456789abcdef", pixels=1, mode="targeted", target=3, search_hash=search_hash(DEConfig(), "restrict"))


def test_key_is_stable_across_versions() -> None:
    # a changed value here means every existing store's keys change: only with a schema version bump
    assert search_hash(DEConfig(), "restrict") == "d43cfd438f3ff115"
    assert FIELDS.key() == "45f8f53f064c15557827b23aafd333b3"
    assert attack_seed(0, FIELDS.key()) == 7220708029452006870


def test_every_field_changes_the_key() -> None:
    changes: dict[str, Any] = dict(model="nin-cifar10", weights_hash="cd" * 32, image_id="test/cat/0002.jpg", region="background",
                   mask_hash="fedcba9876543210", pixels=3, mode="untargeted", target=-1, search_hash="x" * 16)
    keys = {dataclasses.replace(FIELDS, **{k: v}).key() for k, v in changes.items()}
    assert len(keys) == len(changes) and FIELDS.key() not in keys


def test_search_hash_covers_result_changing_settings_only() -> None:
    base = search_hash(DEConfig(), "restrict")
    for change in [dict(early_stop=False), dict(success_check="best"), dict(population_size=100),
                   dict(max_generations=10), dict(max_queries=500), dict(mutation=0.5), dict(crossover=0.7),
                   dict(strategy="best1bin"), dict(init="random")]:
        assert search_hash(DESection(**change), "restrict") != base, change  # type: ignore[arg-type]
    assert search_hash(DEConfig(), "index") != base
    # the same settings spelled otherwise keep the hash: explicit defaults, the memo off, the section
    same = DESection(population_size=400, max_generations=100, mutation=(0.5, 1.0), crossover=1.0, early_stop=True)
    assert search_hash(DESection(), "restrict") == base
    assert search_hash(same, "restrict", reuse_evaluations=False) == base
    assert search_hash(DEConfig(), "restrict", reuse_evaluations=True) != base


def test_seed_is_keyed_63_bit_and_deterministic() -> None:
    key = FIELDS.key()
    s = attack_seed(0, key)
    assert 0 <= s < 2**63
    assert attack_seed(1, key) != s and attack_seed(0, "f" * 32) != s
    # another interpreter with another string-hash seed computes the same key and seed
    code = ("from tests.campaign.test_keys import FIELDS; from pixelspace.campaign.keys import attack_seed; "
            "print(FIELDS.key(), attack_seed(0, FIELDS.key()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         env={**os.environ, "PYTHONHASHSEED": "12345",
                              "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])})
    assert out.stdout.split() == [key, str(s)]


def test_mask_hash_depends_on_content_and_shape() -> None:
    a = np.zeros((4, 4), bool)
    b = a.copy()
    b[1, 1] = True
    assert mask_hash(a) != mask_hash(b)
    assert mask_hash(np.zeros((2, 8), bool)) != mask_hash(a)
    # the content decides, not the memory layout or the 0/1 dtype
    c = np.zeros((4, 4), bool)
    c[0, 1] = True
    assert mask_hash(np.asfortranarray(c)) == mask_hash(c) == mask_hash(c.astype(np.uint8))
    assert mask_hash(np.zeros((8, 8), bool)[::2, ::2] | c) == mask_hash(c)
    assert mask_hash(c.T) != mask_hash(c)
