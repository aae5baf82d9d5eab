"""Module layering: one definition per stored type, no import cycle in the registry, reports read stores only."""

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

    assert _classes("AttackRow") == ["store_types.py"]
    assert _classes("VulnerabilityMap") == ["store_types.py"]
    assert store.AttackRow is metrics.AttackRow and scan.VulnerabilityMap.__module__ == "pixelspace.store_types"


def test_registry_and_zoo_do_not_import_each_other() -> None:
    models = SRC / "models"
    assert not any(m.startswith("pixelspace.models.registry") for m in _imports(models / "zoo.py"))
    assert "pixelspace.models.zoo" in _imports(models / "registry.py")


def test_the_report_imports_no_attack_search_or_model_code() -> None:
    for path in sorted((SRC / "report").glob("*.py")):
        bad = sorted(m for m in _imports(path)
                     if m.startswith(("pixelspace.attack", "pixelspace.search", "pixelspace.models")))
        assert not bad, f"{path.name} imports {bad}"
