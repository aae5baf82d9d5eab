"""pixelspace vs torchattacks, ART and raw inference: one model, the same images and budget, one run.

Usage (after `make bench-setup`):
    python benchmarks/peers.py [--model vgg16-cifar10] [--weights FILE] [--images 20] [--population 400]
                               [--generations 100] [--tools raw,torchattacks,art,pixelspace-peer,pixelspace]
                               [--device cpu|cuda] [--save results.json]

Every tool attacks the same N correctly classified shipped JPEG-CIFAR-10 images (1-pixel untargeted). Model
queries are counted by wrapping the model's forward (images passed through it); the final success check done
here is not counted. Prints per tool: successes, queries, wall time per attack, queries/s and the ratio to the
best raw batched throughput measured in the same run, then a paired table of images solved by one tool and
not another (20 images cannot separate close rates). ``--device cuda`` runs every tool on the GPU (raw batch
sizes up to 16,384 there); ``--save`` rewrites a JSON file after each tool, so a run cut short keeps what it
measured. A tool that fails is reported and the others still run (exit status 1).
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from rawspeed import raw_throughput
from torch import nn

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.attack.pixel_attack import SuccessCheck
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.runtime import tune_malloc_unless_disabled


class Counted(nn.Module):
    """Counts the images passed through ``inner`` (a float [0, 1] NCHW model); ``scale`` divides the input."""

    def __init__(self, inner: nn.Module, scale: float = 1.0) -> None:
        super().__init__()
        self.inner = inner
        self.scale = scale
        self.count = 0
        self.counting = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.counting:
            self.count += int(x.shape[0])
        return self.inner(x / self.scale if self.scale != 1.0 else x)


@dataclass
class Outcome:
    tool: str
    success: np.ndarray
    queries: int
    seconds: float


def predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return model(x).argmax(1).cpu().numpy()


def run_torchattacks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, pop: int, gens: int, bs: int) -> Outcome:
    import torchattacks

    counted = Counted(model).eval()
    atk = torchattacks.OnePixel(counted, pixels=1, steps=gens, popsize=pop, inf_batch=bs)
    t0 = time.perf_counter()
    adv = atk(x, y)
    dt = time.perf_counter() - t0
    counted.counting = False
    return Outcome("torchattacks.OnePixel", predict(counted, adv) != y.cpu().numpy(), counted.count, dt)


def run_art(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gens: int, bs: int) -> Outcome:
    from art.attacks.evasion import PixelAttack as ArtPixelAttack
    from art.estimators.classification import PyTorchClassifier

    class Batched(PyTorchClassifier):  # type: ignore[misc]
        """ART's classifier predicting in batches of ``bs`` (its default is 128), like every other tool here."""

        def predict(self, x: np.ndarray, batch_size: int = bs, training_mode: bool = False, **kw: object) -> np.ndarray:
            return super().predict(x, batch_size=batch_size, training_mode=training_mode, **kw)

    device = next(model.parameters()).device
    counted = Counted(model, scale=255.0).eval()
    clf = Batched(model=counted, loss=nn.CrossEntropyLoss(), input_shape=(3, 32, 32), nb_classes=10,
                  clip_values=(0.0, 255.0), device_type="gpu" if device.type == "cuda" else "cpu")
    attack = ArtPixelAttack(clf, th=1, es=1, max_iter=gens, targeted=False)
    x255 = (x * 255).cpu().numpy().astype(np.float32)
    y_np = y.cpu().numpy()
    t0 = time.perf_counter()
    adv = attack.generate(x255, y=np.eye(10, dtype=np.float32)[y_np])
    dt = time.perf_counter() - t0
    counted.counting = False
    fooled = predict(counted, torch.from_numpy(adv).to(device)) != y_np
    return Outcome("ART PixelAttack(th=1, es=1)", fooled, counted.count, dt)


def run_pixelspace(model: nn.Module, images: np.ndarray, y: np.ndarray, cfg: DEConfig, name: str,
                   bs: int, reuse: bool = True, check: SuccessCheck = "any") -> Outcome:
    counted = Counted(model).eval()
    clf = Classifier(counted, batch_size=bs)
    t0 = time.perf_counter()
    res = PixelAttack(pixels=1, de=cfg, reuse_evaluations=reuse, success_check=check)(clf, images, Untargeted(y),
                                                                                    seed=0)
    dt = time.perf_counter() - t0
    return Outcome(name, res.success, counted.count, dt)


def save(path: str, args: dict[str, object], where: str, bs: int, raw: float, chosen: list[int],
         outcomes: list[Outcome], failed: list[str]) -> None:
    """Write the run's settings, every finished tool's per-image success, queries and seconds, and the tools
    that failed to ``path`` (JSON; a raw speed that was not measured is null)."""
    record = {"args": args, "device": where, "torch": torch.__version__, "raw_batch": bs,
              "raw_images_per_s": raw if np.isfinite(raw) else None, "sample_indices": chosen,
              "tools": [{"tool": o.tool, "success": o.success.astype(bool).tolist(), "queries": o.queries,
                         "seconds": o.seconds} for o in outcomes],
              "failed": failed}
    with open(path, "w") as f:
        json.dump(record, f, indent=1)


