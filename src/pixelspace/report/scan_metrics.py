"""Scan results as pure functions of stored rows and maps (``docs/scan.md``); nothing here touches a model.

* :func:`scan_vs_de`: per network × region, the scan's exact success (for its colour set) beside DE's on the
  same images, paired (only-scan / only-DE images, exact McNemar).
* :func:`distance_profile`: flipping pixels (and all scanned pixels) by signed distance to the foreground
  outline, in chessboard pixels: −1 is the foreground's outer ring, +1 the background ring touching it.
* :func:`boundary_shift`: foreground and background scan success with the foreground eroded or dilated by
  1 and 2 pixels (3×3 square steps, the same metric), paired fg − bg at each shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pixelspace.outcomes import VulnerabilityMap  # the store's map type: the report imports no model code
from pixelspace.report import stats
from pixelspace.report.metrics import AttackRow, Rate, attack_succeeded, region_order
from pixelspace.report.metrics import wilson_rate as _wilson_rate

#: Signed-distance bands of :func:`distance_profile`: (label, low, high) inclusive, in pixels.
DISTANCE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("inside ≥4", -10**6, -4), ("inside 3", -3, -3), ("inside 2", -2, -2), ("edge (inside 1)", -1, -1),
    ("edge (outside 1)", 1, 1), ("outside 2", 2, 2), ("outside 3", 3, 3), ("outside ≥4", 4, 10**6),
)
SHIFTS = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class ScanVsDE:
    """One network × region: the scan and DE on the images both covered.

    Attributes:
        images: images with a scan row and a 1-pixel untargeted DE row.
        scan, de: success rates with Wilson intervals on those images.
        scan_only, de_only: images only the scan / only DE fooled; p_value: exact McNemar of the two.
        flipping_pixels, reachable_classes: means per image (scan); scan_queries, de_queries: mean queries per
            image (the scan's for this region alone, DE's as recorded).
        scan_images: images with a scan row (DE or not) and scan_all: the scan's rate on all of them.
    """

    model: str
    region: str
    images: int
    scan: Rate
    de: Rate
    scan_only: int
    de_only: int
    p_value: float | None
    flipping_pixels: float
    reachable_classes: float
    scan_queries: float
    de_queries: float
    scan_images: int
    scan_all: Rate


def scan_vs_de(scan_rows: Sequence[AttackRow], de_rows: Sequence[AttackRow]) -> list[ScanVsDE]:
    """:class:`ScanVsDE` per network × region of ``scan_rows`` (DE: its 1-pixel untargeted rows)."""
    de = {(r.model, r.region, r.image_id): r for r in de_rows if r.pixels == 1 and r.mode == "untargeted"}
    cells: dict[tuple[str, str], list[AttackRow]] = {}
    for r in scan_rows:
        cells.setdefault((r.model, r.region), []).append(r)
    out = []
    order = {g: i for i, g in enumerate(region_order(r.region for r in scan_rows))}
    for (model, region), rows in sorted(cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        paired = [(r, de[(model, region, r.image_id)]) for r in rows if (model, region, r.image_id) in de]
        s = np.array([r.success for r, _ in paired], dtype=bool)
        d = np.array([attack_succeeded(x) for _, x in paired], dtype=bool)
        b, c = stats.discordant_pairs(s, d) if paired else (0, 0)
        out.append(ScanVsDE(
            model, region, len(paired), _wilson_rate(int(s.sum()), len(paired)),
            _wilson_rate(int(d.sum()), len(paired)), b, c, stats.mcnemar_exact(b, c) if paired else None,
            float(np.mean([r.record.get("flipping_pixels", 0) for r in rows])),
            float(np.mean([len(r.record.get("reachable_classes", [])) for r in rows])),
            float(np.mean([r.queries for r in rows])),
            float(np.mean([x.queries for _, x in paired])) if paired else float("nan"),
            len(rows), _wilson_rate(sum(r.success for r in rows), len(rows)),
        ))
    return out


def reachable_distribution(rows: Sequence[AttackRow], n_classes: int) -> np.ndarray:
    """int (n_classes,): images whose scan reaches 0 … n_classes−1 other classes (Fig. 3 from the maps)."""
    counts = np.zeros(n_classes, dtype=np.int64)
    for r in rows:
        counts[min(len(r.record.get("reachable_classes", [])), n_classes - 1)] += 1
    return counts


def signed_distance(foreground: np.ndarray) -> np.ndarray:
    """int (H, W): chessboard distance to the other side of the outline, negative inside the foreground.

    A foreground pixel with a background 8-neighbour is −1, a background pixel with a foreground 8-neighbour
    +1 (so eroding the foreground by n removes the bands −1 … −n, dilating by n adds +1 … +n). With no
    foreground (or no background) every pixel gets ±(H + W).
    """
    import cv2

    fg = np.ascontiguousarray(foreground, dtype=bool)
    h, w = fg.shape
    if fg.all() or not fg.any():
        return np.full((h, w), -(h + w) if fg.all() else h + w, dtype=np.int64)
    d_in = cv2.distanceTransform(fg.astype(np.uint8), cv2.DIST_C, 3)  # to the nearest background pixel
    d_out = cv2.distanceTransform((~fg).astype(np.uint8), cv2.DIST_C, 3)  # to the nearest foreground pixel
    return np.where(fg, -np.rint(d_in), np.rint(d_out)).astype(np.int64)


def shift_foreground(foreground: np.ndarray, pixels: int) -> np.ndarray:
    """bool (H, W): the foreground dilated (``pixels`` > 0) or eroded (< 0) by ``|pixels|`` 3×3 steps."""
    d = signed_distance(foreground)
    return d <= pixels if pixels > 0 else d <= -1 + pixels if pixels < 0 else np.asarray(foreground, dtype=bool)


@dataclass(frozen=True)
class DistanceBand:
    """One signed-distance band over a set of maps: pixels scanned in it and how many of them flip."""

    label: str
    pixels: int
    flipping: int

    @property
    def flip_rate(self) -> float:
        """Share of the band's pixels that flip (NaN when empty)."""
        return self.flipping / self.pixels if self.pixels else float("nan")


