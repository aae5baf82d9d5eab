"""Tiny models with known behaviour for engine tests."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class ChannelMeanModel(nn.Module):
    """Foolbox-style weightless model: logits = scale * per-channel means of the [0, 1] input (3 classes)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x.mean(dim=(2, 3))


class PlantedModel(nn.Module):
    """Two-class model with one planted vulnerability and a graded landscape.

    score = max over pixels of exp(-|colour - corner|^2 / (2 sc^2)) * exp(-|pos - loc|^2 / (2 sp^2));
    logits = (1, 4 * score). The prediction flips to class 1 only when a pixel within ~2 px of ``loc`` takes a
    colour near ``corner``; p(class 0) falls smoothly as a pixel approaches that place and colour.
    """

    pos_w: torch.Tensor  # buffers
    corner: torch.Tensor

    def __init__(self, size: int = 16, loc: tuple[int, int] = (4, 11), corner: tuple[float, float, float] = (1.0, 0.0, 1.0),
                 sigma_pos: float = 2.5, sigma_col: float = 0.35) -> None:
        super().__init__()
        rr, cc = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        d2 = (rr - loc[0]) ** 2 + (cc - loc[1]) ** 2
        self.register_buffer("pos_w", torch.exp(-d2.float() / (2 * sigma_pos**2)))
        self.register_buffer("corner", torch.tensor(corner).view(1, 3, 1, 1))
        self.sigma_col = sigma_col
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c2 = ((x - self.corner) ** 2).sum(1)
        s = (torch.exp(-c2 / (2 * self.sigma_col**2)) * self.pos_w).flatten(1).max(1).values
        return torch.stack([torch.ones_like(s), 4.0 * s], dim=1)


def tiny_cnn(seed: int = 0, classes: int = 10) -> nn.Module:
    """A seeded conv net with ~1k parameters for 32x32 (or any size) input."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, classes)
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net.eval()


def gray_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Mid-grey noisy uint8 images (n, size, size, 3) far from the RGB cube's corners."""
    return np.random.default_rng(seed).integers(70, 180, (n, size, size, 3), dtype=np.uint8)


def narrow_gray_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Grey noisy uint8 images (n, size, size, 3) with values in [100, 156): far from every corner of the cube."""
    return np.random.default_rng(seed).integers(100, 156, (n, size, size, 3), dtype=np.uint8)


def predict(model: nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
        return model(x).argmax(1).numpy()


class TwoPlantModel(nn.Module):
    """Three-class model with two planted one-pixel vulnerabilities (16x16 images).

    With s_a, s_b the :class:`PlantedModel` scores of plant A (``loc_a``, magenta, narrow) and plant B
    (``loc_b``, green): logits = (1, 4.5 s_b, 4 s_b + 4 s_a). A pixel at plant A sends the image to class 2;
    a pixel at plant B to class 1, and there p_2 is also as high as a pixel far from plant A can make it, so a
    targeted attack on class 2 that cannot reach plant A ends on class 1: a third class, a failure. Meant for
    :func:`narrow_gray_images` (clean class 0).
    """

    def __init__(self, loc_a: tuple[int, int] = (3, 12), loc_b: tuple[int, int] = (12, 3)) -> None:
        super().__init__()
        self.a = PlantedModel(16, loc_a, (1.0, 0.0, 1.0), sigma_pos=2.0, sigma_col=0.25)
        self.b = PlantedModel(16, loc_b, (0.0, 1.0, 0.0))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s_a = self.a(x)[:, 1] / 4
        s_b = self.b(x)[:, 1] / 4
        return torch.stack([torch.ones_like(s_a), 4.5 * s_b, 4 * s_b + 4 * s_a], dim=1)


def two_plant_model() -> TwoPlantModel:
    """The :class:`TwoPlantModel` with its default plants (a campaign ``factory``)."""
    return TwoPlantModel()


class PositionModel(nn.Module):
    """Weightless model whose output depends on where a pixel is: logits = scale * (sum of R, G, B channels
    each weighted by a fixed ramp over rows, columns and the diagonal) / pixel count (3 classes)."""

    w: torch.Tensor  # a buffer

    def __init__(self, size: int, scale: float = 40.0) -> None:
        super().__init__()
        rr, cc = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                                indexing="ij")
        w = torch.stack([rr / size, cc / size, (rr * size + cc) / size**2])  # R by row, G by column, B row-major
        self.register_buffer("w", w[None])
        self.scale = scale
        self.calls = 0
        self.images = 0
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images += x.shape[0]
        return self.scale * (x * self.w).mean(dim=(2, 3))
