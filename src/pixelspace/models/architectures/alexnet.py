"""AlexNet for ImageNet in torchvision's single-tower layout, with torchvision's state-dict key names.

This is the variant whose ImageNet weights users have today (torchvision's ``alexnet``, after Krizhevsky's
"One weird trick for parallelizing convolutional neural networks", 2014):

- ``features``: conv 11x11/4 64 [0], ReLU, max-pool 3/2, conv 5x5 192 [3], ReLU, max-pool 3/2,
  conv 3x3 384 [6], ReLU, conv 3x3 256 [8], ReLU, conv 3x3 256 [10], ReLU, max-pool 3/2;
- an adaptive 6x6 average pool;
- ``classifier``: Dropout, Linear(9216, 4096) [1], ReLU, Dropout, Linear(4096, 4096) [4], ReLU,
  Linear(4096, 1000) [6].

Plus ``normalize.mean``/``normalize.std`` (optional in a file; see ``imagenet_common``). 61,100,840 parameters.

**It is not the paper's network.** The paper attacks BVLC AlexNet (Caffe's reference model, after Krizhevsky et al.
2012): 96-256-384-384-256 filters, grouped convolutions (two groups in conv2, conv4 and conv5, the two-GPU split),
local response normalisation after conv1 and conv2, 227x227 crops, BGR input with mean-image subtraction on the
0..255 scale, and 60,965,224 parameters. Results with this variant are comparable in kind, not digit for digit.
"""

from __future__ import annotations

import torch
from torch import nn

from pixelspace.models.architectures.imagenet_common import ImageNetClassifier


class AlexNet(ImageNetClassifier):
    """Single-tower AlexNet. Input float (N, 3, 224, 224) in [0, 1]; output logits (N, num_classes).

    Examples:
        >>> import torch
        >>> with torch.device("meta"):
        ...     net = AlexNet()
        >>> sum(p.numel() for p in net.parameters())
        61100840
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(self.normalize(x)))
        return self.classifier(x.flatten(1))