def distance_profile(
    maps: Sequence[VulnerabilityMap], foregrounds: Sequence[np.ndarray],
    bands: Sequence[tuple[str, int, int]] = DISTANCE_BANDS,
) -> list[DistanceBand]:
    """Scanned and flipping pixels per band of :func:`signed_distance`, summed over the images."""
    totals = np.zeros((len(bands), 2), dtype=np.int64)
    for vmap, fg in zip(maps, foregrounds, strict=True):
        d = signed_distance(fg)
        for i, (_, lo, hi) in enumerate(bands):
            band = (d >= lo) & (d <= hi) & vmap.scanned
            totals[i] += (int(band.sum()), int((band & vmap.flips).sum()))
    return [DistanceBand(label, int(n), int(k)) for (label, _, _), (n, k) in zip(bands, totals, strict=True)]


@dataclass(frozen=True)
class BoundaryShift:
    """Scan success in the shifted foreground and its complement, on the same images.

    Attributes:
        shift: pixels of dilation (> 0) or erosion (< 0); images: maps counted (a shift that empties a region
            leaves that image out of both rates); foreground, background: success rates; difference: fg − bg
            with Newcombe's paired score interval; fg_only, bg_only: discordant images; p_value: exact McNemar.
    """

    shift: int
    images: int
    foreground: Rate
    background: Rate
    difference: stats.Interval
    fg_only: int
    bg_only: int
    p_value: float | None


def boundary_shift(
    maps: Sequence[VulnerabilityMap], foregrounds: Sequence[np.ndarray], shifts: Sequence[int] = SHIFTS,
    *, seed: int = stats.DEFAULT_SEED,
) -> list[BoundaryShift]:
    """:class:`BoundaryShift` for each shift; regions count the scanned pixels of each map only."""
    out = []
    for s in shifts:
        fg_ok, bg_ok = [], []
        for vmap, fg in zip(maps, foregrounds, strict=True):
            f = shift_foreground(fg, s) & vmap.scanned
            b = ~shift_foreground(fg, s) & vmap.scanned
            if not f.any() or not b.any():
                continue
            flips = vmap.flips
            fg_ok.append(bool((flips & f).any()))
            bg_ok.append(bool((flips & b).any()))
        a, b_arr = np.array(fg_ok, dtype=bool), np.array(bg_ok, dtype=bool)
        n1, n2 = stats.discordant_pairs(a, b_arr) if a.size else (0, 0)
        both = int(np.sum(a & b_arr))
        diff = stats.paired_difference_newcombe(both, n1, n2, int(a.size) - both - n1 - n2)
        out.append(BoundaryShift(int(s), int(a.size), _wilson_rate(int(a.sum()), int(a.size)),
                                 _wilson_rate(int(b_arr.sum()), int(b_arr.size)), diff, n1, n2,
                                 stats.mcnemar_exact(n1, n2) if a.size else None))
    return out


