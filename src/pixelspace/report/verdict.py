"""The paper's question as paired tests: is a network more vulnerable in the foreground than in the background?

Pure functions of stored rows (DE attacks or scan rows, 1 pixel or more, untargeted). Per network × pixels:

* "foreground close to whole": Newcombe's paired 95 % interval of whole − foreground lies inside
  ±``CLOSE_MARGIN`` × the whole-image rate ("close"); it lies wholly outside ("not close"); or it straddles the
  margin ("closeness not shown": the data neither establish nor exclude it);
* "background clearly lower": foreground − background is positive with a Holm-corrected exact McNemar
  p < ``ALPHA``, the correction taken over the verdict's fg − bg tests (one per network × pixels). Whole −
  background is shown beside it but is not tested: in a scan the background is part of the whole image, so no
  image can succeed in the background alone and that test can only come out one way;
* position controls: foreground − centre (a centred region of the foreground's size) and background − border
  (a border frame of the background's size), and foreground − random, Holm-corrected as one family of their own.

Every comparison carries its n and the smallest paired difference the exact McNemar test detects on n images with
80 % power at the strictest Holm step (``ALPHA`` / family size), so "not shown" can be read as "underpowered".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pixelspace.report import metrics, stats
from pixelspace.report.metrics import AttackRow, RegionDifference

ALPHA = 0.05
POWER = 0.8
CLOSE_MARGIN = 0.25  # relative to the whole-image rate (the paper's foreground lost 6.8 %, its background 54 %)
VERDICT_PAIRS = (("whole", "foreground"), ("whole", "background"), ("foreground", "background"))
CONTROL_PAIRS = (("foreground", "centre"), ("background", "border"), ("foreground", "random"))


@dataclass(frozen=True)
class Comparison:
    """One paired comparison A − B (Untargeted1) with its multiplicity-corrected p-value and power line.

    Attributes:
        diff: the paired difference (Newcombe interval, exact McNemar p, discordant counts, n).
        p_holm: the Holm-adjusted p-value within its family (None when the comparison is not tested).
        family: how many tests the Holm correction ran over.
        detectable: smallest |difference| (fraction) detected with 80 % power at ALPHA / family (NaN: none).
    """

    diff: RegionDifference
    p_holm: float | None
    family: int
    detectable: float

    @property
    def lower(self) -> bool:
        """B is significantly lower than A: a positive difference with Holm-adjusted p < ALPHA."""
        return self.diff.difference.value > 0 and self.p_holm is not None and self.p_holm < ALPHA

    @property
    def higher(self) -> bool:
        """B is significantly higher than A."""
        return self.diff.difference.value < 0 and self.p_holm is not None and self.p_holm < ALPHA


@dataclass(frozen=True)
class NetworkVerdict:
    """The verdict for one network × pixels on the images attacked in whole, foreground and background."""

    model: str
    pixels: int
    images: int
    whole_fg: Comparison
    whole_bg: Comparison
    fg_bg: Comparison

    @property
    def margin(self) -> float:
        """The closeness margin in fractions: CLOSE_MARGIN × the whole-image rate."""
        return CLOSE_MARGIN * self.whole_fg.diff.rate_a

    @property
    def close(self) -> bool:
        """Whole − foreground's interval lies inside ±margin (never with no whole-image success)."""
        iv, m = self.whole_fg.diff.difference, self.margin
        return m > 0 and math.isfinite(iv.low) and -m <= iv.low and iv.high <= m

    @property
    def closeness(self) -> str:
        """'close' (interval inside ±margin), 'not close' (wholly outside it) or 'not shown' (straddles it)."""
        iv, m = self.whole_fg.diff.difference, self.margin
        if self.close:
            return "close"
        if m > 0 and math.isfinite(iv.low) and (iv.low > m or iv.high < -m):
            return "not close"
        return "not shown"

    @property
    def lower(self) -> bool:
        """Background clearly lower than the foreground (Holm); whole − background is descriptive only."""
        return self.fg_bg.lower


