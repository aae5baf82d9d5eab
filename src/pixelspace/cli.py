"""The ``pixelspace`` command line: a thin layer over the library."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def cli(verbose: bool) -> None:
    """Measure how robust an image classifier is in pixel space, region by region."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--arch", type=click.Choice(["allconv", "nin", "vgg16"]), required=True)
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), required=True,
              help="CIFAR-10 source: .tar.gz of train|test/<class>/ images, such a folder, or the bin/py batches.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Final fp16 .safetensors file.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Checkpoint folder (default: runs/<arch>); an interrupted run resumes from it.")
@click.option("--epochs", type=int, default=None)
@click.option("--seed", type=int, default=0)
def train(arch: str, data_path: Path, out: Path, run_dir: Path | None, epochs: int | None, seed: int) -> None:
    """Train a CIFAR-10 network with a recorded seed; resumes after interruption."""
    from pixelspace.data.cifar10 import load_split
    from pixelspace.models.training import TrainConfig, evaluate_accuracy, train as run_training
    from pixelspace.models.weights import file_sha256, save_fp16
    from pixelspace.models.zoo import ARCHITECTURES

    kwargs = {"arch": arch, "seed": seed} | ({"epochs": epochs} if epochs else {})
    config = TrainConfig(**kwargs)  # type: ignore[arg-type]
    tr, te = load_split(data_path, "train"), load_split(data_path, "test")
    model = run_training(ARCHITECTURES[arch], config, tr.images, tr.labels, run_dir or Path("runs") / arch,
                         te.images, te.labels)
    acc, per_class = evaluate_accuracy(model, te.images, te.labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_fp16(model, out, {"arch": arch, "seed": str(seed), "test_accuracy_fp32": f"{acc:.4f}"})
    click.echo(f"test accuracy (fp32) {acc:.4f}; per class {' '.join(f'{a:.3f}' for a in per_class)}")
    click.echo(f"wrote {out} sha256 {file_sha256(out)}")


@cli.command()
@click.option("--model", "model_name", required=True, help="Registered model name, e.g. vgg16-cifar10.")
@click.option("--weights", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), required=True)
def evaluate(model_name: str, weights: Path | None, data_path: Path) -> None:
    """Print top-1 and per-class accuracy on the 10,000 test images."""
    from pixelspace.data.cifar10 import CLASSES, load_split
    from pixelspace.models import load
    from pixelspace.models.training import evaluate_accuracy

    te = load_split(data_path, "test")
    acc, per_class = evaluate_accuracy(load(model_name, weights=weights), te.images, te.labels)
    click.echo(f"{model_name}: top-1 {acc * 100:.2f}% on {len(te)} test images")
    for name, a in zip(CLASSES, per_class, strict=True):
        click.echo(f"  {name:<11} {a * 100:.1f}%")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pixelspace`` command."""
    cli.main(args=argv, prog_name="pixelspace")
