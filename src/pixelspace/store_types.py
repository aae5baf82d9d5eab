"""Deprecated: the types this module held are in :mod:`pixelspace.outcomes` (its name said "store" while the
attack imports them). Importing this module warns once and re-exports them."""

from __future__ import annotations

import warnings

from pixelspace.outcomes import ATTACK_COLUMNS, AttackIdentity, AttackRow, VulnerabilityMap

__all__ = ["ATTACK_COLUMNS", "AttackIdentity", "AttackRow", "VulnerabilityMap"]

warnings.warn("pixelspace.store_types is now pixelspace.outcomes", DeprecationWarning, stacklevel=2)
