"""The allocator setting the CLI applies: accepted on glibc, a quiet no-op elsewhere, switchable off."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from pixelspace.runtime import ENV_SWITCH, tune_malloc, tune_malloc_unless_disabled


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_tune_malloc_is_accepted_by_glibc() -> None:
    assert tune_malloc() is True
    assert tune_malloc() is True  # idempotent


def test_environment_switch_disables_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert tune_malloc_unless_disabled() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt settings are glibc's")
def test_tuned_process_page_faults_less_on_repeated_large_allocations() -> None:
    """The reason for the setting: freed large blocks are reused instead of being mapped afresh."""
    code = (
        "import resource, sys, numpy as np\n"
        "from pixelspace.runtime import tune_malloc\n"
        "if sys.argv[1] == 'tuned': tune_malloc()\n"
        "a = np.ones(16 << 20, np.uint8); del a\n"
        "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20):\n"
        "    a = np.ones(16 << 20, np.uint8); del a\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)\n"
    )
    faults = {mode: int(subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("plain", "tuned")}
    assert faults["tuned"] * 10 < faults["plain"], faults
