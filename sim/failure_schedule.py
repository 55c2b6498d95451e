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

    def hours(self, z: np.ndarray) -> np.ndarray:
        """The repair time of each standard normal draw of `z`. The exponential is `math.exp`
        (numpy's may differ in the last bit from one machine to another); products and clips
        are exact in numpy too."""
        e = np.array(list(map(math.exp, (self.sigma * z).tolist())))
        return np.minimum(np.maximum(self.median_h * e, self.min_h), self.max_h)


class PoolSchedule:
    """The failures of one pool, drawn window by window from its stream: candidates at the rate
    of its online domains, thinned by the repairs of earlier ones.

    Candidates are computed a block of draws at a time with numpy, in the order a one-by-one
    loop would take them: candidate k + 1's hour is candidate k's plus its exponential gap
    (`np.cumsum` adds in sequence, so the hours are the loop's to the last bit), a candidate
    past a phase date is dropped and the next one drawn from that date, and repair times use
    `math.exp`."""

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
        self._up_at = np.full(len(online_day), -math.inf)  # when each domain is up again
        self._t = 0.0  # the last candidate's hour (or the phase date drawn from)
        self._rate, self._n_online = 0.0, 0
        self._rate_from, self._rate_until = math.inf, -math.inf
        self._exp = self._uni = self._norm = np.empty(0)
        self._i = BLOCK  # the next draw of the blocks
        # candidates computed but not yet given (from _j): hours, local domains, repair times
        self._at = self._repair_h = np.empty(0)
        self._local = np.empty(0, np.int64)
        self._j = 0
        self._done = False  # no candidate left before the horizon

    def _segment(self) -> None:
        """Compute the next candidates: from the last one (or phase date) to the end of the
        block of draws, the next phase date or the horizon, whichever comes first."""
        t = self._t
        if t >= self._rate_until or t < self._rate_from:  # the rate holds between phases
            n = int(np.searchsorted(self.online_day, int(t // H_PER_DAY), side="right"))
            self._n_online, self._rate = n, n * self.rate_per_domain_h
            self._rate_from = t
            self._rate_until = next((h for h in self.phase_h if h > t), math.inf)
        stop_h = min(self._rate_until, self.horizon_h)
        self._at, self._j = np.empty(0), 0
        if self._rate <= 0:  # nothing fails until the next phase date
            if stop_h >= self.horizon_h:
                self._done = True
            self._t = stop_h
            return
        if self._i == BLOCK:
            self._exp = self.rng.standard_exponential(BLOCK)
            self._uni = self.rng.random(BLOCK)
            self._norm = self.rng.standard_normal(BLOCK)
            self._i = 0
        i = self._i
        at = np.cumsum(np.concatenate(([t], self._exp[i:] / self._rate)))[1:]
        k = int(np.searchsorted(at, stop_h, side="left"))  # the first at or past stop_h
        self._at = at[:k]
        self._local = (self._uni[i : i + k] * self._n_online).astype(np.int64)
        self._repair_h = self.repair.hours(self._norm[i : i + k])
        if k == len(at):  # the block is used up: the next draws come from a new one
            self._t, self._i = float(self._at[-1]), BLOCK
        elif self._rate_until < self.horizon_h:  # past a phase date (that draw is spent)
            self._t, self._i = self._rate_until, i + k + 1
        else:
            self._done = True

    def until(self, end_h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The failures before `end_h` not given yet, in time order: their hours, (global)
        domains and the hours they are repaired at."""
        out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        while True:
            if self._j == len(self._at):
                if self._done:
                    break
                self._segment()
                continue
            j = self._j
            k = j + int(np.searchsorted(self._at[j:], end_h))  # the candidates of this window
            out.append(self._thin(self._at[j:k], self._local[j:k], self._repair_h[j:k]))
            self._j = k
            if k < len(self._at):  # the rest are later windows'
                break
        if not out:
            return np.empty(0), np.empty(0, np.int64), np.empty(0)
        at, local, up = (np.concatenate(c) for c in zip(*out, strict=True))
        return at, local + self.first_domain, up

    def _thin(self, at: np.ndarray, local: np.ndarray, repair_h: np.ndarray):
        """The candidates that hit a domain that is up (a repair at the same instant comes
        first: it is up), with their repair hours. Vectorised over the candidates whose domain
        has no other candidate among them (78% in the default run); the others, in time order,
        one by one."""
        up_at = self._up_at
        order = np.argsort(local, kind="stable")
        same = local[order][1:] == local[order][:-1]
        shared = np.zeros(len(local), bool)  # domains with two or more candidates here
        shared[order[1:][same]] = True
        shared[order[:-1][same]] = True
        ok = ~shared & (at >= up_at[local])
        up = at + repair_h
        up_at[local[ok]] = up[ok]  # (distinct domains)
        for i in np.flatnonzero(shared).tolist():
            d = local[i]
            if at[i] >= up_at[d]:
                ok[i] = True
                up_at[d] = up[i]
        return at[ok], local[ok], up[ok]


REPAIR, FAILURE = 0, 1  # kinds of timeline items; a repair comes first at the same instant


class Timeline:
    """Failures and repairs of all pools in time order, a window of time at a time: items
    (hour, REPAIR | FAILURE, pool index, domain), sorted (ties: repairs first, then by pool
    and domain). A repair that falls in a later window waits for it."""

    def __init__(self, pools: list[PoolSchedule]) -> None:
        self.pools = pools
        self._later = (np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))  # later repairs

    def window(self, start_h: float, end_h: float) -> tuple[list, list, list, list]:
        """The items of [start_h, end_h) (repairs before `start_h` were given already) as
        columns: hours, kinds, pools, domains. Sorted by numpy (`lexsort` on the columns gives
        the order a sort of the item tuples would); lists of Python numbers, not a million
        tuples for the garbage collector to scan."""
        later_at, later_p, later_d = self._later
        fails = [s.until(end_h) for s in self.pools]
        f_at = np.concatenate([f[0] for f in fails] + [later_at[:0]])  # (none if no pools)
        f_d = np.concatenate([f[1] for f in fails] + [later_d[:0]])
        pools = [np.full(len(f[0]), s.pool_index) for s, f in zip(self.pools, fails, strict=True)]
        f_p = np.concatenate(pools + [later_p[:0]])
        r_at = np.concatenate([f[2] for f in fails] + [later_at])
        r_p, r_d = np.concatenate((f_p, later_p)), np.concatenate((f_d, later_d))
        due = r_at < end_h
        self._later = (r_at[~due], r_p[~due], r_d[~due])
        at = np.concatenate((f_at, r_at[due]))
        kind = np.concatenate((np.full(len(f_at), FAILURE), np.full(int(due.sum()), REPAIR)))
        pool, dom = np.concatenate((f_p, r_p[due])), np.concatenate((f_d, r_d[due]))
        order = np.lexsort((dom, pool, kind, at))
        return at[order].tolist(), kind[order].tolist(), pool[order].tolist(), dom[order].tolist()


def domain_rate_per_h(gpu_per_hour: float, domain_per_day: float | None, gpus: int, scale: float):
    """Failures per hour of one domain: its GPUs' rate plus the domain term (`domain_per_day`
    None: the assumed default of 0.02 a day for NVL72 racks, 0 for HGX nodes; see
    `sim.spec.scenario.FailureRates`)."""
    if domain_per_day is None:
        domain_per_day = 0.02 if gpus > 8 else 0.0
    return scale * (gpu_per_hour * gpus + domain_per_day / H_PER_DAY)
