"""Choose the sparse search's query budget from a pilot store (issue 30): successes by queries spent.

Usage:
    python benchmarks/sparse_budget.py STORE [--budgets 1000,2000,3000,5000,10000] [--keep 0.98]
    python benchmarks/sparse_budget.py STORE --verify 60 --budget 3000 [--seed 0]

The pilot (`campaigns/cifar10-sparse-500-pilot.toml`) runs the sparse search at 10,000 queries. With its
default `p_init = 0.3` and k <= 5 one pixel moves per iteration at every point of the schedule, so the search at
a smaller budget B takes the same path as long as it runs: its successes are the pilot's successes with
`queries <= B` reached within its `2 B` iterations (a candidate answered from the memo costs an iteration).
The first form prints, per network x k (pooled over regions) and per network x k x region, the
successes within each budget and their share of the successes at the pilot's budget, then the smallest budget
of the list that keeps at least `--keep` of them in every network x k.

`--verify N --budget B` checks the prefix claim on the real networks: N stored attacks drawn at random (seeded;
the seed is printed) are run again at budget B by themselves, and each must succeed exactly when its stored
run succeeded within B queries, with the same query count and perturbation. Running attacks alone changes the
model's batch composition, so a float32 answer can differ in its last bits and occasionally steer a search
elsewhere: such an attack is counted apart, not hidden.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from pixelspace.outcomes import AttackRow
from pixelspace.report.stored import load_store


def sparse_rows(path: str) -> list[AttackRow]:
    """The store's sparse-search rows (early-stopped, untargeted and targeted)."""
    rows = [r for r in load_store(path).attacks if r.search == "sparse-rs"]
    if not rows:
        raise SystemExit(f"{path} holds no sparse-search rows (search = \"sparse-rs\")")
    return rows


def within(row: AttackRow, budget: int) -> bool:
    """Whether the search at ``budget`` queries (and its default ``2 * budget`` iterations: a candidate answered
    from the memo costs an iteration, no query) reaches this stored success."""
    rec = row.record
    return bool(rec.get("success")) and int(rec["queries"]) <= budget and int(rec["generations"]) <= 2 * budget


def budget_table(rows: Sequence[AttackRow], budgets: Sequence[int]) -> dict[tuple[str, int, str], list[int]]:
    """(model, k, region or "all") -> [attacks, successes within each budget...]."""
    out: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0] * (1 + len(budgets)))
    for r in rows:
        for region in (r.region, "all"):
            cell = out[(r.model, r.pixels, region)]
            cell[0] += 1
            if r.record.get("success"):
                for i, b in enumerate(budgets):
                    cell[1 + i] += within(r, b)
    return dict(out)


def smallest_budget(table: dict[tuple[str, int, str], list[int]], budgets: Sequence[int], keep: float) -> int:
    """The smallest budget whose successes are at least ``keep`` of the last budget's in every pooled cell."""
    for i, b in enumerate(budgets):
        if all(c[1 + i] >= keep * c[-1] for (_, _, region), c in table.items() if region == "all"):
            return b
    return budgets[-1]


def print_table(table: dict[tuple[str, int, str], list[int]], budgets: Sequence[int]) -> None:
    head = "".join(f" {f'<= {b:,}':>16}" for b in budgets)
    print(f"{'network':<18} {'k':>2} {'region':<11} {'attacks':>7}{head}")
    for (model, k, region), c in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "all",
                                                                          kv[0][2])):
        total = c[-1]
        cells = "".join(f" {f'{n} ({n / total:.1%})' if total else str(n):>16}" for n in c[1:])
        print(f"{model:<18} {k:>2} {region:<11} {c[0]:>7}{cells}")


