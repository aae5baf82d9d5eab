"""batch_size="auto": a robust choice from timings, remembered per model across calls (issue 21)."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from pixelspace import Classifier, DEConfig, PixelAttack, Untargeted
from pixelspace.models import autobatch
from pixelspace.models.autobatch import choose_batch_size
from tests.helpers import gray_images, predict, tiny_cnn


def _timer(rates: dict[int, float], slow_once: dict[int, float] | None = None) -> tuple[Callable[[int], float],
                                                                                          list[int]]:
    """A fake ``seconds_per_call``: ``b / rates[b]`` seconds, ``slow_once[b]`` times slower on b's first call."""
    calls: list[int] = []
    spikes = dict(slow_once or {})

    def seconds(b: int) -> float:
        calls.append(b)
        return b / rates[b] * spikes.pop(b, 1.0)

    return seconds, calls


def test_the_largest_of_the_near_fastest_sizes_wins() -> None:
    rates = {32: 1000.0, 64: 2000.0, 128: 3900.0, 256: 4000.0, 512: 3960.0, 1024: 3000.0}
    chosen, measured = choose_batch_size(_timer(rates)[0])
    assert chosen == 512  # within 5 % of 256's rate, and larger
    assert measured[256] == pytest.approx(4000.0)
    rates[512] = 3600.0  # 10 % slower: no longer counts as equal
    assert choose_batch_size(_timer(rates)[0])[0] == 256


def test_one_slow_timing_does_not_decide() -> None:
    # another process takes the cores while 256 is first timed: the repeated timings recover its rate
    rates = {32: 1000.0, 64: 2000.0, 128: 3000.0, 256: 4000.0, 512: 4050.0, 1024: 2500.0}
    seconds, calls = _timer(rates, slow_once={256: 2.0})
    chosen, measured = choose_batch_size(seconds)
    assert chosen == 512 and measured[256] == pytest.approx(4000.0)
    assert calls.count(256) == autobatch.ROUNDS  # timed again, interleaved with the other contenders


def test_growth_stops_at_a_plateau_or_out_of_memory_not_before() -> None:
    rates = {32: 4000.0, 64: 4010.0, 128: 4020.0, 256: 4030.0, 512: 4040.0, 1024: 4050.0}
    seconds, calls = _timer(rates)
    assert choose_batch_size(seconds)[0] == 128
    assert max(calls) == 128  # two sizes in a row without a gain: 256 and up are never run

    def oom(b: int) -> float:
        if b >= 256:
            raise RuntimeError("CUDA out of memory")
        return b / 1000

    assert choose_batch_size(oom)[0] == 128
    # a per-call cost that dominates (2 threads on an oversubscribed CPU): every doubling gains, so it grows on
    overhead = {b: b / (0.5 + b / 4000.0) for b in autobatch.CANDIDATES}
    assert choose_batch_size(_timer(overhead)[0], budget=math.inf)[0] == 1024


def test_the_choice_is_remembered_per_model_across_attack_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    # each PixelAttack call wraps a plain nn.Module in a new Classifier; the measurement used to run every time.
    # The fake measurement answers sizes no real one picks, so a size read back is known to be the one remembered
    monkeypatch.setenv(autobatch.CACHE_SWITCH_ENV, "0")  # this process's memory only (the disk: below)
    measured: list[tuple[int, int]] = []
    answers = {(16, 16): 37, (8, 8): 23}

    def counting(self: Classifier, height: int, width: int, candidates: tuple[int, ...] | None = None,
                 budget: float | None = None) -> int:
        measured.append((height, width))
        return answers[(height, width)] + 2 * (len(measured) > 2)  # the other model and re-measures: 39, 25

    monkeypatch.setattr(Classifier, "_measure_batch_size", counting)
    autobatch.forget_batch_sizes()
    model = tiny_cnn(0)
    images = gray_images(2, 16)
    labels = predict(model, images)
    attack = PixelAttack(pixels=1, de=DEConfig(population_size=600, max_generations=1))  # 1,200 per call
    first = attack(model, images, Untargeted(labels), seed=0)
    again = PixelAttack(pixels=1, de=DEConfig(population_size=600, max_generations=1))(model, images,
                                                                                       Untargeted(labels), seed=0)
    assert measured == [(16, 16)]
    assert first.batch_size == again.batch_size == 37  # the second call used the size the first measured
    assert np.array_equal(first.adversarial, again.adversarial)
    assert Classifier(model).resolve_batch_size(16, 16) == 37
    assert measured == [(16, 16)]
    assert Classifier(model).resolve_batch_size(8, 8) == 23  # another image size: measured once more
    assert Classifier(model).resolve_batch_size(8, 8) == 23 and Classifier(model).resolve_batch_size(16, 16) == 37
    other = tiny_cnn(1)
    assert Classifier(other).resolve_batch_size(16, 16) == 39  # another model object: its own measurement
    assert Classifier(model).resolve_batch_size(16, 16) == 37 and Classifier(other).resolve_batch_size(16, 16) == 39
    assert measured == [(16, 16), (8, 8), (16, 16)]
    with torch.inference_mode():
        Classifier(model, batch_size=64).probabilities(torch.zeros((1, 3, 16, 16), dtype=torch.uint8))
    assert len(measured) == 3  # an explicit int is never measured
    before = len(autobatch._SIZES)
    del other
    gc.collect()
    assert len(autobatch._SIZES) == before - 1  # held weakly: the entry goes with the model
    autobatch.forget_batch_sizes()
    assert Classifier(model).resolve_batch_size(16, 16) == 39  # measured again, not read back
    assert len(measured) == 4


