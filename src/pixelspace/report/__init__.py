"""The report: the paper's metrics (Tables I–IV), figures (1, 3–6) and the Markdown/HTML report.

It reads only a results store (docs/store-schema.md) and never touches a model.
"""

from __future__ import annotations

import warnings
from typing import Any

from pixelspace.report.render import ReportPaths, write_report
from pixelspace.report.stored import AttackRow, StoreSnapshot, load_store

__all__ = ["AttackRow", "ReportPaths", "StoreSnapshot", "load_store", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "Store":  # the report's reader was called Store, like the campaign's writer
        warnings.warn("pixelspace.report.Store is now pixelspace.report.StoreSnapshot", DeprecationWarning,
                      stacklevel=2)
        return StoreSnapshot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
