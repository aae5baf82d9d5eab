"""ImageNet (ILSVRC-2012) images from a folder, the 1000-class index, and the subset shipped in the package.

Images are read with OpenCV and resized, **whole, to 224x224** as in the paper (§IV-A: "we also resized the
ImageNet images to 224x224 resolution"): the aspect ratio is not kept and nothing is cropped. Downscaling uses
``cv2.INTER_AREA`` (pixel-area averaging, no aliasing); an image smaller than 224 in either axis is enlarged with
``cv2.INTER_LINEAR``. Grayscale and CMYK files are converted to RGB by the decoder, and EXIF orientation tags are
ignored (``cv2.IMREAD_IGNORE_ORIENTATION``), as PIL-based ImageNet training and evaluation pipelines ignore them.

Labels come from the file names, ``<wnid>_<anything>.<ext>`` (e.g. ``n01440764_tench.JPEG`` or
``n01440764_10026.JPEG``), mapped to class indices with the standard 1000-class index (``assets/
imagenet_class_index.json``: index -> [wnid, name], wnids sorted, the torchvision/Keras class order) or a
``wnid -> index`` map of your own; or from an explicit ``file name -> wnid or index`` map for folders such as the
ILSVRC-2012 validation set whose file names carry no wnid.

Examples:
    >>> from pixelspace.data.imagenet import load_imagenet_sample
    >>> sample = load_imagenet_sample()
    >>> sample.images.shape, sample.images.dtype.name, sample.labels.dtype.name
    ((50, 224, 224, 3), 'uint8', 'int64')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pixelspace.data.samples import Sample, asset_path
from pixelspace.errors import ConfigError, DataError

IMAGE_SIZE = 224
CLASS_INDEX_FILE = "imagenet_class_index.json"
IMAGENET_SAMPLE_FILE = "imagenet_sample.npz"
IMAGENET_SAMPLE_SEED = 20261126
IMAGENET_SAMPLE_SIZE = 50
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
_WNID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class ClassIndex:
    """The ImageNet classes in index order.

    Attributes:
        wnids: WordNet ids, ``wnids[i]`` is class ``i`` (e.g. ``"n01440764"``).
        names: human-readable names in the same order (e.g. ``"tench"``).
    """

    wnids: tuple[str, ...]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.wnids)

    def to_index(self) -> dict[str, int]:
        """The ``wnid -> class index`` map."""
        return {w: i for i, w in enumerate(self.wnids)}


def read_class_index(path: str | Path | None = None) -> ClassIndex:
    """Read a Keras/torchvision-style ``imagenet_class_index.json`` (``{"0": [wnid, name], ...}``).

    Args:
        path: the JSON file; default: the copy shipped in ``pixelspace/assets``.

    Returns:
        The classes in index order (1000 for ILSVRC-2012).

    Raises:
        DataError: the file is missing or is not such an index (keys 0..K-1, each ``[wnid, name]``, unique wnids).
    """
    p = Path(path) if path is not None else asset_path(CLASS_INDEX_FILE)
    if not p.is_file():
        raise DataError(f"class index {p} does not exist")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read class index {p}: {exc}") from exc
    if not isinstance(raw, dict) or not raw or set(raw) != {str(i) for i in range(len(raw))}:
        raise DataError(f"class index {p} must map the keys '0'..'K-1' to [wnid, name]")
    entries = [raw[str(i)] for i in range(len(raw))]
    if not all(isinstance(e, list) and len(e) == 2 and all(isinstance(s, str) for s in e) for e in entries):
        raise DataError(f"class index {p}: every value must be [wnid, name]")
    wnids = tuple(e[0] for e in entries)
    if len(set(wnids)) != len(wnids):
        raise DataError(f"class index {p} has duplicate wnids")
    return ClassIndex(wnids, tuple(e[1] for e in entries))


@lru_cache(maxsize=1)
def imagenet_classes() -> ClassIndex:
    """The shipped 1000-class ILSVRC-2012 index (cached)."""
    return read_class_index()


def wnid_of(file_name: str) -> str:
    """The wnid a file name starts with: ``"n01440764_tench.JPEG" -> "n01440764"``.

    Raises:
        DataError: the name does not start with ``n`` + 8 digits followed by ``_`` or ``.``.
    """
    stem = Path(file_name).name
    match = _WNID.match(stem)
    if match is None or stem[match.end() : match.end() + 1] not in ("_", "."):
        raise DataError(f"cannot read a wnid from the file name {file_name!r}; expected '<wnid>_<name>.<ext>', "
                        "e.g. 'n01440764_tench.JPEG' (or pass labels={file name: wnid or index})")
    return match.group(0)


def resize_224(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Resize a whole image to ``size`` x ``size`` (aspect ratio not kept, no crop), as the paper does.

    Args:
        image: uint8 RGB, shape (H, W, 3).
        size: output side in pixels.

    Returns:
        uint8 RGB, shape (size, size, 3): ``cv2.INTER_AREA`` when both sides shrink (or stay), else
        ``cv2.INTER_LINEAR``.
    """
    import cv2

    assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image.copy()
    interpolation = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(image, (size, size), interpolation=interpolation))


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode an image file's bytes to uint8 RGB (H, W, 3); grayscale/CMYK become RGB, EXIF orientation is ignored.

    Raises:
        DataError: the bytes are not an image OpenCV can decode.
    """
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise DataError(f"cannot decode image {name!r}")
    return np.ascontiguousarray(arr[:, :, ::-1])  # BGR -> RGB


def _label(name: str, labels: Mapping[str, int | str] | None, class_index: Mapping[str, int],
           num_classes: int) -> int:
    if labels is not None:
        if name not in labels:
            raise DataError(f"no label for {name!r} in labels (a map of {len(labels)} file names)")
        value = labels[name]
        if isinstance(value, str):
            if value not in class_index:
                raise DataError(f"{name!r}: unknown wnid {value!r} (not in the class index of {num_classes} classes)")
            return class_index[value]
        if not 0 <= int(value) < num_classes:
            raise DataError(f"{name!r}: label {value} is outside [0, {num_classes})")
        return int(value)
    wnid = wnid_of(name)
    if wnid not in class_index:
        raise DataError(f"{name!r}: unknown wnid {wnid!r} (not in the class index of {num_classes} classes)")
    return class_index[wnid]


def read_imagenet_folder(
    root: str | Path,
    *,
    files: Sequence[str] | None = None,
    class_index: Mapping[str, int] | None = None,
    labels: Mapping[str, int | str] | None = None,
    size: int = IMAGE_SIZE,
) -> Sample:
    """Read a folder of ImageNet images, resized whole to ``size`` x ``size``, with their class labels.

    Args:
        root: the folder (not searched recursively); files with the suffixes ``.JPEG``, ``.jpg``, ``.png``,
            ``.bmp``, ``.webp`` (any case) are read, in sorted file-name order.
        files: read only these file names (in this order) instead of the whole folder.
        class_index: ``wnid -> class index``; default: the shipped 1000-class ILSVRC-2012 index.
        labels: ``file name -> wnid or class index``, for folders whose names carry no wnid; default: the wnid
            the file name starts with (``<wnid>_<name>.JPEG``).
        size: output side in pixels (224, the paper's).

    Returns:
        A :class:`~pixelspace.data.samples.Sample`: images uint8 RGB (N, size, size, 3), labels int64 (N,),
        ids = the file names, classes = the class names in index order (the shipped index's names, or the
        wnids of a custom ``class_index``).

    Raises:
        DataError: ``root`` is not a folder or holds no images; a file is missing or cannot be decoded; a wnid is
            not in the class index; a label is missing or out of range.
        ConfigError: ``size`` < 1.
    """
    if size < 1:
        raise ConfigError(f"size must be >= 1, got {size}")
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"ImageNet folder {folder} does not exist or is not a folder")
    if files is None:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    else:
        names = list(files)
        if not names:
            raise DataError("files is empty")
    if class_index is None:
        classes = imagenet_classes()
        index, class_names = classes.to_index(), classes.names
    else:
        index = dict(class_index)
        by_index = sorted(index, key=lambda w: index[w])
        if [index[w] for w in by_index] != list(range(len(index))):
            raise ConfigError("class_index must map wnids to the indices 0..K-1, each once")
        class_names = tuple(by_index)
    images = np.empty((len(names), size, size, 3), dtype=np.uint8)
    targets = np.empty(len(names), dtype=np.int64)
    for i, name in enumerate(names):
        targets[i] = _label(name, labels, index, len(index))
        path = folder / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read image {path}: {exc}") from exc
        images[i] = resize_224(decode_image(data, str(path)), size)
    return Sample(images, targets, tuple(names), class_names)


def build_imagenet_sample(
    root: str | Path, n: int = IMAGENET_SAMPLE_SIZE, seed: int = IMAGENET_SAMPLE_SEED
) -> Sample:
    """Choose ``n`` images of a folder with a seeded generator and read them at 224x224.

    The draw depends only on ``seed`` and the sorted file names, so the shipped subset is rebuilt exactly from
    the 1000-image ``imagenet-samples`` folder by ``build_imagenet_sample(folder)``.

    Args:
        root: a folder :func:`read_imagenet_folder` reads (``<wnid>_<name>.JPEG`` files).
        n: images to draw without replacement.
        seed: the seed of ``numpy.random.default_rng``; :data:`IMAGENET_SAMPLE_SEED` for the shipped subset.

    Returns:
        The sample, in sorted file-name order (hence class order for one image per class).

    Raises:
        DataError: the folder holds fewer than ``n`` images.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"ImageNet folder {folder} does not exist or is not a folder")
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if len(names) < n:
        raise DataError(f"{folder} holds {len(names)} images, fewer than n={n}")
    chosen = np.sort(np.random.default_rng(seed).choice(len(names), size=n, replace=False))
    return read_imagenet_folder(folder, files=[names[i] for i in chosen])


