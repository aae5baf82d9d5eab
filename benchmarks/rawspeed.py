"""Raw batched inference throughput: the physical limit for any attack that queries the full model."""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from torch import nn


def _sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so timings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def raw_throughput(model: nn.Module, seconds: float, sizes: Sequence[int] = (32, 64, 128, 256, 512, 1024),
                   image_size: int = 32, channels_last: bool = True) -> tuple[int, float]:
    """(batch size, images/s) of the fastest batched inference + softmax over ``sizes``, each timed for about
    ``seconds`` after a warm-up, on the device of ``model``'s parameters. Input is uint8 converted to float
    [0, 1], channels-last as the Classifier feeds the shipped models (``channels_last=False``: plain NCHW, as
    it feeds a model that is not stored channels-last)."""
    device = next(model.parameters()).device
    best = (sizes[0], 0.0)
    x8 = torch.randint(0, 256, (max(sizes), 3, image_size, image_size), dtype=torch.uint8,
                       generator=torch.Generator().manual_seed(0))
    if channels_last:
        x8 = x8.contiguous(memory_format=torch.channels_last)
    x8 = x8.to(device)
    with torch.inference_mode():
        for bs in sizes:
            torch.softmax(model(x8[:bs].float() / 255), 1)  # warm-up
            _sync(device)
            done, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                torch.softmax(model(x8[:bs].float() / 255), 1)
                done += bs
            _sync(device)
            rate = done / (time.perf_counter() - t0)
            print(f"  raw batch {bs:5d}: {rate:9.0f} images/s")
            if rate > best[1]:
                best = (bs, rate)
    return best
