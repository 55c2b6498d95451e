"""Failures and repairs of NVLink domains.

Failures are drawn per pool as a Poisson process over its healthy online domains, by thinning:
candidates at the rate of all its online domains, and a candidate that is already down is no
failure, so the rate follows repairs exactly. Only a failure that hits an owner whose lifecycle
`interrupts_on_failure` (a job) needs a SimPy event (it interrupts the job at its time); all
others, and every repair, change nothing but counts, the day's GPU-hours, spares and shortfalls,
so the run loop applies them at their own times (`apply_due`) just before the next event that
could see them. The owner of a failed or repaired domain hears of it through its lifecycle's
`on_failure` / `on_repair` hooks.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from sim.cluster import SHARED
from sim.engine.context import H_PER_DAY, Context
from sim.rng import stream
from sim.spec.scenario import FailureRates


@dataclass
class PoolFailures:
    """A pool's failure stream: its random draws, the rate between phase dates, and its
    outstanding candidate (one at a time, in the heap of due items)."""

    pool: object
    draws: Draws
    phases: list[float]
    online_dates: np.ndarray  # each domain's online date, in index (= phase) order
    next_domain: int = -1
    next_repair_h: float = 0.0
    n_online: int = 0
    rate: float = 0.0
    rate_from_h: float = math.inf
    rate_until_h: float = -math.inf


class Draws:
    """A failure process's random numbers, drawn from its stream in blocks (same values, in the
    same order, as one at a time would give)."""

    BLOCK = 4096

    def __init__(self, rng: np.random.Generator, repair):
        self.rng, self.rep = rng, repair
        self._i = self.BLOCK

    def _refill(self) -> None:
        self._exp = self.rng.standard_exponential(self.BLOCK)
        self._uni = self.rng.random(self.BLOCK)
        self._norm = self.rng.standard_normal(self.BLOCK)
        self._i = 0

    def _next(self):
        if self._i == self.BLOCK:
            self._refill()
        i = self._i
        self._i += 1
        return i

    def gap_h(self, rate: float) -> float:
        i = self._next()
        return float(self._exp[i]) / rate

    def index(self, n: int) -> int:
        return int(self._uni[self._i - 1] * n)  # uses the candidate's own uniform

    def repair_h(self) -> float:
        r = self.rep
        h = r.median_h * math.exp(r.sigma * float(self._norm[self._i - 1]))
        return min(max(h, r.min_h), r.max_h)


def domain_rate(failures, pool) -> float:
    """Failures per hour of one domain of the pool: its GPUs' rate plus the domain term."""
    if not failures.enabled:
        return 0.0
    rates = failures.rates.get(pool.gpu.name, FailureRates())
    domain_per_day = rates.domain_per_day
    if domain_per_day is None:  # assumed default: NVL72 racks only (see FailureRates)
        domain_per_day = 0.02 if pool.gpus_per_domain > 8 else 0.0
    return failures.scale * (rates.gpu_per_hour * pool.gpus_per_domain + domain_per_day / H_PER_DAY)


