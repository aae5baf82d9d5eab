"""Classifier wrappers, the paper's architectures and weight files."""

from pixelspace.models.registry import available_models, get_spec, load, register_model

__all__ = ["available_models", "get_spec", "load", "register_model"]
