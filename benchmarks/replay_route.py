"""Replay a stored sparse-search batch on a chosen evaluation route and say how many of its rows come out exactly.

Usage: python benchmarks/replay_route.py STORE KEY [--route points|clean] [--look-ahead D]

``pixelspace replay`` re-runs a row on today's default route (candidates against the attacks' current points,
look-ahead 16). Rows made before that default (one candidate at a time, or against the clean image) take the
same search path there but can differ in their last float bits; this re-runs the key's whole batch with
``SparseRandomSearch(follow_points=..., look_ahead=...)`` set as given, so the route a store was made on can be
found by trying (docs/campaigns.md, "Replaying whole stores").
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from pixelspace.campaign.backends import local
from pixelspace.campaign.status import replay_attack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store")
    ap.add_argument("key")
    ap.add_argument("--route", choices=("points", "clean"), default="points",
                    help="candidates against the current points (follow_points) or the clean image")
    ap.add_argument("--look-ahead", type=int, default=1, help="candidates per attack per step (1: one at a time)")
    args = ap.parse_args()
    configured = local.search_attack

    def on_route(*a: Any, **k: Any) -> Any:
        attack: Any = configured(*a, **k)
        if not hasattr(attack, "look_ahead"):
            raise SystemExit(f"attack {args.key} is not a sparse-search row")
        return dataclasses.replace(attack, follow_points=args.route == "points", look_ahead=args.look_ahead)

    local.search_attack = on_route
    r = replay_attack(args.store, args.key)
    print(f"{args.route}, look-ahead {args.look_ahead}: its batch: {r.batch_identical} of {r.batch_stored} stored "
          f"rows exact, {r.batch_same_path} on the same search path, largest float difference {r.batch_float_gap:.2g}")


if __name__ == "__main__":
    main()
