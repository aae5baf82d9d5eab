"""Candidates of a point-to-point search answered against its current points (issue 31): the answers of full
forward passes of the candidate images, with either plan, after any number of moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.models.test_incremental import RandomChain
from tests.models.test_incremental_bases import assert_kept_activations

from pixelspace import SparseRandomSearch, Untargeted
from pixelspace.attack.encoding import Decoded
from pixelspace.attack.evaluation import Evaluation
from pixelspace.attack.perturb import perturb
from pixelspace.attack.points import PointBases, choose_plan
from pixelspace.errors import ShapeError
from pixelspace.models import load
from pixelspace.models.classifier import Classifier
from pixelspace.models.incremental import IncrementalModel, analyse

CORNERS = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)


def walk(clf: Classifier, clean: torch.Tensor, k: int, plan: str, steps: int, seed: int, exact: bool,
         max_bytes: int = 1 << 30) -> PointBases:
    """Start every attack at a random k-pixel point, then propose one-slot moves (a few recolourings in place
    and, now and then, a candidate that moves every slot), accept some, and compare every answer with a full
    forward pass of the candidate images in one batch."""
    rng = np.random.default_rng(seed)
    n, _, h, w = clean.shape
    pb = PointBases(clf, clean, k, plan, max_bytes=max_bytes)  # type: ignore[arg-type]
    attacks = np.arange(n)

    def check(cand: Decoded, moved: np.ndarray, who: np.ndarray) -> None:
        got = pb.probabilities(who, cand, moved)
        # a full pass of a single image takes PyTorch's other CPU convolution (last bits differ): the bases
        # answer one candidate as a batch of two, so the reference does the same
        images = perturb(clean, who, cand)
        want = clf.probabilities(torch.cat([images, images]) if who.size == 1 else images)[: who.size]
        if exact:
            assert torch.equal(got, want), (got - want).abs().max().item()
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)

    pos = np.stack([rng.choice(h * w, k, replace=False) for _ in range(n)])
    cur = Decoded(pos, CORNERS[rng.integers(0, 8, (n, k))], np.ones((n, k), dtype=bool))
    check(cur, np.full(n, -1), attacks)
    pb.accept(attacks, cur, np.full(n, -1))
    checked = 0
    for _ in range(steps):
        who = attacks[rng.random(n) < 0.8]  # not every attack is active at every step
        if who.size == 0:
            continue
        moved = rng.integers(0, k, who.size)
        new_pos, new_col = cur.positions[who].copy(), cur.colors[who].copy()
        for j, a in enumerate(who):
            if rng.random() < 0.15:  # recolour in place
                new_col[j, moved[j]] = CORNERS[rng.integers(8)]
                continue
            free = np.setdiff1d(np.arange(h * w), cur.positions[a])
            new_pos[j, moved[j]] = rng.choice(free)
            new_col[j, moved[j]] = CORNERS[rng.integers(8)]
        several = rng.random(who.size) < 0.1  # a candidate that moves every slot
        for jj in np.flatnonzero(several):
            new_pos[jj] = rng.choice(h * w, k, replace=False)
            moved[jj] = -1
        cand = Decoded(new_pos, new_col, np.ones_like(new_pos, dtype=bool))
        check(cand, moved, who)
        checked += 1
        acc = rng.random(who.size) < 0.35
        pb.accept(who[acc], cand[acc], moved[acc])
        cur.positions[who[acc]], cur.colors[who[acc]] = new_pos[acc], new_col[acc]
    assert checked >= steps // 2  # most steps had candidates to compare
    return pb


def random_chain(seed: int, attacks: int, image_seed: int) -> tuple[Classifier, torch.Tensor]:
    """A classifier over the random test chain ``seed`` with the incremental pass on, and ``attacks`` random
    13 x 10 images."""
    model = RandomChain(seed)
    rng = np.random.default_rng(image_seed)
    clean = torch.from_numpy(rng.integers(0, 256, (attacks, 3, 13, 10), dtype=np.uint8))
    clf = Classifier(model, batch_size=8, incremental=True)
    clf._engine = IncrementalModel(*analyse(model))
    return clf, clean


@pytest.mark.parametrize("plan", ["leave-one-out", "point"])
@pytest.mark.parametrize("seed", range(2))
def test_random_chains_answer_as_full_passes(plan: str, seed: int) -> None:
    clf, clean = random_chain(seed, 4, seed)
    pb = walk(clf, clean, 3, plan, 12, seed, exact=False)
    assert_kept_activations(pb.bases, 1e-5)
    if plan == "leave-one-out":
        assert pb.refreshes > 0


@pytest.mark.parametrize("name", ["allconv-cifar10", "cnn8-cifar10"])
def test_shipped_networks_answer_bit_for_bit(name: str) -> None:
    clf = Classifier(load(name), batch_size=64, incremental=True)
    rng = np.random.default_rng(4)
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    pb = walk(clf, clean, 3, "leave-one-out", 8, 4, exact=True)
    assert_kept_activations(pb.bases, 0)


def test_few_slots_recompute_and_answer_the_same() -> None:
    """Bases beyond max_bytes share slots: one given up is recomputed from its image when next needed."""
    clf, clean = random_chain(1, 3, 6)
    engine = clf._incremental_engine()
    assert engine is not None
    per = engine.clean_bytes(3, 13, 10, clf.device)
    pb = walk(clf, clean, 3, "leave-one-out", 10, 6, exact=False, max_bytes=5 * per)
    inner = pb.bases._bases
    assert inner is not None and inner.capacity == 5 and inner.computed > 3  # bases given up were recomputed
    assert_kept_activations(pb.bases, 1e-5)


def test_a_copy_writes_no_stale_activations() -> None:
    clf, clean = random_chain(2, 3, 2)
    bases = clf.pixel_bases(clean)
    bases.base_probabilities()  # every base's activations held
    on = np.ones((1, 1), bool)
    bases.commit(np.array([0]), np.array([[17]]), np.full((1, 1, 3), 255, np.uint8), on)
    bases.copy(np.array([1, 2]), np.array([0, 0]))
    assert torch.equal(bases.images[1], bases.images[0]) and torch.equal(bases.images[2], bases.images[0])
    inner = bases._bases
    assert inner is not None and (inner._slot_of >= 0).all() and inner.computed == 3  # copied, not recomputed
    assert_kept_activations(bases, 1e-5)
    with pytest.raises(ShapeError, match="among the sources"):
        bases.copy(np.array([1]), np.array([1]))
    with pytest.raises(ShapeError, match="at most once"):
        bases.copy(np.array([1, 1]), np.array([0, 0]))
    with pytest.raises(ShapeError, match="sources must lie"):
        bases.commit(np.array([1]), np.array([[3]]), np.zeros((1, 1, 3), np.uint8), on, sources=np.array([5]))


def test_the_plan_follows_the_cost_model() -> None:
    assert choose_plan(Classifier(load("allconv-cifar10")), 3, 32, 32, 3) == "leave-one-out"
    assert choose_plan(Classifier(load("nin-cifar10")), 3, 32, 32, 5) == "leave-one-out"
    assert choose_plan(Classifier(load("allconv-cifar10")), 3, 32, 32, 1) is None  # nothing to move
    assert choose_plan(Classifier(load("allconv-cifar10"), incremental=False), 3, 32, 32, 3) is None


@pytest.mark.parametrize("k", [2, 3])
def test_sparse_search_gives_the_same_attacks_with_and_without_the_points(k: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model = load("allconv-cifar10")
    rng = np.random.default_rng(k)
    images = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    attack = SparseRandomSearch(pixels=k, max_queries=150, batch_size=64)
    labels = attack.clean_predictions(model, images)
    followed: list[bool] = []
    original = Evaluation.follow_points

    def spy(self: Evaluation, pixels: int) -> bool:
        followed.append(original(self, pixels))
        return followed[-1]

    monkeypatch.setattr(Evaluation, "follow_points", spy)
    on = attack(model, images, Untargeted(labels), seed=3)
    monkeypatch.setattr(Evaluation, "follow_points", lambda self, pixels: False)
    off = attack(model, images, Untargeted(labels), seed=3)
    assert followed == [True]
    for field in ("success", "pixels", "colors", "queries", "generations", "predicted", "confidence",
                  "adv_top5_probs", "fitness_history"):
        np.testing.assert_array_equal(getattr(on, field), getattr(off, field), err_msg=field)


def test_follow_points_is_an_evaluation_route_not_a_setting() -> None:
    from pixelspace.errors import ConfigError

    assert SparseRandomSearch(pixels=3, follow_points=False).config_dict() == SparseRandomSearch(pixels=3).config_dict()
    with pytest.raises(ConfigError, match="follow_points"):
        SparseRandomSearch(pixels=3, follow_points=1)  # type: ignore[arg-type]


def test_look_ahead_on_the_points_keeps_every_decision() -> None:
    """On a shipped network with the points followed: look-ahead (several candidates per attack against its
    leave-one-out bases in one call, most discarded after a decision) against one candidate at a time. The
    decisions are identical; the floats may move in their last bits (1 x 1 convolutions of other sizes)."""
    model = load("allconv-cifar10")
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    base = SparseRandomSearch(pixels=3, max_queries=200, batch_size=64, look_ahead=1)
    labels = base.clean_predictions(model, images)
    one = base(model, images, Untargeted(labels), seed=1)
    ahead = SparseRandomSearch(pixels=3, max_queries=200, batch_size=64, look_ahead=16)(
        model, images, Untargeted(labels), seed=1)
    assert one.generations.max() > 50  # long enough for look-ahead windows to be cut by decisions
    for field in ("success", "pixels", "colors", "queries", "generations", "predicted", "adv_top5_classes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(ahead, field), err_msg=field)
    for field in ("confidence", "adv_top5_probs", "fitness_history"):
        np.testing.assert_allclose(getattr(one, field), getattr(ahead, field), rtol=0, atol=1e-5, err_msg=field)
