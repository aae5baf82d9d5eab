"""The shipped CIFAR-10 images the region benchmarks attack: correctly classified, with usable GrabCut masks."""

from __future__ import annotations

import numpy as np
import torch

from pixelspace import Classifier
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.segment import load_cifar10_sample_masks, mask_quality


def pick_images(clf: Classifier, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``count`` shipped images, in the seeded order, that ``clf`` classifies correctly and whose
    shipped foreground mask passes the quality guard: uint8 (N, 32, 32, 3), predicted labels (N,), bool
    foregrounds (N, 32, 32)."""
    sample, masks = load_cifar10_sample(), load_cifar10_sample_masks()
    pred = clf.probabilities(torch.from_numpy(sample.images).permute(0, 3, 1, 2), count=False).argmax(1).numpy()
    ok = ~mask_quality(masks.foreground).flagged
    order = np.random.default_rng(seed).permutation(len(sample))
    chosen = np.array([i for i in order if pred[i] == sample.labels[i] and ok[i]][:count], dtype=np.int64)
    return sample.images[chosen], pred[chosen], masks.foreground[chosen]
