"""Exactness of the incremental forward pass on the shipped networks: random few-pixel candidates on shipped
sample images, answered by full forward passes and by the incremental pass (forced on).

    python benchmarks/incremental_exactness.py --candidates 10000 --pixels 1,3,5
    python benchmarks/incremental_exactness.py --rows chains --chains 1:8:1250,3:4:3000,5:8:1250
    python benchmarks/incremental_exactness.py --rows points --chains 3:4:3000,5:8:1250

Prints, per network and pixel count, the candidates checked, how many predicted classes differ and the largest
absolute probability difference. ``chains`` rows (issue 31) run a sparse search's chain of candidates
(``SparseChain`` of benchmarks/incremental.py: one slot moves per step, the candidate given as its one- or
two-pixel difference from the current point) against per-attack bases that move with every accepted candidate
(``Classifier.pixel_bases``): ``k:attacks:steps``, each step compared with full forward passes of the same
candidate images (the chain accepts by the full pass's answers), and the bases' kept activations compared with a
full pass of the current points every 500 steps and at the end. So that the bases keep moving late in a
chain, a candidate the search's rule rejects is accepted with probability ``--random-accept`` (default 0.3).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from incremental import CORNERS, SparseChain

from pixelspace.attack.encoding import Decoded
from pixelspace.attack.perturb import perturb
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load
from pixelspace.models.classifier import Classifier


def chain_row(clf: Classifier, name: str, images: np.ndarray, k: int, attacks: int, steps: int,
              random_accept: float) -> None:
    """One chain row: ``attacks`` sample images, ``steps`` steps, every candidate compared bit for bit; a
    candidate the search's rule rejects is still accepted with probability ``random_accept``."""
    rng = np.random.default_rng([k, attacks, steps])
    clean = images[rng.choice(len(images), attacks, replace=False)].transpose(0, 3, 1, 2).copy()
    labels = clf.probabilities(torch.from_numpy(clean), count=False).argmax(1).numpy()
    chain = SparseChain(clean, labels, k, None, seed=k)
    bases = clf.pixel_bases(torch.from_numpy(chain.point_images()))
    start = bases.base_probabilities(count=False)
    full_start = clf.probabilities(bases.images, count=False)
    differ = int((~(start == full_start).all(1)).sum())
    classes = int((start.argmax(1) != full_start.argmax(1)).sum())
    worst = float((start - full_start).abs().max())
    chain.start(full_start.numpy())
    moves = 0
    act_checks = act_differ = 0

    def check_activations() -> int:
        inner = bases._bases
        assert inner is not None
        held = np.flatnonzero(inner._slot_of >= 0)
        x = bases.images[torch.as_tensor(held)].to(torch.float32).div_(255.0)
        with torch.inference_mode():
            direct = inner.engine.clean_activations(x)
        return sum(not torch.equal(t[torch.as_tensor(inner._slot_of[held])], d)
                   for t, d in zip(inner._slots, direct, strict=True))

    for s in range(steps):
        att, pos, col, d_pos, d_col, d_on = chain.propose()
        cand = torch.from_numpy(chain.images(att, pos, col))
        assert torch.equal(cand, bases.candidates(att, d_pos, d_col, d_on))
        full = clf.probabilities(cand, count=False)
        inc = bases.probabilities(att, d_pos, d_col, d_on, count=False)
        differ += int((~(full == inc).all(1)).sum())
        classes += int((full.argmax(1) != inc.argmax(1)).sum())
        worst = max(worst, float((full - inc).abs().max()))
        acc = chain.accept(full.numpy(), force=rng.random(attacks) < random_accept)
        bases.commit(att[acc], d_pos[acc], d_col[acc], d_on[acc])
        moves += int(acc.sum())
        if (s + 1) % 500 == 0 or s == steps - 1:
            act_checks += 1
            act_differ += check_activations()
    inner = bases._bases
    assert inner is not None
    print(f"{name} chain k={k}: {attacks} attacks x {steps} steps = {chain.proposed + attacks} candidates "
          f"(starting points included; {chain.one_pixel} one-pixel, {chain.two_pixel} two-pixel differences), "
          f"{moves} base moves ({moves / attacks:.0f} per attack); {differ} candidates not bit-identical, "
          f"{classes} predicted classes differ, max |p_full - p_bases| = {worst:.3g}; kept activations "
          f"checked {act_checks} times, {act_differ} layers differing; bases recomputed {inner.computed - attacks} "
          f"times", flush=True)


