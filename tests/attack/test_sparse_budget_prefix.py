"""The sparse search at a smaller budget is a prefix of the search at a larger one (issue 30's pilot rests on it).

With ``p_init`` below 1/k one pixel moves per iteration at every point of the schedule, so the budget does not
steer the search: the attacks that succeed within B queries at budget 2 B are exactly those that succeed at
budget B, with the same queries and perturbation. ``benchmarks/sparse_budget.py`` reads a pilot's budget curve
from this; the same script's ``--verify`` checks it on the real networks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace import SparseRandomSearch, Untargeted


class PairModel(nn.Module):
    """Three classes; class 1 wins when two planted (pixel, colour) pairs are both set, and each set pair lowers
    the margin, so success needs the search to hold one pair while it finds the other."""

    def __init__(self) -> None:
        super().__init__()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 3, dtype=x.dtype)
        logits[:, 0] = 3.0
        for r, c, colour in ((1, 6, (255, 0, 255)), (6, 2, (0, 255, 0))):
            hit = (torch.round(x[:, :, r, c] * 255) == torch.tensor(colour, dtype=x.dtype)).all(dim=1)
            logits[:, 1] += 2.0 * hit.to(x.dtype)
        return logits


@pytest.mark.parametrize("pixels", [3, 5])
def test_a_smaller_budget_is_the_prefix_of_a_larger_one(pixels: int) -> None:
    torch.set_num_threads(1)
    n, small = 16, 500
    images = np.full((n, 8, 8, 3), 128, dtype=np.uint8)
    objective = Untargeted(np.zeros(n, dtype=np.int64))
    seeds = np.arange(100, 100 + n)
    big = SparseRandomSearch(pixels=pixels, max_queries=2 * small)(PairModel(), images, objective, seed=seeds)
    part = SparseRandomSearch(pixels=pixels, max_queries=small)(PairModel(), images, objective, seed=seeds)
    # at budget B the search also stops after 2 B iterations (a memo answer costs an iteration, no query)
    within = big.success & (big.queries <= small) & (big.generations <= 2 * small)
    # the test needs both kinds: successes inside the small budget and successes only after it
    assert 0 < within.sum() < big.success.sum(), (within.sum(), big.success.sum())
    np.testing.assert_array_equal(part.success, within)
    np.testing.assert_array_equal(part.queries[within], big.queries[within])
    np.testing.assert_array_equal(part.pixels[within], big.pixels[within])
    np.testing.assert_array_equal(part.colors[within], big.colors[within])
    assert (part.queries[~within] <= small).all()
