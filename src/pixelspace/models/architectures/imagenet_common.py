"""Pieces shared by the ImageNet architectures: the standard preprocessing and the optional normalisation keys.

Every ImageNet network in pixelspace takes float images ``(N, 3, H, W)`` in [0, 1] and normalises them itself
with a :class:`~pixelspace.models.architectures.common.Normalize` child named ``normalize``. Its ``mean``/``std``
buffers are part of the module's state dict (so a file saved by pixelspace carries them), but a weight file
written by another implementation (torchvision, EfficientNet-PyTorch) does not have them. The networks therefore
list them in ``optional_state_keys``: :func:`pixelspace.models.weights.load_into` accepts a file with or without
those keys and keeps the architecture's values when they are absent.
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from pixelspace.models.architectures.common import Normalize

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE_KEYS: frozenset[str] = frozenset({"normalize.mean", "normalize.std"})


class ImageNetClassifier(nn.Module):
    """Base class: a ``normalize`` child (ImageNet mean/std by default) and optional normalisation keys.

    Subclasses define their layers under the attribute names of the reference implementation, so that the
    state dict, minus ``normalize.*``, has exactly the reference key names.
    """

    optional_state_keys: ClassVar[frozenset[str]] = NORMALIZE_KEYS

    def __init__(
        self, mean: tuple[float, float, float] = IMAGENET_MEAN, std: tuple[float, float, float] = IMAGENET_STD
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
