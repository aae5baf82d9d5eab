"""VGG-16 for ImageNet (Simonyan & Zisserman, 2015, configuration D), with torchvision's state-dict key names.

The layout is torchvision's ``vgg16`` (no batch norm): ``features`` is one ``nn.Sequential`` of conv/ReLU/max-pool
modules, so the 13 convolutions sit at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28
(``features.0.weight`` ...); an adaptive 7x7 average pool; ``classifier`` is
Linear(25088, 4096) [0], ReLU, Dropout, Linear(4096, 4096) [3], ReLU, Dropout, Linear(4096, 1000) [6].
Plus ``normalize.mean``/``normalize.std`` (optional in a file; see ``imagenet_common``). Written for pixelspace;
no torchvision code is used. 138,357,544 parameters. This is the paper's VGG-16 (I).
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.imagenet_common import ImageNetClassifier

# configuration D: output channels of the 13 3x3 convolutions, "M" = 2x2 max-pool with stride 2
VGG16_D: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class VGG16ImageNet(ImageNetClassifier):
    """VGG-16 (D) with the 4096-wide classifier. Input float (N, 3, 224, 224) in [0, 1]; output logits (N, 1000).

    Examples:
        >>> import torch
        >>> with torch.device("meta"):
        ...     net = VGG16ImageNet()
        >>> sum(p.numel() for p in net.parameters())
        138357544
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for item in VGG16_D:
            if item == "M":
                layers.append(nn.MaxPool2d(2, stride=2))
            else:
                assert isinstance(item, int)
                layers += [nn.Conv2d(cin, item, 3, padding=1), nn.ReLU(inplace=True)]
                cin = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.normalize(x)))
        return self.classifier(x.flatten(1))
