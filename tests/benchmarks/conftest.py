"""Fixtures the benchmark scripts' tests share with the campaign tests."""

from tests.campaign.conftest import tiny_data  # noqa: F401 (a fixture: the tiny campaign's data)
