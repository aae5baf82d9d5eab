"""Ray backend errors and settings that need no cluster: a missing Ray, bad settings, a worker's weights check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pixelspace.campaign import CampaignConfig, run_campaign
from pixelspace.campaign.backends import Job, get_backend
from pixelspace.errors import ConfigError
from tests.campaign.conftest import config_dict


def test_missing_ray_is_a_config_error_that_says_how_to_install(
    tiny_data: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if Ray were not installed
    with pytest.raises(ConfigError, match=r"pip install 'pixelspace\[ray\]'"):
        get_backend("ray")
    cfg = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "s.sqlite", **{"execution.backend": "ray"}))
    with pytest.raises(ConfigError, match=r"needs Ray.*pip install 'pixelspace\[ray\]'"):
        run_campaign(cfg, progress=False)
    assert not (tmp_path / "s.sqlite").exists()  # refused before the store is touched


@pytest.mark.parametrize(("line", "words"), [
    ("workers = 0", ["execution.workers", ">= 1"]),
    ("workers = 'many'", ["execution.workers", "'auto'", "an integer"]),
    ("worker_cpus = 0", ["execution.worker_cpus", "> 0"]),
    ("tasks_per_worker = 0", ["execution.tasks_per_worker", ">= 1"]),
    ("address = ''", ["execution.address", "'auto'"]),
    ("adress = 'auto'", ["'adress'", "did you mean 'address'"]),
])
def test_bad_ray_settings(tmp_path: Path, line: str, words: list[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(f"[[models]]\nname = 'x'\n[execution]\nbackend = 'ray'\n{line}\n")
    with pytest.raises(ConfigError) as err:
        CampaignConfig.load(path)
    for w in words:
        assert w in str(err.value)


def test_ray_settings_are_not_part_of_the_config_hash(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    base = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "a.sqlite"))
    ray = base.replace(backend="ray", address="10.0.0.1:6379", workers=8, worker_cpus=2.0, tasks_per_worker=3)
    assert ray.config_hash() == base.config_hash() and ray.execution.workers == 8


def test_worker_refuses_other_weights(tiny_data: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelspace[ray]'")
    from pixelspace.campaign.backends.ray import RayBackendError, RayWorker

    cfg = CampaignConfig.from_dict(config_dict(tiny_data, tmp_path / "w.sqlite"))
    job = Job(cfg, {}, {}, 16, "cpu", {"tiny": "0" * 64})
    with pytest.raises(RayBackendError, match="weights of 'tiny' differ"):
        RayWorker(job)
    worker = RayWorker(Job(cfg, {}, {}, 16, "cpu", {}))
    assert worker.ready()["device"] == "cpu"
