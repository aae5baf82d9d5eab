from __future__ import annotations

from pathlib import Path

from pixelspace.campaign import load_config
from pixelspace.campaign.prepare import load_dataset

REPO = Path(__file__).resolve().parents[2]


def test_imagenet_demo_campaign_loads_the_shipped_imagenet_sample() -> None:
    config = load_config(REPO / "campaigns" / "imagenet-demo.toml")
    data = load_dataset(config)
    assert data.images.shape == (50, 224, 224, 3)
    assert len(data.classes) == 1000 and data.labels.max() < 1000
    assert config.segmenter.method == "u2net" and config.models[0].name == "efficientnet-lite0-imagenet"
