"""Regenerate every committed report and say whether it comes out byte-identical.

Usage:
    python benchmarks/reports_regenerate.py [--results results] [--out DIR] [--only NAME ...]

For each ``RESULTS/<name>/`` holding a ``store.sqlite`` and a committed ``report.md``, this runs the command the
READMEs give, ``pixelspace report RESULTS/<name>/store.sqlite --out OUT/<name>`` (a store of the translation
experiment, ``images.shift`` not ``[0, 0]`` in its stored config, gets ``--baseline`` the unshifted store: the
folder of the same name without its ``-shift-...`` tail; a joined report, whose committed ``report.md`` says
"Joined with the store of campaign `NAME`", gets ``--with RESULTS/NAME/store.sqlite``), into a fresh folder, never
into ``RESULTS``. It then
prints, per report, whether ``report.md`` and ``report.html`` are byte-identical to the committed ones and, when
``report.md`` is not, the first differing lines of a unified diff. ``--out`` keeps the regenerated reports
(default: a temporary folder, removed at the end), for example to compare two versions of the code with
``diff -r``. Exit status 1 when any report differs or fails to regenerate.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DIFF_LINES = 20  # lines of the unified diff of report.md printed per differing report
JOINED = re.compile(r"^Joined with the store of campaign `([^`]+)`", re.MULTILINE)  # docs/report.md, `--with`


def stored_shift(store: Path) -> tuple[int, int]:
    """``images.shift`` of a store's campaign config (``meta.config_json``); ``(0, 0)`` when absent."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as con:
        row = con.execute("SELECT value FROM meta WHERE key = 'config_json'").fetchone()
    if row is None:
        return (0, 0)
    shift = json.loads(row[0]).get("images", {}).get("shift", (0, 0))
    return (int(shift[0]), int(shift[1]))


def report_command(folder: Path, out: Path) -> list[str]:
    """The ``pixelspace report`` command line for a committed results folder, output into ``out``."""
    store = folder / "store.sqlite"
    cmd = [sys.executable, "-m", "pixelspace", "report", str(store), "--out", str(out)]
    if stored_shift(store) != (0, 0):
        base = folder.with_name(re.sub(r"-shift-.*$", "", folder.name)) / "store.sqlite"
        if base == store or not base.is_file():
            raise SystemExit(f"{folder}: a shifted store, and no unshifted baseline store at {base}")
        cmd += ["--baseline", str(base)]
    for name in JOINED.findall((folder / "report.md").read_text(encoding="utf-8")):
        other = folder.parent / name / "store.sqlite"
        if other == store or not other.is_file():
            raise SystemExit(f"{folder}: a report joined with campaign {name}, and no store of it at {other}")
        cmd += ["--with", str(other)]
    return cmd


def compare(folder: Path, out: Path) -> bool:
    """Print the verdict for one report; True when report.md and report.html are both byte-identical."""
    same = True
    verdicts = []
    for name in ("report.md", "report.html"):
        committed, fresh = folder / name, out / name
        if not committed.is_file():
            verdicts.append(f"{name} not committed")
            continue
        ok = fresh.is_file() and fresh.read_bytes() == committed.read_bytes()
        same &= ok
        verdicts.append(f"{name} {'identical' if ok else 'DIFFERS'}")
    print(f"{folder.name}: {', '.join(verdicts)}")
    md_old, md_new = folder / "report.md", out / "report.md"
    if md_old.is_file() and md_new.is_file() and md_old.read_bytes() != md_new.read_bytes():
        diff = difflib.unified_diff(md_old.read_text(encoding="utf-8").splitlines(),
                                    md_new.read_text(encoding="utf-8").splitlines(),
                                    "committed/report.md", "regenerated/report.md", n=0, lineterm="")
        for line in list(diff)[:DIFF_LINES]:
            print(f"    {line}")
    return same


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("results"), help="Folder of committed results.")
    ap.add_argument("--out", type=Path, default=None, help="Keep the regenerated reports here (a new folder).")
    ap.add_argument("--only", nargs="+", default=None, metavar="NAME", help="Only these results folders.")
    args = ap.parse_args()
    folders = sorted(p.parent for p in args.results.glob("*/store.sqlite") if (p.parent / "report.md").is_file())
    if args.only:
        folders = [f for f in folders if f.name in args.only]
    if not folders:
        raise SystemExit(f"no committed report with a store under {args.results}")
    if args.out is not None and args.out.exists():
        raise SystemExit(f"--out {args.out} exists; give a new folder")
    with tempfile.TemporaryDirectory(prefix="pixelspace-reports-") as tmp:
        root = args.out or Path(tmp)
        all_same = True
        for folder in folders:
            out = root / folder.name
            start = time.perf_counter()
            res = subprocess.run(report_command(folder, out), capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{folder.name}: FAILED to regenerate (exit {res.returncode})\n    {res.stderr.strip()[-2000:]}")
                all_same = False
                continue
            all_same &= compare(folder, out)
            print(f"    ({time.perf_counter() - start:.0f} s)")
    print("all reports byte-identical" if all_same else "some reports differ")
    sys.exit(0 if all_same else 1)


if __name__ == "__main__":
    main()
