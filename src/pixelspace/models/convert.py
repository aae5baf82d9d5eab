"""Convert a foreign weight file (torchvision, EfficientNet-PyTorch ...) into compact fp16 safetensors.

Examples:
    >>> from pixelspace.models.convert import convert_weights
    >>> convert_weights("resnet50-imagenet", "resnet50-0676ba61.pth", "resnet50.safetensors")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixelspace.errors import WeightsError
from pixelspace.models.registry import get_spec
from pixelspace.models.weights import load_into, read_state_dict


def convert_weights(
    name: str, src: str | Path, dst: str | Path, *, metadata: dict[str, str] | None = None, fp16: bool = True
) -> dict[str, torch.Tensor]:
    """Check that ``src`` fits the registered architecture ``name``, then write its tensors as safetensors.

    The file is read with ``weights_only=True`` (never unpickled), loaded into the architecture (so missing,
    unexpected or mis-shaped keys raise), and its **own** keys are written: a torchvision file stays a
    torchvision-keyed file, without pixelspace's optional ``normalize.*`` buffers, and still loads into the
    reference implementation after a cast to fp32.

    Args:
        name: a registered model name, e.g. ``"efficientnet-lite0-imagenet"``.
        src: the weight file (``.pth``/``.pt`` state dict or ``.safetensors``).
        dst: the ``.safetensors`` file to write.
        metadata: strings for the safetensors header (origin, licence, sha256 of ``src`` ...).
        fp16: store floating tensors as fp16 (integer buffers keep their dtype); False keeps the file's dtypes.

    Returns:
        The state dict as written (tensor name -> tensor).

    Raises:
        ConfigError: unknown ``name``.
        WeightsError: ``src`` is unreadable or does not fit the architecture.
    """
    from safetensors.torch import save_file

    load_into(get_spec(name).factory(), src)
    state = read_state_dict(src)
    out = {
        k: (v.detach().to(torch.float16) if fp16 and v.is_floating_point() else v.detach()).contiguous()
        for k, v in state.items()
    }
    if fp16 and any(v.is_floating_point() and not torch.isfinite(v).all() for v in out.values()):
        raise WeightsError(f"{src}: a tensor overflows fp16; convert with fp16=False")
    save_file(out, str(dst), metadata=metadata)
    return out
