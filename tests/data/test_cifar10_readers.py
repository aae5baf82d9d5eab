"""The CIFAR-10 readers on tiny synthetic distributions: binary, python, folder, tar.gz, detection, cache."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pixelspace.data import cifar10
from pixelspace.data.cifar10 import (
    CLASSES,
    Split,
    decode_png,
    encode_png,
    load_split,
    read_any,
    read_binary,
    read_folder,
    read_python,
    read_tarball,
)
from pixelspace.errors import ConfigError, DataError

Batches = dict[str, tuple[np.ndarray, np.ndarray]]
TRAIN_FILES = [f"data_batch_{k}" for k in range(1, 6)]


def expected(batches: Batches, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([batches[n][0] for n in names]), np.concatenate([batches[n][1] for n in names]))


def assert_split(split: Split, n: int) -> None:
    assert split.images.shape == (n, 32, 32, 3) and split.images.dtype == np.uint8
    assert split.labels.shape == (n,) and split.labels.dtype == np.int64
    assert len(split.ids) == n == len(split) and len(set(split.ids)) == n


# --- binary distribution -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["train", "test"])
def test_binary_reads_pixels_labels_and_ids(binary_dir: Path, cifar_batches: Batches, which: str) -> None:
    names = TRAIN_FILES if which == "train" else ["test_batch"]
    split = read_binary(binary_dir, which)  # type: ignore[arg-type]
    images, labels = expected(cifar_batches, names)
    assert_split(split, len(labels))
    np.testing.assert_array_equal(split.images, images)  # channel-major rows -> HWC RGB, exactly
    np.testing.assert_array_equal(split.labels, labels)
    assert split.ids[0] == f"{names[0]}.bin:0"


def test_binary_rejects_truncated_file(binary_dir: Path) -> None:
    path = binary_dir / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match="multiple of 3073"):
        read_binary(binary_dir, "test")


def test_binary_rejects_label_out_of_range(binary_dir: Path) -> None:
    path = binary_dir / "test_batch.bin"
    raw = bytearray(path.read_bytes())
    raw[0] = 10
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="label 10"):
        read_binary(binary_dir, "test")


def test_binary_missing_file(binary_dir: Path) -> None:
    (binary_dir / "data_batch_3.bin").unlink()
    with pytest.raises(DataError, match="data_batch_3.bin"):
        read_binary(binary_dir, "train")


# --- python distribution -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["train", "test"])
def test_python_reads_pickled_batches(python_dir: Path, cifar_batches: Batches, which: str) -> None:
    # test_batch is a Python 2 cPickle byte stream; the train batches are Python 3 pickles, protocols 2-5
    names = TRAIN_FILES if which == "train" else ["test_batch"]
    split = read_python(python_dir, which)  # type: ignore[arg-type]
    images, labels = expected(cifar_batches, names)
    assert_split(split, len(labels))
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, labels)


def test_python_and_binary_agree(python_dir: Path, binary_dir: Path) -> None:
    a, b = read_python(python_dir, "train"), read_binary(binary_dir, "train")
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)


class _Exploit:
    """Unpickling this calls ``os.system`` (with a harmless command; the reader must refuse before that)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def _malicious_payloads() -> dict[str, bytes]:
    return {
        # a dict like a real batch whose 'data' value is built by os.system(...)
        "reduce-os.system": pickle.dumps({b"data": _Exploit(), b"labels": [0]}, protocol=2),
        # a bare reference to os.system (GLOBAL opcode, nothing called)
        "global-os.system": b"cos\nsystem\n.",
        "global-posix.system": b"\x80\x02cposix\nsystem\nq\x00.",
        "builtins.eval": pickle.dumps({"data": _Eval()}, protocol=4),
        "numpy.load": b"\x80\x02cnumpy\nload\nq\x00.",
    }


class _Eval:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (eval, ("1 + 1",))


MALICIOUS = _malicious_payloads()  # built before any test patches os.system


@pytest.mark.parametrize("payload", sorted(MALICIOUS))
def test_python_refuses_malicious_pickle(python_dir: Path, payload: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def fake_system(cmd: str) -> int:  # would record a call if one ran
        calls.append(cmd)
        return 0

    monkeypatch.setattr(os, "system", fake_system)
    (python_dir / "test_batch").write_bytes(MALICIOUS[payload])
    with pytest.raises(DataError, match="refusing to unpickle"):
        read_python(python_dir, "test")
    assert calls == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot unpickle"),
        (b"\x80\x02}q\x00(", "cannot unpickle"),  # truncated
        (pickle.dumps([1, 2, 3], protocol=2), "batch dictionary"),
        (pickle.dumps({b"labels": [0]}, protocol=2), "lacks 'data'"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}), "expected \\(N, 3072\\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "1 labels for 2 images"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]}), "labels outside"),
    ],
)
def test_python_rejects_malformed_batches(python_dir: Path, content: bytes, message: str) -> None:
    (python_dir / "test_batch").write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_python(python_dir, "test")


# --- folder layout and tarball --------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["train", "test"])
def test_folder_and_tarball_read_the_same_pngs(
    folder_dir: Path, tarball: Path, folder_images: dict[str, dict[str, np.ndarray]], which: str
) -> None:
    want = folder_images[which]
    for split in (read_folder(folder_dir, which), read_tarball(tarball, which)):  # type: ignore[arg-type]
        assert_split(split, len(want))
        assert list(split.ids) == sorted(want, key=lambda rel: (CLASSES.index(rel.split("/")[1]), rel))
        for image, label, rel in zip(split.images, split.labels, split.ids, strict=True):
            np.testing.assert_array_equal(image, want[rel])  # PNG is lossless: exact pixels, RGB order
            assert CLASSES[label] == rel.split("/")[1]


