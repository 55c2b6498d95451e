"""Failures and repairs of NVLink domains, applied at their times.

The failure schedule is drawn ahead, window by window, by `sim.failure_schedule` (it depends on
nothing the simulation does). The run loop applies failures and repairs at their own times
(`apply_due`), between SimPy events, just before the next event that could see them: most
change nothing but counts, the day's GPU-hours, spares, shortfalls and jobs' ends. The owner of
a failed or repaired domain hears of it through its lifecycle's `on_failure` / `on_repair`
hooks; one that must act at the failure's time (a job without a spare stops) schedules an event
then, and nothing after it is applied before that event.
"""

from __future__ import annotations

import math

import numpy as np

from sim import failure_schedule as fs
from sim.cluster import FREE
from sim.engine.context import Context
from sim.rng import stream
from sim.spec.scenario import FailureRates

WINDOW_H = 7 * 24.0  # failures drawn a week at a time: bounded memory, few draws per call


def domain_rate(failures, pool) -> float:
    """Failures per hour of one domain of the pool (0 with failures off)."""
    if not failures.enabled:
        return 0.0
    rates = failures.rates.get(pool.gpu.name, FailureRates())
    return fs.domain_rate_per_h(
        rates.gpu_per_hour, rates.domain_per_day, pool.gpus_per_domain, failures.scale
    )


class FailureProcess:
    """This window's failures of every pool in time order, and the repairs due in a heap of
    (hour, pool, domain)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        topo, spec = ctx.topo, ctx.fail_spec
        ctx.domain_rate = np.array([domain_rate(spec, p) for p in topo.pools])
        r = spec.repair
        repair = fs.Repair(r.median_h, r.sigma, r.min_h, r.max_h)
        start = np.datetime64(ctx.start, "D")
        pools = []
        for p in topo.pools:
            if ctx.domain_rate[p.index] <= 0:
                continue
            online = topo.domain_online[p.first_domain : p.first_domain + p.domains]
            pools.append(
                fs.PoolSchedule(
                    p.index,
                    p.first_domain,
                    stream(ctx.seed, f"failures:{p.name}"),
                    (online - start).astype(np.int64),
                    sorted({ctx.hours(ph.online) for ph in topo.phases if ph.pool == p.name}),
                    float(ctx.domain_rate[p.index]),
                    repair,
                    ctx.horizon_h,
                )
            )
        self._timeline = fs.Timeline(pools)
        self.active = bool(pools)  # any pool fails at all (else nothing is ever due)
        self._repair_tick = False
        self._window_end = 0.0
        self._items: tuple[list, ...] = ([], [], [], [])  # this window's: hours, kinds, ...
        self._next = 0  # index of the next item to apply

    def apply_due(self, limit_h: float) -> None:
        """Apply failures and repairs due by `limit_h` and by the next event, in time order (a
        repair first at the same instant). An owner that must act at a failure's time schedules
        an event then (`Context.call_at`), which bounds what is applied after it."""
        peek, pools, horizon = self.ctx.env.peek, self.ctx.topo.pools, self.ctx.horizon_h
        fail, repair, failure = self.fail, self._repair, fs.FAILURE  # (locals: a million turns)
        (ats, kinds, ps, ds), i = self._items, self._next
        n = len(ats)  # (not a `len` call a turn)
        # Up to the next event, as it is now: a repair may schedule one (the pass that offers
        # repaired capacity), a failure one (a job that stops), and what follows waits for it;
        # the next event is looked up again only after a change that may have scheduled one
        # (the cluster and the accounting schedule nothing; an owner's hook may).
        bound = min(limit_h, peek())
        while True:
            if i == n:
                if self._window_end >= horizon:
                    break
                start = self._window_end
                self._window_end = min(start + WINDOW_H, horizon)
                self._items = self._timeline.window(start, self._window_end)
                (ats, kinds, ps, ds), i = self._items, 0
                n = len(ats)
                continue
            at = ats[i]
            if at > bound:
                break
            j, i = i, i + 1
            if fail(ds[j], pools[ps[j]], at) if kinds[j] == failure else repair(ds[j], at):
                bound = peek()  # (no `min` call: a million turns)
                if bound > limit_h:
                    bound = limit_h
        self._next = i

    def fail(self, d: int, pool, at_h: float) -> bool:
        """Take a domain down, count it, and tell its owner (through its `on_failure` hook).
        Returns whether an owner was told (only an owner's hook may schedule an event)."""
        ctx, acct = self.ctx, self.ctx.acct
        owner = ctx.cluster.fail(d)
        acct.day_failures[pool.index] += 1
        acct.domain(d, at_h, True, owner)
        if owner == FREE:  # (the common case first)
            return False
        if owner >= 0:
            ctx.handlers[owner].on_failure(owner, d, pool, at_h)
        else:  # shared: every job packed into it is interrupted, in owner order
            for o in sorted(ctx.cluster.sharers[d]):
                ctx.handlers[o].on_failure(o, d, pool, at_h)
        return True

    def _repair(self, d: int, at_h: float) -> bool:
        """Bring a domain back up and tell its owner; returns whether an event may have been
        scheduled (the pass that offers repaired capacity, or by the owner's hook)."""
        ctx = self.ctx
        scheduled = False
        if ctx.pending and not self._repair_tick:
            # repaired capacity is offered to waiting requests at the next whole hour: one
            # scheduling pass for all the repairs of that hour
            self._repair_tick = scheduled = True
            ctx.call_at(math.floor(at_h) + 1.0, self._repair_pass)
        owner = ctx.cluster.repair(d)
        ctx.acct.domain(d, at_h, False, owner)
        if owner >= 0:
            ctx.handlers[owner].on_repair(owner, d, at_h)
            return True
        return scheduled

    def _repair_pass(self) -> None:
        self._repair_tick = False
        self.ctx.schedule()
