"""Architectures defined by pixelspace (no torchvision)."""

from pixelspace.models.architectures.alexnet import AlexNet
from pixelspace.models.architectures.allconv import AllConv
from pixelspace.models.architectures.cnn8 import CNN8
from pixelspace.models.architectures.efficientnet_lite import EfficientNetLite0
from pixelspace.models.architectures.nin import NiN
from pixelspace.models.architectures.resnet import ResNet50
from pixelspace.models.architectures.vgg import VGG16Cifar
from pixelspace.models.architectures.vgg_imagenet import VGG16ImageNet

__all__ = ["CNN8", "AlexNet", "AllConv", "EfficientNetLite0", "NiN", "ResNet50", "VGG16Cifar", "VGG16ImageNet"]
