"""Masks as data: PNG files named by image id, the ``MaskFiles`` and ``Full`` segmenters, the quality guard and
the precomputed masks of the shipped CIFAR-10 sample (GrabCut, the default, and U²-Netp).

A mask is a bool array, True on the foreground; the background is its complement. On disk a mask is a
single-channel 8-bit PNG (255 foreground, 0 background; any value >= 128 reads as foreground) in one flat
folder, named by :func:`mask_file_name`: the image id with ``/`` replaced by ``__`` and its extension replaced
by ``.png`` (``test/airplane/0003.jpg`` -> ``test__airplane__0003.png``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from pixelspace.errors import ConfigError, DataError, RegionError, ShapeError
from pixelspace.segment._validate import check_ids, check_images, check_masks

log = logging.getLogger(__name__)

#: File name of the precomputed GrabCut masks of the shipped CIFAR-10 sample in ``pixelspace/assets``.
SAMPLE_MASKS_FILE = "cifar10_test_sample_masks.npz"
#: The precomputed masks of the shipped CIFAR-10 sample in ``pixelspace/assets``, by segmentation method.
SAMPLE_MASK_FILES: dict[str, str] = {"grabcut": SAMPLE_MASKS_FILE, "u2net": "cifar10_test_sample_masks_u2netp.npz"}
#: Default minimum number of foreground and of background pixels for a usable mask (the quality guard).
MIN_REGION_PIXELS = 20


def mask_file_name(image_id: str) -> str:
    """The PNG file name of an image id: ``/`` -> ``__``, extension -> ``.png``.

    Examples:
        >>> mask_file_name("test/airplane/0003.jpg")
        'test__airplane__0003.png'
    """
    if not image_id or image_id.startswith("/") or ".." in PurePosixPath(image_id).parts:
        raise DataError(f"image id: expected a relative id like 'test/airplane/0003.jpg', got {image_id!r}")
    stem = str(PurePosixPath(image_id).with_suffix("")) if PurePosixPath(image_id).suffix else image_id
    return stem.replace("/", "__") + ".png"


def write_mask_png(path: str | Path, mask: np.ndarray) -> None:
    """Write one bool mask (H, W) as an 8-bit PNG (255 foreground, 0 background)."""
    assert mask.ndim == 2 and mask.dtype == np.bool_
    p = Path(path)
    if not cv2.imwrite(str(p), mask.astype(np.uint8) * 255):
        raise DataError(f"path: could not write mask PNG {p}")


def read_mask_png(path: str | Path) -> np.ndarray:
    """Read a mask PNG as bool (H, W): values >= 128 are foreground (colour PNGs are converted to gray).

    Raises:
        DataError: the file is missing or is not a readable image.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"path: mask file not found: {p}")
    img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"path: cannot read {p} as an image (not a valid PNG?)")
    return np.asarray(img >= 128)


def read_hint_png(path: str | Path) -> np.ndarray:
    """Read a GrabCut hint PNG (255 definite foreground, 0 definite background, else unknown) as uint8 (H, W)."""
    p = Path(path)
    img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) if p.is_file() else None
    if img is None:
        raise DataError(f"path: cannot read hint PNG {p} (missing or not an image)")
    return np.asarray(img)


def save_masks(masks: np.ndarray, ids: Sequence[str], folder: str | Path) -> list[Path]:
    """Save masks as PNG files named by image id (see :func:`mask_file_name`).

    Args:
        masks: bool, shape (N, H, W).
        ids: N image ids.
        folder: output folder (created if missing).

    Returns:
        The N written paths.

    Raises:
        DataError: two ids map to the same file name.
    """
    masks = check_masks(masks)
    id_list = check_ids(ids, masks.shape[0])
    names = [mask_file_name(i) for i in id_list]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"ids: two image ids map to the same mask file {dup!r}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / n for n in names]
    for m, p in zip(masks, paths, strict=True):
        write_mask_png(p, m)
    return paths


