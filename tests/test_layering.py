"""Module layering: one definition per stored type, no import cycle in the registry, reports read stores only,
and the lower layers (search < models < attack < campaign, and report, < commands < cli) never import upwards,
directly or through another module."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "pixelspace"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _classes(name: str) -> list[str]:
    return [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("*.py"))
            if any(isinstance(n, ast.ClassDef) and n.name == name
                   for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))))]


def test_stored_types_are_defined_once() -> None:
    from pixelspace.attack import scan
    from pixelspace.campaign import store
    from pixelspace.report import metrics

    assert _classes("AttackRow") == ["outcomes.py"]
    assert _classes("VulnerabilityMap") == ["outcomes.py"]
    assert store.AttackRow is metrics.AttackRow and scan.VulnerabilityMap.__module__ == "pixelspace.outcomes"


def test_the_old_store_types_module_is_a_deprecated_alias_nobody_imports() -> None:
    import importlib
    import sys

    import pytest

    from pixelspace import outcomes

    importers = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if "pixelspace.store_types" in _imports(p))
    assert importers == []
    sys.modules.pop("pixelspace.store_types", None)
    with pytest.warns(DeprecationWarning, match="pixelspace.outcomes"):
        old = importlib.import_module("pixelspace.store_types")
    assert (old.AttackRow, old.VulnerabilityMap, old.ATTACK_COLUMNS) == (
        outcomes.AttackRow, outcomes.VulnerabilityMap, outcomes.ATTACK_COLUMNS)


def _annotated(path: Path, cls: str) -> list[str]:
    """The fields a class's own body declares."""
    node = next(n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(n, ast.ClassDef) and n.name == cls)
    return [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]


def test_a_planned_and_a_stored_attack_share_their_identity_fields_from_one_place() -> None:
    import dataclasses

    from pixelspace.campaign.backends import AttackSpec
    from pixelspace.outcomes import AttackIdentity, AttackRow

    shared = [f.name for f in dataclasses.fields(AttackIdentity)]
    assert shared == ["key", "model", "image_id", "region", "pixels", "mode", "target", "search_hash",
                      "early_stop", "seed"]
    assert issubclass(AttackSpec, AttackIdentity) and issubclass(AttackRow, AttackIdentity)
    assert _annotated(SRC / "outcomes.py", "AttackRow") == ["record"]
    assert _annotated(SRC / "campaign" / "backends" / "__init__.py", "AttackSpec") == ["label", "search"]
    spec = AttackSpec(key="k", model="m", image_id="i", region="r", pixels=3, mode="targeted", target=2,
                      search_hash="h", early_stop=False, seed=7, label=1, search="sparse-rs")
    row = AttackRow.of(spec, {"success": True})
    assert [getattr(row, f) for f in shared] == ["k", "m", "i", "r", 3, "targeted", 2, "h", False, 7]
    assert row.record == {"success": True}


def test_registry_and_zoo_do_not_import_each_other() -> None:
    models = SRC / "models"
    assert not any(m.startswith("pixelspace.models.registry") for m in _imports(models / "zoo.py"))
    assert "pixelspace.models.zoo" in _imports(models / "registry.py")


def test_the_report_imports_no_attack_search_or_model_code() -> None:
    for path in sorted((SRC / "report").glob("*.py")):
        bad = sorted(m for m in _imports(path)
                     if m.startswith(("pixelspace.attack", "pixelspace.search", "pixelspace.models")))
        assert not bad, f"{path.name} imports {bad}"


def _module_files() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, not `.__init__`)."""
    out: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _reachable(package: str) -> set[str]:
    """The package's modules and every pixelspace module they import, transitively (parent packages included,
    since importing `a.b.c` runs `a.b`'s `__init__`)."""
    files = _module_files()
    seen: set[str] = set()
    todo = [m for m in files if m == package or m.startswith(package + ".")]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:i]) for i in range(2, len(parts)))
        todo.extend(m for m in _imports(files[name]) if m in files)
    return seen


def _upward(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in _reachable(package) if m.startswith(forbidden))


def test_the_search_imports_no_model_attack_segment_or_campaign_code() -> None:
    assert _reachable("pixelspace.search") >= {"pixelspace.search.de", "pixelspace.search.strategies"}
    assert _upward("pixelspace.search", ("pixelspace.models", "pixelspace.attack", "pixelspace.segment",
                                         "pixelspace.campaign")) == []


def test_the_models_import_no_attack_code() -> None:
    assert "pixelspace.models.classifier" in _reachable("pixelspace.models")
    assert _upward("pixelspace.models", ("pixelspace.attack",)) == []


def test_the_attack_imports_no_campaign_code() -> None:
    # the attack does reach the models and the search (the walk follows imports), but never the campaign
    reach = _reachable("pixelspace.attack")
    assert {"pixelspace.models.classifier", "pixelspace.search.de"} <= reach
    assert _upward("pixelspace.attack", ("pixelspace.campaign",)) == []


def test_the_campaign_imports_no_report_or_command_code() -> None:
    # the command use-cases (attack one image, scan one image, the demo) sit above both, in `commands`
    reach = _reachable("pixelspace.campaign")
    assert {"pixelspace.campaign.runner", "pixelspace.attack.pixel_attack"} <= reach
    assert _upward("pixelspace.campaign", ("pixelspace.report", "pixelspace.commands", "pixelspace.cli")) == []


def test_only_the_cli_imports_the_commands() -> None:
    assert {"pixelspace.commands.single", "pixelspace.commands.demo"} <= _reachable("pixelspace.commands")
    files = _module_files()
    importers = sorted(name for name, path in files.items() if not name.startswith("pixelspace.commands")
                       and any(m.startswith("pixelspace.commands") for m in _imports(path)))
    assert importers == ["pixelspace.cli"]
    assert _upward("pixelspace.report", ("pixelspace.campaign", "pixelspace.commands", "pixelspace.cli")) == []


def test_one_store_class_per_meaning_and_the_metrics_read_no_sql() -> None:
    import pytest

    import pixelspace.report
    from pixelspace.report import stored

    assert _classes("Store") == ["campaign/store.py"]  # the writer
    assert _classes("StoreSnapshot") == ["report/stored.py"]  # the report's reader
    assert not {"sqlite3", "pixelspace.store_access"} & _imports(SRC / "report" / "metrics.py")
    with pytest.warns(DeprecationWarning, match="StoreSnapshot"):
        assert pixelspace.report.Store is stored.StoreSnapshot  # the old public name still works, with a warning
