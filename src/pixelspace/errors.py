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
