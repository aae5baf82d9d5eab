"""The evaluation path every search stands on (issue 32): one place for input checks and model wrapping, no
search built on another's internals, and a search written directly on ``Evaluation``."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import PlantedModel

from pixelspace import DEConfig, PixelAttack, SparseRandomSearch, Untargeted
from pixelspace.attack.encoding import Decoded
from pixelspace.attack.evaluation import Attack, AttackInputs, Evaluation, Summary
from pixelspace.attack.seeded import ScanSeededAttack
from pixelspace.errors import ConfigError, ObjectiveError, RegionError

ATTACK = Path(__file__).resolve().parents[2] / "src" / "pixelspace" / "attack"
SIZE = 16


def _imported(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from pixelspace... import name`` in a file."""
    return [(node.module, a.name) for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pixelspace")
            for a in node.names]


@pytest.mark.parametrize("module", ["sparse_rs.py", "pixel_attack.py", "seeded.py", "evaluation.py"])
def test_the_searches_import_nothing_private(module: str) -> None:
    # issue 32: sparse_rs imported `_SUMMARY_KEYS, PixelAttack, _Run` and drove DE's private methods
    private = [f"{m}.{n}" for m, n in _imported(ATTACK / module) if n.startswith("_")]
    assert not private, private


def test_sparse_rs_builds_no_de_attack() -> None:
    # it built a dummy PixelAttack with DEConfig(population_size=4, max_generations=0) and encoded its pixels
    # into genes for DE's decoder
    modules = {m for m, _ in _imported(ATTACK / "sparse_rs.py")}
    assert not modules & {"pixelspace.attack.pixel_attack", "pixelspace.search.de", "pixelspace.search"}, modules
    names = {n for _, n in _imported(ATTACK / "sparse_rs.py")}
    assert not names & {"encode", "decode", "DEConfig", "PixelAttack"}, names


def _planted() -> tuple[PlantedModel, np.ndarray, np.ndarray]:
    images = np.full((3, SIZE, SIZE, 3), 128, dtype=np.uint8)
    return PlantedModel(SIZE), images, np.zeros(3, dtype=np.int64)


