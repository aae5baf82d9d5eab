"""A slowed-down copy of the campaign tests' tiny net, so a Ray run can be interrupted mid-campaign.

Referenced by campaign files as ``tests.ray.slownet:slow_tiny_cnn`` (and ``slow_planted``, the planted net). Its weights (and so its attack keys and
rows) are those of ``tests.campaign.tinynet:tiny_cnn``; only each forward call sleeps.
"""

from __future__ import annotations

import os

from tests.campaign.tinynet import PlantedNet, TinyCNN

DELAY_ENV = "PIXELSPACE_RAY_TEST_DELAY"


def slow_tiny_cnn() -> TinyCNN:
    """``tiny_cnn()`` sleeping ``$PIXELSPACE_RAY_TEST_DELAY`` seconds (default 0.02) per forward call."""
    net = TinyCNN(0)
    net.delay = float(os.environ.get(DELAY_ENV, "0.02"))
    return net


def slow_planted() -> PlantedNet:
    """``tests.campaign.tinynet:planted`` sleeping ``$PIXELSPACE_RAY_TEST_DELAY`` seconds (default 0.02) per
    forward call (its weights, keys and rows are the planted net's)."""
    net = PlantedNet()
    net.delay = float(os.environ.get(DELAY_ENV, "0.02"))
    return net
