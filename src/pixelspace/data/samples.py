"""The CIFAR-10 test sample shipped inside the package (the embedded default of the demo and tests).

1,000 images of the provided JPEG-CIFAR-10 test split, 100 per class, chosen with :data:`SAMPLE_SEED` by
:func:`build_cifar10_sample`; stored losslessly as uint8 arrays in ``assets/cifar10_test_sample.npz``.
See ``assets/DATA.md`` for provenance.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from pixelspace.data.cifar10 import CLASSES, Split
from pixelspace.errors import DataError

SAMPLE_SEED = 20261125
SAMPLE_FILE = "cifar10_test_sample.npz"


@dataclass(frozen=True)
class Sample:
    """A labelled image set: uint8 images (N, H, W, 3), int64 labels (N,), source ids, class names."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.images.shape[0])


def build_cifar10_sample(test: Split, per_class: int = 100, seed: int = SAMPLE_SEED) -> Sample:
    """Choose ``per_class`` images of each class from ``test`` with a seeded generator.

    The draw depends only on ``seed`` and on the order of ``test`` (the readers sort the folder layout by
    class, then path), so the shipped sample is rebuilt exactly from the provided JPEG-CIFAR-10 copy by
    ``build_cifar10_sample(read_tarball(path, "test"))``.

    Args:
        test: a CIFAR-10 split (images uint8 (N, 32, 32, 3), labels (N,), ids).
        per_class: images drawn from each of the 10 classes.
        seed: the seed of ``numpy.random.default_rng``; :data:`SAMPLE_SEED` for the shipped sample.

    Returns:
        The sample: class 0's images first, within a class in the order of ``test``; 10 x ``per_class``
        images.

    Raises:
        DataError: a class has fewer than ``per_class`` images.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(len(CLASSES)):
        idx = np.flatnonzero(test.labels == c)
        if idx.size < per_class:
            raise DataError(f"class {CLASSES[c]!r} has {idx.size} images, fewer than per_class={per_class}")
        chosen.append(np.sort(rng.choice(idx, size=per_class, replace=False)))
    order = np.concatenate(chosen)
    return Sample(test.images[order], test.labels[order], tuple(test.ids[i] for i in order), CLASSES)


def asset_path(name: str) -> Path:
    """Path of a file in ``pixelspace/assets`` (e.g. ``asset_path("cifar10_test_sample.npz")``)."""
    return Path(str(resources.files("pixelspace") / "assets" / name))


def save_sample(sample: Sample, path: str | Path, seed: int = SAMPLE_SEED) -> None:
    """Write a sample as compressed ``.npz`` (keys images, labels, ids, classes, seed; no pickled objects).

    Args:
        sample: the sample to write.
        path: the ``.npz`` file.
        seed: the seed it was drawn with, recorded in the file.
    """
    np.savez_compressed(
        path, images=sample.images, labels=sample.labels, ids=np.array(sample.ids),
        classes=np.array(sample.classes), seed=np.int64(seed),
    )


def load_cifar10_sample(path: str | Path | None = None) -> Sample:
    """The shipped 1,000-image CIFAR-10 test sample (or a sample file of the same format).

    Args:
        path: a file written by :func:`save_sample`; default: the one shipped in the package.

    Returns:
        The sample: images uint8 (1000, 32, 32, 3) RGB, labels int64 (1000,), ids ``test/<class>/NNNN.jpg``,
        classes (the 10 CIFAR-10 names in label order).
    """
    p = Path(path) if path is not None else asset_path(SAMPLE_FILE)
    with np.load(p, allow_pickle=False) as z:
        return Sample(
            z["images"], z["labels"].astype(np.int64), tuple(str(s) for s in z["ids"]),
            tuple(str(s) for s in z["classes"]),
        )
