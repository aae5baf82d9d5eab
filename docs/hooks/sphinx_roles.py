"""A Griffe extension for the API reference: Sphinx roles in docstrings become code spans.

The docstrings name other objects the Sphinx way (``:func:`load```, ``:class:`~pixelspace.Classifier```),
which Markdown would print literally; this turns each into the plain code span ``load`` or ``Classifier``.
Loaded by mkdocstrings (``mkdocs.yml``: ``extensions``); the package never imports it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|data|attr|meth|exc|obj|const):`(~?)([^`]+)`")


def _code_span(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx cross-reference roles of every loaded docstring as Markdown code spans."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_code_span, obj.docstring.value)
