"""A report of one store joined with another store of the same images (`pixelspace report STORE --with OTHER`):
Table II at every pixel count with its search, the paired tests per k, the pattern with k, Figs 3 and 5 per k,
and the refusals when the stores are not of the same images."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from pixelspace.errors import StoreError
from pixelspace.outcomes import AttackRow
from pixelspace.report import load_store, write_report
from pixelspace.report import pixel_counts as pc
from pixelspace.report import pixel_counts_section as pcs
from pixelspace.report.joined import join_stores
from pixelspace.report.render import ReportPaths
from tests.report.joined_factory import make_scan_store, make_sparse_store


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A scan of 10 images (1 px) and a sparse search of the first 8 of them (3 and 5 px; targets on 3)."""
    root = tmp_path_factory.mktemp("joined")
    return (make_scan_store(root / "scan.sqlite", n_images=10),
            make_sparse_store(root / "sparse.sqlite", n_images=8, targeted_images=3))


@pytest.fixture(scope="module")
def joined(pair: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    scan, sparse = pair
    return write_report(sparse, tmp_path_factory.mktemp("joined-out") / "out", with_store=scan)


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}")[1].split("\n## ")[0]


def _table_rows(text: str) -> dict[tuple[str, ...], list[str]]:
    """Markdown table rows of ``text`` by their first three cells."""
    out = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| network") and "---" not in line:
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[tuple(cells[:3])] = cells
    return out


# ----------------------------------------------------------------------------------------- the report


def test_table2_has_every_pixel_count_with_its_search_n_and_interval(joined: ReportPaths) -> None:
    md = joined.markdown.read_text(encoding="utf-8")
    assert md.splitlines()[0] == "# pixelspace report: fake-sparse with fake-scan (JPEG-CIFAR-10)"
    rows = _table_rows(_section(md, "Table II at k = 1, 3 and 5: every pixel count, every search"))
    # 2 networks x 5 regions x 3 pixel counts, one search each
    assert len(rows) == 30
    k1 = rows[("allconv-cifar10", "foreground", "1")]
    assert k1[3] == "the scan<br>fake-scan"
    # the scan on the 8 images both stores selected (not its 10): foreground fooled on images 0-4
    assert k1[4] == "62.5% (5/8)<br>[30.6, 86.3]<br>paper 11.80%"
    # its targets: images 0, 2, 4 reach two classes, 1 and 3 one: 8 of 8 x 9 pairs
    assert k1[7].startswith("11.1% (8/72 pairs on 8 img)<br>[")
    assert k1[5].startswith("— (the scan records none)")
    k3 = rows[("allconv-cifar10", "foreground", "3")]
    assert k3[3] == "sparse random search<br>fake-sparse"
    assert k3[4].startswith("75.0% (6/8)<br>[40.9, 92.9]<br>paper 40.20%")
    # targets 0, 3, 6, 9 (not the clean class) on images 0-2: 3 + 4 + 4 of 27
    assert k3[7].startswith("40.7% (11/27 attacks on 3 img)<br>[")
    assert rows[("nin-cifar10", "background", "5")][4].startswith("37.5% (3/8)")
    caption = _section(md, "Table II at k = 1, 3 and 5: every pixel count, every search")
    assert "ours are not DE" in caption and "docs/sparse-rs.md" in caption and "docs/scan.md" in caption
    assert "at most 1000 queries per attack" in caption and "8 corners of the RGB cube" in caption


