from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace import Classifier, SparseRandomSearch, Targeted, Untargeted
from pixelspace.attack.objectives import Margin
from pixelspace.attack.sparse_rs import alpha_schedule
from pixelspace.errors import ConfigError, RegionError

SIZE = 8


class SpotModel(nn.Module):
    """Classes (0, 1, 2). Each planted (pixel, exact colour) pair that is set adds ``step`` to the logit of
    ``cls`` (class 1 or 2); class 0 has logit ``bar``. With ``bar`` between (n-1)*step and n*step the
    prediction leaves class 0 only when all n planted pairs are set, and every set pair lowers the margin."""

    def __init__(self, spots: list[tuple[int, int, tuple[int, int, int], int]], bar: float, step: float = 2.0) -> None:
        super().__init__()
        self.spots = spots
        self.bar, self.step = bar, step
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 3, dtype=x.dtype)
        logits[:, 0] = self.bar
        for r, c, colour, cls in self.spots:
            hit = (torch.round(x[:, :, r, c] * 255) == torch.tensor(colour, dtype=x.dtype)).all(dim=1)
            logits[:, cls] += self.step * hit.to(x.dtype)
        return logits


def gray(n: int = 2, size: int = SIZE) -> np.ndarray:
    return np.full((n, size, size, 3), 128, dtype=np.uint8)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One model call per iteration on tiny tensors: torch's thread pool only adds overhead here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_one_planted_pixel_is_found_in_both_region_modes() -> None:
    model = SpotModel([(5, 2, (255, 0, 255), 1)], bar=1.0)
    results = [SparseRandomSearch(pixels=1, max_queries=2000, region_mode=m)(model, gray(), Untargeted([0, 0]),
                                                                              seed=3)
               for m in ("restrict", "index")]
    for res in results:
        assert res.success.all()
        assert (res.pixels[:, 0] == [5, 2]).all()
        assert (res.colors[:, 0] == [255, 0, 255]).all()
        assert (res.predicted == 1).all()
        assert (res.queries <= 2000).all()
    # positions come from the region in both modes: the mode only changes the encoding, not the search
    assert np.array_equal(results[0].queries, results[1].queries)
    assert np.array_equal(results[0].pixels, results[1].pixels)


def test_three_pixels_that_must_all_be_set() -> None:
    spots = [(0, 1, (255, 0, 0), 1), (2, 4, (0, 255, 0), 1), (4, 3, (0, 0, 255), 1)]
    model = SpotModel(spots, bar=5.0)  # 2 pairs give 4 < 5, all 3 give 6
    res = SparseRandomSearch(pixels=3, max_queries=3000)(model, gray(2, 5), Untargeted([0, 0]), seed=0)
    assert res.success.all()
    for i in range(2):
        got = {(int(r), int(c), tuple(int(v) for v in col)) for (r, c), col in zip(res.pixels[i], res.colors[i], strict=True)}
        assert got == {(r, c, col) for r, c, col, _ in spots}
    assert (res.changed == 3).all()


def test_never_outside_the_region() -> None:
    # the planted pixel is outside the region: the search must fail and never touch it
    model = SpotModel([(0, 0, (255, 255, 255), 1)], bar=1.0)
    region = np.zeros((SIZE, SIZE), dtype=bool)
    region[4:, 4:] = True
    for mode in ("restrict", "index"):
        res = SparseRandomSearch(pixels=2, max_queries=300, region_mode=mode)(
            model, gray(2), Untargeted([0, 0]), regions=region, seed=1)
        assert not res.success.any()
        # every pixel is placed (never a restored (-1, -1), which would index the region from its far end)
        assert ((res.pixels >= 0) & (res.pixels < SIZE)).all(), res.pixels
        assert region[res.pixels[..., 0], res.pixels[..., 1]].all()
        diff = (res.adversarial != gray(2)).any(axis=-1)
        assert not (diff & ~region).any()
        assert (res.queries == 299).all()  # the last query is kept for a confirmation, as in DE


def test_targeted_reaches_the_target_not_just_another_class() -> None:
    # pixel A flips to class 1 (a decoy), pixel B to class 2, the target
    model = SpotModel([(2, 2, (255, 255, 0), 1), (6, 5, (0, 255, 255), 2)], bar=1.0)
    res = SparseRandomSearch(pixels=1, max_queries=3000)(model, gray(2), Targeted([0, 0], [2, 2]), seed=5)
    assert res.success.all()
    assert (res.predicted == 2).all()
    assert (res.pixels[:, 0] == [6, 5]).all()
    assert res.mode == "targeted"


