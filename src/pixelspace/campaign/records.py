"""What a store keeps of an engine record (``AttackResult.to_records()``): the compact form.

The paper's full CIFAR-10 grid is 135,000 attacks, most of them targeted attacks that fail after 100
generations; stored whole, a row's fitness history and 17-digit floats alone take over 2 KB. A compact
record keeps every field the report, ``status`` and ``replay`` read, and

- writes each float as the shortest decimal that reads back as the same float32 (the engine's floats are
  float32 values, so nothing is lost),
- keeps ``fitness_history`` only where a figure draws it: attacks run without early stop (the Fig. 6 curve
  attacks) and 1-pixel untargeted attacks (what Fig. 6 falls back to in a store without curve attacks),
- leaves out ``seed``, which is a column of the row.

Stores record their form in ``meta.record_format``; a store without it holds full records and keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: ``meta.record_format`` of stores written with :func:`compact_record`.
COMPACT = "compact-1"


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return float(str(np.float32(value))) if np.isfinite(value) else value
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def keeps_history(early_stop: bool, pixels: int, mode: str) -> bool:
    """Whether a compact record keeps ``fitness_history`` (see the module docstring)."""
    return not early_stop or (pixels == 1 and mode == "untargeted")


def compact_record(record: Mapping[str, Any], *, early_stop: bool, pixels: int, mode: str) -> dict[str, Any]:
    """The compact form of one engine record (keys starting with ``_`` are left out as in the store)."""
    out = {k: _short(v) for k, v in record.items() if not k.startswith("_") and k != "seed"}
    if not keeps_history(early_stop, pixels, mode):
        out.pop("fitness_history", None)
    return out
