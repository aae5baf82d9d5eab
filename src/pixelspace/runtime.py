"""Process-level settings: glibc's allocator kept from returning memory per call (fast CPU inference), and the
level of PyTorch's CPU kernels (:func:`cpu_capability`, :func:`use_cpu_capability`: bit-for-bit replays).

PyTorch frees and re-allocates every activation tensor at each forward pass. With glibc's default settings,
blocks above a few MB are mapped fresh from the kernel each time and unmapped when freed, so every forward pass
page-faults its activations in again: on two CPU cores here, a third to half of the time went to the kernel.
:func:`tune_malloc` raises glibc's mmap and trim thresholds (``mallopt``), so freed memory stays in the heap
and is reused. Measured in one run each (channels-last models, 2 threads, 12 s of batched inference):
EfficientNet-Lite0 at 224×224 went from 29.7 to 73.4 images/s, CNN-8 at 32×32 from 974 to 1,636 images/s.

The price: the process keeps its peak memory instead of handing it back between calls. The ``pixelspace``
command and the Ray workers call :func:`tune_malloc` at start unless ``PIXELSPACE_MALLOC_TUNING=0``; a library
user calls it once, or sets ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` before starting Python.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from pixelspace.errors import ConfigError

ENV_SWITCH = "PIXELSPACE_MALLOC_TUNING"
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3


def tune_malloc(
    mmap_threshold: int = 1 << 30, trim_threshold: int = 1 << 30, top_pad: int = 1 << 26,
) -> bool:
    """Raise glibc's mmap threshold, trim threshold and top pad (bytes) for this process.

    Returns:
        True when all three settings were accepted; False on a C library without ``mallopt`` (macOS, musl,
        Windows) or when glibc refused a value: nothing is changed then, and nothing fails.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    values = ((_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim_threshold), (_M_TOP_PAD, top_pad))
    return all(mallopt(option, min(int(value), 2**31 - 1)) == 1 for option, value in values)


def tune_malloc_unless_disabled() -> bool:
    """:func:`tune_malloc`, unless the environment sets ``PIXELSPACE_MALLOC_TUNING=0``; returns whether it ran
    and was accepted."""
    if os.environ.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return tune_malloc()


# -- CPU kernels ------------------------------------------------------------------------------------------------
#: The environment variable PyTorch reads, once, at its first CPU kernel call to pick ATen's kernel level.
CAPABILITY_ENV = "ATEN_CPU_CAPABILITY"
#: ATen's x86 kernel levels, lowest first (the names ``ATEN_CPU_CAPABILITY`` takes).
CPU_CAPABILITIES = ("default", "avx2", "avx512")


def cpu_capability() -> str:
    """The level of PyTorch's CPU kernels in this process, as torch names it (``"AVX512"``, ``"AVX2"``,
    ``"DEFAULT"``, …).

    Float32 results on the CPU depend on it, not only on the device: ATen's AVX2 and AVX-512 softmax kernels
    round differently (measured on the shipped CIFAR-10 networks: bit-identical logits, softmax outputs a few
    ulp apart), so a row made on a CPU without AVX-512 does not replay bit for bit on one with it
    (docs/campaigns.md, "Replay on another machine"). Calling this fixes the level for the rest of the
    process, as any CPU kernel call does.
    """
    import torch

    return str(torch.backends.cpu.get_cpu_capability())


def cpu_supports(level: str) -> bool:
    """Whether this CPU can run ATen's kernels at ``level`` (one of :data:`CPU_CAPABILITIES`, any case), read
    from the CPU's features: it does not fix the process's level."""
    import torch

    name = level.lower()
    if name not in CPU_CAPABILITIES:
        raise ConfigError(f"unknown CPU capability {level!r}; one of {', '.join(CPU_CAPABILITIES)}")
    if name == "default":
        return True
    probe = getattr(torch.cpu, f"_is_{name}_supported", None)
    return bool(probe()) if callable(probe) else False


def use_cpu_capability(level: str) -> str:
    """Run this process's PyTorch CPU kernels at ``level`` (what ``ATEN_CPU_CAPABILITY=level`` does), e.g.
    ``"avx2"`` to replay a row made on a CPU without AVX-512. Call it before any CPU kernel has run.

    Returns:
        The level now in force, as :func:`cpu_capability` names it.

    Raises:
        ConfigError: an unknown level, one this CPU lacks (its kernels would not run here), or a process whose
            kernels already run at another level (set ``ATEN_CPU_CAPABILITY`` before starting Python then).
    """
    name = level.lower()
    if not cpu_supports(name):
        raise ConfigError(f"this CPU cannot run PyTorch's {name.upper()} kernels; it runs up to "
                          f"{_highest_supported().upper()}")
    before = os.environ.get(CAPABILITY_ENV)
    os.environ[CAPABILITY_ENV] = name
    try:
        now = cpu_capability()  # read now, the level stays for the process; child processes keep their own
    finally:
        if before is None:
            del os.environ[CAPABILITY_ENV]
        else:
            os.environ[CAPABILITY_ENV] = before
    if now.lower() != name:
        raise ConfigError(f"PyTorch's CPU kernels already run at {now} in this process; set "
                          f"{CAPABILITY_ENV}={name} before starting it")
    return now


def _highest_supported() -> str:
    return [c for c in CPU_CAPABILITIES if cpu_supports(c)][-1]