def run_tools(runs: list[tuple[str, Callable[[], Outcome]]], n: int,
              saved: Callable[[list[Outcome], list[str]], None] | None = None) -> tuple[list[Outcome], list[str]]:
    """Run each (name, tool) in order; a tool that raises is reported and skipped. ``saved`` is called with the
    outcomes and failed names so far, before the first tool and after each one. Returns both lists."""
    outcomes: list[Outcome] = []
    failed: list[str] = []
    if saved is not None:
        saved(outcomes, failed)
    for name, run in runs:
        try:
            out = run()
        except Exception:  # noqa: BLE001 - report and go on: the other tools' numbers are still worth having
            traceback.print_exc()
            print(f"  FAILED: {name}", flush=True)
            failed.append(name)
        else:
            outcomes.append(out)
            print(f"  done: {out.tool}: {int(out.success.sum())}/{n} fooled, {out.queries} queries, "
                  f"{out.seconds:.1f} s", flush=True)
        if saved is not None:
            saved(outcomes, failed)
    return outcomes, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vgg16-cifar10")
    ap.add_argument("--weights", default=None, help="weight file (default: the shipped weights)")
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--population", type=int, default=400)
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per raw batch size")
    ap.add_argument("--tools", default="raw,torchattacks,art,pixelspace-peer,pixelspace",
                    help="comma-separated; also pixelspace-peer-nomemo and pixelspace-nomemo (the same searches "
                         "without the evaluation memo, to see what the memo contributes)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]; every tool runs there")
    ap.add_argument("--save", default=None, help="JSON file rewritten after each tool with what it measured")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: PyTorch sees no CUDA device here")
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # ART puts the model on the current CUDA device
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    tools = set(args.tools.split(","))
    names = ("raw", "torchattacks", "art", "pixelspace-peer", "pixelspace-peer-nomemo", "pixelspace",
             "pixelspace-nomemo")
    if tools - set(names):
        ap.error(f"unknown tool(s) {sorted(tools - set(names))}; choose from {', '.join(names)}")
    model = load(args.model, weights=args.weights).to(device).eval()
    sample = load_cifar10_sample()
    x_all = (torch.from_numpy(sample.images).permute(0, 3, 1, 2).float() / 255).to(device)
    pred = predict(model, x_all)
    order = np.random.default_rng(0).permutation(len(sample))
    chosen = [i for i in order if pred[i] == sample.labels[i]][: args.images]
    images, y = sample.images[chosen], sample.labels[chosen]
    x, y_t = x_all[chosen], torch.from_numpy(y).to(device)
    p, g = args.population, args.generations
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, torch threads {torch.get_num_threads()}"
    print(f"{args.model}: {len(chosen)} correctly classified shipped images, population {p}, {g} generations, "
          f"{where}, torch {torch.__version__}")
    sizes = (32, 64, 128, 256, 512, 1024) + ((2048, 4096, 8192, 16384) if device.type == "cuda" else ())
    bs, raw = raw_throughput(model, args.seconds, sizes) if "raw" in tools else (256, float("nan"))
    # every tool gets the batch size that was fastest for raw inference
    peer = DEConfig(population_size=p, max_generations=g, strategy="best1bin")  # checked "best" below
    available: dict[str, Callable[[], Outcome]] = {
        "torchattacks": lambda: run_torchattacks(model, x, y_t, p, g, bs),
        "art": lambda: run_art(model, x, y_t, g, bs),
        "pixelspace-peer": lambda: run_pixelspace(model, images, y, peer, "pixelspace (best1bin, check best)", bs,
                                                  check="best"),
        "pixelspace-peer-nomemo": lambda: run_pixelspace(model, images, y, peer,
                                                         "pixelspace (best1bin, best, no memo)", bs, reuse=False,
                                                         check="best"),
        "pixelspace": lambda: run_pixelspace(model, images, y, DEConfig(population_size=p, max_generations=g),
                                             "pixelspace (defaults)", bs),
        "pixelspace-nomemo": lambda: run_pixelspace(model, images, y, DEConfig(population_size=p, max_generations=g),
                                                    "pixelspace (defaults, no memo)", bs, reuse=False),
    }
    runs = [(t, available[t]) for t in args.tools.split(",") if t in available]  # in the order given
    def saved(outcomes: list[Outcome], failed: list[str]) -> None:
        if args.save:
            save(args.save, vars(args), where, bs, raw, [int(i) for i in chosen], outcomes, failed)

    outcomes, failed = run_tools(runs, len(chosen), saved)
    n = len(chosen)
    print(f"\nraw batched inference: {raw:.0f} images/s (best batch size {bs}, used by every tool)\n")
    print(f"{'tool':<36}{'success':>9}{'queries':>11}{'s/attack':>10}{'queries/s':>11}{'vs raw':>8}")
    for o in outcomes:
        rate = o.queries / o.seconds
        print(f"{o.tool:<36}{int(o.success.sum()):>5}/{n:<3}{o.queries:>11}{o.seconds / n:>10.2f}{rate:>11.0f}"
              f"{rate / raw:>8.2f}")
    peers = [o for o in outcomes if not o.tool.startswith("pixelspace")]
    if peers:
        fastest = min(peers, key=lambda o: o.seconds)
        for o in outcomes:
            if o.tool.startswith("pixelspace"):
                print(f"{o.tool}: {fastest.seconds / o.seconds:.2f}x faster per attack than {fastest.tool}")
    if len(outcomes) > 1:
        print("\npaired: images solved by the row's tool and not by the column's")
        print(f"{'':<39}" + "".join(f"{k:>6}" for k in range(len(outcomes))))
        for i, a in enumerate(outcomes):
            cells = "".join(f"{int((a.success & ~b.success).sum()):>6}" for b in outcomes)
            print(f"{i}: {a.tool:<36}{cells}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
