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


def test_paper_imagenet_campaign_parses() -> None:
    config = load_config(REPO / "campaigns" / "paper-imagenet.toml")
    assert [m.name for m in config.models] == ["alexnet-imagenet", "resnet50-imagenet", "vgg16-imagenet"]
    assert config.images.count == 420 and config.de.population_size == 400 and config.de.success_check == "best"


def test_imagenet_folder_dataset(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from pixelspace.data.imagenet import load_imagenet_sample

    s = load_imagenet_sample()
    for i in range(2):
        cv2.imwrite(str(tmp_path / s.ids[i]), np.ascontiguousarray(s.images[i][:, :, ::-1]))
    config = load_config(REPO / "campaigns" / "imagenet-demo.toml")
    import dataclasses

    config = dataclasses.replace(config, images=dataclasses.replace(config.images, dataset=str(tmp_path)))
    data = load_dataset(config)
    assert data.images.shape == (2, 224, 224, 3) and list(data.labels) == list(s.labels[:2])
