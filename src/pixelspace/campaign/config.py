"""Campaign configuration: frozen dataclasses holding every default, loaded from TOML.

A campaign file has the sections ``[campaign]``, ``[[models]]``, ``[images]``, ``[regions]``,
``[segmenter]``, ``[attack]``, ``[de]``, ``[scan]``, ``[sparse_rs]``, ``[fitness_curves]`` and ``[execution]``; every key is optional
except one model. An unknown key is a :class:`ConfigError` that names it and suggests the closest valid key;
a bad value names the field and what is allowed. ``dataclasses.asdict(config)`` is what the store records.

Example::

    [campaign]
    seed = 0
    store = "stores/demo.sqlite"

    [[models]]
    name = "vgg16-cifar10"

    [images]
    count = 24

    [de]
    population_size = 100
    max_generations = 10
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pixelspace.attack.pixel_attack import SUCCESS_CHECKS, PixelAttack, SuccessCheck
from pixelspace.campaign.legacy import fill_stored, omit_old
from pixelspace.data.shift import ShiftMode
from pixelspace.errors import ConfigError
from pixelspace.search.de import DEConfig

Selection = Literal["correct-by-all", "correct-by-each", "all"]
Mode = Literal["untargeted", "targeted"]
SegmenterName = Literal["grabcut", "u2net", "files"]
BackendName = Literal["local", "ray"]
SearchName = Literal["de", "scan", "scan-first", "sparse-rs"]

#: Region names a campaign understands besides mask folders.
BUILTIN_REGIONS = ("whole", "foreground", "background", "random", "centre", "border")
#: Regions derived from the segmenter's foreground mask (``centre``/``border`` take its pixel counts).
SEGMENTED_REGIONS = ("foreground", "background", "random", "centre", "border")
SHIPPED_DATASET = "cifar10-sample"
SHIPPED_IMAGENET = "imagenet-sample"


@dataclass(frozen=True)
class CampaignSection:
    """Identity of the campaign.

    Attributes:
        name: a label shown in reports.
        seed: the campaign seed; every attack's seed derives from it and the attack's key.
        store: path of the SQLite results store. In a campaign file (:meth:`CampaignConfig.load`) a relative
            path is taken from the campaign file's folder; in a config built in code, from the working
            directory. Not part of the config hash.
    """

    name: str = "campaign"
    seed: int = 0
    store: str = "pixelspace-store.sqlite"

    def __post_init__(self) -> None:
        if self.seed < 0 or self.seed >= 2**63:
            raise ConfigError(f"campaign.seed must be an int in [0, 2**63), got {self.seed}")
        if not self.store:
            raise ConfigError("campaign.store must be a file path, got an empty string")


@dataclass(frozen=True)
class ModelEntry:
    """One network of the campaign.

    Attributes:
        name: a registered model name (``pixelspace.models.available_models()``), or the label of ``factory``.
        weights: a weight file (safetensors or torch state dict); None: the shipped weights.
        factory: ``"package.module:function"`` returning an ``nn.Module`` (float NCHW [0, 1] -> logits), for
            networks outside the registry; with no ``weights`` its own initial weights are used.
    """

    name: str
    weights: str | None = None
    factory: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("models[].name must be a non-empty string")
        if self.factory is not None and ":" not in self.factory:
            raise ConfigError(f"models[].factory must look like 'package.module:function', got {self.factory!r}")


@dataclass(frozen=True)
class ImagesSection:
    """Which images are attacked (DESIGN.md §3).

    Attributes:
        dataset: ``"cifar10-sample"`` (the 1,000 shipped JPEG-CIFAR-10 test images), ``"imagenet-sample"``
            (the 50 shipped ImageNet images at 224x224), a folder of ``<wnid>_<name>.JPEG`` ImageNet images
            (resized whole to 224x224), a sample ``.npz`` file
            (``pixelspace.data.samples.save_sample``), or a CIFAR-10 source path read with ``load_split``.
        split: the split read from a CIFAR-10 source path.
        pool_seed: the seed of the permutation that orders the pool.
        count: images attacked (per network with ``correct-by-each``).
        selection: ``"correct-by-all"`` (the first ``count`` pool images every network classifies correctly),
            ``"correct-by-each"`` (per network) or ``"all"``.
        shift: ``[dy, dx]``, the translation experiment (``pixelspace.data.shift``): the images are chosen
            exactly as without a shift (on the unshifted images), then attacked moved ``dy`` pixels down and
            ``dx`` right with reflect padding, their foreground masks moved with them; a chosen image that a
            network misclassifies once shifted is not attacked and is recorded with why. ``[0, 0]`` (the
            default) is no shift.
        shift_mode: ``"move"`` (the default: the content moves by ``shift``) or ``"in-place"``, the control: the
            content the shift keeps, left at its original position, the strip the shift pushes out replaced by
            its mirror (``pixelspace.data.shift.place_images``). A ``"move"`` store of the same shift is then
            this store's images moved pixel for pixel (the campaign requires a shift under half the image, where
            that holds), so ``pixelspace report MOVED --baseline IN_PLACE`` tests the move with the content held
            fixed.
    """

    dataset: str = SHIPPED_DATASET
    split: Literal["train", "test"] = "test"
    pool_seed: int = 0
    count: int = 100
    selection: Selection = "correct-by-all"
    shift: tuple[int, int] = (0, 0)
    shift_mode: ShiftMode = "move"

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"images.count must be an int >= 1, got {self.count}")
        if self.pool_seed < 0:
            raise ConfigError(f"images.pool_seed must be an int >= 0, got {self.pool_seed}")
        if len(self.shift) != 2:
            raise ConfigError(f"images.shift must be [dy, dx] (two ints), got {list(self.shift)}")
        if self.shift_mode == "in-place" and tuple(self.shift) == (0, 0):
            raise ConfigError("images.shift_mode = 'in-place' places the content a shift keeps: it needs a non-zero "
                              "images.shift")


@dataclass(frozen=True)
class RegionsSection:
    """Regions each image is attacked in.

    Attributes:
        names: built-in regions: ``whole``, ``foreground``, ``background``, and the controls ``random`` (a
            seeded random mask with the foreground's pixel count), ``centre`` and ``border``.
        folders: extra regions, name -> folder of PNG masks named by image id (white = inside the region).
    """

    names: tuple[str, ...] = ("whole", "foreground", "background")
    folders: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.names:
            if name not in BUILTIN_REGIONS:
                raise ConfigError(
                    f"regions.names: unknown region {name!r}{_suggest(name, BUILTIN_REGIONS)}; allowed: "
                    f"{', '.join(BUILTIN_REGIONS)} (mask folders go in regions.folders)"
                )
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"regions.names lists a region twice: {list(self.names)}")
        clash = sorted(set(self.folders) & set(BUILTIN_REGIONS))
        if clash:
            raise ConfigError(f"regions.folders: {clash} are built-in region names; pick other names")
        if not self.names and not self.folders:
            raise ConfigError("regions: name at least one region in regions.names or regions.folders")

    @property
    def all(self) -> tuple[str, ...]:
        """Every region name, built-in first, then folders (sorted)."""
        return (*self.names, *sorted(self.folders))


@dataclass(frozen=True)
class SegmenterSection:
    """How foreground masks are made, and the quality guard.

    Attributes:
        method: ``"grabcut"`` (CIFAR-10), ``"u2net"`` or ``"files"`` (PNG masks in ``mask_folder``).
        mask_folder: folder of foreground PNG masks named by image id (``method = "files"``).
        use_shipped: with the shipped dataset and GrabCut, use the shipped precomputed masks.
        seed: seed of the segmenter (GrabCut) and of the ``random`` control region.
        min_pixels: an image whose foreground or background (or any other attacked region) has fewer pixels
            is dropped from every region of the campaign, and the reason is recorded.
        options: extra keyword arguments for the segmenter's constructor (e.g. GrabCut's ``iterations``).
    """

    method: SegmenterName = "grabcut"
    mask_folder: str | None = None
    use_shipped: bool = True
    seed: int = 0
    min_pixels: int = 20  # = pixelspace.segment.MIN_REGION_PIXELS
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method == "files" and not self.mask_folder:
            raise ConfigError("segmenter.mask_folder must name a folder of PNG masks when method = 'files'")
        if self.min_pixels < 1:
            raise ConfigError(f"segmenter.min_pixels must be an int >= 1, got {self.min_pixels}")


@dataclass(frozen=True)
class AttackSection:
    """The attack grid.

    Attributes:
        pixels: pixel counts k (each >= 1).
        modes: ``"untargeted"`` and/or ``"targeted"`` (every class other than the clean prediction).
        region_mode: ``"restrict"`` (the paper) or ``"index"``.
        search: one or more of ``"de"`` (Differential Evolution, the paper), ``"scan"`` (every pixel of the
            regions set to each colour of ``[scan]``: one vulnerability map per model and image, one row per
            region, 1 pixel only), ``"scan-first"`` (the same pairs in a seeded random order, stopping at
            the first flip or target hit: one row per 1-pixel attack) and ``"sparse-rs"`` (the Sparse-RS-style
            random search of ``[sparse_rs]``, every pixel count and mode of the grid, early stop). A string or
            a list.
        reuse_evaluations: answer a DE candidate that repeats an image the attack already evaluated from
            memory, without a model query (``pixelspace.attack.memo``; same search, fewer queries).
            ``false`` is the engine before the memo: stores made then read as ``false``.
        precision: the arithmetic of DE's and the scan's model evaluations: ``"fp32"`` (default), ``"tf32"``,
            ``"bf16"`` or ``"fp16"`` (``pixelspace.models.precision``). Successes are confirmed at fp32
            (DE), flips in a scan are evaluated again at fp32. ``sparse-rs`` runs at fp32 in a campaign, so
            another precision beside it is refused (:meth:`CampaignConfig.check_precision_applies`);
            ``scan-first`` always runs at fp32 (said in the log). Part of the attack keys when not ``"fp32"``.
        incremental: let each model answer few-pixel candidates with the incremental forward pass where it
            applies and is estimated faster (``Classifier(incremental="auto")``: CPU only; same answers, less
            compute; ``docs/engine.md``). ``false``: full forward passes, the engine before it: stores made
            then read as ``false``.
    """

    pixels: tuple[int, ...] = (1,)
    modes: tuple[Mode, ...] = ("untargeted",)
    region_mode: Literal["restrict", "index"] = "restrict"
    search: SearchName | tuple[SearchName, ...] = ("de",)
    reuse_evaluations: bool = True
    precision: Literal["fp32", "tf32", "bf16", "fp16"] = "fp32"
    incremental: bool = True

    def __post_init__(self) -> None:
        from pixelspace.models.precision import check_precision

        check_precision(self.precision, "attack.precision")
        if not isinstance(self.incremental, bool):
            raise ConfigError(f"attack.incremental must be true or false, got {self.incremental!r}")
        if not self.pixels or any(p < 1 for p in self.pixels) or len(set(self.pixels)) != len(self.pixels):
            raise ConfigError(f"attack.pixels must be distinct ints >= 1, got {list(self.pixels)}")
        if not self.modes or len(set(self.modes)) != len(self.modes):
            raise ConfigError(f"attack.modes must list 'untargeted' and/or 'targeted' once each, got {list(self.modes)}")
        if isinstance(self.search, str):
            object.__setattr__(self, "search", (self.search,))
        if not self.search or len(set(self.search)) != len(self.search):
            raise ConfigError("attack.search must name 'de', 'scan', 'scan-first' and/or 'sparse-rs' once each, "
                              f"got {self.search}")
        if set(self.search) & {"scan", "scan-first"} and 1 not in self.pixels:
            raise ConfigError(
                f"attack.search {list(self.search)} includes a scan, which answers 1-pixel attacks only; "
                f"add 1 to attack.pixels (got {list(self.pixels)})"
            )

    @property
    def searches(self) -> tuple[str, ...]:
        """The searches as a tuple (``search`` normalised)."""
        return (self.search,) if isinstance(self.search, str) else tuple(self.search)


_DE, _DE_ATTACK = DEConfig(), PixelAttack()  # the library's defaults: the [de] section takes, not restates them


@dataclass(frozen=True)
class DESection:
    """The ``[de]`` section: the Differential Evolution settings (:class:`~pixelspace.search.de.DEConfig`'s
    fields, defaults and checks) followed by the two settings of the DE attack that campaign files have always
    written there (:class:`~pixelspace.attack.pixel_attack.PixelAttack`'s ``early_stop`` and
    ``success_check``, its defaults).

    Field for field (names, order, values) it is the ``DEConfig`` that stores recorded and hashed before the
    two settings moved to the attack, so ``config_json``, the config hash and the DE search hash stay as they
    were. :attr:`settings` is what DE is given; the backend hands the other two to the attack.

    Attributes:
        population_size, max_generations, max_queries, mutation, crossover, init, strategy: as in ``DEConfig``.
        early_stop: stop an attack at its first confirmed success (the ``fitness_curves`` rows run without).
        success_check: ``"any"`` (every evaluated candidate is tested) or ``"best"`` (the population's best
            member only, the reference code's rule; the paper campaigns use it).
    """

    population_size: int = _DE.population_size
    max_generations: int = _DE.max_generations
    max_queries: int | None = _DE.max_queries
    mutation: float | tuple[float, float] = _DE.mutation
    crossover: float = _DE.crossover
    init: str = _DE.init
    strategy: str = _DE.strategy
    early_stop: bool = _DE_ATTACK.early_stop
    success_check: SuccessCheck = _DE_ATTACK.success_check

    def __post_init__(self) -> None:
        _ = self.settings  # DEConfig checks the DE settings
        if not isinstance(self.early_stop, bool):
            raise ConfigError(f"de.early_stop must be true or false, got {self.early_stop!r}")
        if self.success_check not in SUCCESS_CHECKS:
            raise ConfigError(f"de.success_check must be 'any' or 'best', got {self.success_check!r}")

    @property
    def settings(self) -> DEConfig:
        """The DE settings alone (what :class:`PixelAttack`'s ``de`` gets)."""
        return DEConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(DEConfig)})

    @classmethod
    def of(cls, de: DEConfig) -> DESection:
        """The section a ``DEConfig`` stands for: its settings, and the attack's defaults or the deprecated
        ``early_stop`` / ``success_check`` it was given."""
        return cls(**{f.name: getattr(de, f.name) for f in dataclasses.fields(DEConfig)},
                   **de.deprecated_attack_settings)


