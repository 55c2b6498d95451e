"""Order-free attribution and global sensitivity, pure and model-agnostic.

- `shapley`: each player's Shapley value over the 2^k on/off coalitions of a set function, in
  exact rational arithmetic, so that the shares add up to v(all) - v(none) exactly.
- `screen` (Morris elementary effects) then `sobol` (Saltelli sampling, first- and total-order
  indices with bootstrap confidence intervals), both from SALib.
- `reject`: rejection sampling of the inputs that reproduce an observation within a tolerance,
  over uniform priors on the declared ranges.

Every function takes the model as `f(X) -> y` over an (n, k) array of inputs and is
deterministic for its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations

import numpy as np
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

Model = Callable[[np.ndarray], np.ndarray]


# -- Shapley -------------------------------------------------------------------------------------


def shapley(value: Callable[[frozenset[str]], float], players: Sequence[str]) -> dict[str, Fraction]:
    """Shapley value of each player: the average, over every order of switching players on, of
    what switching it on adds. Computed exactly over the 2^k coalitions (k value calls each
    cached once), so `sum(result.values()) == value(all) - value(none)` holds as rationals."""
    n = len(players)
    v = {
        frozenset(c): Fraction(value(frozenset(c)))
        for r in range(n + 1)
        for c in combinations(players, r)
    }
    w = [Fraction(math.factorial(s) * math.factorial(n - s - 1), math.factorial(n)) for s in range(n)]
    out = {}
    for p in players:
        others = [q for q in players if q != p]
        out[p] = sum(
            (w[r] * (v[frozenset(c) | {p}] - v[frozenset(c)])
             for r in range(n) for c in combinations(others, r)),
            Fraction(0),
        )
    return out


# -- Global sensitivity --------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Inputs by name with their [low, high] ranges (uniform priors)."""

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]

    def salib(self) -> dict:
        return {"num_vars": len(self.names), "names": list(self.names), "bounds": [list(b) for b in self.bounds]}

    def subset(self, keep: Sequence[str]) -> Problem:
        idx = [self.names.index(k) for k in keep]
        return Problem(tuple(self.names[i] for i in idx), tuple(self.bounds[i] for i in idx))


@dataclass(frozen=True)
class Screening:
    """Morris elementary effects: mean absolute effect (mu_star) with its interval, and sigma."""

    mu_star: dict[str, float]
    mu_star_conf: dict[str, float]
    sigma: dict[str, float]
    evaluations: int

    def kept(self, fraction: float = 0.02) -> list[str]:
        """Inputs whose mu_star is at least `fraction` of the largest (the rest are screened out)."""
        top = max(self.mu_star.values(), default=0.0)
        return [k for k, m in self.mu_star.items() if top > 0 and m >= fraction * top]


def screen(f: Model, problem: Problem, trajectories: int = 20, seed: int = 0) -> Screening:
    """Morris screening with `trajectories` one-at-a-time paths over a 4-level grid."""
    X = morris_sample.sample(problem.salib(), trajectories, num_levels=4, seed=seed)
    Y = np.asarray(f(X), float)
    r = morris_analyze.analyze(problem.salib(), X, Y, num_levels=4, seed=seed)
    names = problem.names
    return Screening(
        dict(zip(names, map(float, r["mu_star"]), strict=True)),
        dict(zip(names, map(float, r["mu_star_conf"]), strict=True)),
        dict(zip(names, map(float, r["sigma"]), strict=True)),
        len(Y),
    )


@dataclass(frozen=True)
class Indices:
    """Sobol first-order (S1) and total-order (ST) indices with confidence half-widths."""

    S1: dict[str, float]
    S1_conf: dict[str, float]
    ST: dict[str, float]
    ST_conf: dict[str, float]
    evaluations: int
    conf_level: float = 0.95
    variance: float = 0.0

    def ranking(self) -> list[str]:
        return sorted(self.ST, key=lambda k: -self.ST[k])


def sobol(f: Model, problem: Problem, samples: int = 256, seed: int = 0,
          conf_level: float = 0.95) -> Indices:
    """Sobol indices from Saltelli's scheme: `samples` base points (a power of two), so
    samples * (k + 2) model evaluations; intervals from SALib's bootstrap."""
    n = 1 << max(1, math.ceil(math.log2(max(2, samples))))
    X = sobol_sample.sample(problem.salib(), n, calc_second_order=False, seed=seed)
    Y = np.asarray(f(X), float)
    names = problem.names
    if np.ptp(Y) == 0.0:  # a constant output: no input explains any variance
        zero = dict.fromkeys(names, 0.0)
        return Indices(zero, zero, zero, zero, len(Y), conf_level, 0.0)
    # SALib seeds its bootstrap only for a truthy seed (0 falls back to numpy's global state):
    # derive a non-zero one from ours.
    boot = int(np.random.SeedSequence(seed).generate_state(1)[0]) | 1
    r = sobol_analyze.analyze(problem.salib(), Y, calc_second_order=False, conf_level=conf_level,
                              seed=boot)
    d = lambda a: dict(zip(names, map(float, a), strict=True))  # noqa: E731
    return Indices(d(r["S1"]), d(r["S1_conf"]), d(r["ST"]), d(r["ST_conf"]), len(Y), conf_level,
                   float(np.var(Y)))


# -- What an observation supports ----------------------------------------------------------------


@dataclass(frozen=True)
class Posterior:
    """Inputs that reproduce an observation: per input the surviving [low, high], the share of
    the prior box that is consistent, and (when nothing survives) the closest samples."""

    observed: float
    tolerance: float
    samples: int
    consistent_fraction: float
    ranges: dict[str, tuple[float, float]]
    closest: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (y, inputs)
    output_range: tuple[float, float] = (math.nan, math.nan)
    accepted: tuple[dict[str, float], ...] = ()  # the samples that reproduce the observation


def reject(f: Model, problem: Problem, observed: float, tolerance: float, samples: int = 4096,
           seed: int = 0, closest: int = 5) -> Posterior:
    """Rejection sampling (approximate Bayesian computation with a uniform kernel): draw inputs
    uniformly from their ranges, keep those whose output lies within `tolerance` of
    `observed`."""
    rng = np.random.default_rng(seed)
    lo = np.array([b[0] for b in problem.bounds])
    hi = np.array([b[1] for b in problem.bounds])
    X = lo + rng.random((samples, len(lo))) * (hi - lo)
    Y = np.asarray(f(X), float)
    ok = np.abs(Y - observed) <= tolerance
    names = problem.names
    ranges = {
        n: (float(X[ok, i].min()), float(X[ok, i].max())) for i, n in enumerate(names)
    } if ok.any() else {}
    near = []
    if not ok.any():
        for j in np.argsort(np.abs(Y - observed), kind="stable")[:closest]:
            near.append((float(Y[j]), {n: float(X[j, i]) for i, n in enumerate(names)}))
    accepted = tuple({n: float(x) for n, x in zip(names, row, strict=True)} for row in X[ok])
    return Posterior(observed, tolerance, samples, float(ok.mean()), ranges, near,
                     (float(Y.min()), float(Y.max())), accepted)
