"""Fixtures for the campaign tests: six 8x8 images with known masks, a tiny net, and campaign configs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from pixelspace.campaign import CampaignConfig
from pixelspace.data.samples import Sample, save_sample
from pixelspace.segment import save_masks
from tests.campaign.tinynet import tiny_cnn

REPO = Path(__file__).resolve().parents[2]
SIZE = 8
MISCLASSIFIED = 5  # index of the image whose label the tiny net gets wrong
BAD_MASK = 4  # index of the image whose foreground has 1 pixel (dropped by the quality guard)


def _images() -> tuple[np.ndarray, np.ndarray]:
    """Six "square on textured background" images (6, 8, 8, 3) uint8 and their masks (6, 8, 8) bool."""
    rng = np.random.default_rng(3)
    images = rng.integers(40, 120, size=(6, SIZE, SIZE, 3), dtype=np.uint8)
    masks = np.zeros((6, SIZE, SIZE), dtype=bool)
    masks[:, 2:6, 2:6] = True
    colours = rng.integers(0, 256, size=(6, 3))
    for i in range(6):
        images[i][masks[i]] = colours[i]
    masks[BAD_MASK] = False
    masks[BAD_MASK, 3, 3] = True
    return images, masks


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sample .npz (labels = the tiny net's predictions, one wrong) and a folder of mask PNGs."""
    root = tmp_path_factory.mktemp("tiny-data")
    images, masks = _images()
    with torch.inference_mode():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        labels = tiny_cnn()(x).argmax(1).numpy().astype(np.int64)
    labels[MISCLASSIFIED] = (labels[MISCLASSIFIED] + 1) % 10
    ids = tuple(f"test/c{labels[i]}/{i:04d}.png" for i in range(6))
    classes = tuple(f"class{c}" for c in range(10))
    save_sample(Sample(images, labels, ids, classes), root / "tiny.npz")
    save_masks(masks, ids, root / "masks")
    return {"npz": root / "tiny.npz", "masks": root / "masks", "images": images, "labels": labels, "ids": ids,
            "fg": masks}


PLANTED_SIZE = 16


@pytest.fixture(scope="session")
def planted_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Four grey 16x16 images the planted net (``tinynet.planted``) puts in class 0, with foreground = the top
    half (plant A, class 2) and background = the bottom half (plant B, class 1)."""
    from tests.helpers import narrow_gray_images

    root = tmp_path_factory.mktemp("planted-data")
    images = narrow_gray_images(4, PLANTED_SIZE, seed=5)
    labels = np.zeros(4, dtype=np.int64)
    ids = tuple(f"test/c0/{i:04d}.png" for i in range(4))
    masks = np.zeros((4, PLANTED_SIZE, PLANTED_SIZE), dtype=bool)
    masks[:, : PLANTED_SIZE // 2] = True
    save_sample(Sample(images, labels, ids, ("c0", "c1", "c2")), root / "planted.npz")
    save_masks(masks, ids, root / "masks")
    return {"npz": root / "planted.npz", "masks": root / "masks", "images": images, "labels": labels, "ids": ids,
            "fg": masks}


def planted_dict(planted_data: dict[str, Any], store: Path, **updates: Any) -> dict[str, Any]:
    """A campaign on the planted net where most attacks succeed: 2 images x whole/foreground/background x
    untargeted and targeted (targets 1 and 2), 1 pixel: 18 attacks, 14 successes (``PLANTED_OUTCOMES``)."""
    d: dict[str, Any] = {
        "campaign": {"name": "planted", "seed": 11, "store": str(store)},
        "models": [{"name": "planted", "factory": "tests.campaign.tinynet:planted"}],
        "images": {"dataset": str(planted_data["npz"]), "pool_seed": 0, "count": 2},
        "regions": {"names": ["whole", "foreground", "background"]},
        "segmenter": {"method": "files", "mask_folder": str(planted_data["masks"]), "min_pixels": 3},
        "attack": {"pixels": [1], "modes": ["untargeted", "targeted"]},
        "de": {"population_size": 40, "max_generations": 25},
        "execution": {"device": "cpu", "batch_size": 64, "attacks_per_batch": 2},
    }
    for dotted, value in updates.items():
        section, key = dotted.split(".")
        d.setdefault(section, {})[key] = value
    return d


# (region, mode, target) -> (success, predicted class) of every image of the planted campaign: the background
# holds only plant B (class 1), so its attacks on target 2 end on class 1, a third class: a failure
PLANTED_OUTCOMES = {
    ("whole", "untargeted", -1): (True, None), ("whole", "targeted", 1): (True, 1), ("whole", "targeted", 2): (True, 2),
    ("foreground", "untargeted", -1): (True, 2), ("foreground", "targeted", 1): (False, 0),
    ("foreground", "targeted", 2): (True, 2),
    ("background", "untargeted", -1): (True, 1), ("background", "targeted", 1): (True, 1),
    ("background", "targeted", 2): (False, 1),
}


def base_dict(tiny_data: dict[str, Any], store: Path) -> dict[str, Any]:
    """A small campaign as plain data: 4 images x whole/foreground/background, 1-pixel untargeted."""
    return {
        "campaign": {"name": "tiny", "seed": 7, "store": str(store)},
        "models": [{"name": "tiny", "factory": "tests.campaign.tinynet:tiny_cnn"}],
        "images": {"dataset": str(tiny_data["npz"]), "pool_seed": 0, "count": 4},
        "regions": {"names": ["whole", "foreground", "background"]},
        "segmenter": {"method": "files", "mask_folder": str(tiny_data["masks"]), "min_pixels": 3},
        "attack": {"pixels": [1], "modes": ["untargeted"]},
        "de": {"population_size": 10, "max_generations": 3},
        "execution": {"device": "cpu", "batch_size": 16, "attacks_per_batch": 2},
    }


@pytest.fixture
def make_config(tiny_data: dict[str, Any], tmp_path: Path) -> Any:
    """``make_config(store_name="store.sqlite", **{"section.key": value})`` -> CampaignConfig."""

    def make(store_name: str = "store.sqlite", **updates: Any) -> CampaignConfig:
        return CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / store_name, **updates))

    return make


def config_dict(tiny_data: dict[str, Any], store: Path, **updates: Any) -> dict[str, Any]:
    """:func:`base_dict` with ``"section.key": value`` updates (value None deletes the key)."""
    d = copy.deepcopy(base_dict(tiny_data, store))
    for dotted, value in updates.items():
        section, key = dotted.split(".")
        if value is None:
            d[section].pop(key, None)
        else:
            d.setdefault(section, {})[key] = value
    return d


def to_toml(d: dict[str, Any]) -> str:
    """Serialise a campaign dict (sections of scalars, lists and inline tables) as TOML."""

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return json.dumps(v)

    out = []
    for m in d.get("models", []):
        out.append("[[models]]")
        out += [f"{k} = {value(v)}" for k, v in m.items() if v is not None]
    for section, table in d.items():
        if section != "models":
            out.append(f"[{section}]")
            out += [f"{k} = {value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(out) + "\n"


def attack_rows(store: Path) -> list[tuple[Any, ...]]:
    """Every attacks row of a store, sorted by key."""
    import contextlib
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT * FROM attacks ORDER BY key").fetchall()
