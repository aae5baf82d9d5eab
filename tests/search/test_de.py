from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from pixelspace.errors import ConfigError, DTypeError, ShapeError
from pixelspace.search import DEConfig, DifferentialEvolution, minimize, sample_donors
from pixelspace.search.init import latin_hypercube


def _state(pop: np.ndarray, fit: np.ndarray, seed: int) -> tuple[DifferentialEvolution, object]:
    cfg = DEConfig(population_size=pop.shape[0], crossover=1.0)
    de = DifferentialEvolution(cfg, pop.shape[1])
    st = de.init([np.random.default_rng(seed)])
    st.population[0] = pop
    st.fitness[0] = fit
    return de, st


def test_rand1_mutation_exact() -> None:
    pop = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8], [0.4, 0.45]])
    de, st = _state(pop, np.arange(5.0), seed=3)
    # replay the solver's draws from an identical stream: F, then the donors (after the LHS init draws)
    ref = np.random.default_rng(3)
    _ = latin_hypercube(ref, 5, 2)
    f = ref.uniform(0.5, 1.0)
    donors = sample_donors(ref, 5)
    expected = pop[donors[:, 0]] + f * (pop[donors[:, 1]] - pop[donors[:, 2]])
    bad = (expected < 0) | (expected > 1)
    trials = de.ask(st, np.array([0]))[0]  # type: ignore[arg-type]
    np.testing.assert_allclose(trials[~bad], expected[~bad])
    assert ((trials >= 0) & (trials <= 1)).all()


def test_donors_distinct_and_not_self() -> None:
    d = sample_donors(np.random.default_rng(0), 6)
    for i, row in enumerate(d):
        assert len(set(row.tolist())) == 3 and i not in row
    counts = np.bincount(sample_donors(np.random.default_rng(1), 50)[:, 0], minlength=50)
    assert counts.max() < 10  # roughly uniform


def test_crossover_zero_keeps_one_mutant_gene() -> None:
    cfg = DEConfig(population_size=8, crossover=0.0, mutation=0.0)  # F = 0: mutant = x_r1
    de = DifferentialEvolution(cfg, 5)
    st = de.init([np.random.default_rng(0)])
    trials = de.ask(st, np.array([0]))[0]
    diff = (trials != st.population[0]).sum(axis=1)
    assert (diff <= 1).all() and diff.sum() > 0


def test_selection_strict_improvement_only() -> None:
    pop = np.full((4, 2), 0.5)
    de, st = _state(pop, np.array([1.0, 2.0, 3.0, 4.0]), seed=0)
    trials = np.full((1, 4, 2), 0.9)
    replaced = de.tell(st, np.array([0]), trials, np.array([[1.0, 1.5, 3.5, 0.0]]))  # type: ignore[arg-type]
    assert replaced.tolist() == [[False, True, False, True]]
    assert st.fitness[0].tolist() == [1.0, 1.5, 3.0, 0.0]  # type: ignore[attr-defined]
    assert (st.population[0, 1] == 0.9).all() and (st.population[0, 0] == 0.5).all()  # type: ignore[attr-defined]


def test_sphere_and_rastrigin_converge() -> None:
    r = minimize(lambda x: ((x - 0.3) ** 2).sum(-1), 4, problems=2, config=DEConfig(population_size=40), seed=1)
    assert (r.fun < 1e-6).all()
    assert np.allclose(r.x, 0.3, atol=1e-3)

    def rastrigin(x: np.ndarray) -> np.ndarray:
        z = (x - 0.5) * 10.24
        return 10 * z.shape[-1] + (z**2 - 10 * np.cos(2 * np.pi * z)).sum(-1)

    r = minimize(rastrigin, 2, problems=2, config=DEConfig(population_size=60, max_generations=150), seed=2)
    assert (r.fun < 1e-6).all()


def test_same_seed_same_result_and_nfev() -> None:
    cfg = DEConfig(population_size=20, max_generations=15)
    f = lambda x: np.abs(x - 0.7).sum(-1)  # noqa: E731
    a = minimize(f, 3, problems=3, config=cfg, seed=5)
    b = minimize(f, 3, problems=3, config=cfg, seed=5)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.nfev, b.nfev)
    c = minimize(f, 3, problems=3, config=cfg, seed=6)
    assert not np.array_equal(a.x, c.x)


def test_problem_independent_of_batch_companions() -> None:
    cfg = DEConfig(population_size=12, max_generations=8)
    f = lambda x: ((x - 0.2) ** 2).sum(-1)  # noqa: E731
    alone = minimize(f, 2, problems=1, config=cfg, seed=[11])
    among = minimize(f, 2, problems=3, config=cfg, seed=[7, 11, 13])
    np.testing.assert_array_equal(alone.x[0], among.x[1])
    np.testing.assert_array_equal(alone.history[0], among.history[1])


