"""Engine throughput vs raw batched inference, measured in one run.

Usage: python benchmarks/engine_throughput.py [--model vgg16-cifar10] [--images 8] [--generations 3]

Images are random, at the model's input size (32x32 for the CIFAR-10 networks, 224x224 for ImageNet ones).

Prints the queries/s of raw batched inference (best over batch sizes) and of the engine on the whole image and
on a 30 % region in both region modes (population 400, early stop off so every attack spends the same budget),
and each ratio to raw (measured before the engine runs and again after them, since throughput can drift on a
shared machine). Random weights are used unless the model has shipped weights (the speed is the same).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rawspeed import raw_throughput

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.models import load
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
    args = ap.parse_args()
    print(f"malloc tuning (pixelspace.runtime, as the CLI): {'on' if tune_malloc_unless_disabled() else 'off'}")
    if args.threads:
        torch.set_num_threads(args.threads)
    pretrained = shipped_weights_path(args.model) is not None
    model = load(args.model, pretrained=pretrained)
    print(f"model {args.model} ({'shipped' if pretrained else 'random'} weights), torch threads {torch.get_num_threads()}")
    cfg = DEConfig(population_size=400, max_generations=args.generations, early_stop=False)
    h, w = get_spec(args.model).input_size
    sizes = (32, 64, 128, 256, 512) if h * w <= 64 * 64 else (8, 16, 32, 64)
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
        attack = PixelAttack(pixels=1, region_mode=mode, de=cfg, batch_size=bs)  # type: ignore[arg-type]
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


if __name__ == "__main__":
    main()
