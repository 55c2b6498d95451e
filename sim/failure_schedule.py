"""When each NVLink domain fails and for how long: pure, no SimPy.

A domain fails only through its pool's failure stream, and nothing a job or a policy does
changes that stream: so the whole failure schedule of a run follows from the seed, the phases,
the rates and the repair-time law alone, and is drawn here in windows of time, ahead of the
simulation (issue 15: failures in bulk). The engine then only applies each failure and repair
at its time (`sim.engine.failures`).

Per pool, candidates arrive as a Poisson process at the rate of all its online domains
(redrawn at each phase date, when that rate changes: the process is memoryless), each on a
uniformly drawn online domain with a lognormal repair time; a candidate that hits a domain
still under repair is no failure (thinning), so the rate follows repairs exactly. Candidate
k + 1 is drawn from candidate k's time (not from the simulation clock), so the schedule is the
same whatever runs on the campus.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

H_PER_DAY = 24.0
BLOCK = 4096  # draws taken from the stream at a time: exponential, uniform, normal blocks


@dataclass(frozen=True)
class Repair:
    """The repair-time law: lognormal by median and sigma, clipped to [min_h, max_h]."""

    median_h: float
    sigma: float
    min_h: float
    max_h: float

    def hours(self, z: float) -> float:
        """The repair time of a standard normal draw `z`."""
        return min(max(self.median_h * math.exp(self.sigma * z), self.min_h), self.max_h)


def candidates(
    rng: np.random.Generator,
    online_day: np.ndarray,
    phase_h: list[float],
    rate_per_domain_h: float,
    repair: Repair,
    horizon_h: float,
) -> Iterator[tuple[float, int, float]]:
    """(hour, domain index in the pool, repair hours) of each failure candidate of one pool, in
    time order, until the horizon. `online_day`: each domain's online day (days from the start,
    ascending, in index order); `phase_h`: the hours at which the online count changes."""
    t, rate, n_online = 0.0, 0.0, 0
    rate_from, rate_until = math.inf, -math.inf
    exp = uni = norm = ()
    i = BLOCK
    while True:
        if t >= rate_until or t < rate_from:  # the rate holds between phase dates
            n_online = int(np.searchsorted(online_day, int(t // H_PER_DAY), side="right"))
            rate = n_online * rate_per_domain_h
            rate_from = t
            rate_until = next((h for h in phase_h if h > t), math.inf)
        if rate > 0:
            if i == BLOCK:
                exp = rng.standard_exponential(BLOCK).tolist()
                uni = rng.random(BLOCK).tolist()
                norm = rng.standard_normal(BLOCK).tolist()
                i = 0
            at = t + exp[i] / rate
            i += 1
        else:
            at = math.inf
        if min(at, rate_until) >= horizon_h:
            return
        if rate_until <= at:  # the candidate falls past a phase date: draw anew from there
            t = rate_until
            continue
        yield at, int(uni[i - 1] * n_online), repair.hours(norm[i - 1])
        t = at


class PoolSchedule:
    """The failures of one pool, window by window: the thinning of its candidates."""

    def __init__(self, pool_index: int, first_domain: int, domains: int, draws) -> None:
        self.pool_index, self.first_domain = pool_index, first_domain
        self._draws = draws
        self._next = next(draws, None)
        self._up_at = [-math.inf] * domains  # when each domain is repaired (up from then on)

    def until(self, end_h: float) -> list[tuple[float, int, int, float]]:
        """(hour, pool index, domain, repaired at hour) of each failure before `end_h`."""
        out, up_at, first, p = [], self._up_at, self.first_domain, self.pool_index
        c = self._next
        while c is not None and c[0] < end_h:
            at, local, repair_h = c
            if at >= up_at[local]:  # a repair at the same instant comes first: it is up
                up_at[local] = at + repair_h
                out.append((at, p, first + local, at + repair_h))
            c = next(self._draws, None)
        self._next = c
        return out


REPAIR, FAILURE = 0, 1  # kinds of timeline items; a repair comes first at the same instant


class Timeline:
    """Failures and repairs of all pools as one time-ordered list per window of time: items
    (hour, REPAIR | FAILURE, pool index, domain), sorted (ties: repairs first, then by pool
    and domain). A repair that falls in a later window waits for it."""

    def __init__(self, pools: list[PoolSchedule]) -> None:
        self.pools = pools
        self._later: list[tuple[float, int, int, int]] = []  # repairs of later windows

    def window(self, start_h: float, end_h: float) -> list[tuple[float, int, int, int]]:
        """The items of [start_h, end_h) (repairs before `start_h` were given already)."""
        items, later = [], []
        for s in self.pools:
            for at, p, d, up_h in s.until(end_h):
                items.append((at, FAILURE, p, d))
                later.append((up_h, REPAIR, p, d))
        later += self._later
        self._later = [r for r in later if r[0] >= end_h]
        items += [r for r in later if r[0] < end_h]
        items.sort()
        return items


def domain_rate_per_h(gpu_per_hour: float, domain_per_day: float | None, gpus: int, scale: float):
    """Failures per hour of one domain: its GPUs' rate plus the domain term (`domain_per_day`
    None: the assumed default of 0.02 a day for NVL72 racks, 0 for HGX nodes; see
    `sim.spec.scenario.FailureRates`)."""
    if domain_per_day is None:
        domain_per_day = 0.02 if gpus > 8 else 0.0
    return scale * (gpu_per_hour * gpus + domain_per_day / H_PER_DAY)
