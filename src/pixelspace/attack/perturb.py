"""Build perturbed images by scattering pixel colours into copies of the clean images (no Python pixel loops)."""

from __future__ import annotations

import numpy as np
import torch

from pixelspace.attack.encoding import Decoded


def perturb(clean: torch.Tensor, rows: np.ndarray, decoded: Decoded) -> torch.Tensor:
    """Perturbed uint8 images (B, 3, H, W).

    Args:
        clean: uint8 clean images (A, 3, H, W) on the target device.
        rows: attack index of each candidate (B,).
        decoded: the candidates' perturbations; among a candidate's pixels at one position the last wins.
    """
    a, ch, h, w = clean.shape
    dev = clean.device
    idx = torch.as_tensor(rows, device=dev)
    x = clean.reshape(a, ch, h * w)[idx]  # advanced indexing already copies
    pos = torch.as_tensor(decoded.positions, device=dev)
    col = torch.as_tensor(decoded.colors, device=dev)
    app = torch.as_tensor(decoded.applied, device=dev)
    for j in range(pos.shape[1]):  # k <= a handful of pixels; sequential so the last one wins
        sel = app[:, j].nonzero()[:, 0]
        if sel.numel():
            x[sel, :, pos[sel, j]] = col[sel, j]
    return x.reshape(-1, ch, h, w)
