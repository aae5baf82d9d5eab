"""pixelspace: region-constrained few-pixel adversarial attacks with Differential Evolution."""

from __future__ import annotations

__version__ = "0.1.0"
