"""Shared fixtures: tiny models, synthetic images, the shared-data path and the --runslow option."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Point the autobatch disk cache at a fresh temporary file for the whole session, subprocesses included,
    so the tests never read or write the user's ~/.cache/pixelspace/autobatch.json."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="pixelspace-test-cache-")
    config.stash[_CACHE_KEY] = folder
    os.environ["PIXELSPACE_AUTOBATCH_CACHE"] = str(Path(folder) / "autobatch.json")


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    folder = config.stash.get(_CACHE_KEY, None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--device", default="cpu", help="torch device for device-aware tests (cpu, cuda)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--device"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder named by $PIXELSPACE_DATA; tests that need it skip when it is absent."""
    env = os.environ.get("PIXELSPACE_DATA")
    if not env or not Path(env).is_dir():
        pytest.skip("PIXELSPACE_DATA is not set to the shared data folder (../shared/data); skipping")
    return Path(env)
