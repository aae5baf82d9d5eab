"""Tiny synthetic CIFAR-10 distributions written into a tmp dir: binary, python, folder and tar.gz."""

from __future__ import annotations

import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pixelspace.data.cifar10 import CLASSES, encode_png

PER_CLASS = 2  # images per class in the synthetic folder layout


def random_images(n: int, seed: int) -> np.ndarray:
    """uint8 RGB images (n, 32, 32, 3) from a seeded generator."""
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def to_rows(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) HWC images -> the distributions' (N, 3072) channel-major rows."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))


def _short_str(b: bytes) -> bytes:
    """A Python 2 ``str`` as cPickle writes it (SHORT_BINSTRING / BINSTRING)."""
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _int(i: int) -> bytes:
    return b"K" + bytes([i]) if i < 256 else b"M" + struct.pack("<H", i) if i < 65536 else b"J" + struct.pack("<i", i)


def py2_batch_pickle(rows: np.ndarray, labels: list[int]) -> bytes:
    """A python-version batch byte for byte as Python 2's cPickle (protocol 2) wrote the real ones.

    ``str`` keys and values, ``numpy.core.multiarray._reconstruct`` for the uint8 (N, 3072) array and a
    NumPy 1 dtype state: the form of ``cifar-10-batches-py/test_batch``, which Python 3 can no longer write.
    """
    n = rows.shape[0]
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _int(0) + b"\x85" + _short_str(b"b") + b"\x87R"
        + b"(" + _int(1) + _int(n) + _int(3072) + b"\x86"
        + b"cnumpy\ndtype\n" + _short_str(b"u1") + _int(0) + _int(1) + b"\x87R"
        + b"(" + _int(3) + _short_str(b"|") + b"NNN" + b"J\xff\xff\xff\xffJ\xff\xff\xff\xff" + _int(0) + b"tb"
        + b"\x89" + _short_str(rows.tobytes()) + b"tb"
    )
    names = b"".join(_short_str(f"img_{i}.png".encode()) for i in range(n))
    return (
        b"\x80\x02}(" + _short_str(b"batch_label") + _short_str(b"synthetic batch")
        + _short_str(b"labels") + b"](" + b"".join(_int(v) for v in labels) + b"e"
        + _short_str(b"data") + array
        + _short_str(b"filenames") + b"](" + names + b"e"
        + b"u."
    )


@pytest.fixture
def cifar_batches() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per batch file name: (images uint8 (N, 32, 32, 3), labels int64 (N,)); 3 to 7 images each."""
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        n = 3 + i
        out[name] = (random_images(n, seed=i), np.arange(n, dtype=np.int64) % 10)
    return out


@pytest.fixture
def binary_dir(tmp_path: Path, cifar_batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A ``cifar-10-batches-bin`` folder: records of 1 label byte + 3072 pixel bytes."""
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    for name, (images, labels) in cifar_batches.items():
        records = np.concatenate([labels.astype(np.uint8)[:, None], to_rows(images)], axis=1)
        (root / f"{name}.bin").write_bytes(records.tobytes())
    return root


@pytest.fixture
def python_dir(tmp_path: Path, cifar_batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A ``cifar-10-batches-py`` folder: the test batch as Python 2 wrote it, the train batches as Python 3
    pickles under protocols 2 to 5 (bytes and str keys), as users may have re-saved them."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    for i, (name, (images, labels)) in enumerate(cifar_batches.items()):
        if name == "test_batch":
            data = py2_batch_pickle(to_rows(images), labels.tolist())
        else:
            protocol = 2 + i % 4
            key: Callable[[str], str | bytes] = (lambda k: k.encode()) if i % 2 else (lambda k: k)
            batch = {key("batch_label"): key("training batch"), key("labels"): labels.tolist(),
                     key("data"): to_rows(images), key("filenames"): [key(f"{j}.png") for j in range(len(labels))]}
            data = pickle.dumps(batch, protocol=protocol)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def folder_images() -> dict[str, dict[str, np.ndarray]]:
    """split -> relative path ``split/<class>/<file>.png`` -> uint8 RGB image (32, 32, 3)."""
    out: dict[str, dict[str, np.ndarray]] = {"train": {}, "test": {}}
    seed = 100
    for split in out:
        for cls in CLASSES:
            for j in range(PER_CLASS):
                seed += 1
                out[split][f"{split}/{cls}/{j:04d}.png"] = random_images(1, seed)[0]
    return out


@pytest.fixture
def folder_dir(tmp_path: Path, folder_images: dict[str, dict[str, np.ndarray]]) -> Path:
    """The image-folder layout ``train|test/<class>/NNNN.png`` (lossless PNGs)."""
    root = tmp_path / "cifar10-folder"
    for images in folder_images.values():
        for rel, image in images.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(encode_png(image))
    return root


@pytest.fixture
def tarball(tmp_path: Path, folder_dir: Path) -> Path:
    """``folder_dir`` packed as ``.tar.gz`` with top-level ``train/`` and ``test/``, like the provided copy."""
    path = tmp_path / "cifar10.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            tar.add(folder_dir / split, arcname=split)
    return path