def test_early_stop_and_max_queries() -> None:
    cfg = DEConfig(population_size=10, max_generations=50)
    r = minimize(lambda x: x.sum(-1), 2, config=cfg, seed=0, stop=lambda best: best < 0.5)
    assert r.generations[0] < 50 and r.fun[0] < 0.5
    assert r.nfev[0] == 10 * (r.generations[0] + 1)
    r = minimize(lambda x: x.sum(-1), 2, config=DEConfig(population_size=10, max_generations=50, max_queries=35), seed=0)
    assert r.nfev[0] == 35
    assert np.isnan(r.history[0, 4:]).all()


def test_history_never_increases() -> None:
    r = minimize(lambda x: np.sin(7 * x).sum(-1), 3, problems=4, config=DEConfig(population_size=16, max_generations=20))
    h = r.history
    assert (np.diff(h, axis=1) <= 0).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"population_size": 3}, "population_size"),
        ({"strategy": "rand2exp"}, "strategy"),
        ({"mutation": (1.0, 0.5)}, "mutation"),
        ({"crossover": 1.5}, "crossover"),
        ({"max_queries": 0}, "max_queries"),
        ({"init": "sobol"}, "init"),
    ],
)
def test_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DEConfig(**kwargs)


def test_search_imports_nothing_about_images_or_models() -> None:
    code = (
        "import sys, pixelspace.search; "
        "bad=[m for m in ('cv2','pixelspace.models','pixelspace.segment','pixelspace.attack','torch') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_given_initial_population() -> None:
    cfg = DEConfig(population_size=6, max_generations=30)
    de = DifferentialEvolution(cfg, 3)
    pop = np.random.default_rng(0).uniform(size=(2, 6, 3))
    st = de.init([np.random.default_rng(1), np.random.default_rng(2)], pop)
    np.testing.assert_array_equal(st.population, pop)
    st.population[0, 0, 0] = 0.99
    assert pop[0, 0, 0] != 0.99  # copied, the caller's array is untouched
    # a population at the optimum: found at generation 0, and the run is repeatable
    start = np.full((2, 6, 3), 0.5)
    start[:, 1:] = np.random.default_rng(3).uniform(size=(2, 5, 3))

    def sphere(x: np.ndarray) -> np.ndarray:
        return ((x - 0.5) ** 2).sum(-1)

    a = minimize(sphere, 3, problems=2, config=cfg, seed=4, init_population=start, stop=lambda f: f < 1e-12)
    assert (a.generations == 0).all() and (a.nfev == 6).all() and (a.fun == 0).all()
    b = minimize(sphere, 3, problems=2, config=cfg, seed=4, init_population=start)
    c = minimize(sphere, 3, problems=2, config=cfg, seed=4, init_population=start)
    np.testing.assert_array_equal(b.x, c.x)


@pytest.mark.parametrize(
    ("population", "error", "match"),
    [
        (np.full((1, 6, 2), 0.5), ShapeError, r"\(2, 6, 3\)"),
        (np.full((2, 6, 3), 1.5), DTypeError, r"\[0, 1\]"),
        (np.full((2, 6, 3), np.nan), DTypeError, "finite"),
        (np.full((2, 6, 3), "a"), DTypeError, "real-valued"),
    ],
)
def test_bad_initial_population(population: np.ndarray, error: type[Exception], match: str) -> None:
    de = DifferentialEvolution(DEConfig(population_size=6), 3)
    with pytest.raises(error, match=match):
        de.init([np.random.default_rng(0), np.random.default_rng(1)], population)


@pytest.mark.parametrize("strategy", ["rand1bin", "best1bin"])
def test_ask_for_many_problems_matches_each_alone(strategy: str) -> None:
    """The vectorised step draws each problem's numbers in the order of a problem asked alone."""
    cfg = DEConfig(population_size=9, crossover=0.6, strategy=strategy, mutation=(0.9, 1.9))
    de = DifferentialEvolution(cfg, 4)
    together = de.init([np.random.default_rng(s) for s in (1, 2, 3)])
    together.fitness[:] = np.random.default_rng(0).random((3, 9))
    trials = de.ask(together, np.array([2, 0]))
    assert trials.shape == (2, 9, 4) and ((trials >= 0) & (trials <= 1)).all()
    for out, seed in ((0, 3), (1, 1)):
        alone = de.init([np.random.default_rng(seed)])
        alone.fitness[0] = together.fitness[seed - 1]
        np.testing.assert_array_equal(de.ask(alone, np.array([0]))[0], trials[out])


# trials of ``ask`` below as the code before the vectorised step (commit 1e34ee7) produced them: stores made
# then must replay, so the draws may never change order
_PINNED = {
    "rand1bin": [[[0.078648893769, 0.840162190541], [0.931237453143, 0.844192366228], [0.762791724349, 0.653039604841],
                  [0.665469166132, 0.320964117724], [0.258430607149, 0.302923316757], [0.816537560117, 0.047996058193]],
                 [[0.399570992983, 0.833196019178], [0.235516457306, 0.319784654318], [0.045025936731, 0.549040268439],
                  [0.799879526055, 0.179669560161], [0.611909995652, 0.872418366945], [0.763934169014, 0.720606245304]]],
    "best1bin": [[[0.859783967221, 0.536833332469], [0.24512113374, 0.844192366228], [0.621262413624, 0.653039604841],
                  [0.342740961453, 0.823176458118], [0.468842729933, 0.078648893769], [0.931237453143, 0.891098836262]],
                 [[0.235516457306, 0.833196019178], [0.319784654318, 0.979420692533], [0.13499313858, 0.869872658338],
                  [0.799879526055, 0.507068138923], [0.848109622145, 0.872418366945], [0.58270578312, 0.07461973295]]],
}


@pytest.mark.parametrize("strategy", ["rand1bin", "best1bin"])
def test_ask_draws_as_before(strategy: str) -> None:
    cfg = DEConfig(population_size=6, crossover=0.5, strategy=strategy, mutation=(0.5, 1.5))
    de = DifferentialEvolution(cfg, 2)
    state = de.init([np.random.default_rng(s) for s in (5, 9)])
    state.fitness[:] = np.array([[3.0, 1, 4, 1.5, 5, 9], [2.0, 6, 5, 3, 5, 0.5]])
    np.testing.assert_allclose(de.ask(state, np.array([1, 0])), _PINNED[strategy], rtol=0, atol=1e-11)


def test_one_generator_for_two_problems_is_refused() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="own numpy Generator"):
        DifferentialEvolution(DEConfig(population_size=6), 2).init([rng, rng])


