"""The README's Python example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def test_readme_example_runs(capsys: object) -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Attack your own model.*?```python\n(.*?)```", text, re.S)
    assert block is not None, "README lost its Python example"
    scope: dict[str, object] = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)  # noqa: S102
    result = scope["result"]
    masks = scope["masks"]
    images = scope["images"]
    assert len(result) == 8  # type: ignore[arg-type]
    changed = (result.adversarial != images).any(axis=3)  # type: ignore[attr-defined]
    assert not changed[~np.asarray(masks)].any()