def save_imagenet_sample(sample: Sample, path: str | Path, seed: int = IMAGENET_SAMPLE_SEED) -> None:
    """Write a sample compactly and losslessly: each image PNG-encoded, all in one ``.npz`` (no pickled objects).

    Keys: ``png`` (uint8, the PNG files concatenated), ``offsets`` (int64 (N + 1,), byte offsets into ``png``),
    ``shape`` (int64 (3,), H, W, 3), ``labels`` (int64 (N,)), ``ids`` and ``classes`` (unicode arrays),
    ``seed`` (int64).

    Args:
        sample: images uint8 RGB (N, H, W, 3) and their labels.
        path: the ``.npz`` file.
        seed: the seed the sample was drawn with, recorded in the file.
    """
    import cv2

    blobs = []
    for image in sample.images:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise DataError("PNG encoding failed")
        blobs.append(buf.reshape(-1))
    offsets = np.concatenate([[0], np.cumsum([b.size for b in blobs])]).astype(np.int64)
    np.savez(
        path, png=np.concatenate(blobs), offsets=offsets, shape=np.array(sample.images.shape[1:], dtype=np.int64),
        labels=sample.labels.astype(np.int64), ids=np.array(sample.ids), classes=np.array(sample.classes),
        seed=np.int64(seed),
    )


