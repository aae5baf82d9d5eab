from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.helpers import ChannelMeanModel, PlantedModel, PositionModel, gray_images, predict, tiny_cnn

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.attack.scan import (
    PixelScan,
    VulnerabilityMap,
    colour_grid,
    cube_corners,
    region_stats,
    scan_first,
)
from pixelspace.errors import ShapeError


def test_exact_on_channel_mean_model() -> None:
    # logits = 60 * channel means of a 4x4 image; every pixel has the same effect, computable by hand
    model = ChannelMeanModel(scale=60.0)
    img = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    img[..., 0] = 30
    img[..., 1] = 20
    vmap = PixelScan(batch_size=64)(model, img)[0]
    assert vmap.label == 0 and vmap.queries == 16 * 8 + 1
    means = img[0].astype(float).mean(axis=(0, 1)) / 255
    for k, col in enumerate(cube_corners()):
        m = means + (col.astype(float) / 255 - img[0, 0, 0] / 255) / 16
        p = torch.softmax(torch.tensor(60 * m), 0).numpy()
        np.testing.assert_allclose(vmap.probability[:, :, k], p[0], rtol=1e-5)
        assert (vmap.predicted[:, :, k] == p.argmax()).all()
    # cyan (0,255,255) gives the lowest red probability: red falls, green and blue both rise
    assert (vmap.colors[vmap.best_color] == [0, 255, 255]).all()
    # green can overtake red (20/255 + 235/255/16 > 30/255 - 30/255/16); blue cannot (at most 255/255/16)
    assert vmap.flips.all() and vmap.reachable_classes().tolist() == [1]


def test_agrees_with_model_and_engine() -> None:
    model = PlantedModel(size=16, loc=(4, 11))
    images = gray_images(2, 16, seed=1)
    maps = PixelScan(batch_size=100)(model, images)
    for i, vmap in enumerate(maps):
        flips = np.argwhere(vmap.flips)
        assert len(flips) > 0
        for r, c in flips[:10]:
            k = int(np.flatnonzero(vmap.predicted[r, c] != vmap.label)[0])
            adv = images[i : i + 1].copy()
            adv[0, r, c] = vmap.colors[k]
            assert predict(model, adv)[0] != vmap.label
    # every DE success appears in a scan of its own image with its own colour, at its own pixel
    labels = predict(model, images)
    res = PixelAttack(pixels=1, de=DEConfig(population_size=40, max_generations=25))(model, images, Untargeted(labels), seed=0)
    wins = np.flatnonzero(res.success)
    assert wins.size == 2
    for win in wins:
        row, col = res.pixels[win, 0]
        own = PixelScan(colors=res.colors[win, :1].astype(np.uint8), batch_size=100)(model, images[win : win + 1])[0]
        assert own.flips[row, col] and own.predicted[row, col, 0] == res.predicted[win]
        assert own.probability[row, col, 0] == pytest.approx(1 - res.confidence[win], abs=1e-6)


def test_scan_equals_brute_force_on_a_position_dependent_model() -> None:
    model = PositionModel(size=6)
    images = np.random.default_rng(4).integers(0, 256, (2, 6, 7, 3), dtype=np.uint8)[:, :, :6]
    region = np.ones((2, 6, 6), bool)
    region[0, 0, :] = False  # image 0 skips its first row
    colors = np.concatenate([cube_corners(), np.array([[10, 200, 90]], np.uint8)])
    model.calls = model.images = 0
    maps = PixelScan(colors=colors, batch_size=16)(model, images, regions=region)
    assert model.images == sum(m.queries for m in maps) == 2 * 1 + (30 + 36) * 9
    assert model.calls == 1 + 17 + 21  # the clean images at once, then ceil(270 / 16) + ceil(324 / 16) batches
    for i, vmap in enumerate(maps):
        y = vmap.label
        for r in range(6):
            for c in range(6):
                for k, col in enumerate(colors):
                    if not region[i, r, c]:
                        assert np.isnan(vmap.probability[r, c, k]) and vmap.predicted[r, c, k] == -1
                        continue
                    adv = images[i : i + 1].copy()
                    adv[0, r, c] = col
                    with torch.no_grad():
                        p = torch.softmax(model(torch.from_numpy(adv).permute(0, 3, 1, 2).float() / 255), 1)[0]
                    assert vmap.probability[r, c, k] == pytest.approx(float(p[y]), abs=1e-6), (i, r, c, k)
                    assert vmap.predicted[r, c, k] == int(p.argmax()), (i, r, c, k)
    # the model is not translation invariant: the map changes along rows and along columns
    p0 = maps[1].probability
    assert np.ptp(p0[:, 0, 0]) > 1e-3 and np.ptp(p0[0, :, 0]) > 1e-3
    assert not np.allclose(p0, p0.transpose(1, 0, 2), atol=1e-4)


