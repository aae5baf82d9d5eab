"""The verdict's text and tables (``docs/report.md``, "The verdict's rules"), from :mod:`pixelspace.report.verdict`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pixelspace.report import figures as figs
from pixelspace.report import metrics
from pixelspace.report import verdict as vd
from pixelspace.report.blocks import Block, Cell, FigureBlock, Note, Table, pct, pp, pvalue
from pixelspace.report.metrics import AttackRow
from pixelspace.report.verdict import Comparison, NetworkVerdict


def interval_pp(c: Comparison) -> str:
    """'+7.5 pp [−1.2, +15.0]' (the paired difference and its 95 % interval in percentage points)."""
    iv = c.diff.difference
    ci = f" [{100 * iv.low:+.1f}, {100 * iv.high:+.1f}]" if math.isfinite(iv.low) else ""
    return f"{pp(iv.value)}{ci}"


_CLOSENESS = {"close": "yes", "not close": "no", "not shown": "not shown"}


def _test_text(c: Comparison) -> str:
    return (f"{c.diff.region_a} − {c.diff.region_b} {interval_pp(c)}, p = {pvalue(c.diff.p_value)} "
            f"(Holm {pvalue(c.p_holm)}; {c.diff.b}/{c.diff.c} discordant)")


def _network_line(v: NetworkVerdict, what: str) -> str:
    d = v.whole_fg.diff
    m = f"±{100 * v.margin:.1f} pp"
    close = ("— (no whole-image success)" if v.margin == 0 else
             f"**yes**: whole − foreground {interval_pp(v.whole_fg)} lies inside {m}" if v.closeness == "close" else
             f"**no**: whole − foreground {interval_pp(v.whole_fg)} lies outside {m}" if v.closeness == "not close"
             else f"closeness not shown: whole − foreground {interval_pp(v.whole_fg)} straddles {m} (the estimate "
                  f"is {'inside' if abs(v.whole_fg.diff.difference.value) <= v.margin else 'outside'} the margin, "
                  "the interval crosses it)")
    lower = "**yes**" if v.lower else vd.reading(v.fg_bg)
    return (f"**{v.model}, {v.pixels} px** ({what}, n = {v.images} images): whole {pct(d.rate_a)}, foreground "
            f"{pct(d.rate_b)}, background {pct(v.fg_bg.diff.rate_b)}. Foreground close to whole: {close}. "
            f"Background clearly lower than the foreground: {lower} ({_test_text(v.fg_bg)}; whole − background "
            f"{interval_pp(v.whole_bg)}, not tested: the background is part of the whole image). "
            f"Power of foreground − background: {vd.power_text(v.fg_bg)}.")


def verdict_blocks(rows: Sequence[AttackRow], what: str, *,
                   what_by_pixels: Mapping[int, str] | None = None) -> list[Block]:
    """The verdict paragraph, one line per network × pixels, the tests table, the position controls and the rules.

    Args:
        rows: 1-pixel (or k-pixel) untargeted rows of one search (DE attacks or scan rows).
        what: how these rows were made, e.g. 'DE' or 'the scan'.
        what_by_pixels: how the rows of each pixel count were made, for the per-network lines (default: ``what``),
            when the pixel counts come from different searches.
    """
    vs = vd.verdicts(rows)
    out: list[Block] = []
    if not vs:
        out.append("The paper's pattern (foreground close to whole, background clearly lower): **not shown**; the "
                   "store holds no untargeted attacks on the whole image, foreground and background of the same "
                   "images.")
        return out

    def who(sel: Sequence[NetworkVerdict]) -> str:
        return ", ".join(f"{v.model} ({v.pixels} px)" for v in sel)

    both = [v for v in vs if v.close and v.lower]
    verdict = ("**shown** for every network and pixel count tested" if len(both) == len(vs) else
               f"**shown only in part** (for {who(both)})" if both else "**not shown**")
    text = (f"The paper's pattern, foreground success close to whole-image success and background clearly lower, is "
            f"{verdict} by the paired tests of Untargeted1 ({what}).")
    close = [v for v in vs if v.close]
    lower = [v for v in vs if v.lower]
    text += (f" Foreground close to whole: {'shown for ' + who(close) if close else 'not shown'}"
             f"{'; not shown for ' + who([v for v in vs if not v.close]) if close and len(close) < len(vs) else ''}.")
    text += (f" Background clearly lower than the foreground: {'shown for ' + who(lower) if lower else 'not shown'}"
             f"{'; not shown for ' + who([v for v in vs if not v.lower]) if lower and len(lower) < len(vs) else ''}.")
    out.append(text)
    out += [_network_line(v, (what_by_pixels or {}).get(v.pixels, what)) for v in vs]
    table: list[list[Cell]] = []
    for v in vs:
        d = v.whole_fg.diff
        table.append([v.model, str(v.pixels), str(v.images),
                      f"{pct(d.rate_a)} / {pct(d.rate_b)} / {pct(v.fg_bg.diff.rate_b)}", interval_pp(v.whole_fg),
                      f"{_CLOSENESS[v.closeness]} (±{100 * v.margin:.1f} pp)" if v.margin > 0 else
                      "— (no whole-image success)",
                      [interval_pp(v.whole_bg), "not tested"],
                      [interval_pp(v.fg_bg), f"p = {pvalue(v.fg_bg.diff.p_value)}, Holm {pvalue(v.fg_bg.p_holm)}"],
                      "yes" if v.lower else "no", f"{100 * v.fg_bg.detectable:.1f} pp"
                      if math.isfinite(v.fg_bg.detectable) else "none"])
    out.append(Table(
        f"The paired tests behind this verdict (Untargeted1, {what}; images attacked in all three regions): rates, "
        "paired differences with Newcombe 95 % intervals, exact McNemar p (raw) and Holm-corrected over the "
        f"{len(vs)} foreground − background tests, and the smallest foreground − background difference this n "
        "detects with 80 % power. Whole − background is shown, not tested: the background is part of the whole "
        "image, so no image can succeed in the background alone.",
        ["network", "pixels", "images", "whole / fg / bg", "whole − fg [95 %]", "fg close to whole?",
         "whole − bg", "fg − bg", "bg clearly lower?", "detectable fg − bg"], table))
    out += control_blocks(rows, what)
    out.append(Note(
        f"Rules: 'clearly lower' needs foreground − background positive with an exact McNemar p < {vd.ALPHA} after a "
        f"Holm correction over the verdict's {len(vs)} such tests (raw p beside it); whole − background is not "
        "tested, since in a scan it cannot have an image where only the background succeeds. 'Close' needs "
        f"Newcombe's paired 95 % score interval of whole − foreground inside ±{vd.CLOSE_MARGIN:.0%} of the "
        "whole-image rate (the paper's foreground lost 6.8 % relative, its background 54 %); 'no' needs it wholly "
        "outside; an interval that straddles the margin is 'not shown'. 'Detects' is the smallest paired difference "
        "the exact McNemar test finds with 80 % power on these n images at the strictest Holm step (α / number of "
        "tests), with the observed share of discordant images. A difference not shown is reported as the bound its "
        "interval sets ('excludes a difference above X pp') when that bound is below the detectable difference, "
        "else as 'not shown (underpowered)'."))
    return out


def control_blocks(rows: Sequence[AttackRow], what: str) -> list[Block]:
    """Foreground − centre, background − border and foreground − random: sentences and a table (empty without
    control regions)."""
    comps = vd.controls(rows)
    if not comps:
        return []
    body: list[list[Cell]] = []
    for c in comps:
        d = c.diff
        body.append([d.model, str(d.pixels), f"{d.region_a} − {d.region_b}", str(d.images),
                     f"{pct(d.rate_a)} vs {pct(d.rate_b)}", interval_pp(c),
                     f"{pvalue(d.p_value)} / {pvalue(c.p_holm)}",
                     f"{100 * c.detectable:.1f} pp" if math.isfinite(c.detectable) else "none", vd.reading(c)])
    out: list[Block] = []
    questions = (("foreground", "centre", "Does the foreground beat a centred region of the same size?", "lower"),
                 ("background", "border", "Does the background lose to a border frame of the same size?", "higher"))
    for a, b, q, direction in questions:
        sel = [c for c in comps if (c.diff.region_a, c.diff.region_b) == (a, b)]
        if not sel:
            continue
        parts = []
        for c in sel:
            hit = c.lower if direction == "lower" else c.higher
            ans = "yes" if hit else ("the opposite" if (c.higher if direction == "lower" else c.lower) else
                                     _not_shown(c, direction))
            parts.append(f"{c.diff.model} {c.diff.pixels} px: {ans} ({interval_pp(c)}, n = {c.diff.images})")
        out.append(f"{q} " + "; ".join(parts) + ".")
    out.append(Table(
        f"Position and area controls (Untargeted1, {what}, paired): `centre` is a centred region with the "
        "foreground's pixel count, `border` a frame at the image border with the background's, `random` a seeded "
        "random mask with the foreground's. Newcombe 95 % intervals; exact McNemar p raw / Holm-corrected over the "
        f"{len(comps)} control tests; the smallest difference detectable with 80 % power.",
        ["network", "pixels", "A − B", "images", "A vs B", "difference [95 %]", "p / Holm p", "detectable",
         "A above B?"], body))
    return out


def _not_shown(c: Comparison, direction: str) -> str:
    """'not shown', with the bound a narrow interval sets in the direction asked, else '(underpowered)'."""
    iv = c.diff.difference
    bound = iv.high if direction == "lower" else -iv.low
    if math.isfinite(bound) and math.isfinite(c.detectable) and bound < c.detectable:
        side = "above" if direction == "lower" else "below"
        limit = 100 * (iv.high if direction == "lower" else iv.low)
        return f"not shown; the interval excludes {c.diff.region_a} − {c.diff.region_b} {side} {limit:+.1f} pp"
    return "not shown (underpowered)" if "underpowered" in vd.reading(c) else "not shown"


GLANCE_DIFFERENCES = (("foreground", "background"), ("foreground", "centre"), ("background", "border"))


GlanceRates = dict[str, list[tuple[str, float, float, float, int]]]
GlanceDiffs = dict[str, list[tuple[str, float, float, float]]]


def glance_series(rows: Sequence[AttackRow], pixels: int) -> tuple[GlanceRates, GlanceDiffs]:
    """What the at-a-glance figure draws for one search's untargeted ``rows`` at ``pixels``: per network, each
    region's Untargeted1 (region, rate, Wilson low, high, n) and each pair of :data:`GLANCE_DIFFERENCES` the
    rows allow (label with n, difference, Newcombe low, high); rates as fractions."""
    rates: GlanceRates = {}
    diffs: GlanceDiffs = {}
    for model in sorted({r.model for r in rows}):
        mine = [r for r in rows if r.model == model]
        for g in metrics.region_order(r.region for r in mine):
            rate = metrics.untargeted1(metrics.select(mine, region=g))
            rates.setdefault(model, []).append((g, rate.value, rate.low, rate.high, rate.total))
        for a, b in GLANCE_DIFFERENCES:
            d = metrics.region_difference(mine, model=model, pixels=pixels, region_a=a, region_b=b)
            if d is not None:
                iv = d.difference
                diffs.setdefault(model, []).append((f"{a} − {b} (n={d.images})", iv.value, iv.low, iv.high))
    return rates, diffs


def at_a_glance(searches: Mapping[str, Sequence[AttackRow]]) -> FigureBlock | None:
    """The report's opening figure from the 1-pixel untargeted rows of each search (``{"DE": rows, "sparse
    random search": rows}``, drawn side by side); None when no search has such rows."""
    rates: dict[str, GlanceRates] = {}
    diffs: dict[str, GlanceDiffs] = {}
    for what, rows in searches.items():
        rel = [r for r in rows if r.mode == "untargeted" and r.pixels == 1]
        if not rel:
            continue
        rates[what], diffs[what] = glance_series(rel, 1)
    if not rates:
        return None
    names = list(rates)
    what = " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]
    fig = figs.figure_at_a_glance(rates, diffs, f"1-pixel untargeted success ({what})")
    if fig is None:
        return None
    drawn = [f"{a} − {b}" for a, b in GLANCE_DIFFERENCES
             if any(label.startswith(f"{a} − {b} ") for per in diffs.values() for ds in per.values()
                    for label, *_ in ds)]
    pairs = (", ".join(drawn[:-1]) + " and " + drawn[-1]) if len(drawn) > 1 else "".join(drawn)
    return FigureBlock(
        "fig0_at_a_glance", figs.figure_png(fig),
        f"The answer at a glance ({what}, 1 pixel, untargeted): per network, the success rate of every region and "
        "control with its Wilson 95 % interval (top; the axis spans the data, not 0–100 %)"
        + (f", and the paired difference{'s' if len(drawn) > 1 else ''} {pairs} with Newcombe 95 % intervals "
           "(bottom; an interval clear of the dashed zero line is a difference these images resolve)" if drawn
           else "; no two regions share images yet, so no paired difference is drawn")
        + (f". Each search is drawn with its own marker (legend), {names[0]} above." if len(names) > 1 else "."))