@dataclass(frozen=True)
class ScanSection:
    """Settings of the ``"scan"`` and ``"scan-first"`` searches (``docs/scan.md``).

    Attributes:
        colors: ``"corners"`` (the 8 corners of the RGB cube) or ``"grid"`` (a ``levels``³ grid over the cube).
        levels: grid levels per channel (``colors = "grid"``), >= 2.
        stride: scan every ``stride``-th row and column only (1: every pixel); for large images, where a
            full scan costs H x W x colours queries. Region statistics then count the scanned pixels only.
        per_round: ``scan-first`` pairs evaluated per image and model call (its overshoot past the hit).
    """

    colors: Literal["corners", "grid"] = "corners"
    levels: int = 3
    stride: int = 1
    per_round: int = 32

    def __post_init__(self) -> None:
        if self.levels < 2:
            raise ConfigError(f"scan.levels must be an int >= 2, got {self.levels}")
        if self.stride < 1:
            raise ConfigError(f"scan.stride must be an int >= 1, got {self.stride}")
        if self.per_round < 1:
            raise ConfigError(f"scan.per_round must be an int >= 1, got {self.per_round}")

    def color_set(self) -> Any:
        """uint8 (C, 3): the colours scanned."""
        from pixelspace.attack.scan import colour_grid, cube_corners

        return cube_corners() if self.colors == "corners" else colour_grid(self.levels)