def maps_with_foregrounds(
    scans: Mapping[tuple[str, str], VulnerabilityMap], foregrounds: Mapping[str, np.ndarray], model: str,
) -> tuple[list[VulnerabilityMap], list[np.ndarray]]:
    """The maps of one network whose images have a foreground mask, and those masks, in image order."""
    ids = sorted(i for (m, i) in scans if m == model and i in foregrounds)
    return [scans[(model, i)] for i in ids], [foregrounds[i] for i in ids]


@dataclass(frozen=True)
class ScanCell:
    """Table II from the scan for one network × region.

    Attributes:
        untargeted1: images with a flipping pixel in the region / images scanned (Wilson).
        per_target: (n_classes,) images whose region holds a pixel (and corner colour) that sends the image to
            that class; eligible: (n_classes,) images whose clean class is another class (the denominators).
    """

    model: str
    region: str
    untargeted1: Rate
    per_target: np.ndarray
    eligible: np.ndarray


def scan_table2(rows: Sequence[AttackRow], n_classes: int) -> list[ScanCell]:
    """:class:`ScanCell` per network × region of scan rows (each row's ``reachable_classes`` and ``label``)."""
    order = {g: i for i, g in enumerate(region_order(r.region for r in rows))}
    cells: dict[tuple[str, str], list[AttackRow]] = {}
    for r in rows:
        cells.setdefault((r.model, r.region), []).append(r)
    out = []
    for (model, region), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
        reached = np.zeros(n_classes, dtype=np.int64)
        eligible = np.zeros(n_classes, dtype=np.int64)
        for r in rs:
            label = int(r.record.get("label", -1))
            eligible += np.arange(n_classes) != label
            for c in r.record.get("reachable_classes", []):
                if 0 <= int(c) < n_classes and int(c) != label:
                    reached[int(c)] += 1
        out.append(ScanCell(model, region, _wilson_rate(sum(bool(r.success) for r in rs), len(rs)), reached,
                            eligible))
    return out


@dataclass(frozen=True)
class FlipDensity:
    """Per-pixel flip density of one network: the share of a region's pixels with a flipping colour.

    Attributes:
        by_region: region -> mean over images of that image's flipping share, with a bootstrap-over-images
            interval.
        paired: (region A, region B) -> mean over images of share_A − share_B, paired bootstrap over images.
        images: images with every region in ``by_region`` (the paired sample).
    """

    model: str
    images: int
    by_region: dict[str, stats.Interval]
    paired: dict[tuple[str, str], stats.Interval]


DENSITY_PAIRS = (("foreground", "background"), ("foreground", "centre"), ("background", "border"),
                 ("foreground", "random"))


def flip_density(rows: Sequence[AttackRow], *, seed: int = stats.DEFAULT_SEED) -> list[FlipDensity]:
    """:class:`FlipDensity` per network from scan rows (``flipping_pixels`` / ``region_size`` of each row).

    Only images with a row in every region the network was scanned in count, so regions share one sample.
    """
    out = []
    for model in sorted({r.model for r in rows}):
        share: dict[str, dict[str, float]] = {}
        for r in rows:
            if r.model == model and int(r.record.get("region_size", 0)) > 0:
                share.setdefault(r.region, {})[r.image_id] = (
                    float(r.record.get("flipping_pixels", 0)) / float(r.record["region_size"]))
        regions = region_order(share)
        ids = sorted(set.intersection(*(set(share[g]) for g in regions))) if regions else []
        by_region = {g: stats.bootstrap_mean([share[g][i] for i in ids], seed=seed) for g in regions}
        paired = {(a, b): stats.bootstrap_paired_difference([share[a][i] for i in ids], [share[b][i] for i in ids],
                                                            seed=seed)
                  for a, b in DENSITY_PAIRS if a in share and b in share}
        out.append(FlipDensity(model, len(ids), by_region, paired))
    return out
