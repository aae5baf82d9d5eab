"""The ``pixelspace`` command line: a thin layer over the library."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Literal

import click

from pixelspace.runtime import CPU_CAPABILITIES  # no torch import: the levels `replay --cpu-capability` takes
from pixelspace.search.de import DEConfig  # numpy only: the CLI's DE defaults are the library's

_DE = DEConfig()
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``90s``, ``8m``, ``1h30m`` or ``1.5h``; ValueError otherwise."""
    m = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or m is None or not any(m.groups()):
        raise ValueError(f"{text!r} is not a duration like 90s, 8m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r}: a time limit must be longer than zero")
    return total


#: The files ``pixelspace attack`` writes, after the image's stem (``commands.single.attack_image``).
ATTACK_OUTPUTS = ("-adversarial.png", "-best-attempt.png", "-attack.png")


class Duration(click.ParamType):
    """A click parameter for :func:`parse_duration`."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Measure how robust an image classifier is in pixel space, region by region."""
    from pixelspace.runtime import tune_malloc_unless_disabled

    ctx.ensure_object(dict)["started"] = time.monotonic()  # --time-limit counts the command's own start

    tune_malloc_unless_disabled()  # 1.7-2.5x faster CPU inference (docs/engine.md); PIXELSPACE_MALLOC_TUNING=0 disables
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--arch", type=click.Choice(["allconv", "nin", "vgg16", "cnn8"]), required=True)
@click.option("--data", "data_path", type=click.Path(exists=True, path_type=Path), required=True,
              help="CIFAR-10 source: .tar.gz of train|test/<class>/ images, such a folder, or the bin/py batches.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Final fp16 .safetensors file.")
@click.option("--run-dir", type=click.Path(path_type=Path), default=None,
              help="Checkpoint folder (default: runs/<arch>); an interrupted run resumes from it.")
@click.option("--epochs", type=int, default=None)
@click.option("--seed", type=click.IntRange(min=0), default=0)
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda; a run may resume on another device.")
def train(arch: str, data_path: Path, out: Path, run_dir: Path | None, epochs: int | None, seed: int,
          device: str) -> None:
    """Train a CIFAR-10 network with a recorded seed; resumes after interruption."""
    from pixelspace.data.cifar10 import load_split
    from pixelspace.errors import PixelspaceError
    from pixelspace.models.training import TrainConfig, evaluate_accuracy
    from pixelspace.models.training import train as run_training
    from pixelspace.models.weights import file_sha256, save_fp16
    from pixelspace.models.zoo import ARCHITECTURES
    from pixelspace.outputs import check_output_dir

    try:  # before hours of training
        check_output_dir(out.parent, files=[out.name])
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    kwargs = {"arch": arch, "seed": seed} | ({"epochs": epochs} if epochs else {})
    config = TrainConfig(**kwargs)  # type: ignore[arg-type]
    tr, te = load_split(data_path, "train"), load_split(data_path, "test")
    model = run_training(ARCHITECTURES[arch], config, tr.images, tr.labels, run_dir or Path("runs") / arch,
                         te.images, te.labels, device=device)
    acc, per_class = evaluate_accuracy(model, te.images, te.labels)
    model = model.cpu()
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


@cli.command("run")
@click.argument("campaign", type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
              help="execution.backend (default: the campaign file's).")
@click.option("--address", default=None,
              help="execution.address: the Ray cluster, 'auto' or HOST:PORT (default: the campaign file's).")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--time-limit", "time_limit", type=Duration(), default=None, metavar="DURATION",
              help="Start only batches likely to end within this much wall time (e.g. 90s, 8m, 1h30m; the first "
                   "always starts), let started ones finish, leave the store consistent and exit 0; run again "
                   "to resume.")
@click.option("--precision", default=None, metavar="NAME",
              help="attack.precision (default: the campaign file's): fp32, tf32, bf16 or fp16. A store keeps the "
                   "precision it was made with and refuses another.")