def points_row(clf: Classifier, name: str, images: np.ndarray, k: int, attacks: int, steps: int,
               random_accept: float, plan: str) -> None:
    """One row of the search's points (:class:`~pixelspace.attack.points.PointBases`, issue 31): the same chain
    as :func:`chain_row`, each candidate given as the full candidate and the slot it moves, answered against the
    slot's leave-one-out base (or the point, with ``plan="point"``) and compared bit for bit with full forward
    passes of the candidate images (every step has ``attacks >= 2`` candidates, as the search uses the points)."""
    from pixelspace.attack.points import PointBases

    rng = np.random.default_rng([k, attacks, steps, 1])
    clean = images[rng.choice(len(images), attacks, replace=False)].transpose(0, 3, 1, 2).copy()
    labels = clf.probabilities(torch.from_numpy(clean), count=False).argmax(1).numpy()
    chain = SparseChain(clean, labels, k, None, seed=k)
    clean_t = torch.from_numpy(clean)
    pb = PointBases(clf, clean_t, k, plan)  # type: ignore[arg-type]
    att = np.arange(attacks)

    def as_decoded(pos: np.ndarray, col: np.ndarray) -> Decoded:
        return Decoded(pos, CORNERS[col], np.ones(pos.shape, bool))

    start = as_decoded(chain.pos.copy(), chain.col.copy())
    first = pb.probabilities(att, start, np.full(attacks, -1))
    full_first = clf.probabilities(perturb(clean_t, att, start), count=False)
    differ = int((~(first == full_first).all(1)).sum())
    classes = int((first.argmax(1) != full_first.argmax(1)).sum())
    worst = float((first - full_first).abs().max())
    chain.start(full_first.numpy())
    pb.accept(att, start, np.full(attacks, -1))
    moves = 0
    for _ in range(steps):
        before_pos, before_col = chain.pos.copy(), chain.col.copy()
        _, pos, col, *_ = chain.propose()
        changed = (pos != before_pos) | (col != before_col)
        moved = np.where(changed.sum(1) == 1, changed.argmax(1), -1)
        cand = as_decoded(pos, col)
        full = clf.probabilities(perturb(clean_t, att, cand), count=False)
        got = pb.probabilities(att, cand, moved)
        differ += int((~(full == got).all(1)).sum())
        classes += int((full.argmax(1) != got.argmax(1)).sum())
        worst = max(worst, float((full - got).abs().max()))
        acc = chain.accept(full.numpy(), force=rng.random(attacks) < random_accept)
        pb.accept(att[acc], cand[acc], moved[acc])
        moves += int(acc.sum())
    inner = pb.bases._bases
    assert inner is not None
    held = np.flatnonzero(inner._slot_of >= 0)
    x = pb.bases.images[torch.as_tensor(held)].to(torch.float32).div_(255.0)
    with torch.inference_mode():  # one image at a time (as a batch of two): a 1x1 convolution of 16 or more
        # images can take another CPU algorithm than the smaller batches the bases were computed in
        per_image = [inner.engine.clean_activations(x[i : i + 1], pad_single=True) for i in range(held.size)]
    direct = [torch.cat(parts) for parts in zip(*per_image, strict=True)]
    layers = sum(not torch.equal(t[torch.as_tensor(inner._slot_of[held])], d)
                 for t, d in zip(inner._slots, direct, strict=True))
    print(f"{name} points ({plan}) k={k}: {attacks} attacks x {steps} steps = {chain.proposed + attacks} candidates "
          f"(starting points included; answered: {pb.answered}), {moves} moves ({moves / attacks:.0f} per attack), "
          f"{pb.refreshes} leave-one-out refreshes; {differ} candidates not bit-identical, {classes} predicted "
          f"classes differ, max |p_full - p_points| = {worst:.3g}; kept activations of {held.size} bases at the "
          f"end: {layers} layers differing", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="allconv-cifar10,nin-cifar10,vgg16-cifar10,cnn8-cifar10")
    ap.add_argument("--pixels", default="1,3,5")
    ap.add_argument("--candidates", type=int, default=10000)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--rows", default="candidates,chains", help="'candidates' (against the clean image), "
                    "'chains' (against moving bases) and/or 'points' (the sparse search's points and leave-one-out "
                    "bases, chains as --chains with k >= 2)")
    ap.add_argument("--plan", default="leave-one-out", help="points rows: 'leave-one-out' or 'point'")
    ap.add_argument("--chains", default="1:8:1250,3:4:3000,5:8:1250", help="k:attacks:steps of each chain row")
    ap.add_argument("--random-accept", type=float, default=0.3, help="chains: also accept a candidate the "
                    "search's rule rejects with this probability (that rule accepts less and less as the margin "
                    "falls; this keeps the bases moving to the end)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sample = load_cifar10_sample()
    rng = np.random.default_rng(0)
    imgs = sample.images[rng.choice(len(sample), args.images, replace=False)]
    clean = torch.from_numpy(imgs.transpose(0, 3, 1, 2).copy())
    h, w = clean.shape[2], clean.shape[3]
    kinds = set(args.rows.split(","))
    for name in args.models.split(","):
        clf = Classifier(load(name), batch_size=args.batch_size, incremental=True)
        if "chains" in kinds:
            for spec in args.chains.split(","):
                k, attacks, steps = (int(v) for v in spec.split(":"))
                chain_row(clf, name, sample.images, k, attacks, steps, args.random_accept)
        if "points" in kinds:
            for spec in args.chains.split(","):
                k, attacks, steps = (int(v) for v in spec.split(":"))
                if k >= 2:
                    points_row(clf, name, sample.images, k, attacks, steps, args.random_accept, args.plan)
        for k in (int(v) for v in args.pixels.split(",") if "candidates" in kinds):
            mismatches, worst, done = 0, 0.0, 0
            while done < args.candidates:
                b = min(args.batch_size * 4, args.candidates - done)
                rows = rng.integers(0, len(imgs), b)
                dec = Decoded(rng.integers(0, h * w, (b, k)), rng.integers(0, 256, (b, k, 3), dtype=np.uint8),
                              np.ones((b, k), bool))
                full = clf.probabilities(perturb(clean, rows, dec))
                inc = clf.pixel_probabilities(clean, rows, dec.positions, dec.colors, dec.applied)
                assert inc is not None
                mismatches += int((full.argmax(1) != inc.argmax(1)).sum())
                worst = max(worst, float((full - inc).abs().max()))
                done += b
            print(f"{name} k={k}: {done} candidates, {mismatches} predicted classes differ, "
                  f"max |p_full - p_incremental| = {worst:.3g}", flush=True)


if __name__ == "__main__":
    main()