def test_the_first_screen_names_the_join_and_tests_every_pixel_count(joined: ReportPaths) -> None:
    md = joined.markdown.read_text(encoding="utf-8")
    first = _section(md, "What this run shows")
    assert "Joined with the store of campaign `fake-scan` (scan.sqlite): 8 images" in first
    assert "2 selected only by fake-scan" in first
    assert "masks of the regions both attacked (background, border, centre, foreground, whole)" in first
    assert first.index("pattern, foreground success close") < first.index("fig0_at_a_glance_by_k")
    # the per-network lines name the search of their pixel count
    assert "**allconv-cifar10, 1 px** (the scan, n = 8 images)" in first
    assert "**allconv-cifar10, 5 px** (sparse random search, n = 8 images)" in first
    # one Holm family over the 2 networks x 3 pixel counts, the controls in another (fg-centre, bg-border)
    assert "Holm-corrected over the 6 foreground − background tests" in first
    assert "Holm-corrected over the 12 control tests" in first
    tests = _table_rows(first)
    assert tests[("allconv-cifar10", "3", "8")][7].startswith("+50.0 pp [")


def test_the_pattern_with_k_sets_the_pixel_counts_side_by_side(joined: ReportPaths) -> None:
    md = joined.markdown.read_text(encoding="utf-8")
    sec = _section(md, "Does the pattern grow or vanish with k?")
    assert "| difference | 1 px (the scan) | 3 px (sparse random search) | 5 px (sparse random search) |" in sec
    line = next(x for x in sec.splitlines() if x.startswith("| foreground − centre"))
    cells = line.strip("|").split(" | ")
    # foreground 5/6/7 of 8 images against centre 3/4/5: +25 pp at every k, each with its n and rates
    for cell, (fg, ctr) in zip(cells[1:], (("62.5%", "37.5%"), ("75.0%", "50.0%"), ("87.5%", "62.5%")), strict=True):
        assert cell.startswith("+25.0 pp [") and f"n = 8: {fg} vs {ctr}" in cell and "Holm" in cell


def test_figs_3_and_5_for_every_pixel_count(joined: ReportPaths) -> None:
    names = sorted(p.stem for p in joined.figures)
    assert names == ["fig0_at_a_glance_by_k", "fig3_targets_reached_by_k", "fig5_targeted_pairs_k1",
                     "fig5_targeted_pairs_k3", "fig5_targeted_pairs_k5"]
    md = joined.markdown.read_text(encoding="utf-8")
    assert "Fig. 5 at 1 pixel from the scan (fake-scan; n = 8 images per panel)" in md
    assert "Fig. 5 at 3 pixels from sparse random search (fake-sparse; n = 3 images per panel)" in md
    for p in joined.figures:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_the_store_alone_has_none_of_it(pair: tuple[Path, Path], tmp_path: Path) -> None:
    _, sparse = pair
    md = write_report(sparse, tmp_path / "alone").markdown.read_text(encoding="utf-8")
    assert "Table II at k =" not in md and "Joined with" not in md and "grow or vanish" not in md


