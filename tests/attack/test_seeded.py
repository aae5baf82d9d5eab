from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from tests.helpers import gray_images, predict, tiny_cnn
from torch import nn

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.attack.encoding import Regions, decode, encode
from pixelspace.attack.scan import PixelScan, VulnerabilityMap, cube_corners
from pixelspace.attack.seeded import ScanSeededAttack, seeded_population
from pixelspace.errors import ConfigError, DTypeError, ObjectiveError, RegionError, ShapeError

SPOTS = ((2, 3), (6, 9), (10, 3))
CORNERS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


class ThreeSpotModel(nn.Module):
    """Two classes; the prediction flips only when all three planted spots are hit.

    s_j = max over pixels of exp(-|colour - corner_j|^2 / (2 * 0.35^2)) * exp(-|pos - spot_j|^2 / 2), and
    logits = (0, 2 * (2 s_1 + s_2 + s_3) - 7): one or two spots set to their corner colour lower p(class 0)
    without flipping it; all three flip it. Spot 1 weighs double, so its 4 neighbours damage more than the
    other spots' centres: the scan's top 3 pixels (spot 1 and two neighbours) do not flip the prediction.
    """

    pos_w: torch.Tensor
    corners: torch.Tensor

    def __init__(self, size: int = 12) -> None:
        super().__init__()
        rr, cc = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        w = [torch.exp(-((rr - r) ** 2 + (cc - c) ** 2).float() / 2) for r, c in SPOTS]
        self.register_buffer("pos_w", torch.stack(w))  # (3, H, W)
        self.register_buffer("corners", torch.tensor(CORNERS))  # (3 spots, 3 channels)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # |x - corner_j|^2 = |x|^2 - 2 x . corner_j + |corner_j|^2, shape (3, B, H, W)
        xc = torch.einsum("bchw,jc->jbhw", x, self.corners)
        c2 = (x * x).sum(1)[None] - 2 * xc + (self.corners**2).sum(1)[:, None, None, None]
        s = (torch.exp(-c2 / (2 * 0.35**2)) * self.pos_w[:, None]).flatten(2).max(2).values
        score = 2 * s[0] + s[1] + s[2]
        return torch.stack([torch.zeros_like(score), 2.0 * score - 7.0], dim=1)


def _hand_map(prob: np.ndarray, clean: float = 0.95) -> VulnerabilityMap:
    h, w, c = prob.shape
    return VulnerabilityMap(0, clean, cube_corners()[:c], prob.astype(np.float32), np.zeros((h, w, c), np.int32),
                            np.ones((h, w), bool), h * w * c + 1)


@pytest.mark.parametrize("mode", ["restrict", "index"])
def test_encode_inverts_decode(mode: str) -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((3, 7, 9)) < 0.4
    regions = Regions.from_masks(masks)
    rows = rng.integers(0, 3, 40)
    pos = np.stack([rng.choice(np.flatnonzero(masks[r]), 3, replace=False) for r in rows])
    colors = rng.integers(0, 256, (40, 3, 3)).astype(np.uint8)
    genes = encode(pos, colors, rows, regions, mode)  # type: ignore[arg-type]
    assert genes.shape == (40, 3 * (5 if mode == "restrict" else 4)) and genes.min() >= 0 and genes.max() <= 1
    dec = decode(genes, rows, regions, mode, 3)  # type: ignore[arg-type]
    np.testing.assert_array_equal(dec.positions, pos)
    np.testing.assert_array_equal(dec.colors, colors)
    assert dec.applied.all()


def test_encode_index_mode_rejects_pixels_outside() -> None:
    masks = np.zeros((1, 4, 4), bool)
    masks[0, 0] = True
    with pytest.raises(RegionError, match="inside the region"):
        encode(np.array([[5]]), np.zeros((1, 1, 3), np.uint8), np.array([0]), Regions.from_masks(masks), "index")


