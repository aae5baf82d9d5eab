"""Architectures defined by pixelspace (no torchvision)."""

from pixelspace.models.architectures.allconv import AllConv
from pixelspace.models.architectures.cnn8 import CNN8
from pixelspace.models.architectures.nin import NiN
from pixelspace.models.architectures.vgg import VGG16Cifar

__all__ = ["CNN8", "AllConv", "NiN", "VGG16Cifar"]
