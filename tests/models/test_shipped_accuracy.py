"""Every shipped weight file reaches its recorded accuracy on the sample shipped for its dataset.

The records live in ``assets/weights/accuracy.json`` (written by ``record_accuracy``); a model without shipped
weights is skipped with the reason. CIFAR-10 accuracies are JPEG-CIFAR-10 results on the 1,000-image sample;
ImageNet models are checked on the 50-image ImageNet subset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import pixelspace.data.samples as samples
from pixelspace.data.samples import Sample, load_cifar10_sample
from pixelspace.errors import ConfigError, WeightsError
from pixelspace.models import (
    AccuracyRecord,
    available_models,
    get_spec,
    load,
    measure_sample_accuracy,
    read_accuracy_records,
    record_accuracy,
    shipped_sample_for,
    shipped_weights_path,
)
from pixelspace.models.accuracy import accuracy_file_path
from pixelspace.models.architectures import NiN
from pixelspace.models.training import evaluate_accuracy
from pixelspace.models.weights import file_sha256, save_fp16

# 3 images of 1,000: room for float differences between machines (fp16 file, fp32 CPU inference), not for
# a different or damaged weight file
TOLERANCE = 0.003


def test_the_shipped_accuracy_file_is_valid() -> None:
    path = accuracy_file_path()
    assert path.is_file(), "assets/weights/accuracy.json must ship (an empty object {} when no weights do)"
    assert isinstance(json.loads(path.read_text()), dict)
    records = read_accuracy_records()
    for name in records:
        assert name in available_models(), f"accuracy.json records {name!r}, which is not a registered model"
        assert shipped_weights_path(name) is not None, f"accuracy.json records {name!r} but its weights do not ship"


@pytest.mark.parametrize("name", available_models())
def test_shipped_model_reaches_its_recorded_accuracy(name: str) -> None:
    path = shipped_weights_path(name)
    if path is None:
        pytest.skip(f"no weights ship for {name!r} yet (assets/weights/{name}.safetensors is absent)")
    records = read_accuracy_records()
    assert name in records, f"{path.name} ships without an accuracy record: run record_accuracy({name!r}, ...)"
    record = records[name]
    assert file_sha256(path) == record.weights_sha256, f"{path.name} is not the file whose accuracy was recorded"
    sample = shipped_sample_for(name)
    assert record.sample_size == len(sample)
    accuracy, per_class = evaluate_accuracy(load(name), sample.images, sample.labels)
    tolerance = max(TOLERANCE, 1.001 / len(sample))  # at least one image (the ImageNet subset has 50)
    assert abs(accuracy - record.sample_accuracy) <= tolerance, (accuracy, record.sample_accuracy)
    assert per_class.shape == (int(sample.labels.max()) + 1,) and per_class.shape[0] <= get_spec(name).num_classes


# --- the record helpers ---------------------------------------------------------------------------------


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.json"
    assert read_accuracy_records(path) == {}  # absent file: no records
    path.write_text("{}\n")
    assert read_accuracy_records(path) == {}
    a = AccuracyRecord(0.871, 1000, "ab" * 32, test_accuracy=0.868, per_class_test_accuracy=(0.9,) * 10)
    b = AccuracyRecord(0.85, 1000, "cd" * 32)
    record_accuracy("vgg16-cifar10", a, path)
    record_accuracy("nin-cifar10", b, path)
    assert read_accuracy_records(path) == {"vgg16-cifar10": a, "nin-cifar10": b}
    raw = json.loads(path.read_text())
    assert list(raw) == ["nin-cifar10", "vgg16-cifar10"] and "test_accuracy" not in raw["nin-cifar10"]
    record_accuracy("nin-cifar10", a, path)  # replaces
    assert read_accuracy_records(path)["nin-cifar10"] == a
    assert [p.name for p in tmp_path.iterdir()] == ["accuracy.json"]  # no temporary files left


def test_records_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "accuracy.json"
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        record_accuracy("resnet", AccuracyRecord(0.5, 1000, "00"), path)
    with pytest.raises(ConfigError, match="sample_accuracy must be a fraction"):
        AccuracyRecord(87.1, 1000, "00")  # a percentage is not a fraction
    for content, message in [
        ("not json", "not valid JSON"),
        ("[]", "must hold a JSON object"),
        ('{"nin-cifar10": {"sample_accuracy": 0.5}}', "incomplete"),
        ('{"nin-cifar10": {"sample_accuracy": 0.5, "sample_size": 1000, "weights_sha256": "0", "acc": 1}}',
         r"unknown keys \['acc'\]"),
    ]:
        path.write_text(content)
        with pytest.raises(ConfigError, match=message):
            read_accuracy_records(path)


def test_measure_sample_accuracy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = load_cifar10_sample()
    small = Sample(full.images[::50], full.labels[::50], full.ids[::50], full.classes)  # 20 images: fast
    monkeypatch.setattr(samples, "load_cifar10_sample", lambda path=None: small)
    weights = tmp_path / "nin.safetensors"
    save_fp16(NiN(), weights)
    record = measure_sample_accuracy("nin-cifar10", weights, test_accuracy=0.5)
    expected, _ = evaluate_accuracy(load("nin-cifar10", weights=weights), small.images, small.labels)
    assert record == AccuracyRecord(expected, 20, file_sha256(weights), test_accuracy=0.5)
    assert np.isfinite(record.sample_accuracy)


def test_measure_without_weights() -> None:
    missing = [n for n in available_models() if shipped_weights_path(n) is None]
    if not missing:
        pytest.skip("every model ships weights")
    with pytest.raises(WeightsError, match="no weights ship"):
        measure_sample_accuracy(missing[0])


def test_recorded_full_test_accuracy_is_remeasured(shared_data: Path) -> None:
    # Table I shows the full-test accuracy a campaign copies from accuracy.json: measure it again here
    from pixelspace.data.cifar10 import load_split

    tarball = shared_data / "cifar10-jpeg" / "cifar10_jpeg.tar.gz"
    assert tarball.is_file(), f"{tarball} absent"
    split = load_split(tarball, "test")  # decoded once into the default cache
    record = read_accuracy_records()["cnn8-cifar10"]
    assert record.test_size == len(split) == 10_000 and record.test_accuracy is not None
    accuracy, _ = evaluate_accuracy(load("cnn8-cifar10"), split.images, split.labels)
    assert abs(accuracy - record.test_accuracy) <= 3 / 10_000, (accuracy, record.test_accuracy)
