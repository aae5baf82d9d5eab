"""Segment image files: what ``pixelspace segment`` runs.

Image ids are the files' paths relative to ``root`` (default: the deepest folder containing all inputs), in
POSIX form, so ``pixelspace segment data/test --root data`` gives ids like ``test/airplane/0003.jpg`` and mask
files like ``test__airplane__0003.png`` (see :func:`~pixelspace.segment.masks.mask_file_name`).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, get_args

import cv2
import numpy as np
from tqdm import tqdm

from pixelspace.errors import ConfigError, DataError
from pixelspace.segment.grabcut import GrabCut
from pixelspace.segment.masks import (
    MIN_REGION_PIXELS,
    mask_file_name,
    mask_quality,
    read_hint_png,
    save_masks,
)
from pixelspace.segment.overlay import save_overlay_grids
from pixelspace.segment.u2net import U2Net

log = logging.getLogger(__name__)

Method = Literal["grabcut", "u2net"]
#: The methods :func:`make_segmenter` accepts.
METHODS: tuple[str, ...] = get_args(Method)
#: File extensions read as images when a folder is given.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: Side in pixels of one overlay tile when images have different sizes.
TILE = 128


class Segmenter(Protocol):
    """Anything called on uint8 RGB images (N, H, W, 3) returning bool foreground masks (N, H, W).

    ``GrabCut``, ``U2Net``, ``Full`` and ``MaskFiles`` all take ``ids`` (only ``MaskFiles`` needs them).
    """

    def __call__(self, images: np.ndarray, *, ids: Sequence[str], progress: bool = False) -> np.ndarray: ...

    def settings(self) -> dict[str, object]: ...


def make_segmenter(method: str, *, seed: int | None = None, weights: str | Path | None = None,
                   threshold: float | None = None) -> GrabCut | U2Net:
    """Build a segmenter by name with library defaults for every option left ``None``.

    Raises:
        ConfigError: unknown method (lists the valid ones), or an option the method does not take.
    """
    if method == "grabcut":
        if weights is not None or threshold is not None:
            raise ConfigError("weights/threshold: only the 'u2net' method takes them")
        return GrabCut() if seed is None else GrabCut(seed=seed)
    if method == "u2net":
        if seed is not None:
            raise ConfigError("seed: only the 'grabcut' method takes a seed (U²-Net is deterministic)")
        kwargs: dict[str, float] = {} if threshold is None else {"threshold": threshold}
        return U2Net(weights, **kwargs)  # type: ignore[arg-type]
    raise ConfigError(f"method: unknown segmentation method {method!r}; valid methods are {', '.join(METHODS)}")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3).

    A grayscale file is expanded to three equal channels and an alpha channel is dropped (the colour values
    are kept as stored, not blended with any background); either logs a one-line warning naming the file and
    what was done. Other bit depths are scaled to 8 bits by OpenCV.

    Raises:
        DataError: missing or unreadable file.
    """
    p = Path(path)
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED) if p.is_file() else None
    img = cv2.imread(str(p), cv2.IMREAD_COLOR) if raw is not None else None
    if raw is None or img is None:
        raise DataError(f"path: cannot read image {p} (missing or not an image)")
    channels = 1 if raw.ndim == 2 else int(raw.shape[2])
    if channels in (1, 2):
        log.warning("%s is a grayscale image; its grey values are copied to R, G and B%s", p,
                    " and its alpha channel is dropped" if channels == 2 else "")
    elif channels == 4:
        full = float(np.iinfo(raw.dtype).max) if np.issubdtype(raw.dtype, np.integer) else 1.0  # type: ignore[type-var]
        see_through = int((raw[..., 3] < full).sum())
        log.warning("%s has an alpha channel (%s); it is dropped and the RGB values are used as stored", p,
                    f"{see_through} pixels not fully opaque" if see_through else "every pixel opaque")
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def expand_images(paths: Sequence[str | Path]) -> list[Path]:
    """Files among ``paths`` plus, for each folder, its image files (recursive, sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS))
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"images: no such file or folder: {p}")
    if not out:
        raise DataError(f"images: no image files found in {[str(p) for p in paths]}")
    return out


def image_ids(files: Sequence[Path], root: str | Path | None = None) -> list[str]:
    """POSIX ids of ``files`` relative to ``root`` (default their deepest common folder)."""
    resolved = [f.resolve() for f in files]
    base = Path(root).resolve() if root is not None else Path(os.path.commonpath([f.parent for f in resolved]))
    ids = []
    for f in resolved:
        try:
            ids.append(f.relative_to(base).as_posix())
        except ValueError as exc:
            raise DataError(f"root: image {f} is not inside root {base}") from exc
    return ids


@dataclass(frozen=True)
class SegmentReport:
    """What :func:`segment_files` wrote: masks, overlay grids, the quality table and the flagged ids."""

    masks: tuple[Path, ...]
    overlays: tuple[Path, ...]
    quality: Path
    flagged: tuple[str, ...]


def segment_files(
    images: Sequence[str | Path],
    segmenter: GrabCut | U2Net,
    out: str | Path,
    *,
    root: str | Path | None = None,
    hints: str | Path | None = None,
    min_pixels: int = MIN_REGION_PIXELS,
    progress: bool = True,
) -> SegmentReport:
    """Segment image files one by one and write ``out/masks/*.png``, ``out/overlays/overlay_NNN.png``
    (100 images per grid) and ``out/quality.csv`` (id, foreground fraction, flag reason).

    Args:
        images: image files and/or folders (searched recursively).
        segmenter: a GrabCut or U2Net segmenter.
        out: output folder.
        root: folder the ids are relative to (default the deepest common folder).
        hints: GrabCut only: a folder of hint PNGs named like masks; images without one get none.
        min_pixels: quality guard minimum for both foreground and background.
        progress: show a tqdm progress bar.

    Raises:
        OutputError: ``out`` cannot hold the outputs (checked before any image is segmented).
    """
    from pixelspace.outputs import check_output_dir

    check_output_dir(out, files=["quality.csv"], folders=["masks", "overlays"])
    files = expand_images(images)
    ids = image_ids(files, root)
    if hints is not None and not isinstance(segmenter, GrabCut):
        raise ConfigError("hints: only GrabCut takes hints")
    masks, small, tiles, tile_masks = [], [], [], []
    for f, image_id in tqdm(list(zip(files, ids, strict=True)), desc="segment", unit="img", disable=not progress):
        img = read_image(f)[None]
        if isinstance(segmenter, GrabCut):
            hint_path = Path(hints) / mask_file_name(image_id) if hints is not None else None
            hint = read_hint_png(hint_path)[None] if hint_path is not None and hint_path.is_file() else None
            m = segmenter(img, hints=hint)[0]
        else:
            m = segmenter(img)[0]
        masks.append(m)
        if max(m.shape) <= TILE:
            small.append(img[0])
        t, tm = _fit(img[0], m, TILE)
        tiles.append(t)
        tile_masks.append(tm)
    outdir = Path(out)
    mask_paths: list[Path] = []
    for m, image_id in zip(masks, ids, strict=True):  # sizes may differ: one file at a time
        mask_paths += save_masks(m[None], [image_id], outdir / "masks")
    same_small = len(small) == len(masks) and len({m.shape for m in masks}) == 1  # e.g. CIFAR: no letterbox
    grid_imgs = np.stack(small) if same_small else np.stack(tiles)
    grid_masks = np.stack(masks) if same_small else np.stack(tile_masks)
    scale = max(1, TILE // max(grid_imgs.shape[1:3])) if same_small else 1
    overlays = save_overlay_grids(outdir / "overlays", grid_imgs, grid_masks, scale=scale,
                                  labels=[str(k) for k in range(len(files))])
    flagged = []
    qpath = outdir / "quality.csv"
    with qpath.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["index", "id", "foreground_fraction", "flag"])
        for k, (m, image_id) in enumerate(zip(masks, ids, strict=True)):
            q = mask_quality(m[None], min_foreground=min_pixels, min_background=min_pixels)
            writer.writerow([k, image_id, f"{q.foreground_fraction[0]:.4f}", q.reasons[0]])
            if q.flagged[0]:
                flagged.append(image_id)
    log.info("segmented %d images into %s; %d flagged", len(files), outdir, len(flagged))
    return SegmentReport(tuple(mask_paths), tuple(overlays), qpath, tuple(flagged))


def _fit(image: np.ndarray, mask: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox an image (H, W, 3) and its mask (H, W) into a white size x size tile (nearest neighbour)."""
    h, w = mask.shape
    f = size / max(h, w)
    nh, nw = max(1, round(h * f)), max(1, round(w * f))
    img = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_NEAREST if f >= 1 else cv2.INTER_AREA)
    m = cv2.resize(mask.astype(np.uint8), (nw, nh), interpolation=cv2.INTER_NEAREST).astype(bool)
    ti = np.full((size, size, 3), 255, np.uint8)
    tm = np.zeros((size, size), bool)
    y, x = (size - nh) // 2, (size - nw) // 2
    ti[y : y + nh, x : x + nw] = img
    tm[y : y + nh, x : x + nw] = m
    return ti, tm