def test_init_population_validated() -> None:
    model = tiny_cnn(0)
    images = gray_images(2, 32)
    attack = PixelAttack(pixels=1, de=DEConfig(population_size=8, max_generations=1))
    obj = Untargeted(predict(model, images))
    with pytest.raises(ShapeError, match=r"init_population must have shape .*\(2, 8, 5\)"):
        attack(model, images, obj, init_population=np.full((2, 8, 4), 0.5))
    with pytest.raises(DTypeError, match=r"init_population genes must lie in \[0, 1\]"):
        attack(model, images, obj, init_population=np.full((2, 8, 5), -0.1))
    with pytest.raises(DTypeError, match="finite"):
        attack(model, images, obj, init_population=np.full((2, 8, 5), np.inf))


def test_init_population_is_generation_zero() -> None:
    # every member of a hand-set population puts a white pixel at (3, 4): generation 0 evaluates exactly that
    model = tiny_cnn(0)
    images = gray_images(2, 32)
    labels = predict(model, images)
    attack = PixelAttack(pixels=1, de=DEConfig(population_size=8, max_generations=0), batch_size=16)
    genes = encode(np.array([[3 * 32 + 4]]), np.full((1, 1, 3), 255, np.uint8), np.array([0]),
                   Regions.from_masks(np.ones((1, 32, 32), bool)), "restrict")
    r = attack(model, images, Untargeted(labels), seed=0, init_population=np.broadcast_to(genes, (2, 8, 5)))
    assert (r.pixels[:, 0] == [3, 4]).all() and (r.colors[:, 0] == 255).all()
    adv = images.copy()
    adv[:, 3, 4] = 255
    with torch.no_grad():
        p = torch.softmax(model(torch.from_numpy(adv).permute(0, 3, 1, 2).float() / 255), 1).numpy()
    np.testing.assert_allclose(r.fitness_history[:, 0], p[np.arange(2), labels], rtol=1e-5)


@pytest.mark.parametrize("mode", ["restrict", "index"])
def test_seeded_members_come_from_the_region_top(mode: str) -> None:
    prob = np.random.default_rng(1).uniform(0.2, 0.9, (8, 8, 8))
    vmap = _hand_map(prob)
    region = np.zeros((8, 8), bool)
    region[:, :3] = True
    region[6:, :] = True
    top, k, p = 6, 3, 20
    pop = seeded_population([vmap, vmap], pixels=k, population_size=p, regions=region, region_mode=mode,  # type: ignore[arg-type]
                            seed=5, top=top, random_fraction=0.25)
    assert pop.shape == (2, p, k * (5 if mode == "restrict" else 4))
    cand = np.flatnonzero(region)
    score = prob.min(axis=2).reshape(-1)[cand]
    expected_top = cand[np.argsort(score, kind="stable")[:top]]
    best = prob.argmin(axis=2).reshape(-1)
    regions = Regions.from_masks(np.stack([region, region]))
    for i in range(2):
        seeded = pop[i, :15]  # 20 - round(0.25 * 20) seeded members, then 5 random ones
        dec = decode(seeded, np.full(15, i), regions, mode, k)  # type: ignore[arg-type]
        assert dec.applied.all() and np.isin(dec.positions, expected_top).all()
        assert all(len(set(row)) == k for row in dec.positions.tolist())
        np.testing.assert_array_equal(dec.colors, vmap.colors[best[dec.positions]])
        np.testing.assert_array_equal(dec.positions[0], expected_top[:k])  # member 0: the greedy guess
        assert len({tuple(sorted(row)) for row in dec.positions.tolist()}) == 15  # no repeated pixel set
    assert not np.array_equal(pop[0], pop[1])  # each image has its own stream