def load_imagenet_sample(path: str | Path | None = None) -> Sample:
    """The ImageNet subset shipped in the package (or a file written by :func:`save_imagenet_sample`).

    Args:
        path: the ``.npz`` file; default: ``pixelspace/assets/imagenet_sample.npz``.

    Returns:
        The sample: images uint8 RGB (50, 224, 224, 3), labels int64 (50,) (ILSVRC-2012 class indices),
        ids = the source file names ``<wnid>_<name>.JPEG``, classes = the 1000 class names in index order.

    Raises:
        DataError: the file is missing or damaged (an image does not decode to the recorded shape).
    """
    p = Path(path) if path is not None else asset_path(IMAGENET_SAMPLE_FILE)
    if not p.is_file():
        raise DataError(f"ImageNet sample file {p} does not exist")
    with np.load(p, allow_pickle=False) as z:
        png, offsets, shape = z["png"], z["offsets"], tuple(int(s) for s in z["shape"])
        labels, ids, classes = z["labels"].astype(np.int64), tuple(str(s) for s in z["ids"]), z["classes"]
        images = np.empty((len(labels), *shape), dtype=np.uint8)
        for i in range(len(labels)):
            image = decode_image(png[offsets[i] : offsets[i + 1]].tobytes(), f"{p}[{i}]")
            if image.shape != shape:
                raise DataError(f"{p}: image {i} decodes to shape {image.shape}, expected {shape}")
            images[i] = image
        return Sample(images, labels, ids, tuple(str(s) for s in classes))
