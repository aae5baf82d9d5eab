"""SparseRandomSearch's look-ahead (issue 31): asking each attack's next candidates as if each were rejected, and
keeping them up to the first decision, gives the results of asking one candidate at a time, field for field."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.attack.test_sparse_rs import SpotModel, gray, one_thread  # noqa: F401 (autouse: one torch thread)
from torch import nn

from pixelspace import SparseRandomSearch, Targeted, Untargeted
from pixelspace.attack.encoding import Decoded
from pixelspace.attack.evaluation import Attack, AttackInputs, Evaluation
from pixelspace.attack.result import AttackResult
from pixelspace.errors import ConfigError

FIELDS = ("success", "adversarial", "pixels", "colors", "changed", "predicted", "confidence", "target_probability",
          "adv_top5_classes", "adv_top5_probs", "adv_probs_of_clean_top5", "generations", "queries",
          "fitness_history")


class SmoothModel(nn.Module):
    """Four classes whose logits are fixed random weightings of the pixels and their squares, class 0 raised by
    ``bias`` (some attacks succeed, some spend their budget): continuous margins (few ties), and each image's
    answer independent of the others in its batch (elementwise products and per-image sums), so results can be
    compared bit for bit across batch compositions."""

    def __init__(self, size: int, seed: int = 0, bias: float = 5.0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = torch.randn(4, 3, size, size, generator=g) * 0.3
        self.v = torch.randn(4, 3, size, size, generator=g) * 0.3
        self.b = torch.tensor([bias, 0.0, 0.0, 0.0])
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([(x * self.w[c] + x * x * self.v[c]).sum(dim=(1, 2, 3)) for c in range(4)],
                           dim=1) + self.b


def assert_same(a: AttackResult, b: AttackResult, what: str) -> None:
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"{what}: {f}")


def images(n: int, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def region(n: int, size: int, count: int, seed: int) -> np.ndarray:
    """``count`` random pixels per image."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size * size), dtype=bool)
    for i in range(n):
        masks[i, rng.choice(size * size, count, replace=False)] = True
    return masks.reshape(n, size, size)


@pytest.mark.parametrize("k,p_init,count", [(2, 0.3, None), (3, 0.3, 6), (5, 1.0, None), (5, 0.3, 7), (3, 0.3, 3)])
def test_look_ahead_gives_the_results_of_one_candidate_at_a_time(k: int, p_init: float, count: int | None) -> None:
    """Continuous margins, many accepted and rejected candidates, successes, the budget spent; a small region
    (memo repeats), a region of exactly k pixels (recoloured in place) and p_init = 1 (the schedule moves
    several slots, then fewer, inside what would be one look-ahead)."""
    size, n = 6, 8
    model = SmoothModel(size, seed=k)
    x = images(n, size, seed=k)
    regions = None if count is None else region(n, size, count, seed=k)
    base = SparseRandomSearch(pixels=k, max_queries=300, p_init=p_init, batch_size=16, look_ahead=1)
    labels = base.clean_predictions(model, x)
    one = base(model, x, Untargeted(labels), regions=regions, seed=5)
    assert 0 < one.success.sum() < n  # both outcomes occur
    assert one.generations.max() > 100  # long searches: many windows of rejected candidates
    for ahead in (2, 7, 16):
        finished: list[int] = []
        res = SparseRandomSearch(pixels=k, max_queries=300, p_init=p_init, batch_size=16, look_ahead=ahead)(
            model, x, Untargeted(labels), regions=regions, seed=5, progress=finished.append)
        assert_same(one, res, f"look_ahead={ahead}")
        assert sum(finished) == n and len(finished) > 2  # every attack reported once, as it finished


def test_look_ahead_targeted_and_an_iteration_limit() -> None:
    size, n = 6, 6
    model = SmoothModel(size, seed=9)
    x = images(n, size, seed=9)
    labels = SparseRandomSearch().clean_predictions(model, x)
    targets = (labels + 1) % 4
    for limit in (None, 37):
        one = SparseRandomSearch(pixels=3, max_queries=400, max_iterations=limit, look_ahead=1)(
            model, x, Targeted(labels, targets), seed=1)
        many = SparseRandomSearch(pixels=3, max_queries=400, max_iterations=limit, look_ahead=16)(
            model, x, Targeted(labels, targets), seed=1)
        assert_same(one, many, f"max_iterations={limit}")
        if limit is not None:
            assert one.generations.max() == limit


