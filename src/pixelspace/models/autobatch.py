r"""The chunk size of ``batch_size="auto"``: how it is chosen from timings, and where the choice is remembered.

The rule (:func:`choose_batch_size`) times the candidate sizes in increasing order and stops growing once the
rate falls or stops rising (a size that looks no faster is timed twice before it counts); the sizes close to
the best are then timed again, interleaved (so a burst of load from another process hits them alike), up to
:data:`ROUNDS` times each, keeping each size's fastest time. Of the sizes within
:data:`TOLERANCE` of the best rate the largest wins, so timing noise between near-equal sizes does not flip
the choice between a small and a large chunk.

The measurement is bounded: its timed calls stop at :data:`BUDGET` seconds (a size whose call would end past
it, judged from the best rate so far, is not tried), and a call that evaluates ``needed`` images tries no size
above the smallest candidate that holds them all (none at all for a call of at most :data:`CANDIDATES`\[0]
images: it is one chunk whatever the choice).

The choice is remembered per model object (held weakly: the entry goes with the model), device, image size,
input handling and torch thread count (:func:`remembered`, :func:`remember`), so each ``PixelAttack`` call on
the same model measures nothing again; and on disk (:func:`cached`, :func:`cache`), keyed by a hash of the
module's class and weights, the device, the torch version and the host, so a second process or a second
``load`` of the same network measures nothing either. The disk cache is ``autobatch.json`` in the user cache
folder of the decoded datasets (``$PIXELSPACE_CACHE``, else ``$XDG_CACHE_HOME/pixelspace``, else
``~/.cache/pixelspace``); ``PIXELSPACE_AUTOBATCH_CACHE=0`` turns it off and ``PIXELSPACE_AUTOBATCH_CACHE=FILE``
puts it in ``FILE`` (the test suite's temporary file). The chunk size never changes an attack's result, only its speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import tempfile
import weakref
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

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
#: Seconds of timed calls a measurement may spend (the first size is always timed once).
BUDGET = 3.0
#: The budget of a campaign's batch size (measured once and fixed for the whole campaign, so worth more time).
CAMPAIGN_BUDGET = 30.0
#: The environment variable that switches the disk cache off ("0") or names its file.
CACHE_SWITCH_ENV = "PIXELSPACE_AUTOBATCH_CACHE"
_CACHE_FILE = "autobatch.json"

#: A choice: (chunk size, largest size it was chosen among, the budget of its measurement in seconds).
Choice = tuple[int, int, float]

_SIZES: weakref.WeakKeyDictionary[Any, dict[Hashable, Choice]] = weakref.WeakKeyDictionary()


def candidates_for(needed: int | None, candidates: Sequence[int] = CANDIDATES) -> tuple[int, ...]:
    """The sizes worth timing for calls of ``needed`` images: up to the smallest candidate that holds them all
    (every candidate when ``needed`` is None)."""
    if needed is None:
        return tuple(candidates)
    cap = next((c for c in candidates if c >= needed), candidates[-1])
    return tuple(c for c in candidates if c <= cap)


def choose_batch_size(seconds_per_call: Callable[[int], float], candidates: Sequence[int] = CANDIDATES,
                      budget: float = BUDGET) -> tuple[int, dict[int, float]]:
    """Choose a chunk size from timings.

    Args:
        seconds_per_call: runs one timed call of ``b`` images and returns its wall time in seconds; raises
            ``RuntimeError`` or ``MemoryError`` when ``b`` does not fit. A size's first call may be slower (one-off
            set-up): a size is only dropped after a second timing, and contenders keep their fastest time.
        candidates: sizes to try, increasing.
        budget: seconds of timed calls to spend at most: a call that would end past it (its size at the best
            rate so far) is not made; the first size is always timed once.

    Returns:
        (the chosen size, the best measured rate in images/s of every size timed).
    """
    times: dict[int, list[float]] = {}
    top = 0.0

    def affordable(b: int) -> bool:
        spent = sum(sum(t) for t in times.values())
        return not times or spent + (b / top if top > 0 else 0.0) <= budget

    def timed(b: int) -> float:
        times.setdefault(b, []).append(max(seconds_per_call(b), 1e-9))
        return min(times[b])

    flat = 0
    for b in candidates:
        if not affordable(b):
            break
        try:
            rate = b / timed(b)
            if rate <= top * (1 + GAIN) and affordable(b):  # no gain, or a fall: confirm it before it stops the growth
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
            if len(times[b]) < ROUNDS and affordable(b):
                timed(b)
    rates = {b: b / min(t) for b, t in times.items()}
    fastest = max(rates[b] for b in contenders)
    return max(b for b in contenders if rates[b] >= (1 - TOLERANCE) * fastest), rates


def sufficient(choice: Choice | None, cap: int, budget: float) -> bool:
    """Whether ``choice`` answers a call that would time sizes up to ``cap`` within ``budget`` seconds."""
    return choice is not None and choice[1] >= cap and choice[2] >= budget


def remembered(model: Any, key: Hashable) -> Choice | None:
    """The :data:`Choice` made earlier for ``model`` under ``key``, or None."""
    try:
        return _SIZES.get(model, {}).get(key)
    except TypeError:  # not weakly referable or not hashable: nothing is remembered for it
        return None


def remember(model: Any, key: Hashable, choice: Choice) -> None:
    """Remember ``choice`` for ``model`` under ``key`` (silently skipped for a model that cannot be held
    weakly)."""
    try:
        _SIZES.setdefault(model, {})[key] = choice
    except TypeError:
        pass


def forget_batch_sizes() -> None:
    """Forget every chunk size remembered in this process (the disk cache stays: :func:`cache_file`)."""
    _SIZES.clear()


# -- the disk cache ------------------------------------------------------------------------------------------
def cache_file() -> Path | None:
    """The disk cache's file, or None when ``PIXELSPACE_AUTOBATCH_CACHE=0`` turns it off."""
    from pixelspace.data.cifar10 import default_cache_dir

    setting = os.environ.get(CACHE_SWITCH_ENV, "").strip()
    if setting.lower() in ("0", "false", "no", "off"):
        return None
    if setting and setting.lower() not in ("1", "true", "yes", "on"):
        return Path(setting).expanduser()
    return default_cache_dir() / _CACHE_FILE


