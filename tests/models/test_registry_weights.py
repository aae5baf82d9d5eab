"""The model registry and weight files: names, loading, fp16 safetensors round trip, refusal of bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from pixelspace.errors import ConfigError, WeightsError
from pixelspace.models import (
    ModelSpec,
    available_models,
    get_spec,
    load,
    register_model,
    shipped_weights_path,
)
from pixelspace.models.architectures import CNN8, AllConv, NiN, VGG16Cifar
from pixelspace.models.weights import file_sha256, load_into, read_state_dict, save_fp16

BUILTIN = {"allconv-cifar10": AllConv, "cnn8-cifar10": CNN8, "nin-cifar10": NiN, "vgg16-cifar10": VGG16Cifar}


def seeded(factory: type[nn.Module], seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory().eval()


# --- registry ----------------------------------------------------------------------------------------------


def test_builtin_models_are_registered() -> None:
    assert set(BUILTIN) <= set(available_models())
    for name, cls in BUILTIN.items():
        spec = get_spec(name)
        assert spec.factory is cls and spec.input_size == (32, 32) and spec.num_classes == 10
        assert spec.weights == f"{name}.safetensors"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'resnet-9'; known models: ") as info:
        load("resnet-9")
    assert ", ".join(available_models()) in str(info.value)  # all of them, sorted (the ImageNet ones included)
    with pytest.raises(ValueError):  # project errors subclass ValueError
        get_spec("vgg16")


def test_a_name_cannot_be_registered_twice() -> None:
    spec = dataclasses.replace(get_spec("nin-cifar10"))
    with pytest.raises(ConfigError, match="already registered"):
        register_model(spec)
    assert isinstance(spec, ModelSpec)


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_load_without_pretrained_weights(name: str) -> None:
    model = load(name, pretrained=False)
    assert isinstance(model, BUILTIN[name]) and not model.training
    assert next(model.parameters()).dtype == torch.float32


def test_load_without_shipped_weights_is_an_error() -> None:
    missing = [n for n in available_models() if shipped_weights_path(n) is None]
    assert "resnet50-imagenet" in missing  # the ImageNet ResNet-50, VGG-16 and AlexNet ship no weights
    for name in missing:
        with pytest.raises(WeightsError, match=rf"no weights ship for '{name}'.*pretrained=False \(models with "
                                               r"shipped weights: .*cnn8-cifar10"):
            load(name)


def test_load_a_users_weight_file(tmp_path: Path) -> None:
    source = seeded(AllConv, seed=3)
    save_fp16(source, tmp_path / "mine.safetensors")
    model = load("allconv-cifar10", weights=tmp_path / "mine.safetensors")
    assert not model.training
    torch.testing.assert_close(model.state_dict()["features.0.0.weight"],
                               source.state_dict()["features.0.0.weight"].half().float())


# --- weight files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [AllConv, NiN])
def test_fp16_round_trip(factory: type[nn.Module], tmp_path: Path) -> None:
    source = seeded(factory, seed=1)
    with torch.no_grad():  # non-trivial BN statistics, so buffers are checked too
        for name, buf in source.named_buffers():
            if name.endswith("running_mean"):
                buf.uniform_(-1, 1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 2)
            elif name.endswith("num_batches_tracked"):
                buf.fill_(123)
    path = tmp_path / "w.safetensors"
    save_fp16(source, path, {"arch": "test", "seed": "1"})
    stored = read_state_dict(path)
    assert stored.keys() == source.state_dict().keys()
    assert stored["normalize.mean"].dtype == torch.float16
    assert stored[next(k for k in stored if k.endswith("num_batches_tracked"))].dtype == torch.int64

    target = seeded(factory, seed=2)
    load_into(target, path)
    for key, value in source.state_dict().items():
        got = target.state_dict()[key]
        assert got.dtype == value.dtype  # fp16 file, fp32 model
        expected = value.half().to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(got, expected), key
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(target.eval()(x), source.eval()(x), atol=0.05, rtol=0.05)

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"arch": "test", "seed": "1"}


def test_saving_is_reproducible(tmp_path: Path) -> None:
    model = seeded(NiN)
    save_fp16(model, tmp_path / "a.safetensors", {"arch": "nin"})
    save_fp16(model, tmp_path / "b.safetensors", {"arch": "nin"})
    assert file_sha256(tmp_path / "a.safetensors") == file_sha256(tmp_path / "b.safetensors")
    assert len(file_sha256(tmp_path / "a.safetensors")) == 64


def test_missing_weight_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load("nin-cifar10", weights=tmp_path / "absent.safetensors")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_corrupt_weight_file(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    if suffix == ".pt":
        torch.save(seeded(NiN).state_dict(), good)
    else:
        save_fp16(seeded(NiN), good)
    data = good.read_bytes()
    for i, content in enumerate([data[: len(data) // 2], b"\x00" * 64, b"garbage"]):
        bad = tmp_path / f"bad{i}{suffix}"
        bad.write_bytes(content)
        kind = "a safetensors file" if suffix == ".safetensors" else r"a PyTorch state-dict file \(torch.save\)"
        with pytest.raises(WeightsError, match=f"cannot read weight file .*: not {kind} that loads safely, or it is"):
            load("nin-cifar10", weights=bad)


def test_mismatched_keys(tmp_path: Path) -> None:
    save_fp16(seeded(NiN), tmp_path / "nin.safetensors")
    with pytest.raises(WeightsError, match=r"does not fit AllConv: \d+ missing keys \['features.10.bias'"):
        load("allconv-cifar10", weights=tmp_path / "nin.safetensors")
    state = seeded(AllConv).state_dict()
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(WeightsError, match=r"0 missing keys \[\], 1 unexpected keys \['extra.weight'\]"):
        load("allconv-cifar10", weights=tmp_path / "extra.pt")


def test_mismatched_shapes(tmp_path: Path) -> None:
    save_fp16(AllConv(num_classes=5), tmp_path / "five.safetensors")
    with pytest.raises(WeightsError, match=r"'features.10.weight' has shape \(5, 192, 1, 1\), expected \(10, 192, 1, 1\)"):
        load("allconv-cifar10", weights=tmp_path / "five.safetensors")


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "training-checkpoint"])
def test_torch_files(tmp_path: Path, wrap: str) -> None:
    state = seeded(NiN, seed=4).state_dict()
    obj: object = {
        "bare": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "training-checkpoint": {"config": {"arch": "nin", "seed": 0}, "model": state, "step": 7,
                                "optimizer": {"state": {}, "param_groups": []}, "torch_rng": torch.get_rng_state()},
    }[wrap]
    torch.save(obj, tmp_path / "w.pt")
    model = load("nin-cifar10", weights=tmp_path / "w.pt")
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_torch_files_are_read_with_weights_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.save(seeded(NiN).state_dict(), tmp_path / "w.pt")
    seen: list[object] = []
    real_load = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "load", spy)
    read_state_dict(tmp_path / "w.pt")
    assert seen == [True]


class _Exploit:
    """Unpickling this would create a file: a torch file must not be able to run code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))  # creates the marker file when called


def test_a_malicious_torch_file_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    torch.save({"features.0.0.weight": torch.zeros(1), "payload": _Exploit(marker)}, tmp_path / "evil.pt")
    with pytest.raises(WeightsError, match="cannot read weight file"):
        load("nin-cifar10", weights=tmp_path / "evil.pt")
    assert not marker.exists()


def test_a_torch_file_without_tensors_is_refused(tmp_path: Path) -> None:
    torch.save({"weights": [1, 2, 3]}, tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="does not hold a state dict of tensors"):
        read_state_dict(tmp_path / "list.pt")
