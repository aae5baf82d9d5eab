"""A negative seed is refused with a message naming it, by every seeded entry point (issue 33)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from tests.helpers import PlantedModel, gray_images, predict

from pixelspace import DEConfig, PixelAttack, Untargeted
from pixelspace.attack.inputs import attack_seeds
from pixelspace.attack.scan import scan_first
from pixelspace.attack.sparse_rs import SparseRandomSearch
from pixelspace.errors import ConfigError
from pixelspace.search.de import minimize

SMALL = DEConfig(population_size=10, max_generations=2)


def _setup() -> tuple[PlantedModel, np.ndarray, np.ndarray]:
    model = PlantedModel(size=16, loc=(4, 11))
    images = gray_images(2, 16, seed=1)
    return model, images, predict(model, images)


CALLS: dict[str, Callable[[Any, np.ndarray, np.ndarray, Any], Any]] = {
    "PixelAttack": lambda m, x, y, s: PixelAttack(pixels=1, de=SMALL)(m, x, Untargeted(y), seed=s),
    "SparseRandomSearch": lambda m, x, y, s: SparseRandomSearch(pixels=1, max_queries=20)(m, x, Untargeted(y),
                                                                                         seed=s),
    "scan_first": lambda m, x, y, s: scan_first(m, x, y, seed=s, max_queries=16),
    "minimize": lambda m, x, y, s: minimize(lambda g: g.sum(-1), dims=2, problems=2, config=SMALL, seed=s),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("seed", [-1, [3, -7]])
def test_a_negative_seed_is_a_clear_error(name: str, seed: Any) -> None:
    model, images, labels = _setup()
    bad = -1 if seed == -1 else -7
    with pytest.raises(ConfigError, match=rf"seed.*{bad}.*non-negative"):
        CALLS[name](model, images, labels, seed)
    CALLS[name](model, images, labels, 0 if seed == -1 else [3, 7])  # a good seed runs


def test_attack_seeds_refuses_a_negative_seed() -> None:
    # the per-attack seeds of PixelAttack, SparseRandomSearch, ScanSeededAttack and seeded_population
    with pytest.raises(ConfigError, match=r"seed.*-3.*non-negative"):
        attack_seeds(-3, 2)


def test_cli_attack_refuses_a_negative_seed(tmp_path: Path) -> None:
    from pixelspace.cli import cli

    png = tmp_path / "x.png"
    png.write_bytes(b"not read")
    out = CliRunner().invoke(cli, ["attack", str(png), "--seed", "-1", "--out", str(tmp_path)])
    assert out.exit_code == 2, out.output
    assert "--seed" in out.output and "-1" in out.output and "Traceback" not in out.output