@dataclass(frozen=True)
class SparseRSSection:
    """Settings of the ``"sparse-rs"`` search (:class:`pixelspace.attack.sparse_rs.SparseRandomSearch`).

    Attributes:
        max_queries: model evaluations per attack (clean image and confirmation included), >= 3.
        p_init: initial fraction of the k pixels resampled per iteration, in (0, 1].
        first_color: ``"opposite"`` (a pixel's first placement takes the corner farthest from its clean colour)
            or ``"random"`` (every placement a uniform corner, the authors' rule; older stores read as it,
            :mod:`pixelspace.campaign.legacy`).
        single_pixel: at one pixel only: ``"enumerate"`` (every (pixel, corner) pair of the region once, in a
            random order) or ``"random"`` (pairs drawn with repetition, the authors' rule; older stores read
            as it).
    """

    max_queries: int = 10_000
    p_init: float = 0.3
    first_color: Literal["opposite", "random"] = "opposite"
    single_pixel: Literal["enumerate", "random"] = "enumerate"

    def __post_init__(self) -> None:
        if not isinstance(self.max_queries, int) or self.max_queries < 3:
            raise ConfigError(f"sparse_rs.max_queries must be an int >= 3, got {self.max_queries!r}")
        if not isinstance(self.p_init, int | float) or not 0.0 < self.p_init <= 1.0:
            raise ConfigError(f"sparse_rs.p_init must lie in (0, 1], got {self.p_init!r}")


