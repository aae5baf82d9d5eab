"""The incremental forward pass answers few-pixel candidates exactly as full forward passes do."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from pixelspace import DEConfig, PixelAttack, Untargeted
from pixelspace.attack.encoding import Decoded
from pixelspace.attack.perturb import perturb
from pixelspace.attack.scan import PixelScan, scan_first
from pixelspace.errors import ConfigError
from pixelspace.models import load
from pixelspace.models.classifier import Classifier
from pixelspace.models.incremental import IncrementalModel, NotIncremental, Pointwise, Spatial, analyse


class RandomChain(nn.Module):
    """A seeded chain of every supported layer type with odd kernels, strides, paddings and dilations,
    normalisation written as arithmetic in ``forward``, then a pooled linear head."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        rng = np.random.default_rng(seed)
        self.register_buffer("mean", torch.rand(1, 3, 1, 1, generator=g))
        self.register_buffer("std", 0.2 + torch.rand(3, 1, 1, generator=g))
        layers: list[nn.Module] = []
        c = 3
        size = 10  # the smaller side of the test images; a layer that would shrink the map below 3 keeps its size
        for i in range(5):
            kind = ("conv", "conv", "max", "avg", "conv")[(i + seed) % 5] if i else "conv"
            k = int(rng.choice([1, 2, 3, 5])) if kind == "conv" else int(rng.choice([2, 3]))
            d = int(rng.integers(1, 3)) if k > 1 and kind != "avg" else 1
            s = int(rng.integers(1, 3))
            p = int(rng.integers(0, k // 2 + (2 if kind == "conv" else 1)))
            extent = (k - 1) * d + 1
            if (size + 2 * p - extent) // s + 1 < 3:
                s, p = 1, min(extent // 2, k // 2) if kind != "conv" else extent // 2
                if kind != "conv":
                    d = 1
                    p = k // 2
                    extent = k
            size = (size + 2 * p - extent) // s + 1
            if kind == "conv":
                out = int(rng.choice([4, 6, 8]))
                groups = 2 if (c % 2 == 0 and out % 2 == 0 and rng.random() < 0.3) else 1
                conv = nn.Conv2d(c, out, k, stride=s, padding=p, dilation=d, groups=groups,
                                 bias=bool(rng.random() < 0.5))
                bn = nn.BatchNorm2d(out)
                bn.running_mean = torch.randn(out, generator=g) * 0.1
                bn.running_var = 0.5 + torch.rand(out, generator=g)
                bn.weight.data.copy_(0.5 + torch.rand(out, generator=g))
                act = (nn.ReLU(inplace=True), nn.LeakyReLU(0.1), nn.ReLU6(), nn.Tanh())[int(rng.integers(0, 4))]
                layers += [conv, bn, act, nn.Dropout(0.3)]
                c = out
            elif kind == "max":
                layers.append(nn.MaxPool2d(k, stride=s, padding=min(p, k // 2), dilation=d))
            else:
                layers.append(nn.AvgPool2d(k, stride=s, padding=min(p, k // 2)))
        layers.append(nn.Conv2d(c, 6, 1))
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(6, 5)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.head(torch.amax(self.features(x), dim=(2, 3)))


def random_candidates(rng: np.random.Generator, n_images: int, h: int, w: int, b: int, k: int) -> tuple[
        np.ndarray, Decoded]:
    """Rows and decoded candidates with some pixels left unapplied and some positions repeated."""
    rows = rng.integers(0, n_images, b)
    pos = rng.integers(0, h * w, (b, k))
    if k > 1:
        dup = rng.random(b) < 0.2
        pos[dup, -1] = pos[dup, 0]
    col = rng.integers(0, 256, (b, k, 3), dtype=np.uint8)
    applied = rng.random((b, k)) < 0.8
    return rows, Decoded(pos, col, applied)


def full_and_incremental(clf: Classifier, clean: torch.Tensor, rows: np.ndarray, dec: Decoded) -> tuple[
        torch.Tensor, torch.Tensor]:
    full = clf.probabilities(perturb(clean, rows, dec))
    inc = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    assert inc is not None
    return full, inc


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, 5])
def test_random_chains_match_full_forward(seed: int, k: int) -> None:
    model = RandomChain(seed)
    h, w = 13, 10
    rng = np.random.default_rng([seed, k])
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, h, w), dtype=np.uint8))
    rows, dec = random_candidates(rng, 3, h, w, 40, k)
    steps, _ = analyse(model)
    assert sum(isinstance(s, Spatial) for s in steps) >= 2
    for share in (0.0, 0.5, 2.0):  # full maps at once, the default switch, windows to the end of the chain
        clf = Classifier(model, batch_size=16, incremental=True)
        clf._engine = IncrementalModel(*analyse(model), full_share=share, max_images=2)
        full, inc = full_and_incremental(clf, clean, rows, dec)
        assert torch.equal(full.argmax(1), inc.argmax(1))
        # not bit-identical: some of these odd layers (1x1 stride-2 convolutions with padding, dilated 2x2
        # kernels) round differently on a crop than on the full map, by a few float32 ulps (<= 6e-8 seen)
        assert (full - inc).abs().max().item() < 1e-6


def test_every_colour_level_gives_the_full_pass_bit_for_bit() -> None:
    # issue 32: colours scaled as c * (1 / 255) instead of c / 255 differ from the full pass's input by one ulp
    # for half of the 256 levels; the tolerances above cannot see that, an exact comparison can. The layers do
    # exact arithmetic (3x3 kernels with one non-zero tap of 1, a head reading one input per class), so only the
    # input can make the two passes differ: with random weights a crop rounds differently from the full map on
    # some CPUs (an AMD EPYC with AVX2, 2026-12-07: 6e-8 apart whatever the colour scaling)
    conv1, conv2 = nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.Conv2d(6, 6, 3, padding=1, bias=False)
    head = nn.Linear(6 * 8 * 8, 64, bias=False)
    with torch.no_grad():
        for conv in (conv1, conv2):
            conv.weight.zero_()
            for o in range(6):
                conv.weight[o, o % conv.in_channels, 1, 1] = 1.0  # each output channel: a copy of one input channel
        head.weight.zero_()
        for c in range(64):
            head.weight[c, (c % 6) * 64 + c] = 1.0  # class c reads pixel c (of channel c mod 6): every pixel read
    model = nn.Sequential(conv1, nn.ReLU(), conv2, nn.Flatten(), head).eval()
    clf = Classifier(model, batch_size=64, incremental=True)
    rng = np.random.default_rng(0)
    clean = torch.from_numpy(rng.integers(0, 256, (2, 3, 8, 8), dtype=np.uint8))
    levels = np.arange(256, dtype=np.uint8)
    colours = np.stack([levels, levels[::-1], rng.permutation(levels)], axis=-1)[:, None, :]  # (256, 1, 3)
    dec = Decoded(rng.integers(0, 64, (256, 1)), colours, np.ones((256, 1), bool))
    full, inc = full_and_incremental(clf, clean, rng.integers(0, 2, 256), dec)
    assert torch.equal(full, inc), (full - inc).abs().max().item()


def test_chain_reads_modules_and_forward_arithmetic() -> None:
    model = RandomChain(0)
    steps, head = analyse(model)
    # normalisation (sub, div) and the first conv, BN, activation, dropout are all in the chain
    assert isinstance(steps[0], Pointwise) and isinstance(steps[1], Pointwise)
    assert isinstance(steps[2], Spatial)
    x = torch.rand(2, 6, 4, 4)
    assert torch.allclose(head(x), model.head(torch.amax(x, dim=(2, 3))))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 3, 3, padding=1)
        self.b = nn.Conv2d(3, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x) + x
        return self.b(y).mean(dim=(2, 3))


class ReflectFirst(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 2, 3, padding=1, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x).mean(dim=(2, 3))


@pytest.mark.parametrize("model", [Residual(), ReflectFirst()])
def test_unsupported_graphs_fall_back_and_say_so_once(model: nn.Module, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(NotIncremental):
        analyse(model)
    clf = Classifier(model, batch_size=8, incremental=True)
    clean = torch.zeros(1, 3, 6, 6, dtype=torch.uint8)
    dec = Decoded(np.array([[3]]), np.full((1, 1, 3), 255, np.uint8), np.ones((1, 1), bool))
    with caplog.at_level(logging.INFO, logger="pixelspace.models.classifier"):
        assert clf.pixel_probabilities(clean, np.array([0]), dec.positions, dec.colors, dec.applied) is None
        assert clf.pixel_probabilities(clean, np.array([0]), dec.positions, dec.colors, dec.applied) is None
    assert sum("incremental forward pass off" in r.message for r in caplog.records) == 1


def test_switch_and_black_boxes() -> None:
    clean = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    args = (np.array([0]), np.array([[5]]), np.zeros((1, 1, 3), np.uint8), np.ones((1, 1), bool))
    model = RandomChain(1)
    assert Classifier(model, incremental=False).pixel_probabilities(clean, *args) is None
    assert Classifier(lambda x: np.ones((x.shape[0], 2)) / 2, output="probabilities").pixel_probabilities(
        clean, *args) is None
    on = Classifier(model, batch_size=4, incremental=True)
    assert on.pixel_probabilities(clean, *args) is not None and on.queries == 1
    with pytest.raises(ConfigError, match="incremental"):
        Classifier(model, incremental="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["allconv-cifar10", "nin-cifar10", "vgg16-cifar10", "cnn8-cifar10"])
def test_shipped_networks_match_full_forward(name: str) -> None:
    clf = Classifier(load(name), batch_size=64, incremental=True)
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8))
    for k in (1, 3, 5):
        rows, dec = random_candidates(rng, 3, 32, 32, 24, k)
        full, inc = full_and_incremental(clf, clean, rows, dec)
        assert torch.equal(full, inc), (k, (full - inc).abs().max().item())  # bit-identical on the CPU (docs)


def test_auto_uses_it_on_the_cpu_only_where_estimated_cheaper() -> None:
    clf = Classifier(load("allconv-cifar10"), batch_size=8)
    clean = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    one = (np.array([0]), np.array([[40]]), np.full((1, 1, 3), 200, np.uint8), np.ones((1, 1), bool))
    assert clf.pixel_probabilities(clean, *one) is not None
    engine = clf._incremental_engine()
    assert engine is not None
    assert engine.cost_share(3, 32, 32, 1, clf.device) < engine.cost_share(3, 32, 32, 5, clf.device)


def test_attack_scan_and_scan_first_unchanged_by_it() -> None:
    model = load("cnn8-cifar10")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    labels = Classifier(model, batch_size=32).probabilities(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).argmax(1).numpy()
    region = np.zeros((2, 32, 32), bool)
    region[:, 4:10, 6:12] = True
    attack = PixelAttack(pixels=2, de=DEConfig(population_size=20, max_generations=2), batch_size=32)
    runs = [attack(Classifier(model, batch_size=32, incremental=inc), images, Untargeted(labels), regions=region,
                   seed=1) for inc in (False, True)]
    for key in ("success", "queries", "predicted", "pixels", "colors", "generations"):
        assert np.array_equal(getattr(runs[0], key), getattr(runs[1], key)), key
    # not bit-identical: a chunk of one candidate (left by the memo) takes another float32 path in a conv net
    # on the CPU, with or without the incremental pass (the batch rounding of docs/engine.md, <= 1e-6)
    for key in ("fitness_history", "confidence", "target_probability", "adv_top5_probs"):
        np.testing.assert_allclose(getattr(runs[0], key), getattr(runs[1], key), rtol=0, atol=1e-6, err_msg=key)
    scans = [PixelScan(batch_size=64)(Classifier(model, batch_size=64, incremental=inc), images[:1], labels[:1],
                                      regions=region[:1])[0] for inc in (False, True)]
    assert np.array_equal(scans[0].predicted, scans[1].predicted)
    np.testing.assert_allclose(scans[0].probability, scans[1].probability, rtol=0, atol=1e-6, equal_nan=True)
    firsts = [scan_first(Classifier(model, batch_size=64, incremental=inc), images, labels, regions=region, seed=2,
                         per_round=16) for inc in (False, True)]
    for key in ("success", "pixel", "first_hit", "queries"):
        assert np.array_equal(getattr(firsts[0], key), getattr(firsts[1], key)), key


def test_analysis_leaves_the_users_module_untouched() -> None:
    """Tracing runs forward's Python code; a counter or list on the user's module must not see it, and the
    analysed chain still uses the module's own weights."""
    from pixelspace.models.incremental import IncrementalModel

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * 8 * 8, 3)
            self.calls = 0
            self.seen: list[object] = []
            self.eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            self.seen.append(x.shape)
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    model = Counting()
    engine = IncrementalModel.of(model)
    assert model.calls == 0 and model.seen == []
    with torch.no_grad():
        model.conv.weight.mul_(2.0)  # the analysed chain shares the weights
        x = torch.rand(2, 3, 8, 8)
        torch.testing.assert_close(engine.full(x), model(x))


def test_clean_activations_are_reused_across_calls_and_never_stale() -> None:
    """A DE attack calls once per generation on the same images: their clean activations are computed once;
    new images, or weights changed in place (an optimiser step, load_state_dict), compute them again."""
    model = RandomChain(1)
    clf = Classifier(model, batch_size=16, incremental=True)
    engine = clf._incremental_engine()
    assert engine is not None
    computed: list[int] = []
    original = engine.clean_activations

    def counting(x: torch.Tensor, pad_single: bool = False) -> list[torch.Tensor]:
        computed.append(x.shape[0])
        return original(x, pad_single)

    engine.clean_activations = counting  # type: ignore[method-assign]
    rng = np.random.default_rng(0)
    clean = torch.from_numpy(rng.integers(0, 256, (2, 3, 13, 10), dtype=np.uint8))
    rows, dec = random_candidates(rng, 2, 13, 10, 30, 1)
    first = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    again = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    assert computed == [2] and first is not None and again is not None and torch.equal(first, again)
    other = clean.clone()
    other[1, 0, 0, 0] ^= 1
    clf.pixel_probabilities(other, rows, dec.positions, dec.colors, dec.applied)
    assert computed == [2, 2]
    with torch.no_grad():
        conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        conv.weight.mul_(1.5)
    changed = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    assert computed == [2, 2, 2] and changed is not None
    full, _ = full_and_incremental(clf, clean, rows, dec)
    assert (full - changed).abs().max().item() < 1e-5 and not torch.allclose(first, changed)


def test_kept_activations_follow_normalisation_buffers_used_in_forward() -> None:
    """The input normalisation written as arithmetic in ``forward`` (a buffer, not a layer) invalidates too."""
    model = RandomChain(2)
    clf = Classifier(model, batch_size=16, incremental=True)
    rng = np.random.default_rng(1)
    clean = torch.from_numpy(rng.integers(0, 256, (2, 3, 13, 10), dtype=np.uint8))
    rows, dec = random_candidates(rng, 2, 13, 10, 20, 1)
    before = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    with torch.no_grad():
        model.mean.add_(0.3)
    after = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
    full, _ = full_and_incremental(clf, clean, rows, dec)
    assert before is not None and after is not None
    assert (full - after).abs().max().item() < 1e-5 and not torch.allclose(before, after)
