"""The report's section on the ``"sparse-rs"`` search beside DE (the paper's tables stay DE's)."""

from __future__ import annotations

from collections import defaultdict

from pixelspace.report.blocks import Cell, Note, Section, Table
from pixelspace.report.metrics import AttackRow, attack_succeeded
from pixelspace.report.stored import StoreSnapshot

_Group = tuple[str, str, int, str]  # model, region, pixels, mode


def _attack_id(r: AttackRow) -> tuple[str, str, str, int, str, int]:
    """What pairs a sparse-rs row with the DE row of the same attack: model, image, region, pixels, mode, target."""
    return (r.model, r.image_id, r.region, r.pixels, r.mode, r.target)


def _summary(rows: list[AttackRow]) -> Cell:
    """``successes/attacks`` and the mean queries per success."""
    if not rows:
        return "—"
    won = [r for r in rows if attack_succeeded(r)]
    mean_q = f"{sum(r.queries for r in won) / len(won):,.0f} q/success" if won else "no success"
    return [f"{len(won)}/{len(rows)}", mean_q]


def search_section(store: StoreSnapshot) -> Section | None:
    """Success and mean queries per success of DE and the sparse random search, per network, region, pixels
    and mode, with paired counts; None when the store has no ``"sparse-rs"`` rows."""
    sparse = [r for r in store.attacks if r.search == "sparse-rs"]
    if not sparse:
        return None
    sec = Section("Sparse random search beside DE")
    cfg = store.config.get("sparse_rs", {}) if isinstance(store.config.get("sparse_rs"), dict) else {}
    sec.blocks.append(
        "Rows of the \"sparse-rs\" search (pixelspace.SparseRandomSearch: a Sparse-RS-style random search over "
        f"pixels of the region set to RGB-cube corners, margin loss, at most {cfg.get('max_queries', '?')} "
        f"queries per attack, p_init {cfg.get('p_init', '?')}, first colour "
        f"{cfg.get('first_color', 'random')}, one pixel: {cfg.get('single_pixel', 'random')} pairs) beside the DE rows of the same attacks. The "
        "paper's tables above use DE rows only. Queries count the clean image, every evaluated candidate and the "
        "success confirmation for both searches.")
    by_group: dict[_Group, dict[str, list[AttackRow]]] = defaultdict(lambda: {"de": [], "sparse-rs": []})
    for r in store.results:
        by_group[(r.model, r.region, r.pixels, r.mode)]["de"].append(r)
    for r in sparse:
        by_group[(r.model, r.region, r.pixels, r.mode)]["sparse-rs"].append(r)
    de_by_id = {_attack_id(r): r for r in store.results}
    rows: list[list[Cell]] = []
    for (model, region, pixels, mode), got in sorted(by_group.items()):
        if not got["sparse-rs"]:
            continue
        pairs = [(de_by_id[_attack_id(r)], r) for r in got["sparse-rs"] if _attack_id(r) in de_by_id]
        only_de = sum(attack_succeeded(d) and not attack_succeeded(s) for d, s in pairs)
        only_rs = sum(attack_succeeded(s) and not attack_succeeded(d) for d, s in pairs)
        rows.append([model, region, str(pixels), mode, _summary(got["de"]), _summary(got["sparse-rs"]),
                     f"{only_de} / {only_rs} of {len(pairs)}" if pairs else "—"])
    sec.blocks.append(Table(
        "Success and mean queries per success by search. Paired: attacks solved by DE only / by the sparse "
        "random search only, among the attacks both searches ran.",
        ["network", "region", "pixels", "mode", "DE", "sparse random search", "paired (DE only / sparse only)"],
        rows))
    if not any(got["de"] for got in by_group.values()):
        sec.blocks.append(Note("This store has no DE rows to pair with."))
    return sec
