"""The report end to end on fabricated stores: files, tables, figures, generated text, CLI, and a real browser."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from pixelspace.cli import cli
from pixelspace.errors import StoreError
from pixelspace.report import load_store, write_report
from pixelspace.report.render import ReportPaths
from tests.report.store_factory import make_store

TABLE_TITLES = ("What this run shows", "Table I: clean accuracy", "Table II: success rates", "Region differences",
                "Table III: top-k effects", "Table IV: generations")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    """2 networks × 3 regions × 5 images (9 targeted attacks on 2 of them), and its report."""
    root = tmp_path_factory.mktemp("report")
    store = make_store(root / "store.sqlite", n_images=5, targeted_images=2)
    return write_report(store, root / "out")


def _img_sources(text: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]+)"', text)


def test_report_files_tables_and_figures(report: ReportPaths) -> None:
    assert report.markdown.is_file() and report.html.is_file()
    html = report.html.read_text(encoding="utf-8")
    md = report.markdown.read_text(encoding="utf-8")
    for title in TABLE_TITLES:
        assert title in html and title in md, title
    names = sorted(p.stem for p in report.figures)
    assert names == ["fig0_at_a_glance", "fig1_examples", "fig3_targets_reached", "fig4_untargeted_pairs",
                     "fig5_targeted_pairs", "fig6_fitness"]
    sources = _img_sources(html)
    assert len(sources) == len(names)  # one <img> per figure
    for src in sources:  # self-contained: every figure is an embedded PNG
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html
    for p in report.figures:
        assert p.stat().st_size > 5000 and f"(figures/{p.name})" in md
    # both tables read the fabricated campaign: names, dataset, segmenter, budget and success check
    for text in (html, md):
        assert "JPEG-CIFAR-10" in text and "grabcut" in text and "population 40" in text
        assert "reduced budget" in text and "best member" in text
        assert "paper 12.80%" in text  # the paper's Table II value beside ours (AllConv, whole, 1 pixel)
        assert "perturbed pixels lie inside their attack" in text and "stored region mask" in text
    assert html.count("<table>") >= 6


def test_report_without_targeted_attacks_omits_those_parts(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("vgg16-cifar10",), n_images=4, targeted_images=0)
    paths = write_report(store, tmp_path / "out")
    html = paths.html.read_text(encoding="utf-8")
    assert sorted(p.stem for p in paths.figures) == ["fig0_at_a_glance", "fig1_examples", "fig4_untargeted_pairs",
                                                     "fig6_fitness"]
    assert "No targeted attacks in this store" in html and "Fig. 3 and Fig. 5 omitted" in html
    assert "Untargeted2" not in html.split("Table II")[1].split("</thead>")[0]
    assert len(_img_sources(html)) == 4


def test_report_of_an_empty_store_does_not_crash(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", n_images=0, targeted_images=0)
    paths = write_report(store, tmp_path / "out")
    html = paths.html.read_text(encoding="utf-8")
    assert paths.figures == ()
    assert "No attacks in this store" in html and "not shown" in html and "<img" not in html


def test_verdict_follows_the_paired_tests(tmp_path: Path) -> None:
    # whole and foreground fooled on all 12 images, background on none: b = 12, c = 0, p = 2 / 2**12
    strong = make_store(tmp_path / "strong.sqlite", models=("nin-cifar10",), n_images=12, targeted_images=0,
                        success_fn=lambda m, region, i: region != "background")
    text = write_report(strong, tmp_path / "a").markdown.read_text(encoding="utf-8")
    assert "**shown** for every network" in text
    assert "0.000488" in text  # 2 / 4096
    # the same success everywhere: background is not lower, so the pattern is not shown
    flat = make_store(tmp_path / "flat.sqlite", models=("nin-cifar10",), n_images=12, targeted_images=0,
                      success_fn=lambda m, region, i: i % 2 == 0)
    text = write_report(flat, tmp_path / "b").markdown.read_text(encoding="utf-8")
    assert "**not shown**" in text and "Background clearly lower than the foreground: not shown" in text


def test_fitness_curve_attacks_feed_fig6_only(tmp_path: Path) -> None:
    path = make_store(tmp_path / "s.sqlite", models=("nin-cifar10",), n_images=4, targeted_images=0, curve_images=2)
    store = load_store(path)
    assert store.early_stop and len(store.attacks) == 3 * (4 + 2) and len(store.results) == 3 * 4
    assert len(store.curve_attacks) == 3 * 2 and not any(r.early_stop for r in store.curve_attacks)
    text = write_report(path, tmp_path / "out").markdown.read_text(encoding="utf-8")
    assert "A further 6 attacks ran without early stop" in text
    assert "Attacks run without early stop" in text  # the Fig. 6 caption
    assert "| nin-cifar10 | whole | 1 |" in text
    table2 = text.split("## Table II")[1].split("*Region differences")[0]
    assert "/4)" in table2 and "/6)" not in table2  # Untargeted1 counts the 4 images once, not the curves


def test_store_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", n_images=1, targeted_images=0)
    with sqlite3.connect(store) as con:
        con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        load_store(store)
    with pytest.raises(StoreError, match="does not exist"):
        load_store(tmp_path / "missing.sqlite")


def test_load_store_reads_every_table(tmp_path: Path) -> None:
    store = load_store(make_store(tmp_path / "s.sqlite", n_images=3, targeted_images=1))
    assert [m.model for m in store.models] == ["allconv-cifar10", "nin-cifar10"]
    assert len(store.images) == 5 and sum(im.status == "skipped" for im in store.images) == 2
    assert len(store.attacks) == 2 * 3 * (3 + 9)
    assert store.class_names[0] == "airplane" and json.loads(store.meta["config_json"])["name"] == "fabricated"


def test_cli_report(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s.sqlite", models=("nin-cifar10",), n_images=3, targeted_images=0)
    result = CliRunner().invoke(cli, ["report", str(store), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output and (tmp_path / "out" / "report.md").is_file()
    bad = tmp_path / "bad.sqlite"
    sqlite3.connect(bad).close()
    result = CliRunner().invoke(cli, ["report", str(bad), "--out", str(tmp_path / "o2")])
    assert result.exit_code != 0 and "not a pixelspace store" in result.output


def _chromium() -> str:
    for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and Path(c).is_file():
            return c
    pytest.skip("headless Chromium not installed (Debian package 'chromium'; `make test` installs it when "
                "apt-get is available)")


_CHECK = """<script>window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  var p = document.createElement('p'); p.id = 'render-check';
  p.textContent = 'IMAGES-LOADED ' + ok + '/' + imgs.length + ' TABLES ' + document.querySelectorAll('table').length;
  document.body.appendChild(p);
});</script>"""


def _chromium_args(exe: str, profile: str) -> list[str]:
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]


def test_report_renders_in_headless_chromium(report: ReportPaths, tmp_path: Path) -> None:
    exe = _chromium()
    html = report.html.read_text(encoding="utf-8")
    n_tables = html.count("<table>")
    # 1) every figure decodes in the browser and every table is in the DOM
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", _CHECK + "</body>"), encoding="utf-8")
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([*_chromium_args(exe, profile), "--virtual-time-budget=10000", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r"IMAGES-LOADED (\d+)/(\d+) TABLES (\d+)", dom.stdout)
    assert found, dom.stderr[-2000:]
    loaded, total, tables = map(int, found.groups())
    assert total == len(report.figures) == 6 and loaded == total  # the at-a-glance figure and Figs 1, 3-6
    assert tables == n_tables
    # 2) a screenshot of the whole page is non-trivial and shows the (colourful) figures
    shot = tmp_path / "out.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([*_chromium_args(exe, profile), f"--screenshot={shot}", "--window-size=1200,12000",
                        report.html.as_uri()], capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 50_000
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (12000, 1200)
    inked = (img < 200).any(axis=2)
    assert inked.mean() > 0.01  # text, tables and figures, not a blank page
    saturation = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[:, :, 1]
    assert int(np.sum(saturation > 120)) > 20_000  # decoded figures (a broken image shows no colour)
