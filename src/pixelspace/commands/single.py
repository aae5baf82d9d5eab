"""One image from the command line: segment when a region is named, attack, write the outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelspace.attack import PixelAttack, Targeted, Untargeted
from pixelspace.attack.result import AttackResult
from pixelspace.attack.scan import PixelScan
from pixelspace.errors import ConfigError, RegionError, ShapeError
from pixelspace.models.classifier import Classifier
from pixelspace.models.precision import Precision
from pixelspace.outcomes import VulnerabilityMap
from pixelspace.outputs import check_output_dir
from pixelspace.search import DEConfig


@dataclass(frozen=True)
class SingleAttack:
    """Outcome of :func:`attack_image`: the result (one attack), the region used, class names, output files
    (``adversarial_png`` is ``<stem>-adversarial.png`` after a success, ``<stem>-best-attempt.png`` after a
    failure: the best candidate found, which is not adversarial)."""

    result: AttackResult
    region: np.ndarray
    region_name: str
    class_names: tuple[str, ...]
    adversarial_png: Path
    figure_png: Path


def resolve_region(image: np.ndarray, region: str, seed: int = 0) -> np.ndarray:
    """Bool (H, W) region: ``whole``, ``foreground``/``background`` (GrabCut for small images, U²-Net from
    64 px up), or the path of a mask PNG (non-zero = inside)."""
    from pixelspace.segment import GrabCut, U2Net
    from pixelspace.segment.masks import read_mask_png

    h, w = image.shape[:2]
    if region == "whole":
        return np.ones((h, w), dtype=bool)
    if region in ("foreground", "background"):
        segmenter = GrabCut(seed=seed) if max(h, w) < 64 else U2Net()
        fg = segmenter(image[None])[0]
        mask = fg if region == "foreground" else ~fg
        if not mask.any():
            name = type(segmenter).__name__
            raise RegionError(f"{name} found {'no foreground' if region == 'foreground' else 'no background'} in "
                              f"this image, so the {region} region is empty; use --region whole or a mask PNG")
        return mask
    path = Path(region)
    if not path.is_file():
        raise ConfigError(f"region must be whole, foreground, background or a mask PNG; {region!r} is none of them")
    mask = read_mask_png(path)
    if mask.shape != (h, w):
        raise ShapeError(f"mask {path} has shape {mask.shape}, the image {(h, w)}")
    return mask


def attack_image(
    image: np.ndarray,
    model_name: str,
    out_dir: str | Path,
    *,
    region: str = "whole",
    pixels: int = 1,
    target: int | None = None,
    de: DEConfig | None = None,
    weights: str | Path | None = None,
    seed: int = 0,
    stem: str = "image",
    progress: bool = False,
    precision: Precision = "fp32",
) -> SingleAttack:
    """Attack one uint8 RGB image (H, W, 3) with a registered model and write ``<stem>-adversarial.png`` (after
    a failure ``<stem>-best-attempt.png``: the best candidate found, which does not fool the model) and a
    side-by-side ``<stem>-attack.png`` (the changed pixels circled) into ``out_dir``. ``progress`` shows a bar
    over the DE generations. ``precision``: the search's arithmetic (:class:`PixelAttack`); the clean
    prediction and every success are evaluated at fp32.

    Raises:
        OutputError: ``out_dir`` cannot hold the outputs (checked before the model is loaded or queried).
    """
    from tqdm import tqdm

    from pixelspace.data.cifar10 import CLASSES, encode_png
    from pixelspace.models import get_spec, load
    from pixelspace.report.figures import figure_png, side_by_side

    check_output_dir(out_dir, files=[f"{stem}-adversarial.png", f"{stem}-best-attempt.png", f"{stem}-attack.png"])
    de = de or DEConfig()
    attack = PixelAttack(pixels=pixels, de=de, precision=precision)  # its settings checked before any work
    spec = get_spec(model_name)
    if image.shape[:2] != spec.input_size:
        raise ShapeError(f"{model_name} takes {spec.input_size[0]}x{spec.input_size[1]} images; got {image.shape[:2]}")
    mask = resolve_region(image, region, seed)
    clf = Classifier(load(model_name, weights=weights), batch_size=128)
    import torch

    clean = clf.probabilities(torch.from_numpy(image[None]).permute(0, 3, 1, 2), count=False)
    label = int(clean.argmax(1)[0])
    objective = Untargeted([label]) if target is None else Targeted([label], [target])
    # the engine reports after generation 0, after each later one, and once at the end
    with tqdm(total=de.max_generations + 1, unit="generation", desc="attack", disable=not progress) as bar:
        def step(_finished: int) -> None:
            if bar.n < bar.total:
                bar.update(1)

        result = attack(clf, image[None], objective, regions=mask, seed=seed, progress=step)
        bar.update(bar.total - bar.n)  # an early stop ends the bar
    names = CLASSES if spec.num_classes == 10 else tuple(str(i) for i in range(spec.num_classes))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    adv_path = out / (f"{stem}-adversarial.png" if result.success[0] else f"{stem}-best-attempt.png")
    adv_path.write_bytes(encode_png(result.adversarial[0]))
    r = result[0]
    positions = [(int(a), int(b)) for a, b in r.pixels[0] if a >= 0]
    title_adv = f"{names[int(r.predicted[0])]} ({r.confidence[0]:.2f})" + ("" if r.success[0] else ", failed")
    if target is not None:
        title_adv += f"; target {names[target]} ({r.target_probability[0]:.2f})"
    fig = side_by_side(image, result.adversarial[0], positions,
                       f"clean: {names[label]} ({float(clean[0, label]):.2f})", f"adversarial: {title_adv}", mask)
    fig_path = out / f"{stem}-attack.png"
    fig_path.write_bytes(figure_png(fig))
    return SingleAttack(result, mask, region, names, adv_path, fig_path)


@dataclass(frozen=True)
class SingleScan:
    """Outcome of :func:`scan_image`: the map, the region, class names and output files."""

    vmap: VulnerabilityMap
    region: np.ndarray
    class_names: tuple[str, ...]
    map_npz: Path
    figure_png: Path


def scan_image(
    image: np.ndarray,
    model_name: str,
    out_dir: str | Path,
    *,
    region: str = "whole",
    weights: str | Path | None = None,
    seed: int = 0,
    stem: str = "image",
    stride: int = 1,
    progress: bool = False,
    precision: Precision = "fp32",
) -> SingleScan:
    """Scan one uint8 RGB image (H, W, 3) with the 8 RGB-cube corners inside a region (every ``stride``-th row
    and column of it); write ``<stem>-scan.npz`` and ``<stem>-scan.png`` into ``out_dir``.

    A full 224x224 scan is 401,409 queries; ``stride`` 4 or a region cut that by 16x or by the region's share.
    ``precision``: the scan's arithmetic (:class:`PixelScan`; each flip it finds is evaluated again at fp32).

    Raises:
        OutputError: ``out_dir`` cannot hold the outputs (checked before the model is loaded or queried).
    """
    from tqdm import tqdm

    from pixelspace.campaign.scan_batches import stride_grid
    from pixelspace.data.cifar10 import CLASSES
    from pixelspace.data.imagenet import imagenet_classes
    from pixelspace.models import get_spec, load
    from pixelspace.report.figures import figure_png, vulnerability_figure

    check_output_dir(out_dir, files=[f"{stem}-scan.npz", f"{stem}-scan.png"])  # before any query
    scan = PixelScan(batch_size=256, precision=precision)  # its settings checked before any work
    spec = get_spec(model_name)
    if image.shape[:2] != spec.input_size:
        raise ShapeError(f"{model_name} takes {spec.input_size[0]}x{spec.input_size[1]} images; got {image.shape[:2]}")
    if stride < 1:
        raise ConfigError(f"stride must be an int >= 1, got {stride}")
    mask = resolve_region(image, region, seed)
    scanned = mask & stride_grid(mask.shape, stride)
    if not scanned.any():
        raise ConfigError(f"stride {stride} leaves no pixel of region {region!r} to scan")
    with tqdm(total=int(scanned.sum()) * 8, unit="query", desc="scan", disable=not progress) as bar:
        vmap = scan(load(model_name, weights=weights), image[None], regions=scanned, progress=bar.update)[0]
    if spec.num_classes == 10:
        names: tuple[str, ...] = CLASSES
    elif spec.num_classes == 1000:
        names = imagenet_classes().names
    else:
        names = tuple(str(i) for i in range(spec.num_classes))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    npz = out / f"{stem}-scan.npz"
    vmap.to_npz(npz)
    fig = vulnerability_figure(image, vmap.min_probability, vmap.flips,
                               f"{names[vmap.label]} ({vmap.clean_probability:.2f}), region {region}",
                               None if region == "whole" else mask)
    png = out / f"{stem}-scan.png"
    png.write_bytes(figure_png(fig))
    return SingleScan(vmap, mask, names, npz, png)
