"""The built-in models."""

from __future__ import annotations

from pixelspace.models.architectures import CNN8, AllConv, NiN, VGG16Cifar
from pixelspace.models.registry import ModelSpec, register_model

ARCHITECTURES = {"allconv": AllConv, "nin": NiN, "vgg16": VGG16Cifar, "cnn8": CNN8}

register_model(ModelSpec("allconv-cifar10", AllConv, (32, 32), 10, "allconv-cifar10.safetensors"))
register_model(ModelSpec("nin-cifar10", NiN, (32, 32), 10, "nin-cifar10.safetensors"))
register_model(ModelSpec("vgg16-cifar10", VGG16Cifar, (32, 32), 10, "vgg16-cifar10.safetensors"))
register_model(ModelSpec("cnn8-cifar10", CNN8, (32, 32), 10, "cnn8-cifar10.safetensors"))