ATTACKS = {
    "de": PixelAttack(pixels=1, de=DEConfig(population_size=12, max_generations=3), batch_size=16),
    "sparse-rs": SparseRandomSearch(pixels=1, max_queries=40, batch_size=16),
    "scan-seeded": ScanSeededAttack(pixels=1, de=DEConfig(population_size=12, max_generations=3), batch_size=16),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_is_called_through_the_one_checked_entry(name: str) -> None:
    attack = ATTACKS[name]
    assert type(attack).__call__ is Attack.__call__  # input checks and model wrapping: one copy
    model, images, labels = _planted()
    with pytest.raises(ObjectiveError, match="objective has 2 labels for 3 images"):
        attack(model, images, Untargeted(labels[:2]))
    with pytest.raises(ConfigError, match="objective must be Untargeted"):
        attack(model, images, labels)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed"):
        attack(model, images, Untargeted(labels), seed=-1)
    with pytest.raises(RegionError, match="region of image 0 is empty"):
        attack(model, images, Untargeted(labels), regions=np.zeros((SIZE, SIZE), dtype=bool))
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        attack(model, images, Untargeted(labels), bogus=1)
    # the same call arguments for all three, progress included (the scan-seeded attack had none)
    finished: list[int] = []
    result = attack(model, images, Untargeted(labels), seed=1, progress=finished.append)
    assert len(result) == 3 and sum(finished) == 3, finished


def test_shared_settings_are_checked_alike() -> None:
    for make in (lambda **kw: PixelAttack(**kw), lambda **kw: SparseRandomSearch(**kw),
                 lambda **kw: ScanSeededAttack(**kw)):
        with pytest.raises(ConfigError, match="pixels must be an int >= 1"):
            make(pixels=0)
        with pytest.raises(ConfigError, match="batch_size must be 'auto' or an int >= 1"):
            make(batch_size=0)
        with pytest.raises(ConfigError, match="precision"):
            make(precision="fp8")
    for make in (lambda **kw: PixelAttack(**kw), lambda **kw: SparseRandomSearch(**kw)):
        with pytest.raises(ConfigError, match="eval_chunk must be an int >= 1"):
            make(eval_chunk=0)


def _inputs(model: PlantedModel, images: np.ndarray, labels: np.ndarray) -> AttackInputs:
    """Checked inputs as ``Attack.__call__`` makes them, taken from a search that records them."""
    seen: list[AttackInputs] = []

    class Record(SparseRandomSearch):
        def search(self, inputs: AttackInputs, **options: object) -> object:  # type: ignore[override]
            seen.append(inputs)
            return None

    Record(pixels=1, batch_size=4)(model, images, Untargeted(labels), seed=0)
    return seen[0]


def _pixel(rows: list[int], position: int, colour: tuple[int, int, int], applied: bool = True) -> Decoded:
    b = len(rows)
    return Decoded(np.full((b, 1), position, dtype=np.int64), np.tile(np.array(colour, np.uint8), (b, 1, 1)),
                   np.full((b, 1), applied))


def test_a_search_written_on_the_evaluation_path() -> None:
    # pixels and colours in, summaries out: the memo, the budget with the confirmation kept, the result
    model, images, labels = _planted()
    ev = Evaluation(_inputs(model, images, labels), max_queries=5)
    assert ev.queries.tolist() == [1, 1, 1]  # the clean images
    attacks = np.arange(3)
    planted = 4 * SIZE + 11
    miss = _pixel([0, 1, 2], 0, (0, 255, 0))
    summ, scored = ev.score(attacks, miss)
    assert isinstance(summ, Summary) and summ.fitness.shape == (3, 1) and scored.all()
    assert not summ.success.any() and ev.queries.tolist() == [2, 2, 2]
    summ, _ = ev.score(attacks, miss)  # asked again: the memo answers, no query
    assert ev.queries.tolist() == [2, 2, 2] and not summ.known.any()
    summ, _ = ev.score(attacks, _pixel([0, 1, 2], planted, (255, 0, 255), applied=False))  # no pixel: clean
    assert ev.queries.tolist() == [2, 2, 2]
    np.testing.assert_array_equal(summ.fitness[:, 0], ev.clean_summary.fitness)
    # two candidates each, budget 5: 2 used, 1 kept for the confirmation, so 2 more may be evaluated
    two = Decoded(np.array([[planted], [1], [planted], [2], [3], [4]]), np.tile(np.array([255, 0, 255], np.uint8),
                  (6, 1, 1)), np.ones((6, 1), dtype=bool))
    summ, scored = ev.score(attacks, two)
    assert scored.all() and ev.queries.tolist() == [4, 4, 4] and ev.remaining(attacks).tolist() == [0, 0, 0]
    assert summ.success.tolist() == [[True, False], [True, False], [False, False]]
    assert ev.confirm(0, two[0:1], step=1) is not None and ev.queries[0] == 5  # the kept query
    result = ev.result(miss, ev.clean_summary, np.ones(3, dtype=np.int64), np.zeros((3, 2)), "restrict")
    assert result.success.tolist() == [True, False, False]
    assert result.pixels[:, 0].tolist() == [[4, 11], [0, 0], [0, 0]]
    assert result.queries.tolist() == [5, 4, 4] and (result.queries <= 5).all()
    assert result.predicted.tolist() == [1, 0, 0]


@pytest.mark.parametrize("attack", [PixelAttack(pixels=3), SparseRandomSearch(pixels=3), ScanSeededAttack(pixels=3)],
                         ids=lambda a: type(a).__name__)
def test_config_dict_is_plain_data_of_the_result_changing_settings(attack: Attack) -> None:
    import dataclasses
    import json

    d = attack.config_dict()
    json.dumps(d)  # plain data (the scan's colours as lists): a TypeError otherwise
    assert not {"batch_size", "eval_chunk", "precision"} & set(d)  # grouping, and the Classifier's precision
    assert d["pixels"] == 3
    assert dataclasses.replace(attack, batch_size=7).config_dict() == d  # type: ignore[type-var]
    assert dataclasses.replace(attack, precision="bf16").config_dict() == {**d, "precision": "bf16"}  # type: ignore[type-var]
    assert dataclasses.replace(attack, pixels=5).config_dict() != d  # type: ignore[type-var]


def test_the_sparse_search_config_leaves_out_what_it_ignores() -> None:
    d = SparseRandomSearch(pixels=3, region_mode="index", look_ahead=4, follow_points=False).config_dict()
    assert d == SparseRandomSearch(pixels=3).config_dict()
    assert PixelAttack(pixels=3, region_mode="index").config_dict()["region_mode"] == "index"  # DE's genes differ
