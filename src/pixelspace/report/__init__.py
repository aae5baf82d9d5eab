"""The report: the paper's metrics (Tables I–IV), figures (1, 3–6) and the Markdown/HTML report.

It reads only a results store (docs/store-schema.md) and never touches a model.
"""

from __future__ import annotations

from pixelspace.report.metrics import AttackRow, Store, load_store
from pixelspace.report.render import ReportPaths, write_report

__all__ = ["AttackRow", "ReportPaths", "Store", "load_store", "write_report"]