@dataclass(frozen=True)
class FitnessCurvesSection:
    """Attacks also run without early stop, for the best-fitness-per-generation figure (paper Fig. 6).

    Early stop is part of the attack key, so these rows never collide with the early-stopped ones.

    Attributes:
        images: the first this many attacked images (pool order) get curves; 0 turns the option off.
        pixels: pixel counts of the curve attacks.
        modes: modes of the curve attacks.
        regions: regions of the curve attacks; empty: every region of the campaign.
    """

    images: int = 0
    pixels: tuple[int, ...] = (1,)
    modes: tuple[Mode, ...] = ("untargeted",)
    regions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.images < 0:
            raise ConfigError(f"fitness_curves.images must be an int >= 0, got {self.images}")


@dataclass(frozen=True)
class ExecutionSection:
    """Where and how attacks run; none of this changes results, so none of it is part of an attack key.

    Attributes:
        backend: ``"local"`` (in-process) or ``"ray"``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, …
        batch_size: images per model call, or ``"auto"``: measured once at the first start and kept in the
            store for the whole campaign (resume included).
        attacks_per_batch: attacks per engine call and per store commit; ``"auto"`` fills about eight model
            batches per generation (4 … 64 attacks). On Ray this is also the number of attack keys per task.
        address: Ray only: the cluster to join, ``"auto"`` (the cluster started with ``ray start`` on this
            machine) or ``"HOST:PORT"``; None starts a private Ray instance on this machine (or joins
            ``$RAY_ADDRESS`` when set).
        workers: Ray only: worker actors, or ``"auto"``: one per GPU of the cluster, else one per
            ``worker_cpus`` CPUs.
        worker_cpus: Ray only: CPUs each worker actor reserves (and its torch threads) when it runs on the CPU.
        tasks_per_worker: Ray only: batches queued on each worker at a time (2 hides the round trip).
    """

    backend: BackendName = "local"
    device: str = "auto"
    batch_size: int | Literal["auto"] = "auto"
    attacks_per_batch: int | Literal["auto"] = "auto"
    address: str | None = None
    workers: int | Literal["auto"] = "auto"
    worker_cpus: float = 1.0
    tasks_per_worker: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.batch_size, int) and self.batch_size < 1:
            raise ConfigError(f"execution.batch_size must be 'auto' or an int >= 1, got {self.batch_size}")
        if isinstance(self.attacks_per_batch, int) and self.attacks_per_batch < 1:
            raise ConfigError(
                f"execution.attacks_per_batch must be 'auto' or an int >= 1, got {self.attacks_per_batch}"
            )
        if isinstance(self.workers, int) and self.workers < 1:
            raise ConfigError(f"execution.workers must be 'auto' or an int >= 1, got {self.workers}")
        if self.worker_cpus <= 0:
            raise ConfigError(f"execution.worker_cpus must be a number > 0, got {self.worker_cpus}")
        if self.tasks_per_worker < 1:
            raise ConfigError(f"execution.tasks_per_worker must be an int >= 1, got {self.tasks_per_worker}")
        if self.address is not None and not self.address:
            raise ConfigError("execution.address must be 'auto' or 'HOST:PORT' (omit it for a private Ray instance)")
        if not (self.device in ("auto", "cpu", "mps") or self.device.startswith("cuda")):
            raise ConfigError(f"execution.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")


