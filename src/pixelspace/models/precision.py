"""Inference precision: what arithmetic a model's forward pass uses (``docs/engine.md``, "Precision").

- ``"fp32"``: IEEE float32 throughout. On CUDA this turns TF32 off for convolutions and matrix products for
  the duration of the call (torch's own default lets cuDNN convolutions use TF32).
- ``"tf32"``: float32 storage, TF32 tensor-core arithmetic for convolutions and matrix products on CUDA
  (Ampere and newer); identical to ``"fp32"`` on the CPU.
- ``"bf16"`` / ``"fp16"``: ``torch.autocast`` to bfloat16 / float16 (outputs are cast back to float32 before
  the softmax).

The engine confirms every success at ``"fp32"`` whatever the search ran at, so a reduced-precision success
never stands unconfirmed. The settings are changed only inside :func:`inference_precision` and restored on
exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, get_args

import torch

from pixelspace.errors import ConfigError

Precision = Literal["fp32", "tf32", "bf16", "fp16"]
#: The accepted precision names.
PRECISIONS: tuple[str, ...] = get_args(Precision)
_AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(value: object, name: str = "precision") -> Precision:
    """``value`` if it names a precision, else a ConfigError that lists them."""
    if value not in PRECISIONS:
        raise ConfigError(f"{name} must be one of {', '.join(repr(p) for p in PRECISIONS)}; got {value!r}")
    return value  # type: ignore[return-value]


@contextmanager
def _cuda_fp32_mode(mode: str) -> Iterator[None]:
    """cuDNN convolutions and CUDA matmuls in ``"ieee"`` or ``"tf32"`` float32 arithmetic, restored on exit."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    matmul = torch.backends.cuda.matmul
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch >= 2.9
        saved = (conv.fp32_precision, matmul.fp32_precision)
        conv.fp32_precision, matmul.fp32_precision = mode, mode
        try:
            yield
        finally:
            conv.fp32_precision, matmul.fp32_precision = saved
    else:  # older torch: the boolean switches
        allow = mode == "tf32"
        saved_b = (torch.backends.cudnn.allow_tf32, matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = allow, allow
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, matmul.allow_tf32 = saved_b


@contextmanager
def inference_precision(precision: Precision, device: torch.device) -> Iterator[None]:
    """Run the enclosed forward passes of a torch model on ``device`` at ``precision``."""
    check_precision(precision)
    if device.type == "cuda":
        with _cuda_fp32_mode("tf32" if precision == "tf32" else "ieee"):
            if precision in _AUTOCAST:
                with torch.autocast("cuda", dtype=_AUTOCAST[precision]):
                    yield
            else:
                yield
    elif precision in _AUTOCAST:
        with torch.autocast(device.type, dtype=_AUTOCAST[precision]):
            yield
    else:
        yield
