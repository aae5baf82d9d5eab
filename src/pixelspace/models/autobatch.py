"""The chunk size of ``batch_size="auto"``: how it is chosen from timings, and where the choice is remembered.

The rule (:func:`choose_batch_size`) times the candidate sizes in increasing order and stops growing once the
rate falls or stops rising (a size that looks no faster is timed twice before it counts); the sizes close to
the best are then timed again, interleaved (so a burst of load from another process hits them alike), up to
:data:`ROUNDS` times each, keeping each size's fastest time. Of the sizes within
:data:`TOLERANCE` of the best rate the largest wins, so timing noise between near-equal sizes does not flip
the choice between a small and a large chunk.

The choice is remembered per model object (held weakly: the entry goes with the model), device, image size,
input handling and torch thread count (:func:`remembered`, :func:`remember`), so each ``PixelAttack`` call on
the same model measures nothing again. The chunk size never changes an attack's result, only its speed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Hashable, Sequence
from typing import Any

#: Chunk sizes tried, smallest first.
CANDIDATES = (32, 64, 128, 256, 512, 1024)
#: Sizes whose best rate is within this fraction of the best size's count as equally fast; the largest wins.
TOLERANCE = 0.05
#: Timed calls per contending size (the fastest counts).
ROUNDS = 2
#: A size must beat the best rate so far by this fraction to count as a gain.
GAIN = 0.03
#: Stop trying larger sizes after this many sizes in a row without a gain, or one slower than ``FALL`` x best.
PLATEAU = 2
FALL = 0.85

_SIZES: weakref.WeakKeyDictionary[Any, dict[Hashable, int]] = weakref.WeakKeyDictionary()


def choose_batch_size(seconds_per_call: Callable[[int], float],
                      candidates: Sequence[int] = CANDIDATES) -> tuple[int, dict[int, float]]:
    """Choose a chunk size from timings.

    Args:
        seconds_per_call: runs one timed call of ``b`` images and returns its wall time in seconds; raises
            ``RuntimeError`` or ``MemoryError`` when ``b`` does not fit. A size's first call may be slower (one-off
            set-up): a size is only dropped after a second timing, and contenders keep their fastest time.
        candidates: sizes to try, increasing.

    Returns:
        (the chosen size, the best measured rate in images/s of every size timed).
    """
    times: dict[int, list[float]] = {}

    def timed(b: int) -> float:
        times.setdefault(b, []).append(max(seconds_per_call(b), 1e-9))
        return min(times[b])

    top, flat = 0.0, 0
    for b in candidates:
        try:
            rate = b / timed(b)
            if rate <= top * (1 + GAIN):  # no gain, or a fall: confirm it before it stops the growth
                rate = b / timed(b)
        except (RuntimeError, MemoryError):  # out of memory: larger sizes will not fit either
            times.pop(b, None)
            break
        flat = 0 if rate > top * (1 + GAIN) else flat + 1
        top = max(top, rate)
        if rate < FALL * top or flat >= PLATEAU:
            break
    if not times:
        return candidates[0], {}
    contenders = [b for b in times if b / min(times[b]) >= FALL * top]
    for _ in range(ROUNDS - 1):  # interleaved, so a burst of load from elsewhere hits every contender alike
        for b in contenders:
            if len(times[b]) < ROUNDS:
                timed(b)
    rates = {b: b / min(t) for b, t in times.items()}
    fastest = max(rates[b] for b in contenders)
    return max(b for b in contenders if rates[b] >= (1 - TOLERANCE) * fastest), rates


def remembered(model: Any, key: Hashable) -> int | None:
    """The chunk size chosen earlier for ``model`` under ``key``, or None."""
    try:
        return _SIZES.get(model, {}).get(key)
    except TypeError:  # not weakly referable or not hashable: nothing is remembered for it
        return None


def remember(model: Any, key: Hashable, size: int) -> None:
    """Remember ``size`` for ``model`` under ``key`` (silently skipped for a model that cannot be held weakly)."""
    try:
        _SIZES.setdefault(model, {})[key] = size
    except TypeError:
        pass


def forget_batch_sizes() -> None:
    """Forget every remembered chunk size (the next ``"auto"`` call measures again)."""
    _SIZES.clear()
