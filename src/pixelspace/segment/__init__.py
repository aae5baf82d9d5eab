"""Foreground/background segmentation: regions as boolean masks (paper §III-B).

A segmenter is called on uint8 RGB images (N, H, W, 3) and returns bool foreground masks (N, H, W); the
background is the complement. ``GrabCut`` (CIFAR-10), ``U2Net`` (ImageNet, shipped U²-Netp weights),
``MaskFiles`` (precomputed PNGs) and ``Full`` (the whole image). ``mask_quality`` flags masks whose foreground
or background is too small to attack; ``make_region`` gives the plain and control regions (``random``,
``centre``, ``border``). See ``docs/segmentation.md``.

Examples:
    >>> from pixelspace.segment import load_cifar10_sample_masks, mask_quality
    >>> masks = load_cifar10_sample_masks()
    >>> masks.foreground.shape
    (1000, 32, 32)
"""

from __future__ import annotations

from pixelspace.segment.controls import (
    REGION_NAMES,
    border_region,
    centre_region,
    make_region,
    random_region,
)
from pixelspace.segment.files import (
    METHODS,
    Segmenter,
    SegmentReport,
    make_segmenter,
    read_image,
    segment_files,
)
from pixelspace.segment.grabcut import HINT_BACKGROUND, HINT_FOREGROUND, HINT_UNKNOWN, GrabCut
from pixelspace.segment.masks import (
    MIN_REGION_PIXELS,
    Full,
    MaskFiles,
    MaskQuality,
    SampleMasks,
    build_cifar10_sample_masks,
    load_cifar10_sample_masks,
    load_masks,
    mask_file_name,
    mask_quality,
    read_hint_png,
    read_mask_png,
    save_masks,
    second_foreground_masks,
    write_mask_png,
)
from pixelspace.segment.overlay import overlay, overlay_grid, save_overlay_grids
from pixelspace.segment.u2net import U2Net

__all__ = [
    "HINT_BACKGROUND",
    "HINT_FOREGROUND",
    "HINT_UNKNOWN",
    "METHODS",
    "MIN_REGION_PIXELS",
    "REGION_NAMES",
    "Full",
    "GrabCut",
    "MaskFiles",
    "MaskQuality",
    "SampleMasks",
    "SegmentReport",
    "Segmenter",
    "U2Net",
    "border_region",
    "build_cifar10_sample_masks",
    "centre_region",
    "load_cifar10_sample_masks",
    "load_masks",
    "make_region",
    "make_segmenter",
    "mask_file_name",
    "mask_quality",
    "overlay",
    "overlay_grid",
    "random_region",
    "read_hint_png",
    "read_image",
    "read_mask_png",
    "save_masks",
    "save_overlay_grids",
    "second_foreground_masks",
    "segment_files",
    "write_mask_png",
]
