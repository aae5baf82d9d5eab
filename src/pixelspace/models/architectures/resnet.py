"""ResNet-50 for ImageNet (He et al., 2016), with torchvision's state-dict key names.

The layout is torchvision's ``resnet50`` ("ResNet v1.5": in a bottleneck the stride sits on the 3x3
convolution, not on the first 1x1), so a torchvision ImageNet weight file loads directly::

    conv1.weight, bn1.{weight,bias,running_mean,running_var,num_batches_tracked},
    layer{1..4}.{i}.conv{1,2,3}.weight, layer{1..4}.{i}.bn{1,2,3}.*, layer{1..4}.0.downsample.{0,1}.*,
    fc.weight, fc.bias

plus ``normalize.mean``/``normalize.std`` (optional in a file; see ``imagenet_common``). Written for
pixelspace; no torchvision code is used. 25,557,032 parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.imagenet_common import ImageNetClassifier

RESNET50_LAYERS = (3, 4, 6, 3)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride here) -> 1x1 (x4 channels) with batch norm, plus the identity or a projection."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(ImageNetClassifier):
    """ResNet-50. Input float (N, 3, H, W) in [0, 1] (224x224 for ImageNet); output logits (N, num_classes).

    Examples:
        >>> import torch
        >>> with torch.device("meta"):
        ...     net = ResNet50()
        >>> sum(p.numel() for p in net.parameters())
        25557032
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        stages = []
        for i, blocks in enumerate(RESNET50_LAYERS):
            planes = 64 * 2**i
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(cin, planes, stride=2 if (b == 0 and i > 0) else 1))
                cin = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.normalize(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))
