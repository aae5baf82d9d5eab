"""GrabCut foreground segmentation (OpenCV), automatic and repeatable, with optional user hints.

The paper (§III-B, §IV-A) segmented CIFAR-10 with GrabCut and refined each mask by hand. Here the default is
automatic: GrabCut starts from a rectangle ``margin`` pixels inside the border (or from a centred elliptical
prior), runs ``iterations`` rounds, and reseeds OpenCV's random generator with the image's seed first, so the
same image and seed always give the same mask, whatever batch the image is in. Small images are upscaled by
``scale`` before segmenting and the mask is averaged back down: at 32x32 the graph's smoothness term
outweighs the colour models and GrabCut often returns an empty foreground (see ``docs/segmentation.md``).

Refinement works like GrabCut's interaction: a hint map marks definite foreground (255) and definite
background (0); everything else (for example 128) is left to the algorithm.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np
from tqdm import tqdm

from pixelspace.errors import ConfigError, DTypeError, RegionError, ShapeError
from pixelspace.segment._validate import check_images, per_image_seeds

log = logging.getLogger(__name__)

#: Hint value for definite background.
HINT_BACKGROUND = 0
#: Hint value for definite foreground.
HINT_FOREGROUND = 255
#: Hint value for "no hint" (any value other than 0 and 255 means the same).
HINT_UNKNOWN = 128

GrabCutInit = Literal["rect", "centre"]
_INITS: tuple[str, ...] = ("rect", "centre")


@dataclass(frozen=True)
class GrabCut:
    """Automatic GrabCut segmenter: ``GrabCut(...)(images) -> masks``.

    Args:
        init: ``"rect"``: the pixels outside a rectangle ``margin`` pixels inside the border are definite
            background, the rest probable foreground (GrabCut's usual start). ``"centre"``: a centred
            ellipse whose axes are ``prior`` times the image sides is probable foreground, the rest
            probable background, and the outer ``margin`` pixels definite background (0 allowed).
        margin: width in pixels of the input image of the border taken as definite background.
        iterations: GrabCut iterations (each refits the colour models and recomputes the cut).
        scale: integer upscaling factor (bicubic) applied before segmenting; the mask is area-averaged
            back to the input size and thresholded at one half. 1 disables it.
        prior: for ``init="centre"``, the ellipse's axes as a fraction of the image's height and width.
        seed: seed of OpenCV's random generator (``cv2.setRNGSeed``), set before each image; a call may
            override it per image.

    Examples:
        >>> import numpy as np
        >>> img = np.zeros((1, 32, 32, 3), np.uint8); img[0, 8:24, 8:24] = (200, 30, 30)
        >>> GrabCut(iterations=2)(img).shape
        (1, 32, 32)
    """

    init: GrabCutInit = "rect"
    margin: int = 1
    iterations: int = 5
    scale: int = 6
    prior: float = 0.6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.init not in _INITS:
            raise ConfigError(f"init: expected one of {', '.join(_INITS)}, got {self.init!r}")
        if not isinstance(self.margin, int | np.integer) or self.margin < (1 if self.init == "rect" else 0):
            low = 1 if self.init == "rect" else 0
            raise ConfigError(f"margin: expected an integer >= {low} (pixels) for init={self.init!r}, got {self.margin!r}")
        if not isinstance(self.iterations, int | np.integer) or self.iterations < 1:
            raise ConfigError(f"iterations: expected an integer >= 1, got {self.iterations!r}")
        if not isinstance(self.scale, int | np.integer) or self.scale < 1:
            raise ConfigError(f"scale: expected an integer >= 1, got {self.scale!r}")
        if not 0.0 < float(self.prior) <= 1.0:
            raise ConfigError(f"prior: expected a fraction in (0, 1], got {self.prior!r}")

    def settings(self) -> dict[str, object]:
        """The configuration as a plain dict (what is stored next to computed masks)."""
        return {"method": "grabcut", **asdict(self)}

    def __call__(
        self,
        images: np.ndarray,
        *,
        hints: np.ndarray | None = None,
        seeds: Sequence[int] | None = None,
        ids: Sequence[str] | None = None,
        progress: bool = False,
    ) -> np.ndarray:
        """Segment a batch of images.

        Args:
            images: uint8 RGB, shape (N, H, W, 3).
            hints: optional uint8 hint maps, shape (N, H, W): 255 definite foreground, 0 definite
                background, anything else no hint. The automatic segmentation runs first; then the hinted
                pixels are fixed and GrabCut runs ``iterations`` more rounds from that label map.
            seeds: optional per-image seeds (length N) replacing ``self.seed``.
            ids: image ids; unused (accepted so every segmenter takes the same call).
            progress: show a tqdm progress bar.

        Returns:
            Foreground masks, bool, shape (N, H, W).

        Raises:
            ShapeError, DTypeError: bad ``images``, ``hints`` or ``seeds``; an image too small for ``margin``.
            RegionError: hint map ``i`` has the wrong size.
        """
        images = check_images(images)
        n, h, w = images.shape[:3]
        if self.init == "rect" and (h <= 2 * self.margin or w <= 2 * self.margin):
            raise ShapeError(f"images: size {h}x{w} leaves no rectangle inside a margin of {self.margin} pixels")
        if hints is not None:
            hints = _check_hints(hints, images)
        per_seed = per_image_seeds(self.seed if seeds is None else seeds, n, "seeds")
        out = np.zeros((n, h, w), dtype=bool)
        for i in tqdm(range(n), desc="grabcut", unit="img", disable=not progress):
            out[i] = self._one(images[i], None if hints is None else hints[i], per_seed[i])
        return out

    def _one(self, image: np.ndarray, hint: np.ndarray | None, seed: int) -> np.ndarray:
        """Segment one image (H, W, 3) uint8; returns a bool mask (H, W)."""
        h, w = image.shape[:2]
        s = int(self.scale)
        big = image if s == 1 else cv2.resize(image, (w * s, h * s), interpolation=cv2.INTER_CUBIC)
        big = np.ascontiguousarray(big)
        labels = self._initial_labels(big.shape[0], big.shape[1])
        cv2.setRNGSeed(int(seed))
        labels = _grabcut(big, labels, self.iterations)
        if hint is not None:
            big_hint = hint if s == 1 else cv2.resize(hint, (w * s, h * s), interpolation=cv2.INTER_NEAREST)
            labels[big_hint == HINT_FOREGROUND] = cv2.GC_FGD
            labels[big_hint == HINT_BACKGROUND] = cv2.GC_BGD
            cv2.setRNGSeed(int(seed))
            labels = _grabcut(big, labels, self.iterations)
        fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
        if s == 1:
            return fg
        small = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        return np.asarray(small >= 0.5)

    def _initial_labels(self, hh: int, ww: int) -> np.ndarray:
        """GrabCut label map (hh, ww) uint8 for the configured initialisation, at the working scale."""
        m = int(self.margin) * int(self.scale)
        if self.init == "rect":
            labels = np.full((hh, ww), cv2.GC_BGD, dtype=np.uint8)
            labels[m : hh - m, m : ww - m] = cv2.GC_PR_FGD
            return labels
        yy, xx = np.mgrid[0:hh, 0:ww]
        r = ((yy - (hh - 1) / 2) / (hh * self.prior / 2)) ** 2 + ((xx - (ww - 1) / 2) / (ww * self.prior / 2)) ** 2
        labels = np.where(r <= 1.0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
        if m > 0:
            labels[:m] = labels[-m:] = cv2.GC_BGD
            labels[:, :m] = labels[:, -m:] = cv2.GC_BGD
        return labels


def _grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """Run ``cv2.grabCut`` in mask mode; a label map with only one side is returned unchanged."""
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if fg.all() or not fg.any():
        return labels  # GrabCut needs samples of both sides; nothing to decide
    labels = labels.copy()
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.grabCut(image, labels, (0, 0, 0, 0), bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    return labels


def _check_hints(hints: object, images: np.ndarray) -> np.ndarray:
    """Check hint maps (N, H, W) uint8 against the images (N, H, W, 3)."""
    if not isinstance(hints, np.ndarray):
        raise DTypeError(f"hints: expected a numpy uint8 array of shape (N, H, W), got {type(hints).__name__}")
    if hints.dtype != np.uint8:
        raise DTypeError(f"hints: expected dtype uint8 (0 background, 255 foreground, else unknown), got {hints.dtype}")
    if hints.ndim != 3:
        raise ShapeError(f"hints: expected shape (N, H, W), got {hints.shape}")
    if hints.shape[0] != images.shape[0]:
        raise ShapeError(f"hints: expected {images.shape[0]} hint maps (one per image), got {hints.shape[0]}")
    if hints.shape[1:] != images.shape[1:3]:
        raise RegionError(
            f"hints: hint maps of size {hints.shape[1]}x{hints.shape[2]} do not match the images of size "
            f"{images.shape[1]}x{images.shape[2]} (every image, from index 0)"
        )
    return np.ascontiguousarray(hints)