@click.pass_context
def run_command(ctx: click.Context, campaign: Path, backend: str | None, address: str | None, no_progress: bool,
                time_limit: float | None, precision: str | None) -> None:
    """Run a campaign file into its store; rerunning resumes where it stopped."""
    from pixelspace.campaign import load_config, run_campaign
    from pixelspace.errors import PixelspaceError

    if time_limit is not None:  # what the imports above and the start of the process have left of it
        started = (ctx.obj or {}).get("started", time.monotonic())
        time_limit = max(time_limit - (time.monotonic() - started), 1e-3)
    changes = {k: v for k, v in (("backend", backend), ("address", address), ("attack.precision", precision))
               if v is not None}
    config = None
    try:
        config = load_config(campaign)
        click.echo(f"store {config.campaign.store}")  # relative paths are taken from the campaign file's folder
        summary = run_campaign(config.replace(**changes) if changes else config, progress=not no_progress,
                               time_limit=time_limit)
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        from pixelspace.campaign import campaign_status

        if config is None:
            raise SystemExit(130) from None
        where = config.campaign.store
        try:
            st = campaign_status(where)
            saved = (f"{st.done}/{st.total} attacks are stored in {where}" if st.total else
                     f"the setup (image selection, masks) had not finished, so {where} holds no attack yet")
        except PixelspaceError:
            saved = f"nothing was stored in {where} yet"
        click.echo(f"\ninterrupted: {saved}; run `pixelspace run {campaign}` (with the same options) again to "
                   "resume", err=True)
        raise SystemExit(130) from None
    click.echo(f"{summary.store}: {summary.attacks_before + summary.attacks_run}/{summary.attacks_total} attacks "
               f"stored ({summary.attacks_run} now, {summary.successes} successful in all); "
               f"{summary.images_attacked} images attacked, {summary.images_skipped} passed over")
    if summary.stopped_by_time_limit:
        before = (" (reached before the first batch: starting, loading the networks and the setup took it all)"
                  if summary.attacks_run == 0 else "")
        click.echo(f"time limit reached{before}: {summary.attacks_before + summary.attacks_run} of "
                   f"{summary.attacks_total} attacks are done; run `pixelspace run {campaign}` again to resume")


@cli.command("status")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--keys", "keys", type=click.IntRange(min=1), default=None,
              help="Also list the first N stored attacks with their keys (for `pixelspace replay`).")
@click.option("--queries-from", "reference", type=click.Path(path_type=Path), default=None,
              help="A pilot's store: its mean queries per group price the groups with no row yet in the "
                   "time-left estimate (same network, region, pixels, mode and search settings).")
def status_command(store: Path, keys: int | None, reference: Path | None) -> None:
    """Print a store's progress per model x region x pixels x mode (STORE: the file, or its folder)."""
    from pixelspace.campaign import campaign_status, format_status
    from pixelspace.campaign.store import Store
    from pixelspace.errors import PixelspaceError

    try:
        click.echo(format_status(campaign_status(store),
                                 reference=None if reference is None else campaign_status(reference)))
        if keys:
            from pixelspace.store_access import parse_record

            with Store.open_readonly(store) as s:
                rows = s.query("SELECT key, model, region, pixels, mode, target, success, queries, record "
                               "FROM attacks ORDER BY key LIMIT ?", (keys,))
                searches = [str(parse_record(s.path, r[0], r[-1]).get("search", "de")) for r in rows]
            click.echo(f"\n{'key':<34}{'search':<11}{'model':<18}{'region':<12}{'px':>3} {'mode':<11}{'target':>7}"
                       f"{'success':>8}{'queries':>9}")
            for (key, model, region, px, mode, target, success, queries, _), search in zip(rows, searches,
                                                                                        strict=True):
                click.echo(f"{key:<34}{search:<11}{model:<18}{region:<12}{px:>3} {mode:<11}"
                           f"{'-' if target is None or target < 0 else target:>7}{'yes' if success else 'no':>8}"
                           f"{queries:>9}")
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("replay")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("key")
@click.option("--device", default=None, help="execution.device (default: the campaign's).")
@click.option("--alone", is_flag=True, help="Run only this attack, not its whole batch (faster, may differ in floats).")
@click.option("--strict", is_flag=True,
              help="Fail unless floats match to 1e-5 too (by default a run whose search took the same path, every "
                   "discrete field equal, passes and the float differences are printed).")
@click.option("--cpu-capability", "cpu_capability", default="store", show_default=True,
              type=click.Choice(["store", "native", *CPU_CAPABILITIES], case_sensitive=False),
              help="Level of PyTorch's CPU kernels (CPU float32 results depend on it): the one the store records "
                   "(stores made on the CPU since it is recorded; else this CPU's own), this CPU's own, or a "
                   "level, e.g. avx2 for a row made on a CPU without AVX-512.")
