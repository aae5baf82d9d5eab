"""Bytes per attack on disk for a store of compact records, built from a committed store's real records.

Usage:
    python benchmarks/record_size.py [--source results/cifar10-gpu-100gen/store.sqlite] [--rows 20000]

Draws ``--rows`` rows (seeded) from the source store's records, relabels nine in ten of them as targeted (the
paper grid's mix: 1 untargeted + 9 targeted attacks per image, 1/3/5 pixels), writes them in compact form
(``pixelspace.campaign.records``) into a fresh store with the project's schema, vacuums it and prints the file
size per row. Early-stopped attacks, as in the grid; 1-pixel untargeted rows keep their fitness history.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import tempfile
from pathlib import Path

from pixelspace.campaign.records import compact_record
from pixelspace.campaign.store import _TABLES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="results/cifar10-gpu-100gen/store.sqlite")
    ap.add_argument("--rows", type=int, default=20000)
    args = ap.parse_args()
    with sqlite3.connect(f"file:{args.source}?mode=ro", uri=True) as src:
        records = src.execute("SELECT record, model, image_id, region FROM attacks").fetchall()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "size.sqlite"
        con = sqlite3.connect(path)
        for table in _TABLES:
            con.execute(table)
        rows = []
        for k in range(args.rows):
            record, model, image_id, region = rng.choice(records)
            rec = json.loads(record)
            mode, pixels = ("untargeted" if k % 10 == 0 else "targeted"), (1, 3, 5)[k % 3]
            rec["mode"] = mode
            compact = compact_record(rec, early_stop=True, pixels=pixels, mode=mode)
            key = hashlib.sha256(str(k).encode()).hexdigest()[:32]
            rows.append((key, model, image_id, region, pixels, mode, k % 9 if mode == "targeted" else -1,
                         "0" * 16, 1, rng.getrandbits(62), int(compact["success"]), compact["generations"],
                         compact["queries"], json.dumps(compact, separators=(",", ":"))))
        con.executemany(f"INSERT INTO attacks VALUES ({', '.join('?' * 14)})", rows)
        con.commit()
        con.execute("VACUUM")
        con.close()
        size = path.stat().st_size
    print(f"{args.rows} rows from {args.source}: {size:,} bytes, {size / args.rows:.0f} bytes per attack on disk")


if __name__ == "__main__":
    main()