def _with_power(diffs: Sequence[RegionDifference], p_holm: Sequence[float] | None) -> list[Comparison]:
    m = max(1, len(diffs))
    out = []
    for i, d in enumerate(diffs):
        psi = ((d.b or 0) + (d.c or 0)) / d.images if d.images else 0.0
        out.append(Comparison(d, None if p_holm is None else p_holm[i], m,
                              stats.detectable_difference(d.images, psi, ALPHA / m, POWER)))
    return out


def _diffs(rows: Sequence[AttackRow], pairs: Sequence[tuple[str, str]], seed: int) -> list[RegionDifference]:
    rel = [r for r in rows if r.mode == "untargeted"]
    out = []
    for model in sorted({r.model for r in rel}):
        for k in sorted({r.pixels for r in rel if r.model == model}):
            for a, b in pairs:
                d = metrics.region_difference(rel, model=model, pixels=k, region_a=a, region_b=b, seed=seed)
                if d is not None:
                    out.append(d)
    return out


def verdicts(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> list[NetworkVerdict]:
    """:class:`NetworkVerdict` per network × pixels with all three core regions (Holm over the fg − bg tests)."""
    by = {(d.model, d.pixels, d.region_a, d.region_b): d for d in _diffs(rows, VERDICT_PAIRS, seed)}
    keys = sorted({(m, k) for m, k, *_ in by if all((m, k, a, b) in by for a, b in VERDICT_PAIRS)})
    tested = [by[(m, k, "foreground", "background")] for m, k in keys]  # the Holm family: fg − bg only
    adjusted = stats.holm([d.p_value if d.p_value is not None else 1.0 for d in tested])
    comps = dict(zip(((d.model, d.pixels) for d in tested), _with_power(tested, adjusted), strict=True))
    out = []
    for m, k in keys:
        wf = by[(m, k, "whole", "foreground")]
        closeness = _with_power([wf], None)[0]
        bg1, bg2 = _with_power([by[(m, k, "whole", "background")]], None)[0], comps[(m, k)]
        images = min(wf.images, bg1.diff.images, bg2.diff.images)
        out.append(NetworkVerdict(m, k, images, closeness, bg1, bg2))
    return out


def controls(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> list[Comparison]:
    """Foreground − centre, background − border and foreground − random per network × pixels, one Holm family."""
    diffs = _diffs(rows, CONTROL_PAIRS, seed)
    adjusted = stats.holm([d.p_value if d.p_value is not None else 1.0 for d in diffs])
    return _with_power(diffs, adjusted)


def power_text(c: Comparison) -> str:
    """'n = 40: detects ≥ 21.8 pp (80 % power, α = 0.025)' or the reason it cannot."""
    level = ALPHA / c.family
    if not math.isfinite(c.detectable):
        return (f"n = {c.diff.images}: no difference is detectable with {POWER:.0%} power at α = {level:.3g} "
                "(too few images)")
    return f"n = {c.diff.images}: detects differences ≥ {100 * c.detectable:.1f} pp ({POWER:.0%} power, α = {level:.3g})"


def reading(c: Comparison) -> str:
    """'shown' (A − B > 0 after Holm), 'the opposite is shown', 'not shown; excludes A − B above X pp' (the
    interval's upper limit is below the detectable difference: the data bound the effect more tightly than the
    power line), 'not shown (underpowered)' (the observed |A − B| is below the detectable difference) or
    'not shown'."""
    if c.lower:
        return "shown"
    if c.higher:
        return "the opposite is shown"
    iv = c.diff.difference
    if math.isfinite(iv.high) and math.isfinite(c.detectable) and iv.high < c.detectable:
        return f"not shown; the interval excludes a difference above {100 * iv.high:+.1f} pp"
    obs = abs(iv.value)
    if not math.isfinite(c.detectable) or obs < c.detectable:
        return "not shown (underpowered)"
    return "not shown"
