"""Fixtures for the Ray backend tests: a two-node Ray cluster on this machine, started once per test module.

The planted campaign and its data come from ``tests/campaign/conftest.py``. The cluster has two nodes of one CPU
each, 100 MB of object store each, no dashboard and no usage statistics. Tests skip, saying why, when Ray is
not installed or cannot start here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.campaign.conftest import REPO, planted_data, tiny_data  # noqa: F401  (re-exported fixtures)

OBJECT_STORE_BYTES = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A started ``ray.cluster_utils.Cluster`` (head + one worker node, 1 CPU each), this process connected."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'pixelspace[ray]'")
    from ray.cluster_utils import Cluster

    saved = {k: os.environ.get(k) for k in ("RAY_USAGE_STATS_ENABLED", "PYTHONPATH")}
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # worker processes (and a subprocess driver) import tests.* from the repository
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), saved["PYTHONPATH"]) if p)
    cluster = None
    try:
        node: dict[str, Any] = {"num_cpus": 1, "object_store_memory": OBJECT_STORE_BYTES}
        cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, include_dashboard=False, logging_level="warning", log_to_driver=False)
    except Exception as exc:  # pragma: no cover - depends on the sandbox
        if cluster is not None:
            cluster.shutdown()
        _restore(saved)
        pytest.skip(f"Ray cannot start a local cluster here: {type(exc).__name__}: {exc}")
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        _restore(saved)


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
