"""Build perturbed images by scattering pixel colours into copies of the clean images (no Python pixel loops)."""

from __future__ import annotations

import numpy as np
import torch

from pixelspace.attack.encoding import Decoded
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision


def perturb(clean: torch.Tensor, rows: np.ndarray, decoded: Decoded) -> torch.Tensor:
    """Perturbed uint8 images (B, 3, H, W).

    Args:
        clean: uint8 clean images (A, 3, H, W) on the target device.
        rows: attack index of each candidate (B,).
        decoded: the candidates' perturbations; among a candidate's pixels at one position the last wins.
    """
    a, ch, h, w = clean.shape
    dev = clean.device
    size = ch * h * w
    if decoded.positions.size and (decoded.positions.min() < 0 or decoded.positions.max() >= h * w):
        raise IndexError(f"pixel positions must lie in [0, {h * w}) for {h}x{w} images, got "
                         f"{decoded.positions.min()}..{decoded.positions.max()}")
    # index_select on the flattened images: one contiguous copy per candidate (about twice as fast on the
    # CPU as advanced indexing of the 4-D tensor)
    x = torch.index_select(clean.reshape(a, size), 0, torch.as_tensor(rows, device=dev))
    flat = x.view(-1)
    for j in range(decoded.positions.shape[1]):  # k <= a handful of pixels; sequential so the last one wins
        sel = np.flatnonzero(decoded.applied[:, j])  # chosen on the host: no device synchronisation
        if sel.size == 0:
            continue
        base = sel * size + decoded.positions[sel, j].astype(np.int64)
        # channel c of pixel (candidate i, position p) sits at i * size + c * h * w + p
        where = torch.as_tensor(base[:, None] + np.arange(ch) * (h * w), device=dev)
        flat[where.reshape(-1)] = torch.as_tensor(np.ascontiguousarray(decoded.colors[sel, j]), device=dev).reshape(-1)
    return x.view(-1, ch, h, w)


def pixel_probabilities(clf: Classifier, clean: torch.Tensor, rows: np.ndarray, decoded: Decoded,
                        precision: Precision | None = None) -> torch.Tensor:
    """Probabilities (B, K) of the perturbed images :func:`perturb` would build, counted as B queries, at
    ``precision`` (default: the classifier's).

    The classifier answers from the clean images and the changed pixels when it can (the incremental forward
    pass, :meth:`~pixelspace.models.classifier.Classifier.pixel_probabilities`, fp32 only); otherwise the images
    are built and evaluated in full.
    """
    probs = clf.pixel_probabilities(clean, rows, decoded.positions, decoded.colors, decoded.applied,
                                    precision=precision)
    return probs if probs is not None else clf.probabilities(perturb(clean, rows, decoded), precision=precision)