def test_the_measurement_leaves_a_training_mode_model_unchanged() -> None:
    # the timing calls ran before the switch to eval mode, so they updated BatchNorm's running statistics
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 3)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.warns(UserWarning, match="training mode"):
        Classifier(net).probabilities(torch.zeros((2, 3, 8, 8), dtype=torch.uint8))
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# -- issue 33: the first call waits (46.6 s measuring sizes up to 1,024 for 4 images, and again per load) -------
def test_the_measurement_keeps_to_its_time_budget() -> None:
    # every size is slow (1 s per 32 images): the rule alone would time 32 ... 1024 and each contender twice
    rates = {b: 32.0 * (1 + 0.5 * i) for i, b in enumerate(autobatch.CANDIDATES)}
    seconds, calls = _timer(rates)
    chosen, _ = choose_batch_size(seconds, budget=3.0)
    spent = sum(b / rates[b] for b in calls)
    assert spent <= 3.0 + 1e-9, (calls, spent)  # no call that would end past the budget is made
    assert chosen in calls
    seconds, calls = _timer(rates)
    choose_batch_size(seconds, budget=0.0)
    assert calls == [32]  # the first size is always timed once


def _count_measurements(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    measured: list[tuple[int, ...]] = []
    real = Classifier._measure_batch_size

    def counting(self: Classifier, height: int, width: int, candidates: tuple[int, ...] | None = None,
                 budget: float | None = None) -> int:
        measured.append(tuple(candidates or autobatch.CANDIDATES))
        return real(self, height, width, candidates, budget)

    monkeypatch.setattr(Classifier, "_measure_batch_size", counting)
    autobatch.forget_batch_sizes()
    return measured


def test_a_call_times_no_size_beyond_its_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(autobatch.CACHE_SWITCH_ENV, str(tmp_path / "autobatch.json"))
    measured = _count_measurements(monkeypatch)
    model = tiny_cnn(0)
    with torch.inference_mode():
        probs = Classifier(model).probabilities(torch.zeros((4, 3, 16, 16), dtype=torch.uint8))
    assert probs.shape == (4, 10) and measured == []  # 4 images are one chunk whatever the choice
    Classifier(model).probabilities(torch.zeros((100, 3, 16, 16), dtype=torch.uint8))
    assert measured == [(32, 64, 128)]  # 128 holds all 100: larger sizes are not timed
    Classifier(model).probabilities(torch.zeros((90, 3, 16, 16), dtype=torch.uint8))
    assert len(measured) == 1  # remembered for calls of that size
    Classifier(model).resolve_batch_size(16, 16)  # a call that may need every size measures up to 1,024
    assert measured[1] == autobatch.CANDIDATES


def test_the_choice_is_remembered_on_disk_across_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(autobatch.CACHE_SWITCH_ENV, str(tmp_path / "cache" / "autobatch.json"))
    measured = _count_measurements(monkeypatch)
    size = Classifier(tiny_cnn(0)).resolve_batch_size(16, 16)
    assert len(measured) == 1 and (tmp_path / "cache" / "autobatch.json").is_file()
    autobatch.forget_batch_sizes()  # a new process, or a second load of the same network
    assert Classifier(tiny_cnn(0)).resolve_batch_size(16, 16) == size
    assert len(measured) == 1
    Classifier(tiny_cnn(1)).resolve_batch_size(16, 16)  # other weights: another network
    assert len(measured) == 2
    autobatch.forget_batch_sizes()
    # a campaign's batch size is measured with a larger budget: a quicker choice does not answer it ...
    Classifier(tiny_cnn(0)).resolve_batch_size(16, 16, budget=autobatch.CAMPAIGN_BUDGET)
    assert len(measured) == 3
    autobatch.forget_batch_sizes()
    Classifier(tiny_cnn(0)).resolve_batch_size(16, 16)  # ... but it answers a quick call (from the disk)
    assert len(measured) == 3
    autobatch.forget_batch_sizes()
    monkeypatch.setenv(autobatch.CACHE_SWITCH_ENV, "0")  # the switch: no disk cache read or written
    Classifier(tiny_cnn(0)).resolve_batch_size(16, 16)
    assert len(measured) == 4
    (tmp_path / "cache" / "autobatch.json").write_text("{not json")  # a damaged cache is measured over
    monkeypatch.setenv(autobatch.CACHE_SWITCH_ENV, str(tmp_path / "cache" / "autobatch.json"))
    autobatch.forget_batch_sizes()
    Classifier(tiny_cnn(0)).resolve_batch_size(16, 16)
    assert len(measured) == 5


def test_the_tests_never_touch_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = autobatch.cache_file()
    assert path is not None and Path.home() / ".cache" not in path.parents  # tests/conftest.py
    monkeypatch.delenv(autobatch.CACHE_SWITCH_ENV)  # a user's default: the datasets' cache folder
    monkeypatch.setenv("PIXELSPACE_CACHE", str(tmp_path / "c"))
    assert autobatch.cache_file() == tmp_path / "c" / "autobatch.json"
