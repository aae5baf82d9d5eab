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
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pixelspace.errors import ConfigError, DataError

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


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")


def _decode(data: bytes, name: str) -> np.ndarray:
    """Decode one image file's bytes to uint8 RGB (32, 32, 3) with OpenCV (the decoder the sample was built with)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise DataError(f"cannot decode image {name!r}")
    if arr.shape != (32, 32, 3):
        raise DataError(f"image {name!r} has shape {arr.shape}, expected (32, 32, 3)")
    return np.ascontiguousarray(arr[:, :, ::-1])  # BGR -> RGB


def _collect(entries: Iterable[tuple[str, bytes]], split: SplitName) -> Split:
    """Build a split from ``(relative path, file bytes)`` pairs in ``[prefix/]split/<class>/<file>`` form.

    Paths may carry one common leading folder (an archive of a cloned repository); hidden files such as
    macOS ``._NNNN.jpg`` resource forks are skipped.
    """
    rows: list[tuple[str, int, np.ndarray]] = []
    for rel, data in entries:
        parts = [part for part in rel.replace("\\", "/").split("/") if part not in ("", ".")]
        if len(parts) < 3 or parts[-3] != split or len(parts) > 4:
            continue
        if parts[-1].startswith(".") or not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
            continue
        parts = parts[-3:]
        cls = parts[1]
        if cls not in CLASSES:
            raise DataError(f"unknown CIFAR-10 class folder {cls!r} in {rel!r}; expected one of {CLASSES}")
        rows.append((f"{split}/{cls}/{parts[2]}", CLASSES.index(cls), _decode(data, rel)))
    if not rows:
        raise DataError(f"no images found for split {split!r} (expected {split}/<class>/<image>)")
    rows.sort(key=lambda r: (r[1], r[0]))
    if len({r[0] for r in rows}) != len(rows):
        raise DataError(f"duplicate {split}/<class>/<file> paths (two copies of the dataset in one source?)")
    images = np.stack([r[2] for r in rows])
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    return Split(images, labels, tuple(r[0] for r in rows))


def read_folder(root: str | Path, split: SplitName) -> Split:
    """Read ``root/<split>/<class>/*.jpg|png`` (class folders named as in :data:`CLASSES`).

    Args:
        root: the folder holding ``train/`` and/or ``test/``.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split, sorted by (label, path); ids are ``split/<class>/<file>``.

    Raises:
        DataError: no such folder, no images, an unknown class folder, or an image that is not 32x32.
    """
    _check_split(split)
    root = Path(root)
    base = root / split
    if not base.is_dir():
        raise DataError(f"{base} is not a folder; expected {split}/<class>/<image> under {root}")
    files = sorted(p for p in base.glob("*/*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    return _collect(((str(p.relative_to(root)), p.read_bytes()) for p in files), split)


def read_tarball(path: str | Path, split: SplitName) -> Split:
    """Read the folder layout straight from a ``.tar`` / ``.tar.gz`` archive (the copy we provide).

    Args:
        path: the archive; its members are ``[prefix/]train|test/<class>/<image>``.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split, as :func:`read_folder` returns it.

    Raises:
        DataError: a missing or corrupt archive, or the errors of :func:`read_folder`.
    """
    _check_split(split)

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
    """Read the binary distribution (``cifar-10-batches-bin``): records of 1 label byte + 3072 pixel bytes.

    Args:
        root: the folder holding ``data_batch_{1..5}.bin`` and ``test_batch.bin``.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split in file order; ids are ``<file>:<record index>``.

    Raises:
        DataError: a missing file, a size that is not a multiple of 3073 bytes, or a label >= 10.
    """
    _check_split(split)
    root = Path(root)
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[str] = []
    for name in _BIN_FILES[split]:
        path = root / name
        if not path.is_file():
            raise DataError(f"missing {path} (binary CIFAR-10 distribution)")
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise DataError(f"{path} has {raw.size} bytes, expected a positive multiple of 3073 (1 + 32*32*3)")
        rec = raw.reshape(-1, 3073)
        if rec[:, 0].max() >= len(CLASSES):
            raise DataError(f"{path} holds label {int(rec[:, 0].max())}, expected labels in [0, {len(CLASSES)})")
        labels.append(rec[:, 0].astype(np.int64))
        images.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ids.extend(f"{name}:{i}" for i in range(rec.shape[0]))
    return Split(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), tuple(ids))


class _RestrictedUnpickler(pickle.Unpickler):
    """Admits only what the CIFAR-10 python batches hold: builtins containers, strings and NumPy arrays.

    Every global a pickle names goes through :meth:`find_class`; anything but the NumPy array and dtype
    constructors (in their NumPy 1 and NumPy 2 module paths, for pickle protocols 2 to 5) and the
    ``_codecs.encode`` that Python 3 uses for ``bytes`` under protocol 2 is refused with :class:`DataError`.
    """

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name}: not part of a CIFAR-10 batch")