def test_png_round_trip_keeps_rgb_order() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[..., 0] = 255  # pure red
    out = decode_png(encode_png(image))
    np.testing.assert_array_equal(out, image)


def test_tarball_with_a_top_level_folder_and_hidden_files(tmp_path: Path, folder_dir: Path) -> None:
    path = tmp_path / "clone.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder_dir / "test", arcname="CIFAR-10-images/test")
        info = tarfile.TarInfo("CIFAR-10-images/test/cat/._0000.png")  # a macOS resource fork, not an image
        info.size = 4
        tar.addfile(info, io.BytesIO(b"junk"))
    split = read_tarball(path, "test")
    assert len(split) == 10 * 2 and split.ids[0] == "test/airplane/0000.png"


def test_folder_unknown_class(folder_dir: Path) -> None:
    (folder_dir / "test" / "unicorn").mkdir()
    (folder_dir / "test" / "unicorn" / "0.png").write_bytes(encode_png(np.zeros((32, 32, 3), np.uint8)))
    with pytest.raises(DataError, match="unknown CIFAR-10 class folder 'unicorn'"):
        read_folder(folder_dir, "test")


def test_folder_wrong_image_size(folder_dir: Path) -> None:
    (folder_dir / "test" / "cat" / "big.png").write_bytes(encode_png(np.zeros((33, 32, 3), np.uint8)))
    with pytest.raises(DataError, match=r"big.png.*shape \(33, 32, 3\), expected \(32, 32, 3\)"):
        read_folder(folder_dir, "test")


def test_folder_undecodable_image(folder_dir: Path) -> None:
    (folder_dir / "test" / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode image .*broken.jpg"):
        read_folder(folder_dir, "test")


def test_folder_missing_split(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        read_folder(tmp_path, "test")


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "test" / "cat").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        read_folder(tmp_path, "test")


def test_tarball_missing_or_corrupt(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read archive"):
        read_tarball(tmp_path / "absent.tar.gz", "test")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip")
    with pytest.raises(DataError, match="cannot read archive"):
        read_tarball(bad, "test")


def test_unknown_split_name(folder_dir: Path) -> None:
    with pytest.raises(ConfigError, match="split must be 'train' or 'test', got 'val'"):
        read_any(folder_dir, "val")  # type: ignore[arg-type]


# --- detection ---------------------------------------------------------------------------------------------


def test_read_any_detects_every_layout(
    binary_dir: Path, python_dir: Path, folder_dir: Path, tarball: Path
) -> None:
    reference = read_binary(binary_dir, "test")
    for source in (binary_dir, binary_dir.parent / binary_dir.name, python_dir):
        got = read_any(source, "test")
        np.testing.assert_array_equal(got.images, reference.images)
    assert read_any(folder_dir, "test").ids == read_folder(folder_dir, "test").ids
    assert read_any(tarball, "test").ids == read_tarball(tarball, "test").ids


def test_read_any_finds_batches_one_folder_down(binary_dir: Path) -> None:
    # users often point at the folder they extracted cifar-10-binary.tar.gz into
    assert len(read_any(binary_dir.parent, "test")) == len(read_binary(binary_dir, "test"))


def test_read_any_rejects_other_paths(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for bad in (tmp_path / "notes.txt", tmp_path, tmp_path / "absent"):
        with pytest.raises(DataError, match="is not a CIFAR-10 source"):
            read_any(bad, "test")


# --- cache --------------------------------------------------------------------------------------------------


def test_cache_round_trip_is_bit_identical(
    tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    first = load_split(tarball, "test", cache_dir=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and files[0].name.startswith("cifar10-test-")

    def no_decoding(*args: object, **kwargs: object) -> Split:
        raise AssertionError("the second load must come from the cache")

    monkeypatch.setattr(cifar10, "read_any", no_decoding)
    second = load_split(tarball, "test", cache_dir=cache)
    assert second.images.dtype == np.uint8 and second.labels.dtype == np.int64
    assert second.images.tobytes() == first.images.tobytes()
    assert second.labels.tobytes() == first.labels.tobytes()
    assert second.ids == first.ids


def test_cache_is_keyed_by_source_and_split(tarball: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    load_split(tarball, "test", cache_dir=cache)
    load_split(tarball, "train", cache_dir=cache)
    assert len(list(cache.glob("cifar10-*.npz"))) == 2
    os.utime(tarball, ns=(1, 1))  # a changed source gets a new cache file, never stale arrays
    load_split(tarball, "test", cache_dir=cache)
    assert len(list(cache.glob("cifar10-*.npz"))) == 3
    assert not list(cache.glob("*.tmp*"))


def test_damaged_cache_is_decoded_again(tarball: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = load_split(tarball, "test", cache_dir=cache)
    (target,) = cache.glob("*.npz")
    target.write_bytes(b"garbage")
    again = load_split(tarball, "test", cache_dir=cache)
    np.testing.assert_array_equal(again.images, first.images)


def test_cache_location(tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXELSPACE_CACHE", str(tmp_path / "env-cache"))
    assert cifar10.default_cache_dir() == tmp_path / "env-cache"
    load_split(tarball, "test")
    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 1
    monkeypatch.delenv("PIXELSPACE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cifar10.default_cache_dir() == tmp_path / "xdg" / "pixelspace"


def test_cache_can_be_disabled(tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIXELSPACE_CACHE", str(tmp_path / "env-cache"))
    for off in (False, ""):
        assert len(load_split(tarball, "test", cache_dir=off)) == 20
    assert not list(tmp_path.rglob("*.npz"))


def test_load_split_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_split(tmp_path / "absent.tar.gz", "test", cache_dir=tmp_path)