def test_damage_weighting_prefers_the_most_damaging_pixel() -> None:
    prob = np.full((8, 8, 8), 0.949)
    prob[5, 5, 2] = 0.05  # one pixel drops p_y by 0.9, every other by 0.001
    vmap = _hand_map(prob)
    kw = {"pixels": 3, "population_size": 16, "top": 12, "random_fraction": 0.0, "seed": 0}
    regions = Regions.from_masks(np.ones((1, 8, 8), bool))

    def count(weighting: str) -> int:
        pop = seeded_population([vmap], weighting=weighting, **kw)  # type: ignore[arg-type]
        return int((decode(pop[0], np.zeros(16, np.int64), regions, "restrict", 3).positions == 45).any(1).sum())

    assert count("damage") == 16
    assert count("uniform") < 12


def test_seeded_population_validation() -> None:
    vmap = _hand_map(np.full((4, 4, 8), 0.5))
    with pytest.raises(ConfigError, match="top must be"):
        seeded_population([vmap], pixels=3, population_size=8, top=2)
    with pytest.raises(ConfigError, match="weighting"):
        seeded_population([vmap], pixels=3, population_size=8, weighting="rank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="random_fraction"):
        seeded_population([vmap], pixels=3, population_size=8, random_fraction=1.5)
    with pytest.raises(ShapeError, match="map 1 has size"):
        seeded_population([vmap, _hand_map(np.full((5, 4, 8), 0.5))], pixels=1, population_size=8)
    partial = VulnerabilityMap(0, 0.9, cube_corners(), vmap.probability, vmap.predicted,
                               np.eye(4, dtype=bool), 33)
    with pytest.raises(RegionError, match="did not visit"):
        seeded_population([partial], pixels=1, population_size=8, regions=np.ones((4, 4), bool))
    with pytest.raises(RegionError, match="fewer than pixels=5"):
        seeded_population([partial], pixels=5, population_size=8, top=8)


def test_planted_three_pixel_vulnerability_found() -> None:
    model = ThreeSpotModel()
    images = gray_images(2, 12, seed=3)
    labels = predict(model, images)
    assert (labels == 0).all()
    clf = Classifier(model, batch_size=256)
    cfg = DEConfig(population_size=40, max_generations=1000)
    budget = 144 * 8 + 1 + 400
    attack = ScanSeededAttack(pixels=3, de=cfg, max_queries=budget, top=16, batch_size=256)
    r = attack(clf, images, Untargeted(labels), seed=0)
    # the greedy member (spot 1 and two of its neighbours) fails; sampled members combine the three spots
    assert r.success.all() and (r.predicted == 1).all()
    assert predict(model, r.adversarial).tolist() == [1, 1]
    hit = {tuple(p) for p in r.pixels.reshape(-1, 2).tolist()}
    assert all(min(abs(a - s[0]) + abs(b - s[1]) for a, b in hit) <= 1 for s in SPOTS)
    # the queries include the whole-image scan (144 pixels x 8 colours + the clean image)
    assert (r.queries > 1153).all() and (r.queries <= budget).all()
    assert clf.queries == r.queries.sum()
    # plain DE at the same total budget does not find the three spots
    plain = PixelAttack(pixels=3, de=DEConfig(population_size=40, max_generations=1000, max_queries=budget),
                        batch_size=256)(model, images[:1], Untargeted(labels[:1]), seed=0)
    assert not plain.success.any()


def test_region_restricted_scan_budget_and_repeatability() -> None:
    model = ThreeSpotModel()
    images = gray_images(3, 12, seed=4)
    labels = predict(model, images)
    regions = np.zeros((3, 12, 12), bool)
    regions[0, :, :] = True
    regions[1] = True
    regions[1, :5, :6] = False  # spot 1 and its neighbourhood left out: no success possible
    regions[2, 1:11, 2:11] = True
    cfg = DEConfig(population_size=40, max_generations=1000)
    attack = ScanSeededAttack(pixels=3, region_mode="index", de=cfg, max_queries=1400, top=16, batch_size=128)
    clf = Classifier(model, batch_size=128)
    r = attack(clf, images, Untargeted(labels), regions=regions, seed=7)
    assert r.success.tolist() == [True, False, True]
    scan_cost = regions.reshape(3, -1).sum(1) * 8 + 1
    assert (r.queries <= 1400).all() and r.queries[1] >= 1400 - 1 and (r.queries > scan_cost).all()
    assert clf.queries == r.queries.sum()
    diff = (r.adversarial != images).any(axis=3)
    assert not diff[~regions].any() and (diff.sum(axis=(1, 2)) <= 3).all()
    # the same per-attack seeds give the same results, whatever the order of the batch
    back = attack(model, images[::-1], Untargeted(labels[::-1]), regions=regions[::-1], seed=r.seed[::-1])
    for name in ("success", "pixels", "colors", "queries", "generations", "seed", "fitness_history"):
        np.testing.assert_array_equal(getattr(r, name), getattr(back, name)[::-1], err_msg=name)


def test_precomputed_maps_are_counted() -> None:
    model = ThreeSpotModel()
    images = gray_images(2, 12, seed=5)
    labels = predict(model, images)
    maps = PixelScan(batch_size=256)(model, images, labels)
    attack = ScanSeededAttack(pixels=3, de=DEConfig(population_size=20, max_generations=3), batch_size=256)
    a = attack(model, images, Untargeted(labels), seed=1)
    b = attack(model, images, Untargeted(labels), seed=1, maps=maps)
    np.testing.assert_array_equal(a.queries, b.queries)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    with pytest.raises(ObjectiveError, match="map 0 was made for class 0"):
        attack(model, images, Untargeted(1 - labels), maps=maps)
    with pytest.raises(ShapeError, match="maps has 1 entries"):
        attack(model, images, Untargeted(labels), maps=maps[:1])


def test_scan_seeded_config_errors() -> None:
    with pytest.raises(ConfigError, match="de.max_queries must be None"):
        ScanSeededAttack(de=DEConfig(max_queries=100))
    with pytest.raises(ConfigError, match="top must be"):
        ScanSeededAttack(pixels=5, top=4)
    with pytest.raises(ConfigError, match="pixels"):
        ScanSeededAttack(pixels=0)
    model = ThreeSpotModel()
    images = gray_images(1, 12)
    attack = ScanSeededAttack(pixels=3, de=DEConfig(population_size=8), max_queries=1154, batch_size=256)
    with pytest.raises(ConfigError, match=r"leaves DE 1 queries after the scan of image 0 \(1153 queries\)"):
        attack(model, images, Untargeted(predict(model, images)))


def test_scan_seeded_early_stop_and_success_check_are_the_attacks_and_the_old_de_spelling_is_honoured() -> None:
    model = ThreeSpotModel()
    images = gray_images(2, 12, seed=5)
    labels = predict(model, images)
    maps = PixelScan(batch_size=256)(model, images, labels)
    de = DEConfig(population_size=20, max_generations=3)
    new = ScanSeededAttack(pixels=3, de=de, early_stop=False, success_check="best", batch_size=256)
    with pytest.warns(DeprecationWarning, match=r"ScanSeededAttack\(early_stop=..., success_check=...\)"):
        old_de = DEConfig(population_size=20, max_generations=3, early_stop=False, success_check="best")
    old = ScanSeededAttack(pixels=3, de=old_de, batch_size=256)
    assert (old.de, old.early_stop, old.success_check) == (de, False, "best")
    r_new, r_old = (a(model, images, Untargeted(labels), seed=1, maps=maps) for a in (new, old))
    for f in dataclasses.fields(r_new):
        np.testing.assert_array_equal(getattr(r_old, f.name), getattr(r_new, f.name), err_msg=f.name)
    assert (r_new.generations == 3).all()  # early_stop=False: every generation runs
    with pytest.raises(ConfigError, match="success_check must be 'any' or 'best'"):
        ScanSeededAttack(success_check="all")  # type: ignore[arg-type]
