"""What a campaign needs before its first attack: models, the dataset, image selection, masks, regions.

Selection follows DESIGN.md §3: one pool per campaign (a permutation of the dataset drawn with
``images.pool_seed``), walked in order; an image is attacked when the selection rule accepts it (by default
every network classifies it correctly) and every region of the campaign passes the quality guard (at least
``min_region_pixels`` pixels, so foreground and background are both attackable). Every pool image looked at
is recorded with the reason it was passed over, together with each network's clean prediction.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pixelspace.campaign.config import SHIPPED_DATASET, SHIPPED_IMAGENET, CampaignConfig, ModelEntry
from pixelspace.errors import ConfigError, DataError, WeightsError

log = logging.getLogger(__name__)

PREDICT_BATCH = 256


# -- models -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedModel:
    """A campaign network: the module (eval mode, on the CPU) and the sha256 of its weights."""

    name: str
    module: nn.Module
    weights_hash: str


def state_dict_sha256(module: nn.Module) -> str:
    """sha256 (hex) of a module's state dict (names, dtypes, shapes and bytes, in name order)."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def load_model(entry: ModelEntry) -> LoadedModel:
    """Build one campaign network.

    Raises:
        ConfigError: unknown registered name or an unimportable factory.
        WeightsError: a missing or unfitting weight file, or no shipped weights for a registered name.
    """
    from pixelspace.models import load, shipped_weights_path
    from pixelspace.models.weights import file_sha256, load_into

    if entry.weights is not None and not Path(entry.weights).is_file():
        raise WeightsError(f"models: weight file {entry.weights} of {entry.name!r} does not exist")
    if entry.factory is not None:
        module_name, _, attr = entry.factory.partition(":")
        try:
            fn: Callable[[], nn.Module] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"models: cannot import factory {entry.factory!r} of {entry.name!r}: {exc}") from exc
        module = fn()
        if not isinstance(module, nn.Module):
            raise ConfigError(f"models: factory {entry.factory!r} returned {type(module).__name__}, not an nn.Module")
        if entry.weights is not None:
            load_into(module, entry.weights)
        module.eval()
        digest = file_sha256(entry.weights) if entry.weights is not None else state_dict_sha256(module)
        return LoadedModel(entry.name, module, digest)
    try:
        module = load(entry.name, weights=entry.weights)
    except WeightsError as exc:
        if entry.weights is not None:
            raise
        raise WeightsError(f"models: {exc} (in a campaign file: weights = \"PATH\" in the [[models]] entry)") from exc
    path = entry.weights if entry.weights is not None else shipped_weights_path(entry.name)
    assert path is not None  # load() raised otherwise
    return LoadedModel(entry.name, module, file_sha256(path))


def load_models(config: CampaignConfig) -> dict[str, LoadedModel]:
    """Every network of the campaign, by name (in config order)."""
    return {m.name: load_model(m) for m in config.models}


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; other names are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"execution.device is {device!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


# -- dataset ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """Images uint8 (N, H, W, 3), labels int64 (N,), source ids (N,), class names and a display name."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    classes: tuple[str, ...]
    name: str
    is_shipped_sample: bool = False


def check_sources(config: CampaignConfig) -> None:
    """Check, without reading them, that the files a campaign's setup reads exist: the dataset (unless shipped),
    the foreground mask folder (``segmenter.method = "files"``) and every ``regions.folders`` folder.

    Raises:
        DataError: one of them is missing (the first one, named by its config key).
    """
    src = config.images.dataset
    if src not in (SHIPPED_DATASET, SHIPPED_IMAGENET) and not Path(src).exists():
        raise DataError(f"images.dataset: {src} does not exist (use 'cifar10-sample', a sample .npz or a CIFAR-10 "
                        "source)")
    folders = {f"regions.folders.{name}": folder for name, folder in sorted(config.regions.folders.items())}
    if config.segmenter.method == "files" and config.segmenter.mask_folder:
        folders = {"segmenter.mask_folder": config.segmenter.mask_folder, **folders}
    for key, folder in folders.items():
        if not Path(folder).is_dir():
            raise DataError(f"{key}: mask folder {folder} does not exist")