@dataclass(frozen=True)
class CampaignConfig:
    """A whole campaign (see the module docstring for the file layout)."""

    models: tuple[ModelEntry, ...]
    campaign: CampaignSection = field(default_factory=CampaignSection)
    images: ImagesSection = field(default_factory=ImagesSection)
    regions: RegionsSection = field(default_factory=RegionsSection)
    segmenter: SegmenterSection = field(default_factory=SegmenterSection)
    attack: AttackSection = field(default_factory=AttackSection)
    de: DESection = field(default_factory=DESection)
    scan: ScanSection = field(default_factory=ScanSection)
    sparse_rs: SparseRSSection = field(default_factory=SparseRSSection)
    fitness_curves: FitnessCurvesSection = field(default_factory=FitnessCurvesSection)
    execution: ExecutionSection = field(default_factory=ExecutionSection)

    def __post_init__(self) -> None:
        if not self.models:
            raise ConfigError("models: a campaign needs at least one [[models]] entry")
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ConfigError(f"models: each name may appear once, got {names}")
        unknown = sorted(set(self.fitness_curves.regions) - set(self.regions.all))
        if unknown:
            raise ConfigError(f"fitness_curves.regions: {unknown} are not regions of this campaign {list(self.regions.all)}")
        for p in self.fitness_curves.pixels:
            if p < 1:
                raise ConfigError(f"fitness_curves.pixels must be ints >= 1, got {list(self.fitness_curves.pixels)}")

    # -- derived ------------------------------------------------------------------------------------------
    @property
    def needs_foreground(self) -> bool:
        """Whether any region is derived from the segmenter's foreground mask."""
        return any(r in SEGMENTED_REGIONS for r in self.regions.names)

    @property
    def min_region_pixels(self) -> int:
        """The quality guard's threshold: ``segmenter.min_pixels``, at least the largest pixel count."""
        return max(self.segmenter.min_pixels, *self.attack.pixels, *self.fitness_curves.pixels)

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` of the config (what the store records as ``config_json``)."""
        return _jsonable(dataclasses.asdict(self))

    def result_dict(self) -> dict[str, Any]:
        """The part of the config that decides which attacks exist and what they return.

        Leaves out ``execution`` (backend, device, batch sizes), the store path and the campaign's name, the
        sections of searches it does not use and every option at its old value
        (:data:`pixelspace.campaign.legacy.OLD_DEFAULTS`), so a store keeps the hash it was written with.
        """
        d = self.to_dict()
        d.pop("execution")
        d["campaign"] = {"seed": self.campaign.seed}
        return omit_old(d, self)

    def config_hash(self) -> str:
        """sha256 (hex) of :meth:`result_dict` as canonical JSON: a store refuses any other hash."""
        return hashlib.sha256(canonical_json(self.result_dict()).encode()).hexdigest()

    def replace(self, **changes: Any) -> CampaignConfig:
        """A copy with some fields changed: ``cfg.replace(store="x.sqlite", backend="ray")``.

        A key is ``"section.field"`` (``cfg.replace(**{"campaign.seed": 1})``) or a bare field name that
        belongs to one section only.
        """
        updates: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            if "." in key:
                section, _, name = key.partition(".")
                owners = [section] if section in _SECTIONS else []
            else:
                name = key
                owners = [s for s in _SECTIONS if key in {f.name for f in dataclasses.fields(_SECTIONS[s])}]
            if len(owners) != 1 or name not in {f.name for f in dataclasses.fields(_SECTIONS[owners[0]])}:
                raise ConfigError(f"replace: {key!r} is not a unique field of a campaign section (use 'section.field')")
            updates.setdefault(owners[0], {})[name] = value
        return dataclasses.replace(
            self, **{s: dataclasses.replace(getattr(self, s), **kw) for s, kw in updates.items()}
        )

    # -- loading ------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> CampaignConfig:
        """Build a config from plain data (a parsed TOML file or a stored ``config_json``)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a table of sections, got {type(data).__name__}")
        _check_keys(data, [*_SECTIONS, "models"], source)
        kwargs: dict[str, Any] = {}
        raw_models = data.get("models", [])
        if not isinstance(raw_models, list) or not all(isinstance(m, dict) for m in raw_models):
            raise ConfigError(f"{source}: models must be an array of tables ([[models]] entries)")
        kwargs["models"] = tuple(_build(ModelEntry, m, f"models[{i}]") for i, m in enumerate(raw_models))
        for name, section_cls in _SECTIONS.items():
            table = data.get(name, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: [{name}] must be a table, got {type(table).__name__}")
            kwargs[name] = _build(section_cls, table, name)
        return cls(**kwargs)

    @classmethod
    def from_stored(cls, data: dict[str, Any], source: str = "config_json") -> CampaignConfig:
        """Build the config a store recorded (``meta.config_json``): an option it lacks reads as its old value
        (:func:`pixelspace.campaign.legacy.fill_stored`), the engine's behaviour when the store was written."""
        return cls.from_dict(fill_stored(data), source)

    @classmethod
    def load(cls, path: str | Path) -> CampaignConfig:
        """Read a TOML campaign file.

        Raises:
            ConfigError: the file is missing, not valid TOML, has an unknown key or a bad value.
        """
        p = Path(path)
        if p.is_dir():
            tomls = sorted(f.name for f in p.glob("*.toml"))
            hint = (f"; campaign files in it: {', '.join(tomls[:5])}{', ...' if len(tomls) > 5 else ''}" if tomls
                    else "")
            stores = sorted(f.name for f in p.glob("*.sqlite"))
            if stores:
                hint += (f"; it holds store file(s) {', '.join(stores[:3])}{', ...' if len(stores) > 3 else ''}, "
                         "which `pixelspace status` and `pixelspace report` read (a store is resumed by running "
                         "the campaign file that made it again)")
            raise ConfigError(f"{p} is a folder, not a campaign file: give the path of a campaign's .toml file "
                              f"(e.g. campaigns/demo.toml){hint}")
        if not p.is_file():
            raise ConfigError(f"campaign file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not a campaign file (a campaign file is UTF-8 TOML text)") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
        config = cls.from_dict(data, str(p))
        config.check_precision_applies()
        return config.replace(store=resolve_store_path(config.campaign.store, p))

    def check_precision_applies(self) -> None:
        """Refuse an ``attack.precision`` that a search of the campaign would ignore: ``"sparse-rs"`` runs at
        fp32 in a campaign (its attack keys hold no precision). Run when a campaign file loads and before a
        campaign runs (``run --precision`` included), not by :meth:`from_stored`, so a store written so
        still reads.

        Raises:
            ConfigError: ``attack.precision`` is not ``"fp32"`` and ``"sparse-rs"`` is searched.
        """
        if self.attack.precision != "fp32" and "sparse-rs" in self.attack.searches:
            raise ConfigError(
                f"attack.precision = {self.attack.precision!r} is not applied by the search 'sparse-rs' (it runs at "
                "fp32 in a campaign); use precision 'fp32', or run sparse-rs in a campaign of its own"
            )


def resolve_store_path(store: str, campaign_file: str | Path) -> str:
    """``store`` as written in ``campaign_file``: an absolute path (``~`` expanded) as it is, a relative one
    taken from the campaign file's folder (that folder's symlinks resolved, ``..`` in ``store`` collapsed)."""
    path = Path(store).expanduser()
    if path.is_absolute():
        return str(path)
    return os.path.normpath(Path(campaign_file).parent.resolve() / path)


_SECTIONS: dict[str, type] = {
    "campaign": CampaignSection,
    "images": ImagesSection,
    "regions": RegionsSection,
    "segmenter": SegmenterSection,
    "attack": AttackSection,
    "de": DESection,
    "scan": ScanSection,
    "sparse_rs": SparseRSSection,
    "fitness_curves": FitnessCurvesSection,
    "execution": ExecutionSection,
}


def load_config(path: str | Path) -> CampaignConfig:
    """Read a TOML campaign file (see :meth:`CampaignConfig.load`)."""
    return CampaignConfig.load(path)


def canonical_json(data: Any) -> str:
    """Compact JSON with sorted keys: the text that hashes are taken of."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)


# -- validation helpers -----------------------------------------------------------------------------------
def _suggest(key: str, valid: typing.Iterable[str]) -> str:
    options = list(valid)
    same_case = [v for v in options if v.lower() == key.lower()]  # "DE" for "de": keys are case-sensitive
    close = same_case or difflib.get_close_matches(key, options, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: dict[str, Any], valid: list[str], where: str) -> None:
    for key in table:
        if key not in valid:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, valid)}; valid keys: {', '.join(valid)}")


def _build(cls: type, table: dict[str, Any], where: str) -> Any:
    """Instantiate a dataclass from a table, checking keys and converting/validating each value's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(table, list(fields), f"[{where}]")
    missing = [name for name, f in fields.items() if f.init and name not in table
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"[{where}] needs {', '.join(repr(m) for m in missing)} (missing)")
    hints = typing.get_type_hints(cls)
    kwargs = {key: _convert(value, hints[key], f"{where}.{key}") for key, value in table.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(where) else f"[{where}] {msg}") from None
    except TypeError as exc:
        raise ConfigError(f"[{where}] {exc}") from None


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if tp is type(None):
        return "nothing (omit the key)"
    if origin is Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of ({_describe(args[0])})"
        return f"a list of {len(args)} values ({', '.join(_describe(a) for a in args)})"
    if origin is dict:
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (TOML types); lists become tuples."""
    try:
        return _convert_inner(value, tp, where)
    except _Mismatch:
        raise ConfigError(f"{where}: got {value!r}; allowed: {_describe(tp)}") from None


class _Mismatch(Exception):
    pass


def _convert_inner(value: Any, tp: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if origin in (Union, types.UnionType):
        for arg in get_args(tp):
            try:
                return _convert_inner(value, arg, where)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in get_args(tp) and isinstance(value, str | int):
            return value
        raise _Mismatch
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise _Mismatch
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert_inner(v, args[0], where) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert_inner(v, a, where) for v, a in zip(value, args, strict=True))
    if origin is dict:
        if not isinstance(value, dict):
            raise _Mismatch
        key_t, val_t = get_args(tp)
        return {str(k): _convert_inner(v, val_t, where) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    raise _Mismatch


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj
