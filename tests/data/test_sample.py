"""The CIFAR-10 test sample shipped in the package, and its reproduction from the provided JPEG copy."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pixelspace.data.cifar10 import CLASSES, Split, read_tarball
from pixelspace.data.samples import (
    SAMPLE_FILE,
    SAMPLE_SEED,
    asset_path,
    build_cifar10_sample,
    load_cifar10_sample,
    save_sample,
)
from pixelspace.errors import DataError


def test_shipped_sample_shape_and_balance() -> None:
    sample = load_cifar10_sample()
    assert sample.images.shape == (1000, 32, 32, 3) and sample.images.dtype == np.uint8
    assert sample.labels.shape == (1000,) and sample.labels.dtype == np.int64
    assert np.bincount(sample.labels, minlength=10).tolist() == [100] * 10
    assert len(sample) == 1000 and len(set(sample.ids)) == 1000
    assert sample.classes == CLASSES


def test_shipped_sample_ids_name_the_label_and_the_seed_is_recorded() -> None:
    sample = load_cifar10_sample()
    for label, source in zip(sample.labels, sample.ids, strict=True):
        match = re.fullmatch(r"test/([a-z]+)/\d{4}\.jpg", source)
        assert match is not None and match.group(1) == CLASSES[label], source
    with np.load(asset_path(SAMPLE_FILE), allow_pickle=False) as z:  # no pickled objects inside
        assert int(z["seed"]) == SAMPLE_SEED == 20261125
    assert asset_path(SAMPLE_FILE).stat().st_size < 4_000_000


def test_shipped_sample_images_are_not_degenerate() -> None:
    images = load_cifar10_sample().images.astype(np.float64) / 255
    means = images.reshape(-1, 3).mean(0)
    # the CIFAR-10 test-set channel means (JPEG copy: 0.4941/0.4851/0.4504); 1,000 images land close
    np.testing.assert_allclose(means, [0.494, 0.485, 0.450], atol=0.02)
    assert len({im.tobytes() for im in load_cifar10_sample().images}) == 1000


def _synthetic_split(per_class: int) -> Split:
    n = 10 * per_class
    images = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(10), per_class).astype(np.int64)
    ids = tuple(f"test/{CLASSES[c]}/{i:04d}.jpg" for i, c in enumerate(labels))
    return Split(images, labels, ids)


def test_build_sample_is_seeded_and_balanced() -> None:
    split = _synthetic_split(per_class=8)
    a = build_cifar10_sample(split, per_class=3, seed=1)
    b = build_cifar10_sample(split, per_class=3, seed=1)
    c = build_cifar10_sample(split, per_class=3, seed=2)
    assert a.ids == b.ids and a.ids != c.ids
    assert np.bincount(a.labels).tolist() == [3] * 10
    index = {s: i for i, s in enumerate(split.ids)}
    for image, label, source in zip(a.images, a.labels, a.ids, strict=True):
        np.testing.assert_array_equal(image, split.images[index[source]])
        assert label == split.labels[index[source]]


def test_build_sample_needs_enough_images_per_class() -> None:
    with pytest.raises(DataError, match="fewer than per_class=5"):
        build_cifar10_sample(_synthetic_split(per_class=4), per_class=5)


def test_sample_file_round_trip(tmp_path: Path) -> None:
    sample = build_cifar10_sample(_synthetic_split(per_class=4), per_class=2, seed=7)
    save_sample(sample, tmp_path / "s.npz", seed=7)
    again = load_cifar10_sample(tmp_path / "s.npz")
    assert again.images.tobytes() == sample.images.tobytes()
    np.testing.assert_array_equal(again.labels, sample.labels)
    assert again.ids == sample.ids and again.classes == sample.classes


def test_rebuilding_from_the_provided_copy_reproduces_the_shipped_sample(shared_data: Path) -> None:
    # decoding the 10,000 test JPEGs of the 19 MB tarball takes ~6 s on 2 cores
    tarball = shared_data / "cifar10-jpeg" / "cifar10_jpeg.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} is absent")
    rebuilt = build_cifar10_sample(read_tarball(tarball, "test"), per_class=100, seed=SAMPLE_SEED)
    shipped = load_cifar10_sample()
    assert rebuilt.ids == shipped.ids
    assert rebuilt.images.tobytes() == shipped.images.tobytes()  # bit-identical pixels
    np.testing.assert_array_equal(rebuilt.labels, shipped.labels)