def load_masks(folder: str | Path, ids: Sequence[str], shape: tuple[int, int] | None = None) -> np.ndarray:
    """Load the masks of ``ids`` from a folder written by :func:`save_masks`.

    Args:
        folder: the mask folder.
        ids: N image ids.
        shape: expected (H, W) of every mask; default that of the first mask.

    Returns:
        bool masks, shape (N, H, W).

    Raises:
        DataError: a mask file is missing or unreadable (the message names the image id and index).
        RegionError: mask ``i`` has the wrong size.
    """
    folder = Path(folder)
    id_list = check_ids(ids, len(ids))
    if not folder.is_dir():
        raise DataError(f"folder: mask folder not found: {folder}")
    out: list[np.ndarray] = []
    for i, image_id in enumerate(id_list):
        p = folder / mask_file_name(image_id)
        if not p.is_file():
            raise DataError(f"ids[{i}]: no mask for image id {image_id!r} (expected file {p})")
        try:
            m = read_mask_png(p)
        except DataError as exc:
            raise DataError(f"ids[{i}]: mask of image id {image_id!r} is unreadable: {exc}") from exc
        want = shape if shape is not None else (out[0].shape if out else m.shape)
        if m.shape != tuple(want):
            raise RegionError(
                f"ids[{i}]: mask of image id {image_id!r} has size {m.shape[0]}x{m.shape[1]}, "
                f"expected {want[0]}x{want[1]} (H x W)"
            )
        out.append(m)
    if not out:
        return np.zeros((0, *(shape or (0, 0))), dtype=bool)
    return np.stack(out)


