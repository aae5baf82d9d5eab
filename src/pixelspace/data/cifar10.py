"""CIFAR-10 readers: the binary and python distributions, an image-folder layout, and a `.tar.gz` of that layout.

Every reader returns a :class:`Split` of uint8 images ``(N, 32, 32, 3)`` RGB, int64 labels ``(N,)`` and one
source id per image (for the folder layout ``test/<class>/NNNN.jpg``; for the standard distributions
``test_batch:INDEX``). Decoding lossy files (JPEG) happens once: :func:`load_split` caches the arrays as
``.npz`` so every later run sees bit-identical pixels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pixelspace.errors import DataError

log = logging.getLogger(__name__)

CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
SplitName = Literal["train", "test"]
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class Split:
    """One split of CIFAR-10.

    Attributes:
        images: uint8 RGB, shape (N, 32, 32, 3).
        labels: int64 class indices in [0, 10), shape (N,).
        ids: the source id of each image (path inside the dataset, or ``batch:index``).
    """

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def default_cache_dir() -> Path:
    """The user cache folder for decoded datasets (``$PIXELSPACE_CACHE`` or ``~/.cache/pixelspace``)."""
    env = os.environ.get("PIXELSPACE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pixelspace"


def _decode(data: bytes, name: str) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise DataError(f"cannot decode image {name!r}")
    if arr.shape != (32, 32, 3):
        raise DataError(f"image {name!r} has shape {arr.shape}, expected (32, 32, 3)")
    return np.ascontiguousarray(arr[:, :, ::-1])  # BGR -> RGB


def _collect(entries: Iterable[tuple[str, bytes]], split: SplitName) -> Split:
    """Build a split from ``(relative path, file bytes)`` pairs in ``split/<class>/<file>`` form."""
    rows: list[tuple[str, int, np.ndarray]] = []
    for rel, data in entries:
        parts = rel.strip("./").split("/")
        if len(parts) != 3 or parts[0] != split or not parts[2].lower().endswith(_IMAGE_SUFFIXES):
            continue
        cls = parts[1]
        if cls not in CLASSES:
            raise DataError(f"unknown CIFAR-10 class folder {cls!r} in {rel!r}; expected one of {CLASSES}")
        rows.append((f"{split}/{cls}/{parts[2]}", CLASSES.index(cls), _decode(data, rel)))
    if not rows:
        raise DataError(f"no images found for split {split!r} (expected {split}/<class>/<image>)")
    rows.sort(key=lambda r: (r[1], r[0]))
    images = np.stack([r[2] for r in rows])
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    return Split(images, labels, tuple(r[0] for r in rows))


def read_folder(root: str | Path, split: SplitName) -> Split:
    """Read ``root/<split>/<class>/*.jpg|png`` (class folders named as in :data:`CLASSES`)."""
    root = Path(root)
    base = root / split
    if not base.is_dir():
        raise DataError(f"{base} is not a folder; expected {split}/<class>/<image> under {root}")
    files = sorted(p for p in base.glob("*/*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    return _collect(((str(p.relative_to(root)), p.read_bytes()) for p in files), split)


def read_tarball(path: str | Path, split: SplitName) -> Split:
    """Read the folder layout straight from a ``.tar`` / ``.tar.gz`` archive (the copy we provide)."""

    def entries() -> Iterable[tuple[str, bytes]]:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                f = tar.extractfile(member)
                if f is not None:
                    yield member.name, f.read()

    try:
        return _collect(entries(), split)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read archive {path}: {exc}") from exc


_BIN_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
_PY_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_binary(root: str | Path, split: SplitName) -> Split:
    """Read the binary distribution (``cifar-10-batches-bin``): records of 1 label byte + 3072 pixel bytes."""
    root = Path(root)
    images, labels, ids = [], [], []
    for name in _BIN_FILES[split]:
        path = root / name
        if not path.is_file():
            raise DataError(f"missing {path} (binary CIFAR-10 distribution)")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 3073:
            raise DataError(f"{path} has {raw.size} bytes, not a multiple of 3073")
        rec = raw.reshape(-1, 3073)
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ids.extend(f"{name}:{i}" for i in range(rec.shape[0]))
    return Split(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), tuple(ids))


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only what the CIFAR-10 python batches hold: builtins containers and NumPy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name}: not part of a CIFAR-10 batch")


def read_python(root: str | Path, split: SplitName) -> Split:
    """Read the python distribution (``cifar-10-batches-py``) through a restricted unpickler."""
    root = Path(root)
    images, labels, ids = [], [], []
    for name in _PY_FILES[split]:
        path = root / name
        if not path.is_file():
            raise DataError(f"missing {path} (python CIFAR-10 distribution)")
        with path.open("rb") as f:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
        if not isinstance(batch, dict):
            raise DataError(f"{path} does not hold a CIFAR-10 batch dictionary")
        data = batch.get(b"data", batch.get("data"))
        lab = batch.get(b"labels", batch.get("labels"))
        if data is None or lab is None:
            raise DataError(f"{path} lacks 'data' or 'labels'")
        arr = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        images.append(arr)
        labels.append(np.asarray(lab, dtype=np.int64))
        ids.extend(f"{name}:{i}" for i in range(arr.shape[0]))
    return Split(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), tuple(ids))


def read_any(path: str | Path, split: SplitName) -> Split:
    """Read a split from whichever CIFAR-10 distribution ``path`` holds (detected from its contents)."""
    p = Path(path)
    if p.is_file() and (p.name.endswith((".tar.gz", ".tgz", ".tar"))):
        return read_tarball(p, split)
    if p.is_dir():
        if (p / "test_batch.bin").is_file():
            return read_binary(p, split)
        if (p / "test_batch").is_file():
            return read_python(p, split)
        if (p / split).is_dir():
            return read_folder(p, split)
    raise DataError(
        f"{path} is not a CIFAR-10 source: expected a .tar.gz of train|test/<class>/ images, a folder "
        "with that layout, cifar-10-batches-bin or cifar-10-batches-py"
    )


def _fingerprint(path: Path) -> str:
    st = path.stat()
    h = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def load_split(path: str | Path, split: SplitName, cache_dir: str | Path | None = None) -> Split:
    """Read a split, decoding once and caching the uint8 arrays as ``.npz`` under ``cache_dir``.

    Args:
        path: a CIFAR-10 source (see :func:`read_any`).
        split: ``"train"`` or ``"test"``.
        cache_dir: where decoded arrays go; default :func:`default_cache_dir`. ``False``-y string "" disables.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"CIFAR-10 source {p} does not exist")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"cifar10-{split}-{_fingerprint(p)}.npz"
    if target.is_file():
        with np.load(target, allow_pickle=False) as z:
            return Split(z["images"], z["labels"], tuple(str(s) for s in z["ids"]))
    log.info("decoding CIFAR-10 %s split from %s (cached afterwards in %s)", split, p, target)
    result = read_any(p, split)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(tmp, images=result.images, labels=result.labels, ids=np.array(result.ids))
    os.replace(tmp, target)
    return result


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 RGB image (H, W, 3)."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise DataError("PNG encoding failed")
    return bytes(buf)


def decode_png(data: bytes) -> np.ndarray:
    """Inverse of :func:`encode_png`."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise DataError("cannot decode PNG bytes")
    return np.ascontiguousarray(arr[:, :, ::-1])