def module_fingerprint(module: Any) -> str | None:
    """sha256 (hex) of a torch module's class, parameter and buffer names, shapes, dtypes and values; None for
    anything else. Two loads of the same network file have the same fingerprint."""
    import torch
    from torch import nn

    if not isinstance(module, nn.Module):
        return None
    h = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    with torch.no_grad():
        for name, t in module.state_dict().items():
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
                     if t.numel() else b"")
    return h.hexdigest()


def cache_key(fingerprint: str, where: Sequence[Any], device_name: str) -> str:
    """The disk cache's key: the weights' fingerprint, the measurement's conditions (device, image size, input
    handling, threads), the device's name, the torch version and the host."""
    import torch

    return json.dumps([fingerprint, [str(w) for w in where], device_name, torch.__version__, platform.node()])


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.info("autobatch cache %s unreadable (%s); measuring", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def cached(key: str) -> Choice | None:
    """The :data:`Choice` stored on disk under ``key``, or None (no cache, no entry, unreadable)."""
    path = cache_file()
    if path is None:
        return None
    entry = _read(path).get(key)
    if (isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, int | float) and v > 0 for v in entry)):
        return int(entry[0]), int(entry[1]), float(entry[2])
    return None


def cache(key: str, choice: Choice) -> None:
    """Store ``choice`` under ``key`` on disk (written atomically; a failure to write is logged, not raised)."""
    path = cache_file()
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read(path)
        data[key] = [int(choice[0]), int(choice[1]), float(choice[2])]
        fd, tmp = tempfile.mkstemp(prefix=".autobatch-", suffix=".json", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=0)
        os.replace(tmp, path)
    except OSError as exc:
        log.info("autobatch cache %s not written (%s)", path, exc)
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