@click.option("--threads", default="store", show_default=True,
              help="PyTorch's thread count on the CPU (some networks' float32 results depend on it): the one the "
                   "store records (stores made on the CPU since it is recorded; else this process's own), "
                   "'native' for this process's own, or a number.")
def replay_command(store: Path, key: str, device: str | None, alone: bool, strict: bool, cpu_capability: str,
                   threads: str) -> None:
    """Re-run one stored attack from its seed and say whether it reproduces the stored row."""
    from pixelspace.campaign.status import replay_attack, set_replay_cpu_capability
    from pixelspace.errors import PixelspaceError

    count: int | Literal["store"] | None
    if threads in ("store", "native"):
        count = "store" if threads == "store" else None
    else:
        try:
            count = int(threads)
        except ValueError:
            raise click.BadParameter(f"{threads!r} is not 'store', 'native' or a number",
                                     param_hint="--threads") from None
    try:
        not_restored = set_replay_cpu_capability(store, cpu_capability, key)  # before torch computes anything
        r = replay_attack(store, key, device=device, alone=alone, threads=count)
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    if not_restored:
        click.echo(f"note: {not_restored}; this replay runs with {r.cpu_capability}")
    rec = r.replayed
    kernels = f", CPU kernels {r.cpu_capability}, {r.threads} thread(s)" if r.cpu_capability else ""
    confidence = f" ({rec['confidence']:.3f})" if "confidence" in rec else ""  # a scan row records none
    click.echo(f"attack {r.key} (re-run with {r.batch_attacks} attack(s) of its batch{kernels}): success {rec['success']}, predicted {rec['predicted']}{confidence}, "
               f"generations {rec['generations']}, queries {rec['queries']}")
    if r.batch_stored > 1:
        click.echo(f"its batch: {r.batch_identical} of its {r.batch_stored} stored rows reproduced exactly, "
                   f"{r.batch_same_path} with every discrete field equal (largest float difference "
                   f"{r.batch_float_gap:.2g})")
    if r.matches:
        click.echo("reproduces the stored row " + ("exactly" if r.identical else "(floats equal to 1e-5)"))
        return
    note = r.kernel_note()
    if not r.search_reproduced:
        raise click.ClickException(f"does NOT reproduce the stored row; differing fields: {', '.join(r.differences)}"
                                   + (f". {note}" if note else ""))
    worst = ", ".join(f"{k} {d:.2g}" for k, d in sorted(r.float_differences.items(), key=lambda kv: -kv[1]))
    message = ("the search is reproduced (every discrete field equal: success, pixels, colours, classes, "
               f"generations, queries) but floats differ beyond 1e-5, at most: {worst}. Expected when the row was "
               "made on another device or kernel (e.g. CUDA's TF32 convolutions vs CPU float32)"
               + (f". {note}" if note else ""))
    if strict:
        raise click.ClickException(message)
    click.echo(message)


@cli.command("segment")
@click.option("--method", type=click.Choice(["grabcut", "u2net"]), default="grabcut", show_default=True)
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for masks/, overlays/, quality.csv.")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Ids are paths relative to this (default: common folder).")
@click.option("--seed", type=int, default=None, help="GrabCut seed (default: GrabCut's).")
@click.option("--weights", type=click.Path(exists=True, path_type=Path), default=None, help="U²-Net ONNX (default: shipped U²-Netp).")
@click.option("--threshold", type=float, default=None, help="U²-Net saliency threshold (default: U2Net's).")
@click.option("--hints", type=click.Path(exists=True, path_type=Path), default=None, help="GrabCut hint PNGs named like masks.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def segment_command(method: str, images: tuple[Path, ...], out: Path, root: Path | None, seed: int | None,
                    weights: Path | None, threshold: float | None, hints: Path | None, no_progress: bool) -> None:
    """Segment IMAGES (files or folders) into foreground masks, overlay grids and a quality table."""
    from pixelspace.errors import PixelspaceError
    from pixelspace.segment import make_segmenter, segment_files

    try:
        segmenter = make_segmenter(method, seed=seed, weights=weights, threshold=threshold)
        rep = segment_files(images, segmenter, out, root=root, hints=hints, progress=not no_progress)
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(rep.masks)} images: masks in {out / 'masks'}, {len(rep.overlays)} overlay grid(s) in "
               f"{out / 'overlays'}; {len(rep.flagged)} flagged (see {rep.quality})")


