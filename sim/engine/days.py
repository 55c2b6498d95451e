"""Capacity phases coming online on their dates, and the daily close: the `pools` row of each
pool (a snapshot at the day's start, the exact GPU-hours during it) and the day's ledger."""

from __future__ import annotations

import datetime as dt

import numpy as np

from sim.engine.context import H_PER_DAY, Context
from sim.errors import SimError


class Days:
    """The capacity process and the daily sampler. `before_close` callbacks run at each close
    before the books are written (leases accrue their revenue there)."""

    def __init__(self, ctx: Context, check: bool = False, daily_pass: bool = False) -> None:
        self.ctx, self.check = ctx, check
        self.daily_pass = daily_pass  # a scheduling pass each midnight (the reclaim rule's ask)
        self.before_close: list = []
        self.fragmented = ctx.cluster.fragmented_gpus()  # at the open day's start

    def capacity(self):
        """Phases come online on their dates; those online by the start already are."""
        ctx, topo = self.ctx, self.ctx.topo
        for day in sorted({ph.online for ph in topo.phases}):
            h = max(0.0, ctx.hours(day))
            if h >= ctx.horizon_h:
                break
            yield ctx.env.timeout(h - ctx.now)
            due = np.flatnonzero(
                ~ctx.cluster.online & (topo.domain_online <= np.datetime64(day, "D"))
            )
            ctx.change(due, lambda day=day: ctx.cluster.bring_online(day))
            for ph in topo.phases:
                if ph.online == day or (h == 0 and ph.online <= ctx.start):
                    ctx.event("phase-online", ph.name, gpus=ph.gpus, detail=ph.pool)
            if due.size:
                ctx.schedule()

    def sampler(self):
        ctx = self.ctx
        while ctx.now < ctx.horizon_h:
            if ctx.now > 0:
                self.close()
                if self.daily_pass:
                    ctx.schedule()
            yield ctx.env.timeout(H_PER_DAY)

    def close(self) -> None:
        """The row of the day that ends now: snapshot at its start, GPU-hours during it."""
        ctx, acct = self.ctx, self.ctx.acct
        if self.check:
            ctx.cluster.check()
            if not np.array_equal(acct.gpus_now, acct.recount()):
                raise SimError("incremental GPU counts drifted from the cluster state")
        day_h, snap = acct.day_start_h, acct.day_start_gpus
        hours = acct.day_hours(ctx.now)
        power = ctx.topo.power_mw(ctx.start + dt.timedelta(hours=day_h))
        for i, p in enumerate(ctx.topo.pools):
            s, h = snap[i], hours[i]
            ctx.rec.add(
                "pools",
                date=day_h,
                site=p.site.name,
                pool=p.name,
                gpu=p.gpu.name,
                gpus_online=int(s[:5].sum()),
                gpus_lease=int(s[0]),
                gpus_training=int(s[1]),
                gpus_serving=int(s[2]),
                gpus_idle=int(s[3]),
                gpus_down=int(s[4]),
                gpu_hours_online=float(h[:5].sum()),
                gpu_hours_lease=float(h[0]),
                gpu_hours_training=float(h[1]),
                gpu_hours_serving=float(h[2]),
                gpu_hours_idle=float(h[3]),
                gpu_hours_down=float(h[4]),
                failures=int(acct.day_failures[i]),
                it_mw=power[p.name][0],
                facility_mw=power[p.name][1],
                gpus_idle_fragmented=int(self.fragmented[i]),
            )
        for hook in self.before_close:
            hook()
        ctx.ledger.book_costs(ctx.day, hours)
        date = day_h
        for line in ctx.ledger.close(ctx.day):
            ctx.rec.add(
                "ledger",
                date=date,
                site=line.site,
                pool=line.pool,
                counterparty=line.counterparty,
                account=line.account,
                amount_usd=line.usd,
            )
        ctx.day += 1
        acct.start_day(ctx.now)
        self.fragmented = ctx.cluster.fragmented_gpus()
