"""pixelspace: region-constrained few-pixel adversarial attacks with Differential Evolution.

The public API::

    from pixelspace import PixelAttack, DEConfig, Untargeted, Targeted, Classifier
    attack = PixelAttack(pixels=1, region_mode="restrict", de=DEConfig())
    result = attack(model, images, Untargeted(labels), regions=masks, seed=0)

Names are imported lazily, so ``import pixelspace.search`` stays free of torch models, OpenCV and segmenters.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AttackResult": "pixelspace.attack.result",
    "PixelAttack": "pixelspace.attack.pixel_attack",
    "Targeted": "pixelspace.attack.objectives",
    "Untargeted": "pixelspace.attack.objectives",
    "Classifier": "pixelspace.models.classifier",
    "DEConfig": "pixelspace.search.de",
    "SparseRandomSearch": "pixelspace.attack.sparse_rs",
}

__all__ = ["AttackResult", "Classifier", "DEConfig", "PixelAttack", "SparseRandomSearch", "Targeted", "Untargeted", "__version__"]

if TYPE_CHECKING:
    from pixelspace.attack.objectives import Targeted, Untargeted
    from pixelspace.attack.pixel_attack import PixelAttack
    from pixelspace.attack.result import AttackResult
    from pixelspace.attack.sparse_rs import SparseRandomSearch
    from pixelspace.models.classifier import Classifier
    from pixelspace.search.de import DEConfig


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pixelspace' has no attribute {name!r}")
