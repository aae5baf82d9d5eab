"""The report's building blocks (tables, figures, notes, sections) and how numbers are written in them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pixelspace.report.metrics import MeanValue, Rate, RegionDifference

Cell = str | list[str]  # a list is rendered as separate lines in one cell


@dataclass
class Table:
    """A table: caption, header and rows of cells (plain text); a ``folded`` table is shown collapsed (HTML
    ``<details>``, its caption as the summary), for detail that would push the findings off the first screen."""

    caption: str
    header: list[str]
    rows: list[list[Cell]]
    folded: bool = False


@dataclass
class FigureBlock:
    """A figure: file stem, PNG bytes and caption."""

    name: str
    png: bytes
    caption: str


@dataclass
class Note:
    """A remark set apart from the text (missing data, caveats)."""

    text: str


@dataclass
class Code:
    """A preformatted block (collapsed in HTML) with a summary line."""

    summary: str
    text: str


Block = str | Table | FigureBlock | Note | Code


@dataclass
class Section:
    """A titled section of blocks (a ``str`` block is a paragraph)."""

    title: str
    blocks: list[Block] = field(default_factory=list)



# ----------------------------------------------------------------------------------- formatting


def nozero(text: str) -> str:
    """'-0.0' -> '0.0' (a rounded tiny negative is not a signed result)."""
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text


def fixed(x: float, digits: int = 1) -> str:
    """``x`` with ``digits`` decimals, or with two significant digits when those decimals would round a non-zero
    value to zero (0.0012 -> '0.0012', not '0.0'); never in scientific notation."""
    if x != 0 and math.isfinite(x) and abs(x) < 0.5 * 10.0**-digits:
        return f"{x:.{1 - math.floor(math.log10(abs(x)))}f}".rstrip("0")
    return nozero(f"{x:.{digits}f}")


def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage ('—' when missing); a small non-zero value keeps two significant digits."""
    return "—" if x is None or not math.isfinite(x) else f"{fixed(100 * x, digits)}%"


def interval(lo: float, hi: float) -> str:
    """A 95 % interval of fractions, in percent (empty when undefined); small non-zero limits keep two
    significant digits, so no interval of non-zero values reads [0.0, 0.0]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"[{fixed(100 * lo)}, {fixed(100 * hi)}]"


def rate_cell(r: Rate, unit: str = "") -> Cell:
    """A rate with its count and interval."""
    if r.total == 0:
        return "—"
    extra = f" on {r.images} img" if unit else ""
    return [f"{pct(r.value)} ({r.successes}/{r.total}{unit}{extra})", interval(r.low, r.high)]


MIN_MEAN_COUNT = 5  # below this many values a bootstrap interval of a mean is degenerate: shown as "n < 5"


def mean_cell(m: MeanValue) -> Cell:
    """A mean percentage with its count and interval ("n < 5" instead of an interval from fewer than 5 values)."""
    if m.count == 0:
        return "—"
    if m.count < MIN_MEAN_COUNT:
        return [f"{pct(m.value)} (n={m.count})", f"n < {MIN_MEAN_COUNT}: no interval"]
    return [f"{pct(m.value)} (n={m.count})", interval(m.low, m.high)]


def pvalue(p: float | None) -> str:
    """A p-value to three significant digits."""
    if p is None:
        return "—"
    return "<0.0001" if p < 1e-4 else f"{p:.3g}"


def pp(x: float) -> str:
    """A signed difference of fractions in percentage points."""
    return f"{100 * x:+.1f} pp"


def diff_cell(d: RegionDifference) -> Cell:
    """A paired difference in percentage points with its interval."""
    iv = d.difference
    return [pp(iv.value), f"[{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]" if math.isfinite(iv.low) else ""]
