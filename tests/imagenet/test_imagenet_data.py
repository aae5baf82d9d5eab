"""The ImageNet folder reader, the class index and the 50-image subset shipped in the package."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from pixelspace.data.imagenet import (
    CLASS_INDEX_FILE,
    IMAGENET_SAMPLE_FILE,
    IMAGENET_SAMPLE_SEED,
    build_imagenet_sample,
    imagenet_classes,
    load_imagenet_sample,
    read_class_index,
    read_imagenet_folder,
    resize_224,
    save_imagenet_sample,
    wnid_of,
)
from pixelspace.data.samples import asset_path
from pixelspace.errors import ConfigError, DataError
from pixelspace.models.weights import file_sha256

TENCH, GOLDFISH, TOILET_TISSUE = "n01440764", "n01443537", "n15075141"


def write(path: Path, image: np.ndarray) -> Path:
    """Write an RGB (H, W, 3) or grayscale (H, W) uint8 image with OpenCV (PNG/JPEG by suffix)."""
    assert cv2.imwrite(str(path), image[:, :, ::-1] if image.ndim == 3 else image)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three images: a wide RGB PNG, a grayscale PNG smaller than 224, a JPEG; plus a non-image file."""
    rng = np.random.default_rng(0)
    write(tmp_path / f"{TENCH}_tench.png", rng.integers(0, 256, (300, 500, 3), dtype=np.uint8))
    write(tmp_path / f"{GOLDFISH}_goldfish.png", rng.integers(0, 256, (60, 90), dtype=np.uint8))
    write(tmp_path / f"{TOILET_TISSUE}_12345.JPEG", np.full((256, 256, 3), (10, 200, 30), dtype=np.uint8))
    (tmp_path / "README.txt").write_text("not an image")
    return tmp_path


def test_class_index_is_the_standard_one() -> None:
    classes = imagenet_classes()
    assert len(classes) == 1000 and list(classes.wnids) == sorted(classes.wnids)
    assert (classes.wnids[0], classes.names[0]) == (TENCH, "tench")
    assert (classes.wnids[999], classes.names[999]) == (TOILET_TISSUE, "toilet_tissue")
    assert classes.to_index()[GOLDFISH] == 1
    # the shipped copy is byte for byte the provided file (../shared/data/SOURCES.md)
    assert file_sha256(asset_path(CLASS_INDEX_FILE)) == (
        "a1e7a966a1f601d39e4b43e119b3e7dd4a2ad3ea08cf69847cbaf021013767bc"
    )


def test_folder_reader(folder: Path) -> None:
    sample = read_imagenet_folder(folder)
    assert sample.images.shape == (3, 224, 224, 3) and sample.images.dtype == np.uint8
    assert sample.labels.dtype == np.int64 and sample.labels.tolist() == [0, 1, 999]
    assert sample.ids == (f"{TENCH}_tench.png", f"{GOLDFISH}_goldfish.png", f"{TOILET_TISSUE}_12345.JPEG")
    assert sample.classes == imagenet_classes().names
    gray = sample.images[1].astype(int)
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()  # gray -> RGB
    assert np.abs(sample.images[2].reshape(-1, 3).mean(0) - (10, 200, 30)).max() < 3  # RGB order kept
    only = read_imagenet_folder(folder, files=[f"{GOLDFISH}_goldfish.png"])
    assert only.labels.tolist() == [1] and np.array_equal(only.images[0], sample.images[1])


def test_resize_is_whole_image_area_averaging() -> None:
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (448, 448, 3), dtype=np.uint8)
    blocks = big.reshape(224, 2, 224, 2, 3).astype(np.float64).mean(axis=(1, 3))
    assert np.abs(resize_224(big).astype(np.float64) - blocks).max() <= 1  # INTER_AREA: 2x2 block means
    wide = np.zeros((300, 600, 3), dtype=np.uint8)
    wide[:, :300] = 255  # left half white: after a whole-image resize (no crop) still the left half
    out = resize_224(wide)
    assert out.shape == (224, 224, 3) and (out[:, :110] == 255).all() and (out[:, 114:] == 0).all()
    small = np.full((30, 50, 3), 77, dtype=np.uint8)
    assert (resize_224(small) == 77).all()  # enlarged (linear), constant stays constant