def test_look_ahead_on_ties_and_a_planted_success() -> None:
    """The spot model's margin takes few values: equal candidates are accepted (``<=``), so points move on
    most steps; the three planted pixels must all be found."""
    model = SpotModel([(0, 1, (255, 0, 0), 1), (2, 4, (0, 255, 0), 1), (4, 3, (0, 0, 255), 1)], bar=5.0)
    x = gray(4, 5)
    runs = [SparseRandomSearch(pixels=3, max_queries=3000, look_ahead=a)(model, x, Untargeted([0] * 4), seed=2)
            for a in (1, 4, 16)]
    assert runs[0].success.all()
    for r in runs[1:]:
        assert_same(runs[0], r, "spot model")


def test_one_pixel_random_rule_looks_ahead_too() -> None:
    size, n = 6, 6
    model = SmoothModel(size, seed=3)
    x = images(n, size, seed=3)
    labels = SparseRandomSearch().clean_predictions(model, x)
    one, many = (SparseRandomSearch(pixels=1, single_pixel="random", max_queries=200, look_ahead=a)(
        model, x, Untargeted(labels), seed=4) for a in (1, 16))
    assert_same(one, many, "k = 1, random rule")


def test_look_ahead_is_a_route_not_a_setting() -> None:
    assert SparseRandomSearch(pixels=3, look_ahead=1).config_dict() == SparseRandomSearch(pixels=3).config_dict()
    for bad in (0, 1.5, True):
        with pytest.raises(ConfigError, match="look_ahead"):
            SparseRandomSearch(pixels=3, look_ahead=bad)  # type: ignore[arg-type]


class _Inputs(Attack):
    """Only to build checked inputs for an Evaluation."""

    pixels = 1
    batch_size = 8
    precision = None

    def search(self, inputs: AttackInputs, **options: object) -> AttackResult:
        raise AssertionError


def _evaluation(model: nn.Module, x: np.ndarray, labels: np.ndarray, max_queries: int) -> Evaluation:
    captured: list[AttackInputs] = []

    class Capture(_Inputs):
        def search(self, inputs: AttackInputs, **options: object) -> AttackResult:
            captured.append(inputs)
            return None  # type: ignore[return-value]

    Capture()(model, x, Untargeted(labels))
    return Evaluation(captured[0], max_queries=max_queries)


def _one_pixel(positions: list[int], colour: tuple[int, int, int]) -> Decoded:
    b = len(positions)
    return Decoded(np.array(positions, dtype=np.int64)[:, None], np.tile(np.array(colour, np.uint8), (b, 1, 1)),
                   np.ones((b, 1), dtype=bool))


def test_only_kept_candidates_are_counted_and_remembered() -> None:
    size = 4
    model = SmoothModel(size, seed=1)
    x = images(2, size, seed=1)
    labels = SparseRandomSearch().clean_predictions(model, x)
    ev = _evaluation(model, x, labels, max_queries=6)  # clean + 4 candidates + the confirmation
    rows = np.array([0, 0, 0, 1, 1])
    cands = _one_pixel([1, 2, 1, 3, 4], (255, 255, 255))  # attack 0 asks for pixel 1 twice
    trial = ev.look_ahead(rows, cands)
    assert trial.allowed.tolist() == [True, True, False, True, True]  # the repeat answered by its first
    assert trial.summary.fitness[2] == trial.summary.fitness[0]
    assert ev.queries.tolist() == [1, 1]  # nothing counted yet
    ev.keep(trial, np.array([True, False, False, True, True]))  # attack 0 decided at its first
    assert ev.queries.tolist() == [2, 3]
    again = ev.look_ahead(np.array([0, 0]), _one_pixel([2, 1], (255, 255, 255)))
    assert again.allowed.tolist() == [True, False]  # pixel 2 was discarded: asked anew; pixel 1 was kept
    assert not again.summary.known[1]
    # the budget: attack 1 has 6 - 3 - 1 = 2 candidates left, counted in order
    late = ev.look_ahead(np.array([1, 1, 1]), _one_pixel([5, 6, 7], (0, 0, 0)))
    assert late.allowed.tolist() == [True, True, False] and late.scored.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="together"):
        ev.look_ahead(np.array([0, 1, 0]), _one_pixel([5, 6, 7], (0, 0, 0)))