class MaskFiles:
    """Segmenter that reads precomputed masks: ``MaskFiles(folder)(images, ids=ids) -> masks``.

    Args:
        folder: a folder of mask PNGs named by image id (see :func:`mask_file_name`).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DataError(f"folder: mask folder not found: {self.folder}")

    def __repr__(self) -> str:
        return f"MaskFiles({str(self.folder)!r})"

    def settings(self) -> dict[str, object]:
        """The configuration as a plain dict."""
        return {"method": "files", "folder": str(self.folder)}

    def __call__(self, images: np.ndarray, *, ids: Sequence[str], progress: bool = False) -> np.ndarray:
        """The stored masks of ``images``.

        Args:
            images: uint8 RGB, shape (N, H, W, 3); only their number and size are used.
            ids: N image ids naming the files.
            progress: unused (reading is fast); accepted for a uniform signature.

        Returns:
            bool masks, shape (N, H, W).

        Raises:
            DataError: a file is missing or unreadable (names the image id). RegionError: a size mismatch.
        """
        images = check_images(images)
        id_list = check_ids(ids, images.shape[0])
        return load_masks(self.folder, id_list, shape=(images.shape[1], images.shape[2]))


@dataclass(frozen=True)
class Full:
    """The trivial segmenter: every pixel is foreground (the "whole image" region)."""

    def settings(self) -> dict[str, object]:
        """The configuration as a plain dict."""
        return {"method": "full"}

    def __call__(
        self, images: np.ndarray, *, ids: Sequence[str] | None = None, progress: bool = False
    ) -> np.ndarray:
        """All-True masks, bool (N, H, W), for uint8 RGB images (N, H, W, 3); ``ids`` is unused."""
        images = check_images(images)
        return np.ones(images.shape[:3], dtype=bool)


@dataclass(frozen=True)
class MaskQuality:
    """Per-image quality of a batch of foreground masks (see :func:`mask_quality`).

    Attributes:
        foreground_fraction: float64 (N,), foreground pixels / all pixels.
        foreground_pixels: int64 (N,).
        background_pixels: int64 (N,).
        flagged: bool (N,), True where the mask is unusable.
        reasons: N strings, empty for a usable mask, else why it was flagged.
    """

    foreground_fraction: np.ndarray
    foreground_pixels: np.ndarray
    background_pixels: np.ndarray
    flagged: np.ndarray
    reasons: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.reasons)

    @property
    def ok(self) -> np.ndarray:
        """bool (N,): the masks that passed."""
        return ~self.flagged


def mask_quality(
    masks: np.ndarray, *, min_foreground: int = MIN_REGION_PIXELS, min_background: int = MIN_REGION_PIXELS
) -> MaskQuality:
    """The quality guard: flag masks whose foreground or background is too small to attack.

    Both regions of an image must be attackable, so a campaign drops a flagged image from all its regions
    (every region is then compared on the same images) and records ``reasons[i]``.

    Args:
        masks: bool foreground masks, shape (N, H, W).
        min_foreground: minimum number of foreground pixels.
        min_background: minimum number of background pixels.

    Returns:
        A :class:`MaskQuality` with fractions, pixel counts, flags and reasons.

    Examples:
        >>> q = mask_quality(np.zeros((1, 8, 8), bool))
        >>> bool(q.flagged[0]), q.reasons[0]
        (True, 'foreground has 0 pixels, fewer than min_foreground=20')
    """
    masks = check_masks(masks)
    if min_foreground < 0 or min_background < 0:
        raise ShapeError(f"min_foreground/min_background: expected >= 0, got {min_foreground}/{min_background}")
    total = masks.shape[1] * masks.shape[2]
    fg = masks.reshape(masks.shape[0], -1).sum(axis=1).astype(np.int64)
    bg = total - fg
    reasons: list[str] = []
    for f, b in zip(fg.tolist(), bg.tolist(), strict=True):
        why = []
        if f < min_foreground:
            why.append(f"foreground has {f} pixels, fewer than min_foreground={min_foreground}")
        if b < min_background:
            why.append(f"background has {b} pixels, fewer than min_background={min_background}")
        reasons.append("; ".join(why))
    return MaskQuality(
        foreground_fraction=fg / max(total, 1), foreground_pixels=fg, background_pixels=bg,
        flagged=np.array([bool(r) for r in reasons], dtype=bool), reasons=tuple(reasons),
    )


@dataclass(frozen=True)
class SampleMasks:
    """Precomputed foreground masks of an image set.

    Attributes:
        foreground: bool (N, H, W).
        ids: N image ids, in the order of the image set.
        settings: the segmenter settings and seed that produced them (and the OpenCV version).
    """

    foreground: np.ndarray
    ids: tuple[str, ...]
    settings: Mapping[str, object]

    def __len__(self) -> int:
        return int(self.foreground.shape[0])

    @property
    def quality(self) -> MaskQuality:
        """The quality guard on these masks (``settings["min_pixels"]`` if recorded, else
        :data:`MIN_REGION_PIXELS`, for both regions): which images a campaign would drop."""
        n = int(self.settings.get("min_pixels", MIN_REGION_PIXELS))  # type: ignore[call-overload]
        return mask_quality(self.foreground, min_foreground=n, min_background=n)


def save_sample_masks(
    path: str | Path, foreground: np.ndarray, ids: Sequence[str], settings: Mapping[str, object], *,
    packed: bool = False,
) -> None:
    """Write masks, ids and settings as a compressed ``.npz``.

    Keys: ``foreground`` bool (N, H, W), or with ``packed`` ``foreground_bits`` uint8 (N, H, ceil(W / 8)) of
    ``numpy.packbits(foreground, axis=-1)`` (big-endian bit order) and ``shape`` int64 ``[N, H, W]``; ``ids``;
    ``setting_<name>``; and ``quality_reasons`` (N strings, empty where the mask passes the quality guard, see
    :func:`mask_quality`, with ``settings["min_pixels"]`` if given, else :data:`MIN_REGION_PIXELS`).
    """
    foreground = check_masks(foreground)
    id_list = check_ids(ids, foreground.shape[0])
    extra = {f"setting_{k}": np.array(v) for k, v in settings.items()}
    n = int(settings.get("min_pixels", MIN_REGION_PIXELS))  # type: ignore[call-overload]
    reasons = np.array(mask_quality(foreground, min_foreground=n, min_background=n).reasons, dtype=str)
    arrays: dict[str, np.ndarray] = (
        {"foreground_bits": np.packbits(foreground, axis=-1), "shape": np.array(foreground.shape, np.int64)}
        if packed else {"foreground": foreground}
    )
    np.savez_compressed(path, **arrays, ids=np.array(id_list), quality_reasons=reasons, **extra)  # type: ignore[arg-type]


def load_cifar10_sample_masks(path: str | Path | None = None, *, method: str | None = None) -> SampleMasks:
    """The shipped masks of the 1,000-image CIFAR-10 sample (same order as ``load_cifar10_sample``).

    Args:
        path: another file of the same format (default the shipped file of ``method``; see
            :data:`SAMPLE_MASK_FILES`).
        method: ``"grabcut"`` (the default when no ``path`` is given: the masks every campaign uses) or
            ``"u2net"`` (shipped U²-Netp, 320x320 input, threshold 0.5; see ``assets/DATA.md``). With a
            ``path``, the file's recorded method must match it.

    Returns:
        :class:`SampleMasks` with ``foreground`` bool (1000, 32, 32), the ids and the segmenter settings.

    Raises:
        ConfigError: unknown ``method`` (lists the valid ones).
        DataError: the file is missing, lacks the masks or ids, records another method than ``method``, or
            records quality flags that do not match its masks.
    """
    from pixelspace.data.samples import asset_path

    if method is not None and method not in SAMPLE_MASK_FILES:
        raise ConfigError(f"method: unknown segmentation method {method!r} for the shipped sample masks; "
                          f"valid methods are {', '.join(SAMPLE_MASK_FILES)}")
    p = Path(path) if path is not None else asset_path(SAMPLE_MASK_FILES[method or "grabcut"])
    if not p.is_file():
        raise DataError(f"path: mask file not found: {p}")
    with np.load(p, allow_pickle=False) as z:
        if ("foreground" not in z and "foreground_bits" not in z) or "ids" not in z:
            raise DataError(f"path: {p} lacks the 'foreground' (or 'foreground_bits') and 'ids' arrays, "
                            f"has {sorted(z.files)}")
        settings = {k.removeprefix("setting_"): z[k].item() for k in z.files if k.startswith("setting_")}
        if "foreground" in z:
            fg = z["foreground"].astype(bool)
        else:
            shape = tuple(int(v) for v in z["shape"])
            fg = np.unpackbits(z["foreground_bits"], axis=-1, count=shape[-1]).astype(bool).reshape(shape)
        ids = tuple(str(s) for s in z["ids"])
        recorded = tuple(str(r) for r in z["quality_reasons"]) if "quality_reasons" in z else None
    if method is not None and settings.get("method", method) != method:
        raise DataError(f"path: {p} holds {settings['method']!r} masks, not {method!r}")
    masks = SampleMasks(fg, ids, settings)
    if recorded is not None and recorded != masks.quality.reasons:
        i = next(k for k, (a, b) in enumerate(zip(recorded, masks.quality.reasons, strict=True)) if a != b)
        raise DataError(f"path: {p}: quality_reasons[{i}] = {recorded[i]!r} does not match its mask "
                        f"({masks.quality.reasons[i]!r})")
    return masks


def build_cifar10_sample_masks(
    out: str | Path, segmenter: object | None = None, *, method: str | None = None, progress: bool = True
) -> SampleMasks:
    """Recompute the sample's masks and write them to ``out`` (the format :func:`load_cifar10_sample_masks` reads).

    Args:
        out: the ``.npz`` file to write.
        segmenter: a :class:`~pixelspace.segment.GrabCut` or :class:`~pixelspace.segment.U2Net`; default that
            of ``method`` with its default settings (``GrabCut()``, ``U2Net()``).
        method: ``"grabcut"`` (default) or ``"u2net"``; with a ``segmenter``, its method (and must match it).
        progress: show a progress bar.

    Returns:
        The masks written. GrabCut masks are stored as ``foreground`` bool, with the OpenCV version; U²-Net
        masks as packed bits, with the weights' file name and sha256, the threshold, the input size, the
        resampling to and from it and the onnxruntime and OpenCV versions. U²-Net is deterministic (no seed).
    """
    import hashlib

    from pixelspace.data.samples import load_cifar10_sample
    from pixelspace.segment.grabcut import GrabCut
    from pixelspace.segment.u2net import U2Net, resampling

    if method is not None and method not in SAMPLE_MASK_FILES:
        raise ConfigError(f"method: unknown segmentation method {method!r}; valid methods are "
                          f"{', '.join(SAMPLE_MASK_FILES)}")
    seg = segmenter if segmenter is not None else (U2Net() if method == "u2net" else GrabCut())
    if not isinstance(seg, GrabCut | U2Net):
        raise ConfigError(f"segmenter: expected a GrabCut or U2Net, got {type(seg).__name__}")
    if method is not None and seg.settings()["method"] != method:
        raise ConfigError(f"segmenter: a {seg.settings()['method']!r} segmenter cannot build {method!r} masks")
    sample = load_cifar10_sample()
    settings: dict[str, object] = dict(seg.settings())
    if isinstance(seg, U2Net):
        import onnxruntime

        settings["min_pixels"] = MIN_REGION_PIXELS
        settings["weights_sha256"] = hashlib.sha256(seg.weights.read_bytes()).hexdigest()
        settings["upscale"], settings["downscale"] = resampling(sample.images.shape[1], sample.images.shape[2], seg.size)
        settings["onnxruntime"] = onnxruntime.__version__
    settings["opencv"] = cv2.__version__
    fg = seg(sample.images, ids=sample.ids, progress=progress)
    save_sample_masks(out, fg, sample.ids, settings, packed=isinstance(seg, U2Net))
    masks = SampleMasks(fg, sample.ids, settings)
    log.info("wrote %s: %d masks, %d flagged by the quality guard", out, len(fg), int(masks.quality.flagged.sum()))
    return masks


def check_mask_images(masks: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Check that masks (N, H, W) bool belong to images (N, H, W, 3) uint8; returns the masks."""
    images = check_images(images)
    return check_masks(masks, like=images)