def read_python(root: str | Path, split: SplitName) -> Split:
    """Read the python distribution (``cifar-10-batches-py``) through a restricted unpickler.

    Each batch is a pickled dict with ``data`` (uint8 (N, 3072), channel-major) and ``labels`` (N ints);
    the unpickler admits nothing but NumPy arrays, lists, dicts and strings, so a file that names any
    other global (``os.system``, ``builtins.eval``, ...) is refused before anything runs.

    Args:
        root: the folder holding ``data_batch_{1..5}`` and ``test_batch``.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split in file order; ids are ``<file>:<index>``.

    Raises:
        DataError: a missing, corrupt or malicious file, or data of the wrong shape.
    """
    _check_split(split)
    root = Path(root)
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    ids: list[str] = []
    for name in _PY_FILES[split]:
        path = root / name
        if not path.is_file():
            raise DataError(f"missing {path} (python CIFAR-10 distribution)")
        try:
            with path.open("rb") as f:
                batch = _RestrictedUnpickler(f, encoding="bytes").load()
        except DataError:
            raise
        except Exception as exc:  # truncated or foreign files raise many types
            raise DataError(f"cannot unpickle {path}: {exc}") from exc
        if not isinstance(batch, dict):
            raise DataError(f"{path} does not hold a CIFAR-10 batch dictionary")
        data = batch.get(b"data", batch.get("data"))
        lab = batch.get(b"labels", batch.get("labels"))
        if data is None or lab is None:
            raise DataError(f"{path} lacks 'data' or 'labels'")
        try:
            flat = np.asarray(data, dtype=np.uint8)
            lab_arr = np.asarray(lab, dtype=np.int64)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: 'data' or 'labels' is not numeric: {exc}") from exc
        if flat.ndim != 2 or flat.shape[1] != 3072:
            raise DataError(f"{path}: 'data' has shape {flat.shape}, expected (N, 3072)")
        if lab_arr.shape != (flat.shape[0],):
            raise DataError(f"{path}: {lab_arr.size} labels for {flat.shape[0]} images")
        if lab_arr.size and (lab_arr.min() < 0 or lab_arr.max() >= len(CLASSES)):
            raise DataError(f"{path}: labels outside [0, {len(CLASSES)})")
        arr = flat.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        images.append(arr)
        labels.append(lab_arr)
        ids.extend(f"{name}:{i}" for i in range(arr.shape[0]))
    return Split(np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels), tuple(ids))


def read_any(path: str | Path, split: SplitName) -> Split:
    """Read a split from whichever CIFAR-10 distribution ``path`` holds (detected from its contents).

    Args:
        path: a ``.tar``/``.tar.gz``/``.tgz`` of the folder layout; a folder with ``train|test/<class>/``;
            a ``cifar-10-batches-bin`` or ``cifar-10-batches-py`` folder, or the folder holding one of them.
        split: ``"train"`` or ``"test"``.

    Returns:
        The split: images uint8 (N, 32, 32, 3) RGB, labels int64 (N,), ids.

    Raises:
        DataError: ``path`` is none of these, or its files are unreadable.
    """
    _check_split(split)
    p = Path(path)
    if p.is_file() and (p.name.endswith((".tar.gz", ".tgz", ".tar"))):
        return read_tarball(p, split)
    if p.is_dir():
        for d in (p, p / "cifar-10-batches-bin", p / "cifar-10-batches-py"):
            if (d / "test_batch.bin").is_file():
                return read_binary(d, split)
            if (d / "test_batch").is_file():
                return read_python(d, split)
        if (p / split).is_dir():
            return read_folder(p, split)
    raise DataError(
        f"{path} is not a CIFAR-10 source: expected a .tar.gz of train|test/<class>/ images, a folder "
        "with that layout, cifar-10-batches-bin or cifar-10-batches-py"
    )


_CACHE_VERSION = 1  # bump when the decoding or the cache layout changes


def _fingerprint(path: Path) -> str:
    """Key of a source's cache file: its resolved path and the size and mtime of every file it holds."""
    h = hashlib.sha256(f"v{_CACHE_VERSION}|{path.resolve()}".encode())
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for f in files:
        st = f.stat()
        h.update(f"|{f.relative_to(path) if path.is_dir() else ''}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _read_cache(target: Path) -> Split | None:
    try:
        with np.load(target, allow_pickle=False) as z:
            split = Split(z["images"], z["labels"], tuple(str(s) for s in z["ids"]))
    except Exception as exc:  # a damaged cache file is decoded again, never trusted
        log.warning("ignoring unreadable cache %s: %s", target, exc)
        return None
    ok = (split.images.dtype == np.uint8 and split.images.ndim == 4 and split.labels.dtype == np.int64
          and split.labels.shape == (len(split),) and len(split.ids) == len(split))
    return split if ok else None


def load_split(
    path: str | Path, split: SplitName, cache_dir: str | Path | Literal[False] | None = None
) -> Split:
    """Read a split, decoding once and caching the uint8 arrays as ``.npz`` under ``cache_dir``.

    The cache file is keyed by the source's path, size and modification time (of every file, for a folder),
    so every later run sees bit-identical pixels without decoding JPEGs again.

    Args:
        path: a CIFAR-10 source (see :func:`read_any`).
        split: ``"train"`` or ``"test"``.
        cache_dir: where decoded arrays go; default :func:`default_cache_dir`; ``False`` or ``""`` disables
            the cache.

    Returns:
        The split: images uint8 (N, 32, 32, 3) RGB, labels int64 (N,), ids.

    Raises:
        DataError: ``path`` does not exist or is not a CIFAR-10 source.
        ConfigError: ``split`` is neither ``"train"`` nor ``"test"``.
    """
    _check_split(split)
    p = Path(path)
    if not p.exists():
        raise DataError(f"CIFAR-10 source {p} does not exist")
    if cache_dir is False or cache_dir == "":
        return read_any(p, split)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"cifar10-{split}-{_fingerprint(p)}.npz"
    if target.is_file():
        cached = _read_cache(target)
        if cached is not None:
            return cached
    log.info("decoding CIFAR-10 %s split from %s (cached afterwards in %s)", split, p, target)
    result = read_any(p, split)
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.npz", dir=cache)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=result.images, labels=result.labels, ids=np.array(result.ids))
        os.replace(tmp_name, target)  # atomic: concurrent readers see the old file or the whole new one
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
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


