from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pixelspace.cli import cli
from pixelspace.commands.demo import demo_config, demo_config_path
from pixelspace.data.cifar10 import encode_png
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.weights import save_fp16
from pixelspace.segment import read_image
from pixelspace.segment.masks import write_mask_png


@pytest.fixture
def image_and_weights(tmp_path: Path) -> tuple[Path, Path]:
    img = tmp_path / "img.png"
    img.write_bytes(encode_png(load_cifar10_sample().images[0]))
    weights = tmp_path / "cnn8.safetensors"
    save_fp16(load("cnn8-cifar10", pretrained=False), weights)
    return img, weights


def test_attack_command_writes_outputs(tmp_path: Path, image_and_weights: tuple[Path, Path]) -> None:
    img, weights = image_and_weights
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    write_mask_png(tmp_path / "mask.png", mask)
    res = CliRunner().invoke(cli, [
        "attack", str(img), "--model", "cnn8-cifar10", "--weights", str(weights), "--region", str(tmp_path / "mask.png"),
        "--pixels", "2", "--population", "12", "--generations", "2", "--out", str(tmp_path / "out"),
    ])
    assert res.exit_code == 0, res.output
    assert "region" in res.output and "queries" in res.output
    success = res.output.startswith("success")  # a failure writes its best attempt under another name
    adv = read_image(tmp_path / "out" / ("img-adversarial.png" if success else "img-best-attempt.png"))
    assert not (tmp_path / "out" / ("img-best-attempt.png" if success else "img-adversarial.png")).exists()
    clean = read_image(img)
    changed = (adv != clean).any(axis=2)
    assert changed.sum() <= 2 and not changed[~mask].any()
    assert (tmp_path / "out" / "img-attack.png").stat().st_size > 1000


def test_targeted_attack_names_the_clean_class_and_the_target(tmp_path: Path,
                                                               image_and_weights: tuple[Path, Path]) -> None:
    img, weights = image_and_weights
    model = load("cnn8-cifar10", weights=weights)
    x = torch.from_numpy(read_image(img)).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        probs = torch.softmax(model(x), 1)[0]
    label = int(probs.argmax())
    target = (label + 1) % 10
    res = CliRunner().invoke(cli, [
        "attack", str(img), "--model", "cnn8-cifar10", "--weights", str(weights), "--target", str(target),
        "--population", "12", "--generations", "1", "--out", str(tmp_path / "out"), "--no-progress",
    ])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()[0]
    names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
    # the clean class with its own clean probability, then the target with its clean probability
    assert f": {names[label]} ({float(probs[label]):.3f}) -> " in first
    assert f"; target {names[target]}: {float(probs[target]):.3f} clean -> " in first


def test_attack_command_errors(tmp_path: Path, image_and_weights: tuple[Path, Path]) -> None:
    img, weights = image_and_weights
    res = CliRunner().invoke(cli, ["attack", str(img), "--model", "cnn8-cifar10", "--weights", str(weights),
                                   "--region", "sky"])
    assert res.exit_code != 0 and "region must be whole, foreground, background or a mask PNG" in res.output
    res = CliRunner().invoke(cli, ["attack", str(img), "--model", "nosuchnet"])
    assert res.exit_code != 0 and "unknown model 'nosuchnet'" in res.output


def test_demo_config_is_shipped_and_relocatable(tmp_path: Path) -> None:
    assert demo_config_path().is_file()
    cfg = demo_config(tmp_path / "demo")
    assert Path(cfg.campaign.store).parent == tmp_path / "demo"
    assert Path("campaigns/demo.toml").resolve() == demo_config_path().resolve()


