"""The training loop on tiny synthetic data: the loss goes down, checkpoints resume exactly, configs are guarded.

No real training: a two-layer conv net on 64 images of 16x16 pixels, a handful of steps, well under a second.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace.errors import ConfigError
from pixelspace.models.training import TrainConfig, augment, evaluate_accuracy, train
from pixelspace.models.weights import load_into


def tiny_net() -> nn.Module:
    """Two convolutions, no normalisation or dropout: eval and train mode compute the same function."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 10, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )


def tiny_net_bn_dropout() -> nn.Module:
    """With batch norm (buffers) and dropout (draws from torch's generator): what a resume must restore."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.3),
        nn.Conv2d(8, 10, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """64 uint8 images (64, 16, 16, 3) whose class (0, 1 or 2) is their brightest channel: learnable in a few steps."""
    rng = np.random.default_rng(0)
    labels = np.arange(64, dtype=np.int64) % 3
    images = rng.integers(0, 100, (64, 16, 16, 3), dtype=np.uint8)
    images[np.arange(64), :, :, labels] += 150
    return images, labels


def loss_on(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        return float(nn.functional.cross_entropy(model.eval()(x), torch.from_numpy(labels)))


def initial_model(factory: type[nn.Module] | object, seed: int) -> nn.Module:
    """The untrained model ``train`` starts from: the factory called under ``torch.manual_seed(seed)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()  # type: ignore[operator,no-any-return]


def test_two_steps_lower_the_loss(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=1, batch_size=32, pct_start=0.75, seed=0)  # 64 / 32 = 2 steps
    before = loss_on(initial_model(tiny_net, 0), images, labels)
    model = train(tiny_net, config, images, labels, tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and not model.training
    assert loss_on(model, images, labels) < before


def test_five_steps_on_a_fixed_batch_lower_the_loss_clearly(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=5, batch_size=64, seed=0)  # one step per epoch
    before = loss_on(initial_model(tiny_net, 0), images, labels)
    after = loss_on(train(tiny_net, config, images, labels, tmp_path, progress=False), images, labels)
    assert after < before - 0.2, (before, after)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5] and [r["step"] for r in log] == [1, 2, 3, 4, 5]


def test_training_is_seeded_and_leaves_the_global_generator_alone(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=1, batch_size=16, pct_start=0.5, seed=5)
    state = torch.get_rng_state()
    a = train(tiny_net_bn_dropout, config, images, labels, tmp_path / "a", progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    b = train(tiny_net_bn_dropout, config, images, labels, tmp_path / "b", progress=False)
    c = train(tiny_net_bn_dropout, dataclasses.replace(config, seed=6), images, labels, tmp_path / "c", progress=False)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])


@pytest.mark.parametrize(
    ("batch_size", "epochs", "stop_at"),
    [(32, 2, 2),   # 4 steps, stopped at the epoch boundary
     (16, 1, 2),   # 4 steps, stopped mid-epoch
     (16, 2, 5)],  # 8 steps, stopped mid-way through the second epoch
)
def test_resume_gives_the_uninterrupted_weights(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path, batch_size: int, epochs: int, stop_at: int
) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=epochs, batch_size=batch_size, pct_start=0.5, seed=3,
                         checkpoint_every=1000)
    whole = train(tiny_net_bn_dropout, config, images, labels, tmp_path / "whole", progress=False)

    interrupted = tmp_path / "interrupted"
    train(tiny_net_bn_dropout, config, images, labels, interrupted, max_steps=stop_at, progress=False)
    assert torch.load(interrupted / "checkpoint.pt", weights_only=True)["step"] == stop_at
    resumed = train(tiny_net_bn_dropout, config, images, labels, interrupted, progress=False)

    total = epochs * 64 // batch_size
    assert torch.load(interrupted / "checkpoint.pt", weights_only=True)["step"] == total
    for key, value in whole.state_dict().items():  # weights and BN buffers, bit for bit
        assert torch.equal(resumed.state_dict()[key], value), key
    # the epoch records agree too (the smoothed loss is carried across the interruption)
    logs = [[json.loads(x) for x in (d / "log.jsonl").read_text().splitlines()]
            for d in (tmp_path / "whole", interrupted)]
    assert [(r["epoch"], r["step"], r["loss"]) for r in logs[0]] == [(r["epoch"], r["step"], r["loss"]) for r in logs[1]]


