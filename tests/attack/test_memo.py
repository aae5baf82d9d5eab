"""The evaluation memo: repeats of an already evaluated image cost no query and change nothing else."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from tests.helpers import gray_images, predict, tiny_cnn
from torch import nn

from pixelspace import DEConfig, PixelAttack, Untargeted
from pixelspace.attack.encoding import Decoded
from pixelspace.attack.memo import EvaluationMemo, candidate_keys, first_occurrences
from pixelspace.errors import ConfigError


def _decoded(positions: list[list[int]], colors: list[list[list[int]]], applied: list[list[bool]]) -> Decoded:
    return Decoded(np.array(positions, dtype=np.int64), np.array(colors, dtype=np.uint8), np.array(applied))


def test_keys_name_the_image_not_the_genes() -> None:
    dec = _decoded(
        [[5, 9], [5, 9], [5, 7], [5, 9], [5, 9]],
        [[[1, 2, 3], [4, 5, 6]]] * 2 + [[[1, 2, 3], [4, 5, 6]]] + [[[1, 2, 3], [4, 5, 7]], [[1, 2, 3], [4, 5, 6]]],
        [[True, True], [True, True], [True, False], [True, True], [True, True]],
    )
    keys = candidate_keys(np.array([0, 0, 0, 0, 1]), dec)
    assert keys.dtype == np.uint64 and keys.shape == (5, 2)
    assert (keys[0] == keys[1]).all()  # same attack, same pixels
    assert not (keys[0] == keys[3]).all()  # one colour level apart
    assert not (keys[0] == keys[4]).all()  # another attack
    # a restored (not applied) pixel counts as nothing, whatever its position and colour
    restored = _decoded([[5, 30]], [[[1, 2, 3], [200, 0, 0]]], [[True, False]])
    assert (candidate_keys(np.array([0]), restored)[0] == keys[2]).all()


def test_first_occurrences_groups_equal_rows_like_unique() -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 50, (300, 2)).astype(np.uint64)  # many exact repeats, and rows sharing one hash
    first, group = first_occurrences(keys)
    np.testing.assert_array_equal(keys[first[group]], keys)
    _, ref_first, ref_group = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    np.testing.assert_array_equal(first, ref_first)
    np.testing.assert_array_equal(group, ref_group.reshape(-1))
    assert (first == np.array([np.flatnonzero((keys == keys[i]).all(1))[0] for i in first])).all()
    none_first, none_group = first_occurrences(np.zeros((0, 2), dtype=np.uint64))
    assert none_first.shape == (0,) and none_group.shape == (0,)


def test_memo_finds_every_added_key_across_merged_runs() -> None:
    rng = np.random.default_rng(0)
    memo = EvaluationMemo()
    keys = rng.integers(0, 2**63, size=(3000, 2), dtype=np.int64).astype(np.uint64)
    fitness = rng.uniform(size=3000)
    success = rng.uniform(size=3000) < 0.1
    for start in range(0, 3000, 137):  # uneven batches: several merges
        memo.add(keys[start : start + 137], fitness[start : start + 137], success[start : start + 137])
    assert len(memo) == 3000
    order = rng.permutation(3000)
    found, fit, succ = memo.lookup(keys[order])
    assert found.all() and (fit == fitness[order]).all() and (succ == success[order]).all()
    # same first hash, other second hash: not a match
    other = keys[:50].copy()
    other[:, 1] ^= np.uint64(1)
    miss = np.concatenate([other, rng.integers(0, 2**63, size=(50, 2), dtype=np.int64).astype(np.uint64)])
    assert not memo.lookup(miss)[0].any()


class ImageLog(nn.Module):
    """Wraps a model and records a digest of every image it is asked about."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.seen: list[str] = []
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += [hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in x]
        return self.inner(x)


def _hard_setup() -> tuple[nn.Module, np.ndarray, np.ndarray]:
    model = tiny_cnn(seed=3)
    images = gray_images(2, 12, seed=4)
    return model, images, predict(model, images)


def test_memo_keeps_the_search_and_never_asks_twice() -> None:
    model, images, labels = _hard_setup()
    # best1bin converges: many trials repeat an earlier image; early stop off so every attack runs all gens
    cfg = DEConfig(population_size=30, max_generations=40, strategy="best1bin")
    results, logs = {}, {}
    for reuse in (False, True):
        log = ImageLog(model)
        results[reuse] = PixelAttack(pixels=1, de=cfg, reuse_evaluations=reuse, batch_size=64, early_stop=False)(
            log, images, Untargeted(labels), seed=7
        )
        logs[reuse] = log.seen
    off, on = results[False], results[True]
    for field in ("success", "generations", "pixels", "colors", "predicted", "adv_top5_classes"):
        assert (getattr(off, field) == getattr(on, field)).all(), field
    np.testing.assert_allclose(on.fitness_history, off.fitness_history, atol=1e-6)
    np.testing.assert_allclose(on.confidence, off.confidence, atol=1e-6)
    assert not on.success.any()  # no confirmations below: every query of the memo run asks a new image
    assert (on.queries < off.queries).all()
    assert off.queries.sum() == len(logs[False]) and len(set(logs[False])) < len(logs[False])
    assert len(set(logs[True])) == on.queries.sum()
    # beyond the queries, at most one uncounted repeat per attack: its reported best member's full answer
    assert on.queries.sum() <= len(logs[True]) <= on.queries.sum() + len(images)


def test_memo_respects_the_query_budget() -> None:
    model, images, labels = _hard_setup()
    cfg = DEConfig(population_size=30, max_generations=400, strategy="best1bin", max_queries=2000)
    r = PixelAttack(pixels=1, de=cfg)(model, images, Untargeted(labels), seed=1)
    # with repeats free, the same budget buys more generations than without the memo
    r_off = PixelAttack(pixels=1, de=cfg, reuse_evaluations=False)(model, images, Untargeted(labels), seed=1)
    assert (r.queries <= 2000).all() and (r_off.queries <= 2000).all()
    assert (r.generations >= r_off.generations).all() and (r.generations > r_off.generations).any()


def test_reuse_evaluations_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="reuse_evaluations"):
        PixelAttack(reuse_evaluations="yes")  # type: ignore[arg-type]
