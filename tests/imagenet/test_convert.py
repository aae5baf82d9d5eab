"""Converting a foreign weight file (EfficientNet-PyTorch / torchvision layout) into fp16 safetensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from pixelspace.errors import WeightsError
from pixelspace.models import load
from pixelspace.models.architectures import EfficientNetLite0
from pixelspace.models.architectures.imagenet_common import NORMALIZE_KEYS
from pixelspace.models.convert import convert_weights


@pytest.fixture
def upstream_file(tmp_path: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """An EfficientNet-PyTorch-style ``.pth``: fp32, the upstream keys only (no normalize.*)."""
    state = {k: v for k, v in EfficientNetLite0().state_dict().items() if k not in NORMALIZE_KEYS}
    state["_fc.bias"] = torch.linspace(-1, 1, 1000)
    path = tmp_path / "efficientnet-lite0.pth"
    torch.save(state, path)
    return path, state


def test_convert_keeps_the_files_keys_in_fp16(upstream_file: tuple[Path, dict[str, torch.Tensor]],
                                              tmp_path: Path) -> None:
    src, state = upstream_file
    out = tmp_path / "lite0.safetensors"
    convert_weights("efficientnet-lite0-imagenet", src, out, metadata={"origin": "test"})
    with safe_open(str(out), "pt") as f:
        assert set(f.keys()) == set(state) and f.metadata() == {"origin": "test"}
        assert f.get_tensor("_conv_stem.weight").dtype == torch.float16
        assert f.get_tensor("_bn0.num_batches_tracked").dtype == torch.int64  # integer buffers keep their dtype
    model = load("efficientnet-lite0-imagenet", weights=out)
    assert torch.allclose(model.get_parameter("_fc.bias"), state["_fc.bias"], atol=1e-3)
    assert model.get_buffer("normalize.mean").flatten().tolist() == [0.5] * 3  # from the architecture


def test_convert_refuses_files_that_do_not_fit_or_overflow(upstream_file: tuple[Path, dict[str, torch.Tensor]],
                                                           tmp_path: Path) -> None:
    src, state = upstream_file
    with pytest.raises(WeightsError, match="does not fit ResNet50: 320 missing keys"):
        convert_weights("resnet50-imagenet", src, tmp_path / "x.safetensors")
    big = dict(state)
    big["_fc.bias"] = torch.full((1000,), 1e6)
    torch.save(big, tmp_path / "big.pth")
    with pytest.raises(WeightsError, match="overflows fp16"):
        convert_weights("efficientnet-lite0-imagenet", tmp_path / "big.pth", tmp_path / "big.safetensors")
    convert_weights("efficientnet-lite0-imagenet", tmp_path / "big.pth", tmp_path / "big32.safetensors", fp16=False)
    with safe_open(str(tmp_path / "big32.safetensors"), "pt") as f:
        assert f.get_tensor("_fc.bias").dtype == torch.float32