def test_a_finished_run_is_not_trained_further(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=1, batch_size=16, pct_start=0.5, seed=0)
    first = train(tiny_net, config, images, labels, tmp_path, progress=False)
    again = train(tiny_net, config, images, labels, tmp_path, progress=False)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in first.state_dict().items())


def test_a_checkpoint_of_another_config_is_refused(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=1, batch_size=16, pct_start=0.5, seed=0)
    train(tiny_net, config, images, labels, tmp_path, max_steps=1, progress=False)
    with pytest.raises(ConfigError, match=r"written with another config.*'peak_lr': \(0.1, 0.05\)"):
        train(tiny_net, dataclasses.replace(config, peak_lr=0.05), images, labels, tmp_path, progress=False)


def test_the_checkpoint_loads_as_weights(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=1, batch_size=16, pct_start=0.5, seed=0)
    model = train(tiny_net_bn_dropout, config, images, labels, tmp_path, progress=False)
    fresh = load_into(tiny_net_bn_dropout(), tmp_path / "checkpoint.pt")  # read with weights_only=True
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in model.state_dict().items())


def test_evaluation_after_each_epoch_is_logged(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    config = TrainConfig(arch="tiny", epochs=2, batch_size=32, pct_start=0.5, seed=0)
    train(tiny_net, config, images, labels, tmp_path, test_images=images[:10], test_labels=labels[:10],
          progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(0.0 <= r["test_accuracy"] <= 1.0 for r in log)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"epochs": 0}, "epochs and batch_size"), ({"batch_size": 0}, "epochs and batch_size"),
     ({"pct_start": 1.0}, "pct_start"), ({"peak_lr": 0.0}, "peak_lr > 0"),
     ({"label_smoothing": 1.0}, "label_smoothing"), ({"checkpoint_every": 0}, "checkpoint_every")],
)
def test_invalid_configs(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_a_warm_up_of_one_step_or_less_is_refused(data: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    images, labels = data
    # 0.25 * 4 steps = 1: OneCycleLR would divide by zero
    with pytest.raises(ConfigError, match=r"warm-up .*0.25 \* 4.*must last more than one step"):
        train(tiny_net, TrainConfig(epochs=1, batch_size=16), images, labels, tmp_path, progress=False)


def test_shipped_recipe_defaults() -> None:
    # the model card quotes these; no label smoothing for the shipped nets (it would cap softmax confidence)
    c = TrainConfig()
    assert (c.batch_size, c.peak_lr, c.momentum, c.weight_decay, c.label_smoothing) == (256, 0.1, 0.9, 5e-4, 0.0)


def test_augment_crops_and_flips(data: tuple[np.ndarray, np.ndarray]) -> None:
    x = torch.from_numpy(data[0][:8]).permute(0, 3, 1, 2).float() / 255
    a = augment(x, torch.Generator().manual_seed(0))
    b = augment(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, augment(x, torch.Generator().manual_seed(1)))
    # a pad-0 "crop" is the image itself, possibly mirrored
    same = augment(x, torch.Generator().manual_seed(0), pad=0)
    assert all(torch.equal(s, i) or torch.equal(s, i.flip(2)) for s, i in zip(same, x, strict=True))
    # every output pixel comes from the image (reflect padding invents no values)
    assert set(a.unique().tolist()) <= set(x.unique().tolist())


def test_evaluate_accuracy_counts_per_class() -> None:
    class Fixed(nn.Module):
        """Predicts class 0 for dark images and class 1 for bright ones."""

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            bright = x.mean(dim=(1, 2, 3)) > 0.5
            return torch.stack([(~bright).float(), bright.float()], 1) + self.w

    images = np.zeros((6, 4, 4, 3), np.uint8)
    images[3:] = 255
    labels = np.array([0, 0, 1, 1, 1, 0])  # right: 0, 0, -, 1, 1, -
    acc, per_class = evaluate_accuracy(Fixed(), images, labels, batch_size=4)
    assert acc == pytest.approx(4 / 6)
    np.testing.assert_allclose(per_class, [2 / 3, 2 / 3])