def test_ask_for_no_problems() -> None:
    de = DifferentialEvolution(DEConfig(population_size=6), 2)
    state = de.init([np.random.default_rng(0)])
    assert de.ask(state, np.array([])).shape == (0, 6, 2)


def test_the_search_settings_hold_no_attack_concept() -> None:
    # issue 32: early stop and the success check are the attack's (PixelAttack, ScanSeededAttack)
    assert [f.name for f in dataclasses.fields(DEConfig)] == [
        "population_size", "max_generations", "max_queries", "mutation", "crossover", "init", "strategy"]
    assert set(dataclasses.asdict(DEConfig())) == {f.name for f in dataclasses.fields(DEConfig)}


def test_the_old_attack_settings_are_still_accepted_with_a_warning_naming_their_place() -> None:
    with pytest.warns(DeprecationWarning, match=r"PixelAttack\(early_stop=..., success_check=...\)") as caught:
        cfg = DEConfig(population_size=10, early_stop=False, success_check="best")
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert dict(cfg.deprecated_attack_settings) == {"early_stop": False, "success_check": "best"}
    assert dataclasses.asdict(cfg) == dataclasses.asdict(DEConfig(population_size=10))
    assert cfg.search_settings_only() == cfg and not cfg.search_settings_only().deprecated_attack_settings
    assert (cfg.early_stop, cfg.success_check) == (False, "best")  # type: ignore[attr-defined]  # the old reads still answer
    with pytest.warns(DeprecationWarning):  # and replace keeps them (as DEConfig did; it warns again)
        assert dict(dataclasses.replace(cfg, max_generations=3).deprecated_attack_settings) == {
            "early_stop": False, "success_check": "best"}
    with pytest.warns(DeprecationWarning, match=r"PixelAttack\(success_check=...\)"):
        only = DEConfig(success_check="any")
    assert dict(only.deprecated_attack_settings) == {"success_check": "any"}
    assert dict(DEConfig().deprecated_attack_settings) == {}
    # the search itself ignores them, as it always did: minimize stops through its ``stop`` rule only
    f = lambda x: (x**2).sum(-1)  # noqa: E731
    plain = DEConfig(population_size=10)
    np.testing.assert_array_equal(minimize(f, 2, config=cfg, seed=3).x, minimize(f, 2, config=plain, seed=3).x)
