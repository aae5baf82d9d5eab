"""Candidates against per-attack bases (issue 31): the answers of a full forward pass of the candidate image,
after any number of moves of the base."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace.errors import DTypeError, ShapeError
from pixelspace.models import load
from pixelspace.models.classifier import Classifier, PixelBases
from pixelspace.models.incremental import IncrementalModel, analyse
from tests.models.test_incremental import RandomChain


def assert_kept_activations(bases: PixelBases, atol: float) -> None:
    """The activations kept for every held attack are those of a full pass of its current base image."""
    inner = bases._bases
    assert inner is not None
    held = np.flatnonzero(inner._slot_of >= 0)
    assert held.size
    direct = inner.engine.clean_activations(bases.images[torch.as_tensor(held)].to(torch.float32).div_(255.0))
    for kept, want in zip(inner._slots, direct, strict=True):
        got = kept[torch.as_tensor(inner._slot_of[held])]
        if atol == 0:
            assert torch.equal(got, want)
        else:
            torch.testing.assert_close(got, want, rtol=0, atol=atol)


def step_candidates(rng: np.random.Generator, clean: np.ndarray, per_attack: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidates as a sparse search proposes them against its current points: a pixel restored to its clean value and another set, or one pixel recoloured; some entries unapplied, some
    repeated, some restoring a pixel that was not changed."""
    a, _, h, w = clean.shape
    attacks = np.repeat(np.arange(a), per_attack)
    b = attacks.size
    pos = rng.integers(0, h * w, (b, 2))
    dup = rng.random(b) < 0.1
    pos[dup, 1] = pos[dup, 0]
    restored = clean[attacks, :, pos[:, 0] // w, pos[:, 0] % w]
    cols = np.stack([restored, rng.choice(np.array([0, 255], np.uint8), (b, 3))], axis=1)
    applied = rng.random((b, 2)) < 0.9
    recolour = rng.random(b) < 0.3
    applied[recolour, 0] = False
    return attacks, pos, cols, applied


def chain(clf: Classifier, clean: torch.Tensor, steps: int, seed: int, max_bytes: int | None = None,
          exact: bool = True, update: str = "windows") -> PixelBases:
    """Start every attack at a random 3-pixel point, then move the bases ``steps`` times, comparing each batch
    with full forward passes of the same candidate images."""
    rng = np.random.default_rng(seed)
    a, _, h, w = clean.shape
    start = clean.clone()
    for i in range(a):
        p = rng.choice(h * w, 3, replace=False)
        start[i, :, torch.as_tensor(p // w), torch.as_tensor(p % w)] = torch.from_numpy(
            rng.integers(0, 256, (3, 3), dtype=np.uint8)).T
    bases = clf.pixel_bases(start, max_bytes=max_bytes)
    if bases._bases is not None:
        bases._bases.update = update
    clean_np = clean.numpy()
    for s in range(steps):
        attacks, pos, cols, applied = step_candidates(rng, clean_np, 3)
        images = bases.candidates(attacks, pos, cols, applied)
        full = clf.probabilities(images)
        inc = bases.probabilities(attacks, pos, cols, applied)
        if exact:
            assert torch.equal(full, inc), (s, (full - inc).abs().max().item())
        else:
            assert torch.equal(full.argmax(1), inc.argmax(1)), s
            assert (full - inc).abs().max().item() < 1e-6, s
        accept = np.flatnonzero(rng.random(a) < 0.6) * 3 + rng.integers(0, 3)
        bases.commit(attacks[accept], pos[accept], cols[accept], applied[accept])
        assert torch.equal(bases.images[torch.as_tensor(attacks[accept])], images[torch.as_tensor(accept)])
    return bases


@pytest.mark.parametrize("seed", range(3))
def test_random_chains_follow_a_moving_base(seed: int) -> None:
    model = RandomChain(seed)
    rng = np.random.default_rng(seed)
    clean = torch.from_numpy(rng.integers(0, 256, (4, 3, 13, 10), dtype=np.uint8))
    clf = Classifier(model, batch_size=8, incremental=True)
    for share in (0.0, 0.5, 2.0):  # full maps at once, the default switch, windows to the end of the chain
        clf._engine = IncrementalModel(*analyse(model), full_share=share)
        bases = chain(clf, clean, 6, seed, exact=False)
        assert bases.incremental
        inner = bases._bases
        assert inner is not None and inner.computed == 4  # every move wrote its windows: no pass recomputed a base
        assert_kept_activations(bases, 1e-5)  # a few float32 ulps on these odd layers


@pytest.mark.parametrize("name", ["allconv-cifar10", "nin-cifar10", "vgg16-cifar10", "cnn8-cifar10"])
def test_shipped_networks_follow_a_moving_base_bit_for_bit(name: str) -> None:
    clf = Classifier(load(name), batch_size=64, incremental=True)
    rng = np.random.default_rng(2)
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    bases = chain(clf, clean, 3, 0)
    assert_kept_activations(bases, 0)
    # the bases' own probabilities come from their kept activations, as a full pass gives them
    fresh = clf.pixel_bases(bases.images)
    assert torch.equal(fresh.base_probabilities(np.array([2, 0, 2])), clf.probabilities(bases.images[[2, 0, 2]]))
    assert fresh._bases is not None and fresh._bases.computed == 2
    assert torch.equal(bases.base_probabilities(), clf.probabilities(bases.images))


def test_few_slots_recompute_given_up_bases_and_answer_the_same() -> None:
    """Bases beyond max_bytes share slots: an attack whose slot was given away is recomputed from its image."""
    model = RandomChain(1)
    rng = np.random.default_rng(5)
    clean = torch.from_numpy(rng.integers(0, 256, (5, 3, 13, 10), dtype=np.uint8))
    clf = Classifier(model, batch_size=4, incremental=True)
    per = clf.pixel_bases(clean).bytes_per_attack
    engine = clf._incremental_engine()
    assert engine is not None and per == engine.clean_bytes(3, 13, 10, clf.device)
    bases = chain(clf, clean, 6, 1, max_bytes=2 * per, exact=False)
    inner = bases._bases
    assert inner is not None and inner.capacity == 2 and inner.nbytes <= 2 * per
    assert inner.computed > 5  # slots were given up and recomputed
    assert_kept_activations(bases, 1e-5)


def test_full_update_and_window_update_agree() -> None:
    model = RandomChain(3)
    rng = np.random.default_rng(7)
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, 13, 10), dtype=np.uint8))
    clf = Classifier(model, batch_size=8, incremental=True)
    windows = chain(clf, clean, 8, 3, exact=False)
    full = chain(clf, clean, 8, 3, exact=False, update="full")
    assert torch.equal(windows.images, full.images)
    assert full._bases is not None and full._bases.computed > 3