@cli.command("report")
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for report.md, report.html and figures/.")
@click.option("--baseline", type=click.Path(exists=True, path_type=Path), default=None,
              help="The unshifted store of a translation campaign (images.shift), or its in-place control "
                   "(images.shift_mode = 'in-place'): compare its maps with STORE's.")
@click.option("--second-masks", default="auto", show_default=True,
              help="A second segmenter's foreground masks for the outline-sensitivity rows: 'auto' (the shipped "
                   "U²-Netp masks of the shipped CIFAR-10 sample, used for the images they cover), 'none', or a "
                   "folder of mask PNGs as `pixelspace segment` writes them.")
@click.option("--with", "with_store", type=click.Path(exists=True, path_type=Path), multiple=True, metavar="STORE",
              help="Another store of the same images (e.g. the 1-pixel scan beside a 3/5-pixel sparse search; "
                   "repeat for more, e.g. a targeted campaign on some of them): adds Table II, the paired tests "
                   "and Figs 3 and 5 at every pixel count of the stores. Refused unless the dataset, the shared "
                   "images and the masks of the regions both attacked are the same, and unless each search, "
                   "pixel count and mode comes from one store.")
def report_command(store: Path, out: Path, baseline: Path | None, second_masks: str,
                   with_store: tuple[Path, ...]) -> None:
    """Write the paper's tables and figures for STORE (a store file, or a folder holding store.sqlite) as
    Markdown and self-contained HTML."""
    from pixelspace.campaign.store import Store, store_file
    from pixelspace.errors import PixelspaceError
    from pixelspace.outputs import check_output_dir
    from pixelspace.report import write_report
    from pixelspace.segment import second_foreground_masks

    try:
        check_output_dir(out, files=["report.md", "report.html"], folders=["figures"])
        path = store_file(store)
        ids: list[str] = []
        if second_masks not in ("auto", "none"):  # a folder is read for the store's attacked images
            with Store.open_readonly(path) as st:
                ids = [r[0] for r in st.query("SELECT image_id FROM images WHERE status = 'attacked'")]
        masks, name = second_foreground_masks(second_masks, ids)
        paths = write_report(path, out, second_masks=masks, second_name=name,
                             baseline=store_file(baseline) if baseline is not None else None,
                             with_store=[store_file(w) for w in with_store])
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {paths.html} and {paths.markdown} ({len(paths.figures)} figures)")


@cli.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("pixelspace-demo"), show_default=True,
              help="Folder for the store and the report.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def demo_command(out: Path, no_progress: bool) -> None:
    """Run the shipped demo campaign (rerun resumes) and write its report."""
    from pixelspace.errors import PixelspaceError
    from pixelspace.outputs import check_output_dir

    try:  # before the imports of torch and the models (seconds)
        check_output_dir(out, files=["store.sqlite"], folders=["report"])
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    from pixelspace.campaign import campaign_status, format_status
    from pixelspace.commands.demo import run_demo

    try:
        outcome = run_demo(out, progress=not no_progress)
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(format_status(campaign_status(outcome.summary.store)))
    click.echo(f"\nreport: {outcome.report_html}\n        {outcome.report_md}")


_BUDGET = _DE.population_size * (_DE.max_generations + 1)  # the initial population, then one per generation
ATTACK_HELP = f"""Attack one image, print the outcome and write the adversarial PNG and a side-by-side figure.

The defaults are the paper's budget: up to {_DE.population_size} x {_DE.max_generations + 1} = {_BUDGET:,} model
queries, minutes per image for VGG-16 on a CPU (a progress bar counts the generations; a success stops early).
"""


@cli.command("attack", help=ATTACK_HELP)
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_name", default="vgg16-cifar10", show_default=True, help="Registered model name.")
@click.option("--weights", type=click.Path(exists=True, path_type=Path), default=None, help="A user's weight file.")
@click.option("--region", default="whole", show_default=True, help="whole, foreground, background or a mask PNG.")
@click.option("--pixels", type=int, default=1, show_default=True)
@click.option("--target", type=int, default=None, help="Target class (default: untargeted).")
@click.option("--population", type=int, default=_DE.population_size, show_default=True)
@click.option("--generations", type=int, default=_DE.max_generations, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the search (an integer >= 0).")
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True)
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--precision", default="fp32", show_default=True, metavar="NAME",
              help="The search's arithmetic: fp32, tf32, bf16 or fp16; every success is confirmed at fp32.")