def test_scan_command(tmp_path: Path, image_and_weights: tuple[Path, Path]) -> None:
    from pixelspace.attack.scan import VulnerabilityMap

    img, weights = image_and_weights
    mask = np.zeros((32, 32), bool)
    mask[:4, :4] = True
    write_mask_png(tmp_path / "m.png", mask)
    res = CliRunner().invoke(cli, ["scan", str(img), "--model", "cnn8-cifar10", "--weights", str(weights),
                                   "--region", str(tmp_path / "m.png"), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    vmap = VulnerabilityMap.from_npz(tmp_path / "img-scan.npz")
    assert vmap.queries == 16 * 8 + 1 and (vmap.scanned == mask).all()
    assert (tmp_path / "img-scan.png").stat().st_size > 1000


def test_scan_command_with_a_stride(tmp_path: Path, image_and_weights: tuple[Path, Path]) -> None:
    from pixelspace.attack.scan import VulnerabilityMap

    img, weights = image_and_weights
    mask = np.zeros((32, 32), bool)
    mask[:6, :6] = True
    write_mask_png(tmp_path / "m.png", mask)
    args = ["scan", str(img), "--model", "cnn8-cifar10", "--weights", str(weights), "--region", str(tmp_path / "m.png"),
            "--out", str(tmp_path)]
    res = CliRunner().invoke(cli, [*args, "--stride", "2"])
    assert res.exit_code == 0, res.output
    vmap = VulnerabilityMap.from_npz(tmp_path / "img-scan.npz")
    assert vmap.queries == 9 * 8 + 1 and vmap.scanned.sum() == 9 and vmap.scanned[0:6:2, 0:6:2].all()
    res = CliRunner().invoke(cli, [*args, "--stride", "0"])
    assert res.exit_code != 0 and "--stride" in res.output


def test_an_empty_segmentation_names_the_segmenter(image_and_weights: tuple[Path, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pixelspace.segment as segment

    class NoForeground:
        def __init__(self, seed: int | None = None) -> None:
            pass

        def __call__(self, images: np.ndarray) -> np.ndarray:
            return np.zeros(images.shape[:3], bool)

    monkeypatch.setattr(segment, "GrabCut", NoForeground)
    img, weights = image_and_weights
    res = CliRunner().invoke(cli, ["attack", str(img), "--model", "cnn8-cifar10", "--weights", str(weights),
                                   "--region", "foreground", "--no-progress"])
    assert res.exit_code == 1
    assert "NoForeground found no foreground in this image, so the foreground region is empty" in res.output
    assert "--region whole or a mask PNG" in res.output


def test_every_writing_command_checks_its_outputs_before_any_work(tmp_path: Path, image_and_weights: tuple[Path, Path],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # issue 21: `attack --out FILE` ended in a FileExistsError traceback after the whole search had run
    import pixelspace.campaign.runner
    import pixelspace.models
    import pixelspace.report
    import pixelspace.segment.files

    def no_work(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("work started before the output path was checked")

    for module, name in ((pixelspace.models, "load"), (pixelspace.segment.files, "read_image"),
                         (pixelspace.report, "write_report"), (pixelspace.campaign.runner, "run_campaign")):
        monkeypatch.setattr(module, name, no_work)
    img, weights = image_and_weights
    a_file = tmp_path / "typo.txt"
    a_file.write_text("x")
    (tmp_path / "img-attack.png").mkdir()  # an output file's name taken by a folder
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "masks").write_text("x")
    model = ["--model", "cnn8-cifar10", "--weights", str(weights)]
    cases = [
        (["attack", str(img), *model, "--out", str(a_file)], f"output folder {a_file} is a file"),
        (["attack", str(img), *model, "--out", str(tmp_path)], f"output file {tmp_path / 'img-attack.png'} is a folder"),
        (["scan", str(img), *model, "--out", str(a_file / "sub")], f"output folder {a_file / 'sub'} cannot be made: "
                                                                   f"{a_file} is a file"),
        (["segment", str(img), "--out", str(a_file)], f"output folder {a_file} is a file"),
        (["segment", str(img), "--out", str(tmp_path / "seg")], f"output folder {tmp_path / 'seg' / 'masks'} is a file"),
        (["report", str(tmp_path), "--out", str(a_file / "r")], f"{a_file} is a file"),
        (["demo", "--out", str(a_file), "--no-progress"], f"output folder {a_file} is a file"),
        (["train", "--arch", "cnn8", "--data", str(tmp_path), "--out", str(tmp_path / "seg")],
         f"output file {tmp_path / 'seg'} is a folder"),
    ]
    for args, message in cases:
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 1, (args, res.output, res.exception)
        assert message in res.output and "Traceback" not in res.output, (args, res.output)


@pytest.mark.parametrize("command", ["attack", "scan"])
def test_attack_and_scan_take_a_precision(tmp_path: Path, image_and_weights: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    from pixelspace.models import classifier

    img, weights = image_and_weights
    mask = np.zeros((32, 32), bool)
    mask[:2, :2] = True
    write_mask_png(tmp_path / "m.png", mask)
    used: list[str] = []
    real = classifier.inference_precision

    def spy(precision, device):  # type: ignore[no-untyped-def]
        used.append(precision)
        return real(precision, device)

    monkeypatch.setattr(classifier, "inference_precision", spy)
    # the attack over the whole image (a 4-pixel region is rarely hit in restrict mode), the scan over 4 pixels
    extra = (["--pixels", "1", "--population", "8", "--generations", "1"] if command == "attack" else
             ["--region", str(tmp_path / "m.png")])
    args = [command, str(img), "--model", "cnn8-cifar10", "--weights", str(weights), *extra]
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "a"), "--precision", "bf16"])
    assert res.exit_code == 0, res.output
    assert "bf16" in used and "fp32" in used  # searched at bf16, clean image and checks at fp32
    used.clear()
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert used and set(used) == {"fp32"}
    res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "c"), "--precision", "half"])
    assert res.exit_code != 0 and "half" in res.output
