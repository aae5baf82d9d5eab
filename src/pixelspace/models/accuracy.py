"""Recorded accuracy of the shipped weights: ``assets/weights/accuracy.json``.

Each shipped weight file has a record of its top-1 accuracy on the sample shipped for its dataset (measured with
the fp16 file loaded into the fp32 model on the CPU) and the file's sha256, so a test can check that every shipped
model still reaches its recorded accuracy, and that the file is the one measured. The sample is the 1,000-image
JPEG-CIFAR-10 sample for the 10-class models and the 50-image ImageNet subset for the 1000-class ones
(:func:`shipped_sample_for`).
The file maps model names to records::

    {"vgg16-cifar10": {"sample_accuracy": 0.874, "sample_size": 1000, "weights_sha256": "…",
                       "test_accuracy": 0.868, "per_class_test_accuracy": [0.9, …]}}

Examples:
    >>> from pixelspace.models import measure_sample_accuracy, record_accuracy
    >>> record_accuracy("vgg16-cifar10", measure_sample_accuracy("vgg16-cifar10"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixelspace.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    from pixelspace.data.samples import Sample

ACCURACY_FILE = "accuracy.json"


@dataclass(frozen=True)
class AccuracyRecord:
    """The measured accuracy of one shipped weight file.

    Attributes:
        sample_accuracy: top-1 accuracy in [0, 1] on the shipped sample (fp16 weights, fp32 CPU inference).
        sample_size: images in that sample (1,000 for CIFAR-10, 50 for ImageNet).
        weights_sha256: hex sha256 of the weight file the accuracy was measured with.
        test_accuracy: top-1 accuracy in [0, 1] on the larger evaluation set, when measured: the 10,000-image
            JPEG-CIFAR-10 test split, or for ImageNet models the 1,000 images of ``imagenet-samples`` (one per
            class, resized whole to 224x224).
        per_class_test_accuracy: accuracy per class (label order) on that set, when measured.
        test_size: images in that set (10,000 for CIFAR-10, 1,000 for ImageNet), when recorded.
    """

    sample_accuracy: float
    sample_size: int
    weights_sha256: str
    test_accuracy: float | None = None
    per_class_test_accuracy: tuple[float, ...] | None = None
    test_size: int | None = None

    def __post_init__(self) -> None:
        for field in ("sample_accuracy", "test_accuracy"):
            value = getattr(self, field)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"{field} must be a fraction in [0, 1], got {value}")
        if self.sample_size < 1:
            raise ConfigError(f"sample_size must be >= 1, got {self.sample_size}")


def accuracy_file_path() -> Path:
    """Path of the shipped ``assets/weights/accuracy.json``."""
    return Path(str(resources.files("pixelspace") / "assets" / "weights" / ACCURACY_FILE))


def _record_from_json(name: str, raw: Any, path: Path) -> AccuracyRecord:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the record of {name!r} is not an object")
    known = {f.name for f in dataclasses.fields(AccuracyRecord)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: the record of {name!r} has unknown keys {unknown}; known: {sorted(known)}")
    per_class = raw.get("per_class_test_accuracy")
    try:
        return AccuracyRecord(**{**raw, "per_class_test_accuracy": tuple(per_class) if per_class else None})
    except TypeError as exc:
        raise ConfigError(f"{path}: the record of {name!r} is incomplete: {exc}") from exc


def read_accuracy_records(path: str | Path | None = None) -> dict[str, AccuracyRecord]:
    """Read the recorded accuracies.

    Args:
        path: an accuracy JSON file; default: the shipped ``assets/weights/accuracy.json``.

    Returns:
        Model name -> record; empty when the file does not exist or holds ``{}``.

    Raises:
        ConfigError: the file is not a JSON object of valid records.
    """
    p = Path(path) if path is not None else accuracy_file_path()
    if not p.is_file():
        return {}
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{p} must hold a JSON object mapping model names to records")
    return {name: _record_from_json(name, rec, p) for name, rec in raw.items()}


def record_accuracy(name: str, record: AccuracyRecord, path: str | Path | None = None) -> None:
    """Add or replace the record of ``name`` (written atomically, keys sorted).

    Args:
        name: a registered model name, e.g. ``"vgg16-cifar10"``.
        record: its measured accuracy.
        path: the accuracy JSON file; default: the shipped ``assets/weights/accuracy.json``.

    Raises:
        ConfigError: ``name`` is not registered, or the existing file is malformed.
    """
    from pixelspace.models.registry import get_spec

    get_spec(name)
    p = Path(path) if path is not None else accuracy_file_path()
    records = read_accuracy_records(p)
    records[name] = record
    out = {
        n: {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(r).items() if v is not None}
        for n, r in sorted(records.items())
    }
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=p.name + ".", suffix=".tmp", dir=p.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, p)


def shipped_sample_for(name: str) -> Sample:
    """The sample shipped for a registered model's dataset.

    Args:
        name: a registered model name.

    Returns:
        The 50-image ImageNet subset (``load_imagenet_sample``) for a 1000-class model, else the 1,000-image
        JPEG-CIFAR-10 sample (``load_cifar10_sample``).

    Raises:
        ConfigError: unknown name.
    """
    from pixelspace.data import imagenet, samples
    from pixelspace.models.registry import get_spec

    if get_spec(name).num_classes == 1000:
        return imagenet.load_imagenet_sample()
    return samples.load_cifar10_sample()


def measure_sample_accuracy(
    name: str,
    weights: str | Path | None = None,
    *,
    test_accuracy: float | None = None,
    per_class_test_accuracy: tuple[float, ...] | None = None,
) -> AccuracyRecord:
    """Measure a model's top-1 accuracy on the sample shipped for its dataset (CPU, fp32 inference).

    Args:
        name: a registered model name.
        weights: the weight file; default: the shipped one.
        test_accuracy: the larger evaluation set's accuracy, measured elsewhere, to store alongside.
        per_class_test_accuracy: its per-class accuracy (one value per class).

    Returns:
        The record, ready for :func:`record_accuracy`.

    Raises:
        ConfigError: unknown name.
        WeightsError: no weights ship for ``name`` and none were given.
    """
    from pixelspace.models.registry import load, shipped_weights_path
    from pixelspace.models.training import evaluate_accuracy
    from pixelspace.models.weights import file_sha256

    path = Path(weights) if weights is not None else shipped_weights_path(name)
    if path is None:
        raise WeightsError(f"no weights ship for {name!r}; pass weights=PATH")
    sample = shipped_sample_for(name)
    acc, _ = evaluate_accuracy(load(name, weights=path), sample.images, sample.labels)
    return AccuracyRecord(
        sample_accuracy=acc, sample_size=len(sample), weights_sha256=file_sha256(path),
        test_accuracy=test_accuracy, per_class_test_accuracy=per_class_test_accuracy,
    )