def attack_command(image: Path, model_name: str, weights: Path | None, region: str, pixels: int, target: int | None,
                   population: int, generations: int, seed: int, out: Path, no_progress: bool, precision: str) -> None:
    """Attack one image (the help is :data:`ATTACK_HELP`, whose query budget is the library's DE defaults)."""
    from pixelspace.errors import PixelspaceError
    from pixelspace.outputs import check_output_dir

    try:  # before the imports of torch and the models (seconds), and before any query
        check_output_dir(out, files=[f"{image.stem}{suffix}" for suffix in ATTACK_OUTPUTS])
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    from pixelspace.commands.single import attack_image
    from pixelspace.segment import read_image

    try:
        de = DEConfig(population_size=population, max_generations=generations)
        res = attack_image(read_image(image), model_name, out, region=region, pixels=pixels, target=target, de=de,
                           weights=weights, seed=seed, stem=image.stem, progress=not no_progress,
                           precision=precision)  # type: ignore[arg-type]  # checked by PixelAttack
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    r, names = res.result, res.class_names
    label = int(r.labels[0])
    top = [int(c) for c in r.clean_top5_classes[0]]
    clean_p = float(r.clean_top5_probs[0][top.index(label)]) if label in top else float("nan")
    line = (f"{'success' if r.success[0] else 'failure'}: {names[label]} ({clean_p:.3f}) -> "
            f"{names[int(r.predicted[0])]} ({r.confidence[0]:.3f})")
    if r.mode == "targeted":
        line += (f"; target {names[int(r.targets[0])]}: {r.clean_probability[0]:.3f} clean -> "
                 f"{r.target_probability[0]:.3f}")
    click.echo(line)
    for (row, col), rgb in zip(r.pixels[0], r.colors[0], strict=True):
        if row >= 0:
            click.echo(f"  pixel (row {row}, col {col}) set to RGB {tuple(int(v) for v in rgb)}")
    dropped = int((r.pixels[0][:, 0] < 0).sum())
    if dropped:
        click.echo(f"  {dropped} of {pixels} pixels fell outside the region and were left unchanged (restrict mode)")
    click.echo(f"  region {res.region_name}: {int(res.region.sum())} px; generations {int(r.generations[0])}, "
               f"queries {int(r.queries[0])}")
    if r.success[0]:
        click.echo(f"wrote {res.adversarial_png} and {res.figure_png}")
    else:
        click.echo(f"wrote {res.adversarial_png} (the best candidate found; the attack failed) and {res.figure_png}")


@cli.command("scan")
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model_name", default="vgg16-cifar10", show_default=True, help="Registered model name.")
@click.option("--weights", type=click.Path(exists=True, path_type=Path), default=None, help="A user's weight file.")
@click.option("--region", default="whole", show_default=True, help="whole, foreground, background or a mask PNG.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True)
@click.option("--stride", default=1, show_default=True, type=click.IntRange(min=1),
              help="Scan every Nth row and column only (a full 224x224 scan is 401,409 queries).")
@click.option("--precision", default="fp32", show_default=True, metavar="NAME",
              help="The scan's arithmetic: fp32, tf32, bf16 or fp16; every flip found is evaluated again at fp32.")
def scan_command(image: Path, model_name: str, weights: Path | None, region: str, out: Path, stride: int,
                 precision: str) -> None:
    """Scan every pixel of a region with the 8 RGB-cube corners; write the map (.npz) and a PNG."""
    from pixelspace.errors import PixelspaceError
    from pixelspace.outputs import check_output_dir

    try:  # before the imports of torch and the models (seconds), and before any query
        check_output_dir(out, files=[f"{image.stem}-scan.npz", f"{image.stem}-scan.png"])
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    from pixelspace.commands.single import scan_image
    from pixelspace.segment import read_image

    try:
        res = scan_image(read_image(image), model_name, out, region=region, weights=weights, stem=image.stem,
                         stride=stride, progress=True, precision=precision)  # type: ignore[arg-type]  # checked by PixelScan
    except PixelspaceError as exc:
        raise click.ClickException(str(exc)) from exc
    v = res.vmap
    click.echo(f"{res.class_names[v.label]} (p={v.clean_probability:.3f}): {int(v.flips.sum())} of "
               f"{int(v.scanned.sum())} pixels flip it with some corner colour; reachable classes "
               f"{[res.class_names[c] for c in v.reachable_classes()]}; {v.queries} queries")
    click.echo(f"wrote {res.map_npz} and {res.figure_png}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``pixelspace`` command."""
    cli.main(args=argv, prog_name="pixelspace")