@pytest.mark.parametrize("budget", [3, 17, 250])
def test_query_bound_counts_every_model_image(budget: int) -> None:
    model = SpotModel([(0, 0, (1, 2, 3), 1)], bar=1.0)  # a colour no corner has: never succeeds
    clf = Classifier(model, batch_size=16)
    res = SparseRandomSearch(pixels=3, max_queries=budget)(clf, gray(3), Untargeted([0, 0, 0]), seed=0)
    assert not res.success.any()
    assert (res.queries <= budget).all()
    # the classifier counted every image it saw: attacks' queries sum to the model's images
    assert clf.queries == int(res.queries.sum())


def test_same_seed_same_result_independent_of_the_batch() -> None:
    model = SpotModel([(1, 1, (255, 0, 0), 1), (3, 3, (0, 0, 255), 1)], bar=3.0)
    attack = SparseRandomSearch(pixels=2, max_queries=150)
    a = attack(model, gray(3, 5), Untargeted([0, 0, 0]), seed=11)
    b = attack(model, gray(3, 5), Untargeted([0, 0, 0]), seed=11)
    for field in ("success", "pixels", "colors", "queries", "generations"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    alone = attack(model, gray(1, 5), Untargeted([0]), seed=a.seed[1:2])
    assert np.array_equal(alone.pixels[0], a.pixels[1]) and alone.queries[0] == a.queries[1]
    c = attack(model, gray(3, 5), Untargeted([0, 0, 0]), seed=12)
    assert not (np.array_equal(a.queries, c.queries) and np.array_equal(a.pixels, c.pixels))


def test_region_of_exactly_k_pixels_recolours_in_place() -> None:
    model = SpotModel([(3, 3, (0, 0, 0), 1), (3, 4, (255, 255, 255), 1)], bar=3.0)
    region = np.zeros((SIZE, SIZE), dtype=bool)
    region[3, 3:5] = True
    res = SparseRandomSearch(pixels=2, max_queries=500)(model, gray(1), Untargeted([0]), regions=region, seed=0)
    assert res.success[0]
    assert sorted(map(tuple, res.pixels[0].tolist())) == [(3, 3), (3, 4)]


def test_margin_loss_and_schedule() -> None:
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    rows = torch.arange(2)
    un = Margin(Untargeted([0, 0])).fitness(probs, rows)
    assert torch.allclose(un, torch.log(torch.tensor([0.7 / 0.2, 0.1 / 0.6])).double())
    tg = Margin(Targeted([0, 0], [1, 2])).fitness(probs, rows)
    assert torch.allclose(tg, torch.log(torch.tensor([0.7 / 0.2, 0.3 / 0.6])).double())
    assert alpha_schedule(0.8, 0, 10000) == 0.8
    assert alpha_schedule(0.8, 50, 10000) == 0.4
    assert alpha_schedule(0.8, 51, 10000) == 0.2
    assert alpha_schedule(0.8, 9000, 10000) == pytest.approx(0.04)
    assert alpha_schedule(0.8, 600, 1000) == pytest.approx(0.8 / 12)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_queries"):
        SparseRandomSearch(max_queries=2)
    with pytest.raises(ConfigError, match="p_init"):
        SparseRandomSearch(p_init=0.0)
    with pytest.raises(ConfigError, match="region_mode"):
        SparseRandomSearch(region_mode="box")  # type: ignore[arg-type]
    with pytest.raises(RegionError):
        region = np.zeros((SIZE, SIZE), dtype=bool)
        region[0, 0] = True
        SparseRandomSearch(pixels=2)(SpotModel([], 1.0), gray(1), Untargeted([0]), regions=region)


class Spy(nn.Module):
    """Class 0 always; records every image it is asked about (N, 3, H, W) in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return torch.tensor([[5.0, 0.0, 0.0]], dtype=x.dtype).expand(x.shape[0], 3)


def _placements(spy: Spy, clean: np.ndarray) -> list[tuple[int, tuple[int, ...]]]:
    """(flat pixel, colour) of every changed pixel of every evaluated candidate, in query order."""
    ref = torch.from_numpy(clean).permute(2, 0, 1).double() / 255
    out = []
    for batch in spy.seen:
        for img in batch.double():
            changed = (img - ref).abs().amax(0) > 1e-6
            for r, c in zip(*np.nonzero(changed.numpy()), strict=True):
                out.append((int(r) * clean.shape[1] + int(c), tuple(int(v) for v in torch.round(img[:, r, c] * 255))))
    return out


@pytest.mark.parametrize("pixels", [1, 3])
def test_first_placement_of_a_pixel_takes_its_opposite_corner(pixels: int) -> None:
    clean = np.random.default_rng(3).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    spy = Spy()
    SparseRandomSearch(pixels=pixels, max_queries=150, batch_size=64)(spy, clean[None], Untargeted([0]), seed=4)
    placements = _placements(spy, clean)
    opposite = lambda p: tuple(255 if v < 128 else 0 for v in clean.reshape(-1, 3)[p])  # noqa: E731
    first_seen: set[int] = set()
    repeats = 0
    for p, colour in placements:
        assert colour != tuple(int(v) for v in clean.reshape(-1, 3)[p])
        assert set(colour) <= {0, 255}
        if p not in first_seen:
            first_seen.add(p)
            assert colour == opposite(p), f"pixel {p}'s first placement is {colour}, not its opposite corner"
        elif colour != opposite(p):
            repeats += 1  # a later placement draws any other corner
    assert len(first_seen) > 20 and repeats > 10
    # the authors' rule: first placements are uniform corners, so few of them are the opposite one
    spy = Spy()
    SparseRandomSearch(pixels=pixels, max_queries=150, first_color="random", batch_size=64)(spy, clean[None], Untargeted([0]), seed=4)
    firsts: dict[int, tuple[int, ...]] = {}
    for p, colour in _placements(spy, clean):
        firsts.setdefault(p, colour)
    share = np.mean([firsts[p] == opposite(p) for p in firsts])
    assert len(firsts) > 20 and share < 0.4


def test_a_colour_other_than_the_opposite_is_still_found() -> None:
    # gray 128: every pixel's opposite corner is black; the planted colour is white, reached only on a revisit
    model = SpotModel([(2, 5, (255, 255, 255), 1)], bar=1.0)
    res = SparseRandomSearch(pixels=1, max_queries=3000)(model, gray(2), Untargeted([0, 0]), seed=[1, 2])
    assert res.success.all()
    assert [tuple(c) for c in res.colors[:, 0].tolist()] == [(255, 255, 255)] * 2
    with pytest.raises(ConfigError, match="first_color"):
        SparseRandomSearch(first_color="far")  # type: ignore[arg-type]


def test_one_pixel_enumerates_every_pair_once_then_stops() -> None:
    side = 4
    clean = np.random.default_rng(0).integers(1, 255, (side, side, 3), dtype=np.uint8)
    clean[0, 0] = (0, 0, 0)  # a pixel whose clean colour is a corner: 7 pairs, not 8
    clean[2, 1] = (255, 0, 255)
    pairs = side * side * 8 - 2
    spy = Spy()
    res = SparseRandomSearch(pixels=1, max_queries=10_000, batch_size=64)(spy, clean[None], Untargeted([0]), seed=2)
    placements = _placements(spy, clean)
    assert len(placements) == len(set(placements)) == pairs  # every pair once, none repeated
    assert all(colour != tuple(int(v) for v in clean.reshape(-1, 3)[p]) for p, colour in placements)
    # phase 1: every pixel once, with its opposite corner, before any pixel is tried again
    opposite = lambda p: tuple(255 if v < 128 else 0 for v in clean.reshape(-1, 3)[p])  # noqa: E731
    assert sorted(p for p, _ in placements[: side * side]) == list(range(side * side))
    assert all(colour == opposite(p) for p, colour in placements[: side * side])
    assert not res.success[0] and res.queries[0] == pairs + 1  # the clean image and each pair: then it stops
    assert res.generations[0] == pairs - 1
    # another seed walks another order
    spy2 = Spy()
    SparseRandomSearch(pixels=1, max_queries=10_000, batch_size=64)(spy2, clean[None], Untargeted([0]), seed=3)
    assert _placements(spy2, clean) != placements and set(_placements(spy2, clean)) == set(placements)


def test_enumeration_finds_a_planted_pixel_within_the_pair_count() -> None:
    # the planted colour is not the pixel's opposite corner: phase 2 must reach it, in a 12-pixel region
    region = np.zeros((SIZE, SIZE), dtype=bool)
    region[2:5, 3:7] = True
    pairs = int(region.sum()) * 8
    model = SpotModel([(4, 6, (0, 255, 0), 1)], bar=1.0)
    res = SparseRandomSearch(pixels=1, max_queries=pairs + 2)(model, gray(6), Untargeted([0] * 6), regions=region,
                                                              seed=list(range(6)))
    assert res.success.all()
    assert (res.queries <= pairs + 2).all() and len(set(res.queries.tolist())) > 1


def test_single_pixel_setting_is_checked_and_only_hashed_at_one_pixel() -> None:
    with pytest.raises(ConfigError, match="single_pixel"):
        SparseRandomSearch(single_pixel="sweep")  # type: ignore[arg-type]
    assert SparseRandomSearch(pixels=1).config_dict()["single_pixel"] == "enumerate"
    assert "single_pixel" not in SparseRandomSearch(pixels=3).config_dict()
