"""Weight files: safetensors (preferred) or ``torch.load(weights_only=True)``; never plain unpickling."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from pixelspace.errors import WeightsError


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file (the checksum the model card and accuracy records quote)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``.safetensors`` or a torch file (loaded with ``weights_only=True``).

    A torch file may hold a bare state dict, ``{"state_dict": ...}`` or a pixelspace training checkpoint
    (``{"model": ...}``); ``weights_only=True`` refuses any pickled object but tensors and plain containers,
    so a malicious file raises instead of running code.

    Args:
        path: the weight file.

    Returns:
        Tensor name -> tensor, on the CPU, in the file's dtypes.

    Raises:
        WeightsError: the file is missing, unreadable, or holds something else than a dict of tensors.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"weight file {p} does not exist")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign files raise many types
        kind = "a safetensors file" if p.suffix == ".safetensors" else "a PyTorch state-dict file (torch.save)"
        raise WeightsError(f"cannot read weight file {p}: not {kind} that loads safely, or it is truncated "
                           f"({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # a pixelspace training checkpoint
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{p} does not hold a state dict of tensors")
    return obj


def load_into(model: nn.Module, path: str | Path) -> nn.Module:
    """Load weights into ``model``, cast to its dtypes (fp16 files load into fp32 models).

    A model may name keys a file may lack in a ``optional_state_keys`` attribute (the ImageNet networks name
    their ``normalize.mean``/``normalize.std`` buffers, which a torchvision-format file does not have); those
    keep the model's values when absent. Every other key must be in the file.

    Args:
        model: the architecture the file was saved from.
        path: a file :func:`read_state_dict` reads.

    Returns:
        ``model``, with the weights loaded.

    Raises:
        WeightsError: unreadable file, missing or unexpected keys, or a tensor of another shape.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    optional = set(getattr(model, "optional_state_keys", ())) & set(own)
    state = {**{k: own[k] for k in optional - set(state)}, **state}
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise WeightsError(
            f"{path} does not fit {type(model).__name__}: {len(missing)} missing keys {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, {len(unexpected)} unexpected keys {unexpected[:5]}"
            f"{'...' if len(unexpected) > 5 else ''}"
        )
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise WeightsError(f"{path}: tensor {k!r} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    return model


def save_fp16(model: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Save ``model.state_dict()`` as safetensors, floating tensors in fp16 (integer buffers keep their dtype).

    Args:
        model: the trained model.
        path: the ``.safetensors`` file to write.
        metadata: strings stored in the file's header (arch, seed, measured accuracy ...).
    """
    from safetensors.torch import save_file

    state = {
        k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(path), metadata=metadata)
