"""Shapley shares, Sobol indices and rejection sampling against cases solved by hand."""

import math
from fractions import Fraction

import numpy as np
import pytest
from SALib.test_functions import Ishigami

from sim.sensitivity import Problem, reject, screen, shapley, sobol


def test_shapley_shares_sum_to_the_gap_exactly():
    # an arbitrary game of 4 players with interactions
    gains = {"a": 0.13, "b": 0.071, "c": 0.2, "d": 0.0}

    def v(s):
        x = 0.09 + sum(gains[p] for p in s)
        return x * (1.3 if {"a", "c"} <= s else 1.0) * (0.7 if "b" in s and "d" in s else 1.0)

    sh = shapley(v, list(gains))
    full, none = frozenset(gains), frozenset()
    assert sum(sh.values()) == Fraction(v(full)) - Fraction(v(none))  # exact, as rationals


def test_shapley_two_factors_by_hand():
    # v(none)=1, v(A)=3, v(B)=2, v(AB)=6: A's share = ((3-1) + (6-2)) / 2 = 3,
    # B's share = ((2-1) + (6-3)) / 2 = 2; together 5 = 6 - 1.
    table = {frozenset(): 1.0, frozenset("A"): 3.0, frozenset("B"): 2.0, frozenset("AB"): 6.0}
    sh = shapley(table.__getitem__, ["A", "B"])
    assert sh == {"A": Fraction(3), "B": Fraction(2)}


def test_shapley_of_a_player_that_changes_nothing_is_zero():
    sh = shapley(lambda s: 2.0 + (1.5 if "x" in s else 0.0), ["x", "dummy"])
    assert sh["dummy"] == 0 and sh["x"] == Fraction(1.5)


ISHIGAMI = Problem(("x1", "x2", "x3"), ((-math.pi, math.pi),) * 3)


def test_sobol_on_ishigami_matches_the_analytic_indices():
    a, b = 7.0, 0.1
    # Ishigami & Homma (1990); Saltelli et al. (2008): V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2
    V = a**2 / 8 + b * math.pi**4 / 5 + b**2 * math.pi**8 / 18 + 0.5
    V1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    V2 = a**2 / 8
    V13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)  # the x1-x3 interaction, 8 b^2 pi^8 / 225
    s1 = {"x1": V1 / V, "x2": V2 / V, "x3": 0.0}
    st = {"x1": (V1 + V13) / V, "x2": V2 / V, "x3": V13 / V}
    r = sobol(lambda X: Ishigami.evaluate(X, a, b), ISHIGAMI, samples=4096, seed=7)
    for k in ISHIGAMI.names:
        assert abs(r.S1[k] - s1[k]) <= r.S1_conf[k], (k, r.S1[k], s1[k])
        assert abs(r.ST[k] - st[k]) <= r.ST_conf[k], (k, r.ST[k], st[k])
    assert r.evaluations == 4096 * (3 + 2)


def test_an_input_without_effect_gets_total_order_zero():
    p = Problem(("a", "b", "none"), ((0.0, 1.0), (0.0, 2.0), (5.0, 9.0)))
    r = sobol(lambda X: X[:, 0] + X[:, 1] ** 2, p, samples=1024, seed=3)
    assert r.ST["none"] == pytest.approx(0.0, abs=1e-9)
    assert r.ranking()[0] == "b"
    m = screen(lambda X: X[:, 0] + X[:, 1] ** 2, p, seed=3)
    assert m.mu_star["none"] == 0.0 and "none" not in m.kept()


@pytest.mark.parametrize("seed", [0, 5])
def test_sobol_and_morris_are_deterministic_for_a_seed(seed):
    f = lambda X: Ishigami.evaluate(X)  # noqa: E731
    a = sobol(f, ISHIGAMI, 256, seed=seed)
    np.random.seed(seed + 99)  # global numpy state must not matter (SALib falls back on it)
    assert sobol(f, ISHIGAMI, 256, seed=seed) == a
    assert screen(f, ISHIGAMI, 8, seed=seed) == screen(f, ISHIGAMI, 8, seed=seed)


def test_rejection_on_one_input_recovers_the_analytic_interval():
    # y = 2x on x in [0, 1]; observed 0.8 +- 0.1 <=> x in [0.35, 0.45]: 10% of the prior
    p = Problem(("x",), ((0.0, 1.0),))
    post = reject(lambda X: 2 * X[:, 0], p, observed=0.8, tolerance=0.1, samples=20000, seed=1)
    lo, hi = post.ranges["x"]
    assert lo == pytest.approx(0.35, abs=1e-3) and hi == pytest.approx(0.45, abs=1e-3)
    assert lo >= 0.35 and hi <= 0.45
    # binomial standard error of the fraction: sqrt(0.1 x 0.9 / 20000) = 0.0021
    assert post.consistent_fraction == pytest.approx(0.1, abs=4 * math.sqrt(0.09 / 20000))


def test_rejection_with_no_survivor_names_the_closest_samples():
    p = Problem(("x",), ((0.0, 1.0),))
    post = reject(lambda X: X[:, 0], p, observed=3.0, tolerance=0.1, samples=500, seed=2)
    assert post.consistent_fraction == 0.0 and not post.ranges
    ys = [y for y, _ in post.closest]
    assert len(ys) == 5 and ys == sorted(ys, reverse=True) and ys[0] == post.output_range[1]
    assert np.isclose(ys[0], post.closest[0][1]["x"])
