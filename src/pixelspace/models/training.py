"""Seeded, resumable training of the CIFAR-10 networks.

Recipe (see docs/models.md): SGD with Nesterov momentum, one-cycle learning rate, weight decay, 4-pixel
reflect-pad random crop and horizontal flip, no label smoothing. Every random draw (data order, crops, flips,
dropout, initialisation) derives from ``seed``, and the state is checkpointed every ``checkpoint_every`` steps
and at each epoch's end, so a killed run resumes where it stopped and ends with the same weights it would have
reached uninterrupted (up to float non-determinism of the backend).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pixelspace.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run (stored in every checkpoint)."""

    arch: str = "vgg16"
    epochs: int = 15
    batch_size: int = 256
    peak_lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    pct_start: float = 0.25
    label_smoothing: float = 0.0
    seed: int = 0
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}")
        if not 0.0 < self.pct_start < 1.0:
            raise ConfigError(f"pct_start must be in (0, 1), got {self.pct_start}")
        if self.peak_lr <= 0 or self.weight_decay < 0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"need peak_lr > 0, weight_decay >= 0 and label_smoothing in [0, 1), got {self.peak_lr}, "
                f"{self.weight_decay} and {self.label_smoothing}"
            )
        if self.checkpoint_every < 1:
            raise ConfigError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")