def load_dataset(config: CampaignConfig) -> Dataset:
    """The campaign's image source (see :class:`~pixelspace.campaign.config.ImagesSection`).

    Raises:
        DataError: a missing or unreadable dataset.
    """
    from pixelspace.data.cifar10 import CLASSES, load_split
    from pixelspace.data.samples import load_cifar10_sample

    src = config.images.dataset
    if src == SHIPPED_DATASET:
        s = load_cifar10_sample()
        return Dataset(s.images, s.labels, s.ids, s.classes, "JPEG-CIFAR-10", is_shipped_sample=True)
    if src == SHIPPED_IMAGENET:
        from pixelspace.data.imagenet import load_imagenet_sample

        s = load_imagenet_sample()
        return Dataset(s.images, s.labels, s.ids, s.classes, "ImageNet (shipped 50-image sample)")
    p = Path(src)
    if not p.exists():
        raise DataError(f"images.dataset: {p} does not exist (use 'cifar10-sample', a sample .npz or a CIFAR-10 source)")
    if p.suffix == ".npz":
        try:
            s = load_cifar10_sample(p)
        except (KeyError, ValueError, OSError) as exc:
            raise DataError(f"images.dataset: {p} is not a sample file (images, labels, ids, classes): {exc}") from exc
        return Dataset(s.images, s.labels, s.ids, s.classes, p.stem)
    if p.is_dir() and any(q.suffix.lower() in (".jpeg", ".jpg") and q.name[:1] == "n" and "_" in q.name
                          for q in p.iterdir()):
        from pixelspace.data.imagenet import read_imagenet_folder

        s = read_imagenet_folder(p)  # <wnid>_<name>.JPEG files, resized whole to 224x224
        return Dataset(s.images, s.labels, s.ids, s.classes, f"ImageNet ({p.name})")
    split = load_split(p, config.images.split)
    name = "JPEG-CIFAR-10" if "jpeg" in p.name.lower() else f"CIFAR-10 ({p.name})"
    return Dataset(split.images, split.labels, split.ids, CLASSES, name)


