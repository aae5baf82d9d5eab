"""U²-Net salient-object segmentation through onnxruntime (the paper's ImageNet segmenter, §III-B).

The package ships U²-Netp (the small U²-Net, Apache-2.0 weights by Qin et al. 2020; see ``assets/DATA.md``), so
a fresh install segments offline; ``U2Net(weights=path)`` runs another export, for example the full U²-Net the
paper used. Nothing is ever downloaded.

Preprocessing follows the original code (as rembg runs it): resize to 320x320, divide by the image's maximum,
normalise with the ImageNet mean and std, NCHW float32. The first output (the fused map, already a sigmoid)
is resized back to the image size and thresholded. Unlike rembg, the map is not min-max stretched, so an
image without a salient object can come out (nearly) empty and be flagged by the quality guard.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from pixelspace.errors import ConfigError, WeightsError
from pixelspace.segment._validate import check_images

log = logging.getLogger(__name__)

#: File name of the shipped U²-Netp export in ``pixelspace/assets``.
U2NETP_FILE = "u2netp.onnx"
#: sha256 of the shipped U²-Netp export.
U2NETP_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"

_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def shipped_weights() -> Path:
    """Path of the U²-Netp ONNX file shipped in the package."""
    from pixelspace.data.samples import asset_path

    return asset_path(U2NETP_FILE)


class U2Net:
    """U²-Net segmenter: ``U2Net()(images) -> masks``.

    Args:
        weights: an ONNX export of U²-Net / U²-Netp taking float32 (1, 3, size, size) and returning the
            fused saliency map (after the sigmoid) as its first output; default the shipped U²-Netp.
        threshold: saliency in [0, 1] above which a pixel is foreground (``>=``).
        size: the network's square input size in pixels.
        providers: onnxruntime execution providers (default ``["CPUExecutionProvider"]``).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).

    Raises:
        WeightsError: the weight file is missing or onnxruntime cannot load it.
        ConfigError: ``threshold`` outside [0, 1] or ``size`` < 1.

    Examples:
        >>> import numpy as np
        >>> U2Net()(np.zeros((1, 16, 16, 3), np.uint8)).shape
        (1, 16, 16)
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        threshold: float = 0.5,
        size: int = 320,
        providers: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"threshold: expected a saliency level in [0, 1], got {threshold!r}")
        if int(size) < 1:
            raise ConfigError(f"size: expected a positive input size in pixels, got {size!r}")
        self.weights = Path(weights) if weights is not None else shipped_weights()
        self.threshold = float(threshold)
        self.size = int(size)
        if not self.weights.is_file():
            raise WeightsError(f"weights: U²-Net ONNX file not found: {self.weights}")
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        try:
            self._session: Any = ort.InferenceSession(
                str(self.weights), sess_options=options, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise WeightsError(f"weights: onnxruntime cannot load {self.weights} as an ONNX model: {exc}") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [tuple(i.shape) for i in inputs]
            raise WeightsError(f"weights: expected one input of shape (1, 3, {size}, {size}) in {self.weights}, got {shapes}")
        self._input = inputs[0].name

    def __repr__(self) -> str:
        return f"U2Net(weights={str(self.weights)!r}, threshold={self.threshold}, size={self.size})"

    def settings(self) -> dict[str, object]:
        """The configuration as a plain dict (what is stored next to computed masks)."""
        return {"method": "u2net", "weights": self.weights.name, "threshold": self.threshold, "size": self.size}

    def saliency(self, images: np.ndarray, *, progress: bool = False) -> np.ndarray:
        """Saliency maps of a batch of images.

        Args:
            images: uint8 RGB, shape (N, H, W, 3).
            progress: show a tqdm progress bar.

        Returns:
            float32 saliency in [0, 1], shape (N, H, W).
        """
        images = check_images(images)
        n, h, w = images.shape[:3]
        out = np.empty((n, h, w), dtype=np.float32)
        for i in tqdm(range(n), desc="u2net", unit="img", disable=not progress):
            x = _preprocess(images[i], self.size)
            try:
                fused = self._session.run(None, {self._input: x})[0]
            except Exception as exc:
                raise WeightsError(f"weights: {self.weights} failed on image {i} of input shape {x.shape}: {exc}") from exc
            fused = np.asarray(fused, dtype=np.float32).reshape(fused.shape[-2], fused.shape[-1])
            back = _RESIZE[resampling(h, w, self.size)[1]]
            out[i] = np.clip(cv2.resize(fused, (w, h), interpolation=back), 0.0, 1.0)
        return out

    def __call__(
        self, images: np.ndarray, *, ids: Sequence[str] | None = None, progress: bool = False
    ) -> np.ndarray:
        """Foreground masks, bool (N, H, W): saliency >= ``threshold``.

        Args:
            images: uint8 RGB, shape (N, H, W, 3).
            ids: image ids; unused (accepted so every segmenter takes the same call).
            progress: show a tqdm progress bar.
        """
        return self.saliency(images, progress=progress) >= self.threshold


_RESIZE = {"cv2.INTER_AREA": cv2.INTER_AREA, "cv2.INTER_CUBIC": cv2.INTER_CUBIC, "cv2.INTER_LINEAR": cv2.INTER_LINEAR}


def resampling(h: int, w: int, size: int) -> tuple[str, str]:
    """How an (h, w) image is resized to the size x size input and how the saliency map is resized back.

    Returns:
        (to the network, back to the image) as OpenCV flag names: ``cv2.INTER_AREA`` into the input when the
        image is larger than it on both sides, else ``cv2.INTER_CUBIC`` (a 32x32 CIFAR-10 image is upscaled
        10x with it); always ``cv2.INTER_LINEAR`` back.
    """
    return ("cv2.INTER_AREA" if (h > size and w > size) else "cv2.INTER_CUBIC"), "cv2.INTER_LINEAR"


def _preprocess(image: np.ndarray, size: int) -> np.ndarray:
    """One uint8 RGB image (H, W, 3) -> float32 (1, 3, size, size), normalised as U²-Net was trained."""
    h, w = image.shape[:2]
    x = cv2.resize(image, (size, size), interpolation=_RESIZE[resampling(h, w, size)[0]]).astype(np.float32)
    x /= max(float(x.max()), 1e-6)
    x = (x - _MEAN) / _STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
