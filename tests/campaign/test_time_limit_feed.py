"""Which batches a time-limited run hands out (``campaign.time_limit``): each only while it would likely end before
the limit, a shorter one further on in the place of one that would not, estimated from its group's batches."""

from __future__ import annotations

from pixelspace.campaign.backends import AttackSpec, Batch
from pixelspace.campaign.time_limit import TimedFeed, earlier_rates


def _batch(index: int, model: str, attacks: int, pixels: int = 3, early_stop: bool = True) -> Batch:
    specs = tuple(AttackSpec(key=f"{index}-{i}", model=model, image_id=str(i), region="whole", pixels=pixels,
                             mode="untargeted", target=-1, label=0, search="sparse-rs") for i in range(attacks))
    return Batch(index, model, pixels, "untargeted", early_stop, specs, "sparse-rs")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


SLOW, FAST = ("vgg", 3, "untargeted", "sparse-rs", True), ("allconv", 3, "untargeted", "sparse-rs", True)


def test_a_batch_that_would_end_past_the_limit_gives_its_place_to_one_that_fits() -> None:
    clock = Clock()
    big, big2, small, big3 = _batch(0, "vgg", 4), _batch(1, "vgg", 4), _batch(2, "allconv", 4), _batch(3, "vgg", 4)
    feed = TimedFeed([big, big2, small, big3], deadline=30.0, earlier={SLOW: 5.0, FAST: 1.0}, clock=clock)
    assert feed.estimate(big) == 20.0 and feed.estimate(small) == 4.0
    assert feed.take() is big  # a call's first batch
    assert feed.take(starts_in=20.0) is small  # queued behind it: big2 would end at 40, small (further on) at 24
    assert feed.take(starts_in=20.0) is None and feed.left == 2
    clock.now = 10.0
    assert feed.take() is big2  # a worker free at 10 ends it at 30, in the order of the plan
    assert feed.take(starts_in=5.0) is None and feed.left == 1  # big3 would end at 35


def test_this_runs_slowest_batch_of_the_group_beats_the_earlier_runs_mean() -> None:
    a, b = _batch(0, "vgg", 2), _batch(1, "vgg", 2)
    feed = TimedFeed([a, b], deadline=100.0, earlier={SLOW: 5.0}, clock=Clock())
    assert feed.estimate(b) == 10.0
    feed.observe(a, 60.0)
    feed.observe(a, 40.0)  # the slowest (30 s an attack) counts, not the last
    assert feed.estimate(b) == 60.0
    assert feed.estimate(_batch(2, "nin", 3)) == 60.0  # a group never timed: the longest batch of this run
    # batches that never stop early (fitness curves) are their own group, not priced at the early-stopped rate
    curve = _batch(3, "vgg", 2, early_stop=False)
    feed.observe(curve, 400.0)
    assert feed.estimate(curve) == 400.0 and feed.estimate(b) == 60.0


def test_with_nothing_to_go_on_a_batch_starts_only_on_an_idle_worker_and_past_the_limit_none_does() -> None:
    clock = Clock()
    first, second, third = _batch(0, "vgg", 2), _batch(1, "vgg", 2), _batch(2, "vgg", 2)
    feed = TimedFeed([first, second, third], deadline=1.0, earlier={}, clock=clock)
    assert feed.estimate(second) is None and feed.take() is first
    assert feed.take(starts_in=0.5) is None  # not queued behind a batch: how long it runs is not known
    assert feed.take(starts_in=float("inf")) is None
    assert feed.take() is second
    clock.now = 1.0
    assert feed.take() is None and feed.left == 1


def test_a_calls_first_batch_starts_even_when_it_would_not_fit() -> None:
    # every call advances the campaign, however short its limit (the limit plus one batch, as before)
    clock = Clock()
    first, second = _batch(0, "vgg", 2), _batch(1, "vgg", 2)
    feed = TimedFeed([first, second], deadline=5.0, earlier={SLOW: 50.0}, clock=clock)
    assert feed.take() is first and feed.take() is None and feed.left == 1
    clock.now = 5.0
    late = TimedFeed([first], deadline=5.0, earlier={}, clock=clock)
    assert late.take() is None  # but none once the limit has passed
    # where a later batch fits, the first batch is that one
    clock.now = 0.0
    short = _batch(2, "allconv", 2)
    feed = TimedFeed([first, short], deadline=5.0, earlier={SLOW: 50.0, FAST: 1.0}, clock=clock)
    assert feed.take() is short and feed.take() is None and feed.left == 1


def test_without_a_limit_every_batch_comes_in_order() -> None:
    batches = [_batch(i, m, 2) for i, m in enumerate(["vgg", "allconv", "vgg"])]
    assert list(TimedFeed(batches, deadline=None, earlier={SLOW: 1e9}, clock=Clock())) == batches


def test_earlier_rates_are_per_group_over_runs_on_the_same_device_backend_and_threads() -> None:
    def run(device: str, seconds: float, backend: str = "ray", threads: str | None = "1",
            early_stop: bool | None = None) -> dict:
        entry = {"model": "vgg", "pixels": 3, "mode": "untargeted", "search": "sparse-rs", "batches": 1,
                 "attacks": 10, "queries": 1000, "seconds": seconds}
        if early_stop is not None:
            entry["early_stop"] = early_stop
        return {"details": {"device": device, "backend": backend, "torch_threads": threads, "timing": [entry]}}

    runs = [run("cpu", 100.0), {"details": {"device": "cpu", "backend": "ray"}}, run("cpu", 300.0, threads=None),
            run("cuda", 1.0), run("cpu", 7.0, backend="local", threads="2"),
            run("cpu", 900.0, early_stop=False)]
    assert earlier_rates(runs, "cpu", "ray") == {SLOW: 20.0, (*SLOW[:4], False): 90.0}  # records without
    # early_stop count as early-stopped
    assert earlier_rates(runs, "cuda", "ray") == {SLOW: 0.1}
    assert earlier_rates(runs, "cpu", "local", "2") == {SLOW: 0.7}
    assert earlier_rates(runs, "cpu", "local", "1") == {}  # the local run used 2 threads
    assert earlier_rates(runs, "mps", "ray") == {}
