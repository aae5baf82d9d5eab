"""Seconds of the first calls on CNN-8 (issue 33 item 5): ``load`` + ``clean_predictions`` on 4 images, twice,
then ``load`` + the chunk size for 1,200 candidates, twice.

Run it with a fresh cache folder, then again to see the disk cache::

    PIXELSPACE_AUTOBATCH_CACHE=/tmp/autobatch.json python benchmarks/first_call.py

(``PYTHONPATH=OLD_CHECKOUT/src`` runs an older engine the same way; one without the ``needed`` argument
measures the chunk size for every call size.)
"""

from __future__ import annotations

import inspect
import time

import pixelspace
from pixelspace import Classifier, PixelAttack
from pixelspace.data.samples import load_cifar10_sample
from pixelspace.models import load


def main() -> None:
    print("pixelspace from", pixelspace.__file__)
    images = load_cifar10_sample().images[:4]
    for step in ("first load", "second load"):
        t0 = time.perf_counter()
        model = load("cnn8-cifar10")
        PixelAttack().clean_predictions(model, images)
        print(f"{step}: load + clean_predictions(4 images) {time.perf_counter() - t0:.1f} s")
    takes_needed = "needed" in inspect.signature(Classifier.resolve_batch_size).parameters
    for step in ("third load", "fourth load"):
        t0 = time.perf_counter()
        clf = Classifier(load("cnn8-cifar10"))
        size = clf.resolve_batch_size(32, 32, 1200) if takes_needed else clf.resolve_batch_size(32, 32)
        print(f"{step}: load + chunk size for 1,200 candidates {time.perf_counter() - t0:.1f} s (size {size})")


if __name__ == "__main__":
    main()