def verify(path: str, n: int, budget: int, seed: int) -> None:
    """Run ``n`` stored sparse attacks again at ``budget`` queries, alone, and compare with the stored runs."""
    from pixelspace.campaign.backends import Batch, Job
    from pixelspace.campaign.backends.local import run_batch
    from pixelspace.campaign.config import CampaignConfig
    from pixelspace.campaign.prepare import load_model, resolve_device
    from pixelspace.campaign.records import COMPACT, compact_record
    from pixelspace.campaign.runner import expand_attacks, read_inputs
    from pixelspace.campaign.store import Store
    from pixelspace.models.classifier import Classifier

    with Store.open_readonly(path) as store:
        meta = store.meta()
        inputs = read_inputs(store)
    config = CampaignConfig.from_stored(json.loads(meta["config_json"]), f"{path} config_json")
    config = dataclasses.replace(config, sparse_rs=dataclasses.replace(config.sparse_rs, max_queries=budget))
    stored = {r.key: r for r in sparse_rows(path)}
    specs = [s for s in expand_attacks(config, inputs, len(json.loads(meta["class_names_json"])))
             if s.search == "sparse-rs"]
    # the budget is in the search hash, so match the stored rows by everything else
    by_cell = {(r.model, r.image_id, r.region, r.pixels, r.mode, r.target): r for r in stored.values()}
    pairs = [(s, by_cell[c]) for s in specs
             if (c := (s.model, s.image_id, s.region, s.pixels, s.mode, s.target)) in by_cell]
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(pairs), size=min(n, len(pairs)), replace=False).tolist())
    print(f"verify: {len(chosen)} of {len(pairs)} stored sparse attacks at budget {budget:,}, alone, "
          f"draw seed {seed}")
    job = Job(config, inputs.images, inputs.regions, inputs.batch_size, resolve_device(config.execution.device))
    clfs: dict[str, Classifier] = {}
    agree = differ = expected_successes = 0
    for i in chosen:
        spec, row = pairs[i]
        if spec.model not in clfs:
            clfs[spec.model] = Classifier(load_model(next(m for m in config.models if m.name == spec.model)).module,
                                          batch_size=inputs.batch_size,
                                          incremental="auto" if config.attack.incremental else False)
        spec = dataclasses.replace(spec, seed=row.seed)
        rec = run_batch(job, clfs[spec.model], Batch(0, spec.model, spec.pixels, spec.mode, True, (spec,),
                                                     "sparse-rs"))[0]
        if meta.get("record_format") == COMPACT:  # compare like with like
            rec = compact_record(rec, early_stop=True, pixels=spec.pixels, mode=spec.mode)
        want = within(row, budget)
        same = bool(rec["success"]) == want and (
            not want or (int(rec["queries"]) == int(row.record["queries"])
                         and rec["pixels"] == row.record["pixels"] and rec["colors"] == row.record["colors"]))
        agree += same
        expected_successes += want
        differ += not same
        if not same:
            print(f"  differs: {row.key[:12]} {spec.model} {spec.region} k={spec.pixels}: stored success "
                  f"{row.record['success']} at {row.record['queries']} queries; at {budget:,}: success "
                  f"{rec['success']} at {rec['queries']} queries")
    print(f"verify: {agree} of {agree + differ} attacks agree with the prefix of their stored run "
          f"({expected_successes} stored successes within {budget:,} queries, {agree + differ - expected_successes} "
          "not)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store")
    ap.add_argument("--budgets", default="1000,2000,3000,5000,10000")
    ap.add_argument("--keep", type=float, default=0.98)
    ap.add_argument("--verify", type=int, default=0, metavar="N")
    ap.add_argument("--budget", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.verify:
        verify(args.store, args.verify, args.budget, args.seed)
        return
    budgets = sorted(int(b) for b in args.budgets.split(","))
    rows = sparse_rows(args.store)
    top = int(load_store(args.store).config.get("sparse_rs", {}).get("max_queries", 10_000))
    if budgets[-1] > top:
        raise SystemExit(f"the largest budget {budgets[-1]:,} exceeds the pilot's own ({top:,})")
    table = budget_table(rows, budgets)
    print(f"{args.store}: {len(rows)} sparse attacks; successes within each budget (share of those within "
          f"{budgets[-1]:,})")
    print_table(table, budgets)
    print(f"smallest budget keeping >= {args.keep:.0%} of the successes at {budgets[-1]:,} in every network x k: "
          f"{smallest_budget(table, budgets, args.keep):,}")


if __name__ == "__main__":
    main()