class FailureProcess:
    """The failure candidates of every pool and the repairs due, in one heap of
    (hour, 0 repair | 1 failure, pool, domain)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        topo = ctx.topo
        ctx.domain_rate = np.array([domain_rate(ctx.fail_spec, p) for p in topo.pools])
        self._repair_tick = False
        self._due: list[tuple[float, int, int, int]] = []
        self._pools: dict[int, PoolFailures] = {}
        for p in topo.pools:
            if ctx.domain_rate[p.index] <= 0:
                continue
            self._pools[p.index] = PoolFailures(
                p,
                Draws(stream(ctx.seed, f"failures:{p.name}"), ctx.fail_spec.repair),
                sorted({ctx.hours(ph.online) for ph in topo.phases if ph.pool == p.name}),
                topo.domain_online[p.first_domain : p.first_domain + p.domains],
            )
        for pf in self._pools.values():
            self._draw(pf, 0.0)

    def _draw(self, pf: PoolFailures, from_h: float) -> None:
        """The pool's next candidate failure after `from_h` (redrawn at each phase date, when the
        rate changes: the process is memoryless)."""
        ctx, t = self.ctx, from_h
        while True:
            if t >= pf.rate_until_h or t < pf.rate_from_h:  # the rate holds between phase dates
                today = np.datetime64(ctx.start, "D") + int(t // H_PER_DAY)
                pf.n_online = int(np.searchsorted(pf.online_dates, today, side="right"))
                pf.rate = pf.n_online * ctx.domain_rate[pf.pool.index]
                pf.rate_from_h = t
                pf.rate_until_h = next((h for h in pf.phases if h > t), math.inf)
            at = t + pf.draws.gap_h(pf.rate) if pf.rate > 0 else math.inf
            if min(at, pf.rate_until_h) >= ctx.horizon_h:
                return
            if pf.rate_until_h <= at:
                t = pf.rate_until_h
                continue
            pf.next_domain = pf.pool.first_domain + pf.draws.index(pf.n_online)
            pf.next_repair_h = pf.draws.repair_h()
            heapq.heappush(self._due, (at, 1, pf.pool.index, pf.next_domain))
            return

    def apply_due(self, limit_h: float) -> bool:
        """Apply failures and repairs due by `limit_h` in time order. Returns True if it stopped
        at a failure that interrupts a job, for which it scheduled an event at its time."""
        ctx = self.ctx
        due, down, owner, handlers = self._due, ctx.cluster.down, ctx.cluster.owner, ctx.handlers
        # Up to the next event, as it is now: a repair may just have scheduled one (the pass
        # that offers repaired capacity), and what happens after it must wait for it.
        while due and due[0][0] <= min(limit_h, ctx.env.peek()):
            at, kind, pool_index, d = heapq.heappop(due)
            if kind == 0:
                self._repair(d, at)
                continue
            pf = self._pools[pool_index]
            if down[d]:  # thinning: a failed domain cannot fail again
                self._draw(pf, at)
                continue
            o = int(owner[d])
            if o == SHARED or (o >= 0 and handlers[o].interrupts_on_failure):  # parts: jobs
                wake = ctx.env.timeout(at - ctx.now)
                wake.callbacks.append(lambda _e, pf=pf, at=at: self._failure_now(pf, at))
                return True
            self._failure_at(pf, at)
        return False

    def _failure_now(self, pf: PoolFailures, at_h: float) -> None:
        """A failure's own event (it hits a job): apply it now, as things stand now."""
        if self.ctx.cluster.down[pf.next_domain]:
            self._draw(pf, at_h)
        else:
            self._failure_at(pf, self.ctx.now)

    def _failure_at(self, pf: PoolFailures, at_h: float) -> None:
        d = pf.next_domain
        heapq.heappush(self._due, (at_h + pf.next_repair_h, 0, pf.pool.index, d))
        self.fail(d, pf.pool, at_h)
        self._draw(pf, at_h)

    def fail(self, d: int, pool, at_h: float) -> None:
        """Take a domain down, count it, and tell its owner (through its `on_failure` hook)."""
        ctx, c = self.ctx, self.ctx.cluster
        owner = int(c.owner[d])
        ctx.acct.day_failures[pool.index] += 1
        ctx.acct.domain_down(d, at_h)
        c.fail(d)
        if owner >= 0:
            ctx.handlers[owner].on_failure(owner, d, pool, at_h)
        elif owner == SHARED:  # every job packed into it is interrupted, in owner order
            for o in sorted(c.sharers[d]):
                ctx.handlers[o].on_failure(o, d, pool, at_h)

    def _repair(self, d: int, at_h: float) -> None:
        ctx = self.ctx
        if ctx.pending and not self._repair_tick:
            # repaired capacity is offered to waiting requests at the next whole hour: one
            # scheduling pass for all the repairs of that hour
            self._repair_tick = True
            tick = ctx.env.timeout(math.floor(at_h) + 1.0 - ctx.now)
            tick.callbacks.append(self._repair_pass)
        c = ctx.cluster
        c.repair(d)
        ctx.acct.domain_up(d, at_h)
        owner = int(c.owner[d])
        if owner >= 0:
            ctx.handlers[owner].on_repair(owner, d, at_h)

    def _repair_pass(self, _event) -> None:
        self._repair_tick = False
        self.ctx.schedule()
