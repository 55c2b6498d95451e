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


class PoolSchedule:
    """The failures of one pool, drawn window by window from its stream: candidates at the rate
    of its online domains, thinned by the repairs of earlier ones."""

    def __init__(
        self,
        pool_index: int,
        first_domain: int,
        rng: np.random.Generator,
        online_day: np.ndarray,
        phase_h: list[float],
        rate_per_domain_h: float,
        repair: Repair,
        horizon_h: float,
    ) -> None:
        """`online_day`: each domain's online day (days from the start, ascending, in index
        order); `phase_h`: the hours at which the online count changes."""
        self.pool_index, self.first_domain = pool_index, first_domain
        self.rng, self.online_day, self.phase_h = rng, online_day, phase_h
        self.rate_per_domain_h, self.repair, self.horizon_h = rate_per_domain_h, repair, horizon_h
        self._up_at = [-math.inf] * len(online_day)  # when each domain is up again
        self._t = 0.0  # the last candidate's hour (or the phase date drawn from)
        self._rate, self._n_online = 0.0, 0
        self._rate_from, self._rate_until = math.inf, -math.inf
        self._exp: list[float] = []
        self._uni: list[float] = []
        self._norm: list[float] = []
        self._i = BLOCK
        self._held: tuple[float, int, float] | None = None  # a candidate past the last window
        self._done = False

    def _candidate(self) -> tuple[float, int, float] | None:
        """The next candidate (hour, local domain, repair hours), or None past the horizon."""
        t = self._t
        while True:
            if t >= self._rate_until or t < self._rate_from:  # the rate holds between phases
                n = int(np.searchsorted(self.online_day, int(t // H_PER_DAY), side="right"))
                self._n_online, self._rate = n, n * self.rate_per_domain_h
                self._rate_from = t
                self._rate_until = next((h for h in self.phase_h if h > t), math.inf)
            if self._rate > 0:
                if self._i == BLOCK:
                    self._exp = self.rng.standard_exponential(BLOCK).tolist()
                    self._uni = self.rng.random(BLOCK).tolist()
                    self._norm = self.rng.standard_normal(BLOCK).tolist()
                    self._i = 0
                i = self._i
                self._i += 1
                at = t + self._exp[i] / self._rate
            else:
                at = math.inf
            if min(at, self._rate_until) >= self.horizon_h:
                return None
            if self._rate_until <= at:  # past a phase date: draw anew from there
                t = self._t = self._rate_until
                continue
            self._t = at
            return at, int(self._uni[i] * self._n_online), self.repair.hours(self._norm[i])

    def until(self, end_h: float) -> list[tuple[float, int, int, float]]:
        """(hour, pool index, domain, repaired at hour) of each failure before `end_h`."""
        out, up_at, first, p = [], self._up_at, self.first_domain, self.pool_index
        while not self._done:
            c = self._held if self._held is not None else self._candidate()
            self._held = None
            if c is None:
                self._done = True
                break
            at, local, repair_h = c
            if at >= end_h:
                self._held = c
                break
            if at >= up_at[local]:  # a repair at the same instant comes first: it is up
                up_at[local] = at + repair_h
                out.append((at, p, first + local, at + repair_h))
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
