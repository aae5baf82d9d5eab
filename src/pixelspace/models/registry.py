"""Models registered by name: ``load("vgg16-cifar10")`` returns a ready module with the shipped weights."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pixelspace.errors import ConfigError, ShapeError, WeightsError
from pixelspace.models.spec import ModelSpec as ModelSpec  # re-exported: the registry's entries
from pixelspace.models.weights import load_into
from pixelspace.models.zoo import BUILTIN_MODELS

# the built-in models first, so they cannot be shadowed (register_model refuses a taken name)
_REGISTRY: dict[str, ModelSpec] = {spec.name: spec for spec in BUILTIN_MODELS}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry.

    Args:
        spec: the model's name, factory, input size, class count and shipped weight file name.

    Returns:
        ``spec``.

    Raises:
        ConfigError: the name is taken (the built-in models are registered first, so they cannot be shadowed).
    """
    if spec.name in _REGISTRY:
        raise ConfigError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def available_models() -> list[str]:
    """Names of all registered models."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """The spec of a registered model.

    Raises:
        ConfigError: an unknown name; the message lists the known ones.
    """
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def shipped_weights_path(name: str) -> Path | None:
    """Path of the weights shipped inside the package for ``name``, or None when none ship."""
    spec = get_spec(name)
    if spec.weights is None:
        return None
    path = Path(str(resources.files("pixelspace") / "assets" / "weights" / spec.weights))
    return path if path.is_file() else None


def load(name: str, weights: str | Path | None = None, pretrained: bool = True) -> nn.Module:
    """Build a registered model in eval mode.

    The module takes float images (N, 3, H, W) in [0, 1] (normalisation is inside) and returns logits
    (N, num_classes).

    Args:
        name: a registered name, e.g. ``"vgg16-cifar10"``.
        weights: a user's weight file (safetensors or torch state dict); default: the shipped weights.
        pretrained: with ``weights=None``, False returns randomly initialised weights.

    Returns:
        The model, in eval mode, on the CPU; its attribute ``pixelspace_input_size`` (H, W) is the image size
        it was registered for, which :class:`~pixelspace.attack.pixel_attack.PixelAttack` checks.

    Raises:
        ConfigError: unknown name.
        WeightsError: no shipped weights for this name, or a file that does not fit.
    """
    spec = get_spec(name)
    # channels-last storage: ~1.4x faster convolutions on CPU; Classifier feeds such modules channels-last input
    model = spec.factory().to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if weights is not None:
        load_into(model, weights)
    elif pretrained:
        path = shipped_weights_path(name)
        if path is None:
            shipped = [n for n in available_models() if shipped_weights_path(n)]
            raise WeightsError(
                f"no weights ship for {name!r}; pass weights=PATH or pretrained=False (models with shipped "
                f"weights: {', '.join(shipped) if shipped else 'none yet'})"
            )
        load_into(model, path)
    # the image size it was registered for: PixelAttack refuses other sizes (as the CLI does)
    model.pixelspace_input_size = tuple(spec.input_size)
    return model.eval()


def check_registered_size(model: Any, height: int, width: int) -> None:
    """Raise ShapeError when ``model`` came from :func:`load` for another image size than (height, width).

    Only a ``torch.nn.Module`` carrying a 2-tuple ``pixelspace_input_size`` is checked; delete that attribute
    to use a registered model at another size on purpose (e.g. after fine-tuning it there).
    """
    size = getattr(model, "pixelspace_input_size", None) if isinstance(model, nn.Module) else None
    if not (isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) for v in size)):
        return
    if (height, width) != size:
        raise ShapeError(f"this model was registered for {size[0]}x{size[1]} images (pixelspace.models.load); got "
                         f"{height}x{width}: resize the images, or `del model.pixelspace_input_size` to use it at "
                         "another size on purpose")