def second_foreground_masks(choice: str, image_ids: Sequence[str]) -> tuple[dict[str, np.ndarray] | None, str]:
    """A second segmenter's foreground masks for the report's outline rows (``pixelspace report --second-masks``).

    Args:
        choice: ``"auto"`` (the shipped U²-Netp masks of the shipped CIFAR-10 sample, only those that pass the
            quality guard a campaign applies; none when this install has no such file), ``"none"``, or a folder
            of mask PNGs as :func:`save_masks` writes them.
        image_ids: the store's attacked images (a folder is read for these).

    Returns:
        image id -> bool (H, W) mask (None for ``"none"``), and the masks' name for the report.

    Raises:
        DataError: ``choice`` is not a folder, or the folder holds no mask of these images.
    """
    if choice == "none":
        return None, ""
    if choice == "auto":
        try:
            sample = load_cifar10_sample_masks(method="u2net")
        except DataError:
            return None, ""
        usable = ~sample.quality.flagged
        return ({i: m for i, m, ok in zip(sample.ids, sample.foreground, usable, strict=True) if ok},
                "U²-Netp (shipped)")
    folder = Path(choice)
    if not folder.is_dir():
        raise DataError(f"second masks: {choice!r} is neither 'auto', 'none' nor a mask folder")
    found = {i: read_mask_png(folder / mask_file_name(i)) for i in image_ids if (folder / mask_file_name(i)).is_file()}
    if not found:
        raise DataError(f"second masks: {folder} holds no mask for any of the {len(image_ids)} attacked images")
    return found, folder.name
