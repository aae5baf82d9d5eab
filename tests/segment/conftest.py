"""Fixtures for the segmentation tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.segment.synthetic import synthetic


@pytest.fixture(scope="session")
def shapes() -> tuple[np.ndarray, np.ndarray]:
    """Three synthetic 32x32 images (3, 32, 32, 3) uint8 and their true masks (3, 32, 32) bool."""
    pairs = [synthetic("disc", seed=1), synthetic("square", seed=2, colour=(230, 200, 40)),
             synthetic("ellipse", seed=3, colour=(40, 60, 200))]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