# -- masks and regions --------------------------------------------------------------------------------------
def image_seed(seed: int, image_id: str) -> int:
    """A per-image seed (non-negative, 63 bits) from a base seed and the image id."""
    digest = int(hashlib.sha256(image_id.encode()).hexdigest()[:15], 16)
    return int(np.random.SeedSequence([int(seed), digest]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class ForegroundSource:
    """Foreground masks of dataset images, computed or loaded on demand (one image at a time, cached).

    Args:
        config: the campaign (segmenter settings).
        dataset: the images.
        precomputed: image id -> bool (H, W) foreground masks that take precedence over the segmenter.
    """

    def __init__(self, config: CampaignConfig, dataset: Dataset, precomputed: Mapping[str, np.ndarray] | None) -> None:
        self.config, self.dataset = config, dataset
        self.precomputed = dict(precomputed or {})
        self.index = {image_id: i for i, image_id in enumerate(dataset.ids)}
        self._shipped: dict[str, np.ndarray] | None = None
        self._segmenter: Any = None
        self.description = self._describe()

    def _describe(self) -> str:
        seg = self.config.segmenter
        if self.precomputed:
            return "precomputed"
        if self._use_shipped():
            return "grabcut (shipped masks)"
        return seg.method

    def _use_shipped(self) -> bool:
        seg = self.config.segmenter
        if not (seg.method == "grabcut" and seg.use_shipped and self.dataset.is_shipped_sample):
            return False
        if self._shipped is None:
            from pixelspace.segment import load_cifar10_sample_masks

            try:
                masks = load_cifar10_sample_masks()
            except DataError as exc:
                log.warning("shipped sample masks unavailable (%s); computing GrabCut masks instead", exc)
                self._shipped = {}
                return False
            self._shipped = dict(zip(masks.ids, masks.foreground, strict=True))
        return bool(self._shipped)

    def _make_segmenter(self) -> Any:
        from pixelspace.segment import GrabCut, MaskFiles, U2Net

        seg = self.config.segmenter
        try:
            if seg.method == "grabcut":
                return GrabCut(**{"seed": seg.seed, **seg.options})
            if seg.method == "u2net":
                return U2Net(**seg.options)
            assert seg.mask_folder is not None
            return MaskFiles(seg.mask_folder)
        except TypeError as exc:
            raise ConfigError(f"segmenter.options: {exc}") from exc

    def __call__(self, image_id: str) -> np.ndarray:
        """bool (H, W) foreground mask of one image."""
        if image_id in self.precomputed:
            return np.asarray(self.precomputed[image_id], dtype=bool)
        if self._use_shipped():
            assert self._shipped is not None
            if image_id in self._shipped:
                return self._shipped[image_id]
        if self._segmenter is None:
            self._segmenter = self._make_segmenter()
        image = self.dataset.images[self.index[image_id]][None]
        if self.config.segmenter.method == "files":
            return np.asarray(self._segmenter(image, ids=[image_id])[0])
        if self.config.segmenter.method == "grabcut":
            return np.asarray(self._segmenter(image, seeds=[self.config.segmenter.seed])[0])
        return np.asarray(self._segmenter(image)[0])


def image_regions(
    config: CampaignConfig, image_id: str, shape: tuple[int, int], foreground: Callable[[str], np.ndarray]
) -> dict[str, np.ndarray]:
    """Every region of the campaign for one image: name -> bool (H, W)."""
    from pixelspace.segment import load_masks, make_region

    fg = foreground(image_id) if config.needs_foreground else np.ones(shape, dtype=bool)
    if fg.shape != shape:
        raise DataError(f"foreground mask of {image_id!r} has shape {fg.shape}, the image {shape}")
    out: dict[str, np.ndarray] = {}
    for name in config.regions.names:
        seed = image_seed(config.segmenter.seed, image_id) if name == "random" else None
        out[name] = np.asarray(make_region(name, fg, seed=[seed] if seed is not None else None))
    for name, folder in sorted(config.regions.folders.items()):
        out[name] = load_masks(folder, [image_id], shape=shape)[0]
    return out


def region_problems(config: CampaignConfig, regions: Mapping[str, np.ndarray]) -> str:
    """Why an image's regions fail the quality guard ("" when they pass)."""
    thr = config.min_region_pixels
    why = []
    for name, mask in regions.items():
        n = int(mask.sum())
        if n < thr:
            why.append(f"{name} has {n} px < {thr}")
    return "mask: " + "; ".join(why) if why else ""


# -- selection ----------------------------------------------------------------------------------------------
@dataclass
class Selection:
    """The outcome of image selection.

    Attributes:
        considered: dataset indices of the pool images looked at, in pool order.
        status: image id -> ``"attacked"`` or ``"skipped"``; reasons: image id -> why it was skipped.
        per_model: model -> attacked image ids (pool order).
        predictions: (image id, model) -> (predicted class, confidence).
        regions: image id -> region name -> bool (H, W), for attacked images.
    """

    considered: list[int] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str | None] = field(default_factory=dict)
    per_model: dict[str, list[str]] = field(default_factory=dict)
    predictions: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    regions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def predict(module: nn.Module, images: np.ndarray, device: str, batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Clean top-1 class int64 (N,) and its probability float32 (N,) of uint8 images (N, H, W, 3)."""
    from pixelspace.models.classifier import Classifier

    clf = Classifier(module.to(device), batch_size=batch_size)
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    probs = clf.probabilities(x, count=False)
    conf, pred = probs.max(dim=1)
    return pred.cpu().numpy().astype(np.int64), conf.cpu().numpy().astype(np.float32)


def shifted_dataset(config: CampaignConfig, dataset: Dataset) -> Dataset:
    """The images a campaign attacks: ``dataset`` itself, or its images placed by ``images.shift`` (moved, or
    with ``images.shift_mode = "in-place"`` the content the shift keeps, left in place)."""
    from pixelspace.data.shift import place_images

    shift, mode = config.images.shift, config.images.shift_mode
    if tuple(shift) == (0, 0):
        return dataset
    h, w = int(dataset.images.shape[1]), int(dataset.images.shape[2])
    if mode == "in-place" and (2 * abs(shift[0]) >= h or 2 * abs(shift[1]) >= w):
        raise ConfigError(f"images.shift_mode = 'in-place' needs a shift under half the {h}x{w} images (2 |dy| < "
                          f"{h}, 2 |dx| < {w}), got {list(shift)}: only then is the moved image the control's image "
                          "moved pixel for pixel")
    return dataclasses.replace(dataset, images=place_images(dataset.images, shift, mode))


def shifted_foreground(config: CampaignConfig, foreground: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
    """Foreground masks placed with the images (``images.shift``, ``images.shift_mode``): the unshifted image's
    mask, shifted (or put back in place the same way)."""
    from pixelspace.data.shift import place_images

    shift, mode = config.images.shift, config.images.shift_mode
    if tuple(shift) == (0, 0):
        return foreground
    return lambda image_id: place_images(np.asarray(foreground(image_id), dtype=bool)[None], shift, mode)[0]


def shift_words(config: CampaignConfig) -> str:
    """How a skipped image's reason names the shift: ``shifted by [dy, dx]`` (``... in place`` for the control)."""
    words = f"shifted by {list(config.images.shift)}"
    return words + " in place" if config.images.shift_mode == "in-place" else words


def select_images(
    config: CampaignConfig,
    dataset: Dataset,
    models: Mapping[str, LoadedModel],
    device: str,
    foreground: Callable[[str], np.ndarray],
    attacked: Dataset | None = None,
    attacked_foreground: Callable[[str], np.ndarray] | None = None,
) -> Selection:
    """Walk the pool and choose the attacked images (see the module docstring).

    With ``attacked`` (the shifted images of ``images.shift``), the choice is made on ``dataset`` exactly as
    without a shift; a chosen image that a network misclassifies in ``attacked`` is then recorded as skipped
    (it counts towards the quota, so the chosen set stays the unshifted campaign's), and the stored
    predictions and regions are those of the attacked (shifted) image, whose masks ``attacked_foreground``
    gives (``foreground`` gives the unshifted image's, which decide the choice as without a shift).

    Raises:
        DataError: no pool image qualifies.
    """
    n = len(dataset.labels)
    pool = np.random.default_rng(config.images.pool_seed).permutation(n)
    rule, count = config.images.selection, config.images.count
    quota = {m: count for m in models}
    sel = Selection(per_model={m: [] for m in models})
    shape = (int(dataset.images.shape[1]), int(dataset.images.shape[2]))
    chunk = max(64, 2 * count)
    classes = dataset.classes

    def done() -> bool:
        return all(q == 0 for q in quota.values())

    for start in range(0, n, chunk):
        if done():
            break
        idx = pool[start : start + chunk]
        preds = {m: predict(lm.module, dataset.images[idx], device) for m, lm in models.items()}
        moved = ({m: predict(lm.module, attacked.images[idx], device) for m, lm in models.items()}
                 if attacked is not None else None)
        for j, i in enumerate(idx.tolist()):
            if done():
                break
            image_id, label = dataset.ids[i], int(dataset.labels[i])
            sel.considered.append(i)
            chosen_on = {m: (int(preds[m][0][j]), float(preds[m][1][j])) for m in models}
            for m in models:  # the stored predictions are of the attacked image (shifted, with images.shift)
                sel.predictions[(image_id, m)] = (chosen_on[m] if moved is None
                                                  else (int(moved[m][0][j]), float(moved[m][1][j])))
            wrong = [m for m in models if chosen_on[m][0] != label]
            misclassified = "misclassified by " + ", ".join(
                f"{m} (as {_class_name(classes, chosen_on[m][0])})" for m in wrong
            )
            if moved is not None and wrong:
                misclassified += " (unshifted)"
            if rule == "all":
                wanted = list(models)
            elif rule == "correct-by-all":
                wanted = [] if wrong else list(models)
            else:
                wanted = [m for m in models if m not in wrong and quota[m] > 0]
            if not wanted:
                reason = misclassified if wrong else "quota of every network that classifies it correctly is full"
                sel.status[image_id], sel.reasons[image_id] = "skipped", reason
                continue
            if moved is not None:
                problem = region_problems(config, image_regions(config, image_id, shape, foreground))
                if problem:  # as without the shift
                    sel.status[image_id], sel.reasons[image_id] = "skipped", problem + " (unshifted)"
                    continue
                lost = [] if rule == "all" else [m for m in wanted if sel.predictions[(image_id, m)][0] != label]
                if lost:  # excluded, not replaced: the quota moves on as without the shift
                    for m in wanted:
                        quota[m] = max(quota[m] - 1, 0)
                    sel.status[image_id], sel.reasons[image_id] = "skipped", (
                        f"{shift_words(config)}: misclassified by " + ", ".join(
                            f"{m} (as {_class_name(classes, sel.predictions[(image_id, m)][0])})" for m in lost))
                    continue
            regions = image_regions(config, image_id, shape,
                                    attacked_foreground if attacked_foreground is not None else foreground)
            problem = region_problems(config, regions)
            if problem:
                if moved is not None:
                    for m in wanted:
                        quota[m] = max(quota[m] - 1, 0)
                    problem = f"{shift_words(config)}: {problem}"
                sel.status[image_id], sel.reasons[image_id] = "skipped", problem
                continue
            sel.status[image_id] = "attacked"
            # with "all" a misclassified image is attacked by every network (labels = clean predictions)
            partial = rule == "correct-by-each" and wrong
            sel.reasons[image_id] = misclassified + " (attacked by the others)" if partial else None
            sel.regions[image_id] = regions
            for m in wanted:
                if quota[m] > 0:
                    quota[m] -= 1
                    sel.per_model[m].append(image_id)
    if not sel.regions:
        reasons = sorted({r for r in sel.reasons.values() if r})[:5]
        raise DataError(f"no pool image qualifies for this campaign (looked at {len(sel.considered)}); e.g. {reasons}")
    short = {m: q for m, q in quota.items() if q > 0}
    if short:
        log.warning("the pool ran out: networks %s got fewer than %d images", sorted(short), count)
    return sel


def _class_name(classes: tuple[str, ...], c: int) -> str:
    return classes[c] if 0 <= c < len(classes) else str(c)
