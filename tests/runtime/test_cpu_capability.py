"""The level of PyTorch's CPU kernels: read, checked against the CPU, and set only before torch computes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from pixelspace import runtime
from pixelspace.errors import ConfigError
from pixelspace.runtime import CAPABILITY_ENV, cpu_capability, cpu_supports, use_cpu_capability


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ATEN_CPU_CAPABILITY`` unset here and restored after the test (``use_cpu_capability`` sets it)."""
    monkeypatch.delenv(CAPABILITY_ENV, raising=False)


def test_the_level_is_torchs_and_the_cpu_has_it() -> None:
    now = cpu_capability()
    assert now == torch.backends.cpu.get_cpu_capability()
    assert cpu_supports("default") and cpu_supports("DEFAULT")
    if now in ("AVX2", "AVX512"):
        assert cpu_supports(now) and cpu_supports("avx2")
    with pytest.raises(ConfigError, match="unknown CPU capability 'neon'"):
        cpu_supports("neon")


def test_an_unknown_level_is_refused_by_name(clean_env: None) -> None:
    with pytest.raises(ConfigError, match="unknown CPU capability 'avx9'.*default, avx2, avx512"):
        use_cpu_capability("avx9")


def test_a_level_the_cpu_lacks_is_refused_before_torch_sees_it(clean_env: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_supports", lambda level: level.lower() == "default")
    with pytest.raises(ConfigError, match="cannot run PyTorch's AVX512 kernels; it runs up to DEFAULT"):
        use_cpu_capability("avx512")
    assert CAPABILITY_ENV not in os.environ  # never handed to torch: its kernels would not run here


def test_a_process_that_computed_keeps_its_level(clean_env: None) -> None:
    torch.ones(4).softmax(0)  # this process's level is fixed now
    now = cpu_capability()
    assert use_cpu_capability(now.lower()) == now  # asking for the level in force is fine
    other = "default" if now != "DEFAULT" else None
    if other is None:
        pytest.skip("this CPU runs the default kernels only")
    with pytest.raises(ConfigError, match=f"already run at {now} in this process; set {CAPABILITY_ENV}=default"):
        use_cpu_capability(other)


def test_a_fresh_process_takes_the_level_asked_for() -> None:
    code = ("import torch\n"
            "from pixelspace.runtime import use_cpu_capability, cpu_capability\n"
            "print(use_cpu_capability('default'), cpu_capability(), torch.ones(3).softmax(0).sum().item())\n")
    env = {k: v for k, v in os.environ.items() if k != CAPABILITY_ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    level, now, total = out.stdout.split()
    assert (level, now) == ("DEFAULT", "DEFAULT") and float(total) == pytest.approx(1.0)
