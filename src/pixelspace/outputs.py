"""Checks of output paths, run before any work whose results they would hold (no model query is wasted on a
path that cannot be written)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from pixelspace.errors import OutputError


def check_output_dir(folder: str | Path, files: Iterable[str] = (), folders: Iterable[str] = ()) -> Path:
    """Check that ``folder`` is, or can be made as, a writable folder, and that the ``files`` and sub-``folders``
    to be written in it (names relative to it) are not in the way. Nothing is left behind (a probe folder is
    made and removed in the nearest existing folder).

    Returns:
        ``folder`` as a :class:`~pathlib.Path`.

    Raises:
        OutputError: ``folder`` or one of its parents is a file, the nearest existing folder is not writable, a
            file to write is a folder or read-only, or a sub-folder to make is a file.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise OutputError(f"output folder {out} is a file; give a folder (it is made when missing) or another name")
    existing = out
    while not existing.exists():
        if existing.is_symlink():
            raise OutputError(f"output folder {out}: {existing} is a broken symbolic link")
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(f"output folder {out} cannot be made: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out}: {'it' if existing == out else existing} is not writable")
    try:  # the permission bits are not the whole story (root, /proc, read-only mounts): make and remove a folder
        os.rmdir(tempfile.mkdtemp(prefix=".pixelspace-probe-", dir=existing))
    except OSError as exc:
        raise OutputError(f"output folder {out}: nothing can be made in {existing} ({exc.strerror}); "
                          "give a writable folder") from None
    for name in files:
        p = out / name
        if p.is_dir():
            raise OutputError(f"output file {p} is a folder; move it away or choose another output folder")
        if p.exists() and not os.access(p, os.W_OK):
            raise OutputError(f"output file {p} exists and is read-only")
    for name in folders:
        p = out / name
        if p.exists() and not p.is_dir():
            raise OutputError(f"output folder {p} is a file; move it away or choose another output folder")
    return out