def test_region_restricted_scan_and_stats() -> None:
    model = tiny_cnn(0)
    images = gray_images(1, 32)
    region = np.zeros((32, 32), bool)
    region[:8, :8] = True
    vmap = PixelScan(batch_size=128)(model, images, regions=region)[0]
    assert vmap.queries == 64 * 8 + 1
    assert np.isnan(vmap.probability[~region]).all() and (vmap.predicted[~region] == -1).all()
    st = region_stats(vmap, region)
    assert st.region_pixels == 64 and st.flipping_pixels == int(vmap.flips[region].sum())
    with pytest.raises(ShapeError, match="did not visit"):
        region_stats(vmap, np.ones((32, 32), bool))


def test_region_stats_on_hand_built_map() -> None:
    prob = np.full((2, 2, 1), 0.9, np.float32)
    pred = np.zeros((2, 2, 1), np.int32)
    pred[0, 1, 0] = 3
    prob[0, 1, 0] = 0.2
    pred[1, 1, 0] = 5
    prob[1, 1, 0] = 0.3
    vmap = VulnerabilityMap(0, 0.95, np.zeros((1, 3), np.uint8), prob, pred, np.ones((2, 2), bool), 5)
    fg = np.array([[True, True], [False, False]])
    st = region_stats(vmap, fg)
    assert (st.success, st.flipping_pixels, st.flipping_share, st.reachable_classes) == (True, 1, 0.5, 1)
    assert st.min_probability == pytest.approx(0.2)
    st = region_stats(vmap, ~fg)
    assert (st.flipping_pixels, st.reachable_classes, st.min_probability) == (1, 1, pytest.approx(0.3))
    assert region_stats(vmap, np.ones((2, 2), bool)).reachable_classes == 2


def test_bounded_memory_on_224_image() -> None:
    calls: list[int] = []

    def fn(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x.mean(dim=(2, 3))

    clf = Classifier(fn, array="torch", batch_size=256)
    img = np.full((1, 224, 224, 3), 100, np.uint8)
    region = np.zeros((224, 224), bool)
    region[100:124, 100:124] = True
    vmap = PixelScan(colors=colour_grid(2), batch_size=256, chunk=2)(clf, img, regions=region)[0]
    assert max(calls) <= 256 and vmap.queries == 576 * 8 + 1


def test_scan_first_finds_planted_pixel_cheaply() -> None:
    model = PlantedModel(size=16, loc=(4, 11))
    images = gray_images(3, 16, seed=2)
    labels = predict(model, images)
    r = scan_first(model, images, labels, seed=1, per_round=16, batch_size=64)
    assert r.success.all() and (r.predicted == 1).all()
    assert (r.queries <= 1 + 16 * np.ceil(r.first_hit / 16)).all()
    adv = images.copy()
    for i in range(3):
        adv[i, r.pixel[i, 0], r.pixel[i, 1]] = r.color[i]
    assert (predict(model, adv) == 1).all()
    again = scan_first(model, images, labels, seed=1, per_round=16, batch_size=64)
    np.testing.assert_array_equal(r.pixel, again.pixel)
    far = np.zeros((16, 16), bool)
    far[12:, :3] = True
    miss = scan_first(model, images, labels, regions=far, seed=1, batch_size=64)
    assert not miss.success.any() and (miss.queries == 12 * 8 + 1).all()


def test_bad_colors() -> None:
    with pytest.raises(ShapeError):
        PixelScan(colors=np.zeros((3,), np.uint8))
