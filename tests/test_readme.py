"""The README's Python example runs as written, the README stays short, and its and the docs' links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250
# [text](target) and ![alt](target); a target ends at whitespace (a title) or the closing parenthesis
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")
_EXAMPLE = re.compile(r"## Attack your own model.*?```python\n(.*?)```", re.S)


def _relative_links(markdown: str) -> list[str]:
    """Link targets that name a file (no URL scheme, not a bare #anchor), anchors stripped."""
    targets = []
    for target in _LINK.findall(re.sub(r"```.*?```", "", markdown, flags=re.S)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_readme_example_runs(capsys: object) -> None:
    text = (ROOT / "README.md").read_text()
    block = _EXAMPLE.search(text)
    assert block is not None, "README lost its Python example"
    scope: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)  # noqa: S102
    result = scope["result"]
    masks = scope["masks"]
    images = scope["images"]
    assert len(result) == 8  # type: ignore[arg-type]
    changed = (result.adversarial != images).any(axis=3)  # type: ignore[attr-defined]
    assert not changed[~np.asarray(masks)].any()


def test_readme_is_a_five_minute_read() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move measurements to docs/"
    )


def test_relative_link_parser_sees_links_images_and_skips_urls() -> None:
    text = "[a](docs/x.md#part) ![f](fig.png \"t\") [u](https://e.org/y) [s](#top)\n```\n[c](code.md)\n```"
    assert _relative_links(text) == ["docs/x.md", "fig.png"]


def test_every_relative_link_in_the_readme_resolves() -> None:
    links = _relative_links((ROOT / "README.md").read_text())
    assert links, "the README links to its docs"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_every_relative_link_in_the_docs_resolves_inside_docs() -> None:
    # mkdocs --strict refuses these too, but `make test` runs without the docs extra installed
    docs = ROOT / "docs"
    broken = []
    for page in sorted(docs.rglob("*.md")):
        for link in _relative_links(page.read_text()):
            target = (page.parent / link).resolve()
            if not target.exists() or not target.is_relative_to(docs):
                broken.append(f"{page.relative_to(ROOT)} -> {link}")
    assert not broken, f"links the documentation site cannot follow (write a code span for files outside docs/): {broken}"


def test_every_docs_page_is_in_the_site_nav() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    nav = set(re.findall(r"^\s*- [^:\n]+: (\S+\.md)\s*$", config, re.M))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == nav, f"not in mkdocs.yml's nav: {sorted(pages - nav)}; in the nav but missing: {sorted(nav - pages)}"


def test_the_docs_home_page_shows_the_readme_example_unchanged() -> None:
    readme = _EXAMPLE.search((ROOT / "README.md").read_text())
    home = _EXAMPLE.search((ROOT / "docs" / "index.md").read_text())
    assert readme is not None and home is not None
    assert home.group(1) == readme.group(1), "docs/index.md's example differs from the README's: copy it over"
