"""Project exceptions: every bad input raises one of these, naming the argument and what was expected."""

from __future__ import annotations


class PixelspaceError(Exception):
    """Base class of all pixelspace errors."""


class ShapeError(PixelspaceError, ValueError):
    """An array has the wrong rank, size, channel count or layout."""


class DTypeError(PixelspaceError, TypeError):
    """An array has the wrong dtype or value range."""


class RegionError(PixelspaceError, ValueError):
    """A region mask is empty, too small, or does not match its image."""


class ObjectiveError(PixelspaceError, ValueError):
    """Labels or targets are out of range, of the wrong length, or a target equals the clean class."""


class ModelOutputError(PixelspaceError, ValueError):
    """A model returned the wrong shape, NaN, or probabilities that do not sum to one."""


class ConfigError(PixelspaceError, ValueError):
    """A configuration value or key is invalid."""


class WeightsError(PixelspaceError, ValueError):
    """A weight file is missing, corrupt, or does not fit the architecture."""


class DataError(PixelspaceError, ValueError):
    """A dataset file or folder is missing or unreadable."""


class StoreError(PixelspaceError, RuntimeError):
    """A results store is incompatible, of a newer schema, or cannot be written."""


class OutputError(PixelspaceError, ValueError):
    """An output folder is a file, lies under a file, or cannot be written; or an output file is a folder."""


def recovery_hint(path: object) -> str:
    """How to get the readable rows of a damaged store file back."""
    return (f"To recover: `sqlite3 {path} .recover | sqlite3 recovered.sqlite` copies what can be read into a new "
            "file (then `pixelspace run` the campaign with `store` set to it to redo what is missing), or run the "
            "campaign again into a new store path")


def sqlite_store_error(path: object, action: str, exc: Exception) -> StoreError:
    """A :class:`StoreError` for an SQLite failure on store ``path`` while doing ``action`` ("open", "read",
    "write"): SQLite's text plus the likely cause and what to do about it."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        hint = " (the file or its folder is read-only; pick a writable store path)"
    elif "full" in text:
        hint = " (the disk is full; free space and run again: committed batches are kept)"
    elif "unable to open" in text:
        hint = " (the folder does not exist or is not writable)"
    elif "not a database" in text:
        hint = " (the file is not an SQLite database: give the path of a store that `pixelspace run` wrote)"
    elif "malformed" in text or "corrupt" in text:
        hint = (" (the file is damaged, e.g. truncated by an interrupted copy or a full disk). "
                f"{recovery_hint(path)}")
    elif "locked" in text or "busy" in text:
        hint = " (another process holds the store; is a second campaign writing it?)"
    else:
        hint = ""
    return StoreError(f"cannot {action} store {path}: {exc}{hint}")