def test_a_commit_never_reuses_windows_computed_against_an_older_base() -> None:
    """Two moves of one attack after one evaluation: the second candidate's windows were computed against the
    first base, so the commit must evaluate it again, not write them."""
    model = RandomChain(0)
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(rng.integers(0, 256, (2, 3, 13, 10), dtype=np.uint8))
    clf = Classifier(model, batch_size=8, incremental=True)
    bases = clf.pixel_bases(clean)
    attacks = np.array([0, 0])
    pos = np.array([[5, 6], [6, 70]])
    cols = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], np.uint8)
    on = np.ones((2, 2), bool)
    bases.probabilities(attacks, pos, cols, on)
    bases.commit(attacks[:1], pos[:1], cols[:1], on[:1])
    bases.commit(attacks[1:], pos[1:], cols[1:], on[1:])
    assert_kept_activations(bases, 1e-6)
    expected = clean[:1].clone()
    for p, c in [(5, (255, 0, 0)), (6, (0, 0, 255)), (70, (255, 255, 255))]:
        expected[0, :, p // 10, p % 10] = torch.tensor(c, dtype=torch.uint8)
    assert torch.equal(bases.images[:1], expected)


def test_without_the_incremental_pass_bases_answer_by_full_passes() -> None:
    model = RandomChain(2)
    rng = np.random.default_rng(3)
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, 13, 10), dtype=np.uint8))
    for clf in (Classifier(model, batch_size=8, incremental=False),
                Classifier(lambda x: np.full((x.shape[0], 4), 0.25), output="probabilities")):
        bases = chain(clf, clean, 3, 2)
        assert not bases.incremental and bases.bytes_per_attack == 0
    off = Classifier(model, batch_size=8, incremental=False)
    bases = off.pixel_bases(clean)
    before = off.queries
    args = step_candidates(rng, clean.numpy(), 2)
    bases.probabilities(*args)
    assert off.queries == before + 6
    bases.probabilities(*args, count=False)
    assert off.queries == before + 6


def test_bad_arguments_name_the_problem() -> None:
    clf = Classifier(RandomChain(0), batch_size=8, incremental=True)
    clean = torch.zeros(2, 3, 13, 10, dtype=torch.uint8)
    with pytest.raises(DTypeError, match="uint8"):
        clf.pixel_bases(clean.float())
    with pytest.raises(ShapeError, match=r"\(A, 3, H, W\)"):
        clf.pixel_bases(clean[:, :2])
    bases = clf.pixel_bases(clean)
    ok = (np.array([0, 1]), np.array([[3], [4]]), np.zeros((2, 1, 3), np.uint8), np.ones((2, 1), bool))
    with pytest.raises(ShapeError, match="attacks must lie"):
        bases.probabilities(np.array([0, 2]), *ok[1:])
    with pytest.raises(ShapeError, match="positions must lie"):
        bases.probabilities(ok[0], np.array([[3], [130]]), *ok[2:])
    with pytest.raises(ShapeError, match="colors"):
        bases.probabilities(ok[0], ok[1], np.zeros((2, 1, 3), np.int64), ok[3])
    with pytest.raises(ShapeError, match="applied"):
        bases.probabilities(*ok[:3], np.ones((2, 2), bool))
    with pytest.raises(ShapeError, match="at most once"):
        bases.commit(np.array([1, 1]), *ok[1:])


def test_bases_own_their_images() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    clf = Classifier(model, batch_size=8, incremental=True)
    clean = torch.zeros(1, 3, 6, 6, dtype=torch.uint8)
    bases = clf.pixel_bases(clean)
    clean[0, 0, 0, 0] = 255
    probe = (np.array([0]), np.array([[7]]), np.full((1, 1, 3), 9, np.uint8), np.ones((1, 1), bool))
    assert int(bases.candidates(*probe)[0, 0, 0, 0]) == 0
    # the bases run a lone candidate as a batch of two (PyTorch's CPU convolution of a batch of one may round
    # differently), so the reference does too
    image = bases.candidates(*probe)
    assert torch.equal(bases.probabilities(*probe), clf.probabilities(torch.cat([image, image]))[:1])
