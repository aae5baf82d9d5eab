"""Classifier wrappers, the paper's architectures and weight files."""

from pixelspace.models.accuracy import (
    ACCURACY_FILE,
    AccuracyRecord,
    measure_sample_accuracy,
    read_accuracy_records,
    record_accuracy,
    shipped_sample_for,
)
from pixelspace.models.registry import (
    ModelSpec,
    available_models,
    get_spec,
    load,
    register_model,
    shipped_weights_path,
)

__all__ = [
    "ACCURACY_FILE",
    "AccuracyRecord",
    "ModelSpec",
    "available_models",
    "get_spec",
    "load",
    "measure_sample_accuracy",
    "read_accuracy_records",
    "record_accuracy",
    "register_model",
    "shipped_sample_for",
    "shipped_weights_path",
]