def test_custom_class_index_and_label_map(folder: Path) -> None:
    index = {TOILET_TISSUE: 0, TENCH: 1, GOLDFISH: 2}
    sample = read_imagenet_folder(folder, class_index=index)
    assert sample.labels.tolist() == [1, 2, 0] and sample.classes == (TOILET_TISSUE, TENCH, GOLDFISH)
    val = folder / "val"
    val.mkdir()
    write(val / "ILSVRC2012_val_00000001.JPEG", np.zeros((50, 50, 3), dtype=np.uint8))
    write(val / "ILSVRC2012_val_00000002.JPEG", np.zeros((50, 50, 3), dtype=np.uint8))
    labelled = read_imagenet_folder(val, labels={"ILSVRC2012_val_00000001.JPEG": 65,
                                                 "ILSVRC2012_val_00000002.JPEG": GOLDFISH})
    assert labelled.labels.tolist() == [65, 1]
    with pytest.raises(ConfigError, match="class_index must map wnids to the indices 0..K-1"):
        read_imagenet_folder(folder, class_index={TENCH: 0, GOLDFISH: 2, TOILET_TISSUE: 3})


def test_errors_name_the_file(folder: Path, tmp_path: Path) -> None:
    write(folder / "n99999999_unknown.png", np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r"'n99999999_unknown.png': unknown wnid 'n99999999'"):
        read_imagenet_folder(folder)
    (folder / "n99999999_unknown.png").unlink()
    (folder / f"{TENCH}_broken.JPEG").write_bytes(b"\xff\xd8 this is not a JPEG")
    with pytest.raises(DataError, match=rf"cannot decode image '.*{TENCH}_broken.JPEG'"):
        read_imagenet_folder(folder)
    with pytest.raises(DataError, match="cannot read image"):
        read_imagenet_folder(folder, files=[f"{TENCH}_missing.JPEG"])
    with pytest.raises(DataError, match="cannot read a wnid from the file name 'cat.jpg'"):
        wnid_of("cat.jpg")
    assert wnid_of("n01440764_10026.JPEG") == wnid_of("n01440764.png") == TENCH
    with pytest.raises(DataError, match="does not exist or is not a folder"):
        read_imagenet_folder(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        read_imagenet_folder(empty)
    write(empty / "x.png", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="no label for 'x.png'"):
        read_imagenet_folder(empty, labels={})
    with pytest.raises(DataError, match=r"label 1000 is outside \[0, 1000\)"):
        read_imagenet_folder(empty, labels={"x.png": 1000})
    (tmp_path / "index.json").write_text('{"1": ["n1", "a"]}')
    with pytest.raises(DataError, match="must map the keys"):
        read_class_index(tmp_path / "index.json")


def test_shipped_subset() -> None:
    sample = load_imagenet_sample()
    assert sample.images.shape == (50, 224, 224, 3) and sample.images.dtype == np.uint8
    assert sample.labels.dtype == np.int64 and len(set(sample.ids)) == 50 and list(sample.ids) == sorted(sample.ids)
    classes = imagenet_classes()
    assert sample.classes == classes.names
    for label, name in zip(sample.labels, sample.ids, strict=True):
        assert classes.wnids[label] == wnid_of(name) and name.endswith(f"_{classes.names[label]}.JPEG"), name
    path = asset_path(IMAGENET_SAMPLE_FILE)
    with np.load(path, allow_pickle=False) as z:  # no pickled objects inside
        assert int(z["seed"]) == IMAGENET_SAMPLE_SEED == 20261126
    assert path.stat().st_size < 5_000_000


def test_sample_file_round_trip(folder: Path, tmp_path: Path) -> None:
    sample = read_imagenet_folder(folder)
    save_imagenet_sample(sample, tmp_path / "s.npz", seed=7)
    back = load_imagenet_sample(tmp_path / "s.npz")
    assert np.array_equal(back.images, sample.images) and np.array_equal(back.labels, sample.labels)
    assert back.ids == sample.ids and back.classes == sample.classes
    sub = build_imagenet_sample(folder, n=2, seed=3)
    assert len(sub) == 2 and set(sub.ids) <= set(sample.ids)
    with pytest.raises(DataError, match="fewer than n=4"):
        build_imagenet_sample(folder, n=4)
    with pytest.raises(DataError, match="does not exist"):
        load_imagenet_sample(tmp_path / "absent.npz")


def test_shipped_subset_is_rebuilt_from_the_shared_data(shared_data: Path) -> None:
    folder = shared_data / "imagenet-samples"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    rebuilt = build_imagenet_sample(folder)
    shipped = load_imagenet_sample()
    assert rebuilt.ids == shipped.ids and np.array_equal(rebuilt.labels, shipped.labels)
    assert np.array_equal(rebuilt.images, shipped.images)