def test_cli_with(tmp_path: Path) -> None:
    small = {"models": ("nin-cifar10",), "regions": ("whole", "foreground", "background"), "n_images": 4}
    scan = make_scan_store(tmp_path / "scan.sqlite", **small)  # type: ignore[arg-type]
    sparse = make_sparse_store(tmp_path / "sparse.sqlite", targeted_images=0, **small)  # type: ignore[arg-type]
    ok = CliRunner().invoke(cli, ["report", str(sparse), "--with", str(scan), "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert "3 figures" in ok.output  # the opening figure, Fig. 3 and Fig. 5 at 1 px (the sparse rows have no targets)
    twice = CliRunner().invoke(cli, ["report", str(sparse), "--with", str(sparse), "--out", str(tmp_path / "o2")])
    assert twice.exit_code != 0 and "sparse-rs at 3 px, sparse-rs at 5 px" in twice.output
    assert not (tmp_path / "o2").exists()


# ------------------------------------------------------------------------------------------ refusals


def _edit(src: Path, dst: Path, *sql: str) -> Path:
    shutil.copy(src, dst)
    con = sqlite3.connect(dst)
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()
    return dst


@pytest.mark.parametrize(("sql", "message"), [
    (("UPDATE meta SET value = 'CIFAR-10' WHERE key = 'dataset'",),
     "the dataset differs (fake-sparse: 'JPEG-CIFAR-10', fake-scan: 'CIFAR-10')"),
    (("UPDATE masks SET mask_hash = 'other' WHERE image_id = 'img003' AND region = 'centre'",),
     "the masks differ for 1 (image, region) pair(s) that both stores attacked, e.g. img003 centre"),
    (("UPDATE images SET label = 9 WHERE image_id = 'img002'",), "1 shared image id(s) have another label (img002)"),
    (("UPDATE models SET weights_hash = 'sha256:other' WHERE model = 'nin-cifar10'",),
     "network(s) nin-cifar10 have other weights"),
    (("UPDATE images SET image_id = 'x' || image_id", "UPDATE attacks SET image_id = 'x' || image_id"),
     "they share no selected image"),
])
def test_stores_of_other_images_are_refused(pair: tuple[Path, Path], tmp_path: Path, sql: tuple[str, ...],
                                            message: str) -> None:
    scan, sparse = pair
    other = _edit(scan, tmp_path / "scan.sqlite", *sql)
    with pytest.raises(StoreError) as err:
        write_report(sparse, tmp_path / "out", with_store=other)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_mask_of_a_region_only_one_store_attacked_is_not_compared(pair: tuple[Path, Path], tmp_path: Path) -> None:
    scan, sparse = pair
    other = _edit(scan, tmp_path / "scan.sqlite", "UPDATE masks SET mask_hash = 'other' WHERE region = 'centre'",
                  "DELETE FROM attacks WHERE region = 'centre'")
    j = join_stores(load_store(sparse), load_store(other), sparse, other)
    assert j.regions == ("background", "border", "foreground", "whole") and len(j.images) == 8
    assert (j.only_here, j.only_there) == (0, 2)


# ------------------------------------------------------------------------------------ pure functions


def _row(model: str, region: str, image: int, ok: bool, k: int, search: str, *, mode: str = "untargeted",
         target: int = -1, reach: tuple[int, ...] = ()) -> AttackRow:
    rec = {"success": ok, "label": 0, "predicted": (target if mode == "targeted" else 1) if ok else 0,
           "search": search, "reachable_classes": list(reach), "confidence": 0.6, "target_probability": 0.5}
    return AttackRow(f"{search}{model}{region}{image}{k}{target}", model, f"i{image:03d}", region, k, mode, target,
                     record=rec)


def test_scan_targets_and_class_pairs_count_reachable_classes_only() -> None:
    rows = [_row("m", "whole", 0, True, 1, "scan", reach=(1, 2, 0)),  # the clean class 0 is not a target
            _row("m", "whole", 1, True, 1, "scan", reach=(2,)), _row("m", "whole", 2, False, 1, "scan")]
    assert pc.scan_targets_by_image(rows, 10) == {"i000": (2, 9), "i001": (1, 9), "i002": (0, 9)}
    pairs = pc.scan_class_pair_counts(rows, 10)
    assert pairs[0, 1] == 1 and pairs[0, 2] == 2 and pairs.sum() == 3 and pairs[0, 0] == 0
    group = pc.SearchRows("scan", 1, "s", tuple(rows))
    reached = pc.targets_reached(group, 10, "whole", "m")
    assert reached is not None and reached.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    cell = pc.table2_cell(group, "m", "whole", 10)
    assert (cell.targeted.successes, cell.targeted.total, cell.targeted.images) == (3, 27, 3)
    assert (cell.untargeted2.successes, cell.untargeted2.total) == (2, 3) and cell.confidence_u.count == 0


def test_each_pixel_count_tests_the_search_with_the_most_images() -> None:
    de = pc.SearchRows("de", 1, "a", tuple(_row("m", "whole", i, True, 1, "de") for i in range(5)))
    scan = pc.SearchRows("scan", 1, "b", tuple(_row("m", "whole", i, True, 1, "scan") for i in range(5)))
    big = pc.SearchRows("de", 3, "a", tuple(_row("m", "whole", i, True, 3, "de") for i in range(6)))
    small = pc.SearchRows("sparse-rs", 3, "a", tuple(_row("m", "whole", i, True, 3, "sparse-rs") for i in range(4)))
    targeted_only = pc.SearchRows("sparse-rs", 5, "a", (_row("m", "whole", 0, True, 5, "sparse-rs", mode="targeted",
                                                             target=3),))
    chosen = pc.by_pixel_count([de, scan, small, big, targeted_only])
    assert chosen == {1: scan, 3: big}  # a tie goes to the scan; 5 px has no untargeted rows


def test_the_pattern_reads_grows_when_the_intervals_part() -> None:
    def group(k: int, fg: int, bg: int) -> pc.SearchRows:
        rows = [_row("m", g, i, i < lim, k, "sparse-rs") for g, lim in (("whole", fg), ("foreground", fg),
                                                                        ("background", bg)) for i in range(60)]
        return pc.SearchRows("sparse-rs", k, "s", tuple(rows))

    sec = pcs.pattern_section({1: group(1, 10, 5), 5: group(5, 50, 5)})
    assert sec is not None
    text = " ".join(b for b in sec.blocks if isinstance(b, str))
    assert "foreground − background +8.3 pp at 1 px, +75.0 pp at 5 px: grows" in text
    flat = pcs.pattern_section({1: group(1, 10, 5), 5: group(5, 11, 5)})
    assert flat is not None and "overlap" in " ".join(b for b in flat.blocks if isinstance(b, str))


def test_figure_pair_heatmaps_leaves_a_missing_region_blank() -> None:
    from pixelspace.report import figures

    counts = {"a": {"whole": np.eye(3, dtype=np.int64)[::-1], "foreground": np.ones((3, 3), dtype=np.int64)},
              "b": {"whole": np.zeros((3, 3), dtype=np.int64)}}
    fig = figures.figure_pair_heatmaps(counts, "target class", title="t")
    assert fig is not None
    axes = fig.axes
    off = [ax for ax in axes if not ax.axison]
    assert len(off) == 1 and figures.figure_pair_heatmaps({}, "x") is None


# ------------------------------------------------------------------------- several stores: a targeted one


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Untargeted sparse rows on 8 images, the scan of 10, and a targeted-only campaign of the same search on the
    first 4 of the 8 (targets on its first 3): issue 30's three stores in small."""
    root = tmp_path_factory.mktemp("three")
    untargeted = make_sparse_store(root / "untargeted.sqlite", n_images=8, targeted_images=0)
    scan = make_scan_store(root / "scan.sqlite", n_images=10)
    full = make_sparse_store(root / "full.sqlite", n_images=8, targeted_images=3, campaign="fake-targeted")
    targeted = _edit(full, root / "targeted.sqlite", "DELETE FROM attacks WHERE mode = 'untargeted'",
                     "DELETE FROM attacks WHERE image_id >= 'img004'",
                     "UPDATE images SET status = 'skipped' WHERE image_id >= 'img004'")
    return untargeted, scan, targeted


def test_a_targeted_store_of_fewer_images_joins_the_untargeted_rows_of_its_search(
        three: tuple[Path, Path, Path], tmp_path: Path) -> None:
    untargeted, scan, targeted = three
    ok = CliRunner().invoke(cli, ["report", str(untargeted), "--with", str(scan), "--with", str(targeted),
                                  "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert md.splitlines()[0] == "# pixelspace report: fake-sparse with fake-scan and fake-targeted (JPEG-CIFAR-10)"
    rows = _table_rows(_section(md, "Table II at k = 1, 3 and 5: every pixel count, every search"))
    assert len(rows) == 30  # still one row per network x region x pixel count: the search's two stores are one
    k3 = rows[("allconv-cifar10", "foreground", "3")]
    assert k3[3] == "sparse random search<br>fake-sparse + fake-targeted"
    assert k3[4].startswith("75.0% (6/8)<br>")  # untargeted on all 8 images of the report's store
    assert k3[7].startswith("40.7% (11/27 attacks on 3 img)<br>[")  # targeted on the other store's 3
    assert rows[("allconv-cifar10", "foreground", "1")][4].startswith("62.5% (5/8)")  # the scan on the 8
    first = _section(md, "What this run shows")
    assert "Joined with the store of campaign `fake-targeted` (targeted.sqlite): 4 images" in first
    assert "fake-targeted's rows are read on these 4 images only, fake-sparse's on all 8 it selected" in first
    assert "Joined with the store of campaign `fake-scan` (scan.sqlite): 8 images" in first
    assert "fake-scan's rows are read on these 8 images only." in first and "Every number below" not in first
    assert "**allconv-cifar10, 3 px** (sparse random search, n = 8 images)" in first  # the paired tests: all 8
    assert "Fig. 5 at 3 pixels from sparse random search (fake-sparse + fake-targeted; n = 3 images per panel)" in md
    figures = sorted(p.stem for p in (tmp_path / "out" / "figures").glob("*.png"))
    assert "fig5_targeted_pairs_k3" in figures and "fig5_targeted_pairs_k5" in figures
    assert "Provenance of the joined store (fake-targeted)" in md and "Provenance of the joined store (fake-scan)" in md


def test_two_joined_stores_of_the_same_search_pixel_count_and_mode_are_refused(
        three: tuple[Path, Path, Path], tmp_path: Path) -> None:
    untargeted, scan, targeted = three
    again = _edit(targeted, tmp_path / "again.sqlite",
                  "UPDATE meta SET value = replace(value, 'fake-targeted', 'fake-again') WHERE key = 'config_json'")
    with pytest.raises(StoreError, match=r"cannot join fake-targeted .* with fake-again .*: both stores hold rows "
                                         r"of the same search at the same pixel count \(sparse-rs at 3 px targeted, "
                                         r"sparse-rs at 5 px targeted\)"):
        write_report(untargeted, tmp_path / "out", with_store=[scan, targeted, again])
    assert not (tmp_path / "out").exists()


def test_a_targeted_store_made_with_other_search_settings_is_refused(three: tuple[Path, Path, Path],
                                                                     tmp_path: Path) -> None:
    untargeted, _, targeted = three
    other = _edit(targeted, tmp_path / "other.sqlite", "UPDATE attacks SET search_hash = 'budget2000'")
    with pytest.raises(StoreError, match=r"the sparse-rs rows at 3 px were made with other settings \(search hash "
                                         r".* in fake-sparse, budget2000 in fake-targeted\)"):
        write_report(untargeted, tmp_path / "out", with_store=other)


def test_joined_stores_of_other_parts_of_the_images_and_the_pattern_on_part_of_them(
        three: tuple[Path, Path, Path], tmp_path: Path) -> None:
    # a scan of images 4-9 and the targeted store of images 0-3 share no image with each other, only with the
    # report's store: both join it; the 1-pixel cells and tests read the scan's 4 images of the 8
    untargeted, scan, targeted = three
    part = _edit(scan, tmp_path / "part.sqlite", "DELETE FROM attacks WHERE image_id < 'img004'",
                 "UPDATE images SET status = 'skipped' WHERE image_id < 'img004'")
    paths = write_report(untargeted, tmp_path / "out", with_store=[part, targeted])
    md = paths.markdown.read_text(encoding="utf-8")
    rows = _table_rows(_section(md, "Table II at k = 1, 3 and 5: every pixel count, every search"))
    assert rows[("allconv-cifar10", "foreground", "1")][4].startswith("25.0% (1/4)")  # image 4 of 4-7
    assert rows[("allconv-cifar10", "foreground", "3")][4].startswith("75.0% (6/8)")
    pattern = _section(md, "Does the pattern grow or vanish with k?")
    assert "the pixel counts differ in search and share their images only in part (each cell gives its n)" in pattern
    first = _section(md, "What this run shows")
    assert "fake-scan's rows are read on these 4 images only, fake-sparse's on all 8 it selected" in first
