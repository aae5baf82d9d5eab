"""Engine throughput vs raw batched inference, measured in one run.

Usage: python benchmarks/engine_throughput.py [--model vgg16-cifar10] [--images 8] [--generations 3]
       python benchmarks/engine_throughput.py --user-model [--calls 3] ...

Images are random, at the model's input size (32x32 for the CIFAR-10 networks, 224x224 for ImageNet ones).

Prints the queries/s of raw batched inference (best over batch sizes) and of the engine on the whole image and
on a 30 % region in both region modes (population 400, early stop off so every attack spends the same budget),
and each ratio to raw (measured before the engine runs and again after them, since throughput can drift on a
shared machine). Random weights are used unless the model has shipped weights (the speed is the same).

``--user-model`` measures what a user who brings their own network sees instead: the same network as a plain
``nn.Module`` in NCHW (not stored channels-last), attacked by ``--calls`` separate ``PixelAttack`` calls, each
a new attack object on the bare module (so each call wraps a new Classifier), whole image. It prints per call
the seconds and queries/s against raw NCHW inference for three batch sizes: ``"auto"`` (measured on the first
call and remembered), ``"auto"`` measured again on every call (the remembered sizes forgotten before each one,
as every call did before sizes were remembered) and the raw-best int.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Literal

import numpy as np
import torch
from rawspeed import raw_throughput

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.models import autobatch, load
from pixelspace.models.registry import get_spec, shipped_weights_path
from pixelspace.runtime import tune_malloc_unless_disabled


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vgg16-cifar10")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0, help="timing per raw batch size")
    ap.add_argument("--raw-only", action="store_true", help="measure raw inference only")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    ap.add_argument("--user-model", action="store_true", help="a plain NCHW nn.Module, one PixelAttack per call")
    ap.add_argument("--calls", type=int, default=3, help="attack calls per batch-size setting (--user-model)")
    args = ap.parse_args()
    os.environ[autobatch.CACHE_SWITCH_ENV] = "0"  # "measured per call" below means it: no disk cache
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    if args.threads:
        torch.set_num_threads(args.threads)
    pretrained = shipped_weights_path(args.model) is not None
    model = load(args.model, pretrained=pretrained)
    print(f"model {args.model} ({'shipped' if pretrained else 'random'} weights), torch threads {torch.get_num_threads()}")
    cfg = DEConfig(population_size=400, max_generations=args.generations)  # attacks below run without early stop
    h, w = get_spec(args.model).input_size
    sizes = (32, 64, 128, 256, 512) if h * w <= 64 * 64 else (8, 16, 32, 64)
    if args.user_model:
        for p in model.parameters():  # as a user's own network is stored: plain NCHW, not channels-last
            p.data = p.data.contiguous()
        user_model(model, cfg, args, sizes, (h, w))
        return
    bs, raw = raw_throughput(model, args.seconds, sizes, image_size=h)
    print(f"raw best: {raw:.0f} images/s at batch {bs}")
    if args.raw_only:
        return
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, h, w, 3), dtype=np.uint8)
    clf = Classifier(model, batch_size=bs)
    labels = clf.probabilities(torch.from_numpy(images).permute(0, 3, 1, 2), count=False).argmax(1).numpy()
    region = np.zeros((args.images, h, w), dtype=bool)
    region[:, h * 3 // 16: h * 13 // 16, w // 4: w * 3 // 4] = True  # 10/16 x 1/2 of the image (31 %)
    rows = []
    for name, mode, regions in (("whole image", "restrict", None), ("30% region, restrict", "restrict", region),
                                ("30% region, index", "index", region)):
        attack = PixelAttack(pixels=1, region_mode=mode, de=cfg, batch_size=bs,  # type: ignore[arg-type]
                             early_stop=False)
        t0 = time.perf_counter()
        res = attack(clf, images, Untargeted(labels), regions=regions, seed=0)
        dt = time.perf_counter() - t0
        q = int(res.queries.sum())
        rows.append((name, q, dt, q / dt))
    # raw again at the same batch size: on a shared machine throughput drifts between the two measurements
    _, raw_after = raw_throughput(model, args.seconds, (bs,), image_size=h)
    print(f"raw again after the engine runs: {raw_after:.0f} images/s at batch {bs}")
    print(f"\n{'engine run':<24}{'queries':>10}{'seconds':>10}{'queries/s':>12}{'vs raw':>9}{'vs raw after':>14}")
    for name, q, dt, rate in rows:
        print(f"{name:<24}{q:>10}{dt:>10.2f}{rate:>12.0f}{rate / raw:>9.2f}{rate / raw_after:>14.2f}")


def user_model(model: torch.nn.Module, cfg: DEConfig, args: argparse.Namespace, sizes: tuple[int, ...],
               shape: tuple[int, int]) -> None:
    """``--user-model``: separate PixelAttack calls on a plain NCHW module, auto vs fixed batch sizes."""

    h, w = shape
    assert not any(p.ndim == 4 and not p.is_contiguous() for p in model.parameters())  # plain NCHW weights
    bs, raw = raw_throughput(model, args.seconds, sizes, image_size=h, channels_last=False)
    print(f"raw best (NCHW input): {raw:.0f} images/s at batch {bs}")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, h, w, 3), dtype=np.uint8)
    labels = PixelAttack(batch_size=bs).clean_predictions(model, images)
    settings: list[tuple[str, int | Literal["auto"], bool]] = [("auto, remembered", "auto", False),
                                                   ("auto, measured per call", "auto", True),
                                                   (f"fixed {bs}", bs, False)]
    rows = []
    for name, batch, forget in settings:
        autobatch.forget_batch_sizes()
        for call in range(args.calls):
            if forget:
                autobatch.forget_batch_sizes()
            attack = PixelAttack(pixels=1, de=cfg, batch_size=batch, early_stop=False)
            t0 = time.perf_counter()
            res = attack(model, images, Untargeted(labels), seed=call)
            dt = time.perf_counter() - t0
            q = int(res.queries.sum())
            chosen = Classifier(model, batch_size=batch).resolve_batch_size(  # remembered: no new timing
                h, w, args.images * cfg.population_size)
            rows.append((name, call + 1, chosen, q, dt, q / dt))
    _, raw_after = raw_throughput(model, args.seconds, (bs,), image_size=h, channels_last=False)
    print(f"raw again after the engine runs: {raw_after:.0f} images/s at batch {bs}")
    print(f"\n{'setting':<26}{'call':>5}{'chunk':>7}{'queries':>9}{'seconds':>9}{'queries/s':>11}{'vs raw':>8}"
          f"{'vs raw after':>14}")
    for name, call, chosen, q, dt, rate in rows:
        print(f"{name:<26}{call:>5}{chosen:>7}{q:>9}{dt:>9.2f}{rate:>11.0f}{rate / raw:>8.2f}{rate / raw_after:>14.2f}")


if __name__ == "__main__":
    main()