def augment(images: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random reflect-pad crop and horizontal flip, vectorised over the batch.

    Args:
        images: float (N, 3, H, W), H and W > ``pad``.
        gen: the generator of the crop offsets and flips.
        pad: reflect padding in pixels on each side; offsets are uniform in [0, 2 * pad].

    Returns:
        float (N, 3, H, W): each image cropped from its padded copy, half of them mirrored left-right.
    """
    n, _, h, w = images.shape
    padded = nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, 3, h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, 3, h, w)
    out = out.gather(3, cols)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def evaluate_accuracy(
    model: nn.Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 500
) -> tuple[float, np.ndarray]:
    """Top-1 accuracy and per-class accuracy of ``model`` (put in eval mode) on uint8 images.

    Args:
        model: maps float (B, 3, H, W) in [0, 1] to logits (B, K); run on the device of its parameters.
        images: uint8 RGB, shape (N, H, W, 3).
        labels: int class indices, shape (N,).
        batch_size: images per forward pass.

    Returns:
        Top-1 accuracy in [0, 1], and the accuracy of each class 0 .. max(labels), shape (max(labels) + 1,)
        (NaN for a class without images).
    """
    model.eval()
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    preds = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i : i + batch_size]).to(device).permute(0, 3, 1, 2).float().div_(255)
            preds.append(model(x).argmax(1).cpu().numpy())
    pred = np.concatenate(preds)
    correct = pred == labels
    classes = int(labels.max()) + 1
    per_class = np.array([correct[labels == c].mean() if np.any(labels == c) else np.nan for c in range(classes)])
    return float(correct.mean()), per_class


def _save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(
    model_factory: Callable[[], nn.Module],
    config: TrainConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    run_dir: str | Path,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    max_steps: int | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Train a model, checkpointing into ``run_dir`` and resuming from its last checkpoint.

    Args:
        model_factory: builds the untrained model (called under the seeded torch generator state).
        config: the hyperparameters; a checkpoint written under another config is refused.
        train_images: uint8 (N, H, W, 3); train_labels: int64 (N,).
        run_dir: folder for ``checkpoint.pt`` and ``log.jsonl``.
        test_images, test_labels: evaluated after each epoch when given.
        max_steps: stop after this many optimizer steps in total (for tests).
        progress: show a tqdm bar.
        device: where the model and each batch live (``"cpu"``, ``"cuda"``); the data order, crops and
            flips are drawn on the CPU either way, and a run may resume on another device.

    Returns:
        The model in eval mode (on ``device``).
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        # initialisation and dropout draw from torch's generator: seeded here, restored on exit
        torch.manual_seed(config.seed)
        return _train(model_factory, config, train_images, train_labels, run, test_images, test_labels,
                      max_steps, progress, dev)


def _train(
    model_factory: Callable[[], nn.Module],
    config: TrainConfig,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    run: Path,
    test_images: np.ndarray | None,
    test_labels: np.ndarray | None,
    max_steps: int | None,
    progress: bool,
    device: torch.device,
) -> nn.Module:
    from tqdm import tqdm

    ckpt_path = run / "checkpoint.pt"
    model = model_factory().to(device=device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    n = len(train_images)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    if config.pct_start * total_steps <= 1:
        # OneCycleLR divides by zero when the warm-up is exactly one step and never warms up when shorter
        raise ConfigError(
            f"the one-cycle warm-up (pct_start * total steps = {config.pct_start} * {total_steps}) must last more "
            f"than one step; total steps = epochs * ceil({n} images / batch_size {config.batch_size}): raise "
            "epochs or pct_start"
        )
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.peak_lr, momentum=config.momentum, nesterov=True,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.peak_lr, total_steps=total_steps, pct_start=config.pct_start,
        div_factor=25.0, final_div_factor=1000.0,
    )
    step = 0
    running: float | None = None  # smoothed training loss, shown and logged
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if state["config"] != dataclasses.asdict(config):
            theirs = state["config"]
            diff = {k: (theirs.get(k), v) for k, v in dataclasses.asdict(config).items() if theirs.get(k) != v}
            raise ConfigError(
                f"{ckpt_path} was written with another config (field: (checkpoint, requested)): {diff}; "
                "resume with the same settings or use another run folder"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:  # dropout draws on CUDA come from its own generator
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        step = int(state["step"])
        running = state.get("running_loss")  # absent in checkpoints of older versions
        log.info("resuming %s at step %d of %d", run, step, total_steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    x_all = torch.from_numpy(train_images).permute(0, 3, 1, 2)  # uint8 view, converted per batch
    y_all = torch.from_numpy(train_labels.astype(np.int64))
    limit = total_steps if max_steps is None else min(total_steps, max_steps)
    bar = tqdm(total=total_steps, initial=step, disable=not progress, desc=f"train {config.arch}", unit="step")
    logf = (run / "log.jsonl").open("a")
    t0 = time.time()
    try:
        while step < limit:
            epoch, within = divmod(step, steps_per_epoch)
            order = torch.from_numpy(np.random.default_rng([config.seed, epoch]).permutation(n))
            model.train()
            while within < steps_per_epoch and step < limit:
                idx = order[within * config.batch_size : (within + 1) * config.batch_size]
                gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
                x = augment(x_all[idx].float().div_(255), gen)
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                loss = loss_fn(model(x), y_all[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                within += 1
                running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{running:.3f}", lr=f"{sched.get_last_lr()[0]:.4f}")
                if step % config.checkpoint_every == 0 or within == steps_per_epoch or step == limit:
                    _save_atomic(
                        {"config": dataclasses.asdict(config), "model": model.state_dict(),
                         "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                         "torch_rng": torch.get_rng_state(), "step": step, "running_loss": running,
                         **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {})},
                        ckpt_path,
                    )
            if within == steps_per_epoch:
                record: dict[str, float | int] = {"epoch": epoch + 1, "step": step,
                                                  "loss": float("nan") if running is None else running,
                                                  "seconds": time.time() - t0}
                if test_images is not None and test_labels is not None:
                    acc, _ = evaluate_accuracy(model, test_images, test_labels)
                    record["test_accuracy"] = acc
                    log.info("epoch %d: test accuracy %.4f", epoch + 1, acc)
                    bar.write(f"epoch {epoch + 1}: loss {running:.4f}, test accuracy {acc:.4f}")
                logf.write(json.dumps(record) + "\n")
                logf.flush()
    finally:
        bar.close()
        logf.close()
    model.eval()
    return model
