"""Lease contracts: each tranche a process that is due at its start, held once placed, renewed,
and ended by its term or a notice (the tenant's or the lessor's). Revenue accrues to the ledger
at every daily close and at the end; a failed domain without a spare is a shortfall.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim import economics, market, tenants
from sim.accounting import short_gpus
from sim.engine.context import H_PER_DAY, Context, Lifecycle
from sim.engine.jobs import counts
from sim.errors import InputError, SimError
from sim.finance import leasing
from sim.finance.daybook import capex_prices
from sim.policies import LeaseInfo, Request
from sim.rng import stream
from sim.spec.workload import Lease, LeaseArrivals


@dataclass
class Tranche:
    """A block of a lease contract's capacity at run time (the unit notices act on)."""

    id: int
    lease: Lease
    index: int
    pools: tuple[str, ...]
    gpus: int  # contracted
    share: float  # of the contract's GPUs (splits a contract price and fee)
    start_h: float
    end_h: float  # current end: contracted, renewed, or cut by notice
    contract_end_h: float  # the end the contract promised (with renewals), whatever notice says
    min_term_end_h: float
    usd_per_hour: float  # this tranche's revenue while held
    renewals_left: int
    held_from_h: float | None = None
    held_until_h: float | None = None
    gpus_held: int = 0
    pools_held: dict[str, int] = field(default_factory=dict)
    end_reason: str = "never-started"
    notice_at_h: float | None = None
    notice_by: str = ""
    accrued_h: float = 0.0
    revenue_usd: float = 0.0
    fee_usd: float = 0.0
    short_since: dict[int, float] = field(default_factory=dict)  # failed domains, no spare
    short_down_gpus: int = 0  # GPUs of the domains in `short_since`
    short_gpu_h: float = 0.0
    short_credited_h: float = 0.0  # short GPU-hours already weighed against the SLA
    short_gpus: int = 0  # contracted GPUs not delivered now (see accounting.short_gpus)
    short_at_h: float = 0.0  # since when `short_gpus` holds
    proc: simpy.Process | None = None

    @property
    def name(self) -> str:
        return f"{self.lease.name}#{self.index}"

    @property
    def held(self) -> bool:
        return self.held_from_h is not None and self.held_until_h is None


class Leases(Lifecycle):
    """The lifecycle of lease tranches (kind "lease")."""

    def __init__(self, ctx: Context, market_curves: dict | None = None) -> None:
        self.ctx = ctx
        self.tranches: list[Tranche] = []
        self.by_id: dict[int, Tranche] = {}
        # tenant behaviour (sim/tenants.py): market prices and each pool's GPU type
        self.market = market_curves if market_curves is not None else market.curves()
        self.gpu_of_pool = {p.name: p.gpu.name for p in ctx.topo.pools}

    def add(self, lease: Lease) -> None:
        ctx = self.ctx
        sizes = [self._tranche_gpus(tr) for tr in lease.tranches]
        total = sum(sizes)
        prices = self._prices(lease, sizes)
        for i, (tr, gpus, usd_per_hour) in enumerate(
            zip(lease.tranches, sizes, prices, strict=True)
        ):
            share = gpus / total  # of the contract's GPUs: splits a termination fee
            t = Tranche(
                id=ctx.register("lease", self),
                lease=lease,
                index=i,
                pools=tuple(tr.pools),
                gpus=gpus,
                share=share,
                start_h=ctx.hours(tr.start or lease.start),
                end_h=ctx.hours(lease.end),
                contract_end_h=ctx.hours(lease.end),
                min_term_end_h=ctx.hours(lease.start) + lease.min_term_days * H_PER_DAY,
                usd_per_hour=usd_per_hour,
                renewals_left=lease.renewals,
            )
            self.tranches.append(t)
            self.by_id[t.id] = t
            t.proc = ctx.env.process(self._run(t))
        for by, day in (("tenant", lease.tenant_notice), ("lessor", lease.lessor_notice)):
            if day is not None:
                ctx.env.process(self._scheduled_notice(lease, by, ctx.hours(day)))
        if lease.behaviour is not None:  # the tenant's own plan, from the lease's own stream
            plan = tenants.plan(
                lease, self.gpu_of_pool, self.market, stream(ctx.seed, f"tenant:{lease.name}")
            )
            for t in self.tranches[-len(lease.tranches) :]:
                t.renewals_left = plan.renewals
            if plan.notice_after_h is not None:
                at_h = ctx.hours(lease.start) + plan.notice_after_h
                ctx.env.process(self._scheduled_notice(lease, "tenant", at_h))

    def arrivals(self, spec: LeaseArrivals, end: dt.date) -> list[Lease]:
        """New tenants' lease requests of a stream (sim/tenants.py), from its own stream."""
        rng = stream(self.ctx.seed, f"arrivals:{spec.name}")
        return tenants.arrivals(spec, self.gpu_of_pool, self.market, rng, end)

    def _prices(self, lease: Lease, sizes: list[int]) -> list[float]:
        """Each tranche's revenue per hour while held (sim/finance/leasing.py): a contract price
        split by the GPUs' value, or a price per GPU-hour (flat or by GPU type)."""
        topo = self.ctx.topo
        by_type = lease.price_usd_per_gpu_hour_by_type
        value_by_type = (
            dict(by_type) if by_type else capex_prices(topo, self.ctx.prices.capex_usd_per_gpu)
        )
        values = []
        for j, tr in enumerate(lease.tranches):
            mix: dict[str, int] = {}
            for name in tr.pools:
                p = topo.pool(name)
                mix[p.gpu.name] = mix.get(p.gpu.name, 0) + p.gpus
            missing = sorted(set(mix) - set(value_by_type))
            if missing:
                raise InputError.single(
                    f"leases.{lease.name}.price_usd_per_gpu_hour_by_type",
                    f"no price for {', '.join(missing)}, which tranche {j} draws from",
                    dict(by_type),
                )
            values.append(leasing.tranche_value_per_gpu(mix, value_by_type))
        contract = lease.price_usd_per_month is not None or lease.price_usd_per_year is not None
        return leasing.tranche_prices_usd_per_hour(
            sizes,
            values,
            lease.price_usd_per_month,
            lease.price_usd_per_year,
            lease.price_usd_per_gpu_hour,
            values if by_type and not contract else None,
        )

    def _tranche_gpus(self, tr) -> int:
        if tr.gpus is not None:
            return tr.gpus
        return int(tr.mw * 1e6 / self.ctx.topo.pool(tr.pools[0]).it_w_per_gpu)

    def infos(self) -> dict[int, LeaseInfo]:
        """The tranches held or waiting, as policies see them."""
        ctx, now = self.ctx, self.ctx.now
        return {
            t.id: LeaseInfo(
                owner_id=t.id,
                contract=t.lease.name,
                tenant=t.lease.tenant,
                gpus=t.gpus,
                pools=t.pools,
                pools_held=dict(t.pools_held),
                usd_per_gpu_hour=t.usd_per_hour / t.gpus,
                may_reclaim=t.lease.lessor_may_reclaim,
                notice_given=t.notice_at_h is not None,
                ends_h=t.end_h,
                ends_if_notice_now_h=economics.termination_h(
                    now, t.lease.notice_days, t.min_term_end_h, t.end_h
                ),
            )
            for t in self.tranches
            if t.held or t.id in ctx.pending
        }

    # -- the lifecycle -----------------------------------------------------------------------
    def _run(self, t: Tranche):
        """A tranche: due at its start, held once placed, ended by its term or a notice."""
        ctx = self.ctx
        if t.end_h <= 0 or t.start_h >= ctx.horizon_h:
            return
        yield ctx.env.timeout(max(0.0, t.start_h))
        ctx.event("lease-due", t.name, t.id, t.gpus, t.lease.tenant)
        if t.end_h > ctx.now:
            ctx.submit(
                Request(
                    owner_id=t.id,
                    kind="lease",
                    name=t.name,
                    job_class="lease",
                    priority=t.lease.priority,
                    submitted_h=ctx.now,
                    pools=t.pools,
                    sizes=(t.gpus,),
                    unit_gpus=1,
                    usd_per_gpu_hour=t.usd_per_hour / t.gpus,
                    takes_down=True,
                )
            )
        while ctx.now < t.end_h:
            try:
                yield ctx.env.timeout(t.end_h - ctx.now)
            except simpy.Interrupt:  # a notice moved the end: wait for the new one
                continue
            if t.notice_at_h is None and t.renewals_left > 0:
                t.renewals_left -= 1
                t.end_h += t.lease.renewal_days * H_PER_DAY
                t.contract_end_h = t.end_h
                ctx.event("lease-renew", t.name, t.id, t.gpus_held, f"to {ctx.date(t.end_h)}")
        reason = f"notice-{t.notice_by}" if t.notice_at_h is not None else "term"
        if t.held:
            self.accrue(t)
            t.held_until_h, t.end_reason = ctx.now, reason
            self._close_shortfalls(t, ctx.now)
            ctx.release(t.id)
            del ctx.running[t.id]
            ctx.event("lease-end", t.name, t.id, t.gpus_held, reason)
            ctx.schedule()
        elif ctx.pending.pop(t.id, None) is not None:
            t.end_reason = "unserved"
            ctx.event("lease-unserved", t.name, t.id, t.gpus, reason)

    def on_start(self, owner: int, domains: np.ndarray, parts: tuple[int, ...], by_pool) -> None:
        ctx, t = self.ctx, self.by_id[owner]
        t.held_from_h = t.accrued_h = ctx.now
        t.gpus_held = sum(by_pool.values())
        t.pools_held = by_pool
        down = domains[ctx.cluster.down[domains]]  # handed over under repair: a shortfall
        self._short(t, ctx.now, add=[int(d) for d in down])
        ctx.event("lease-start", t.name, t.id, t.gpus_held, t.lease.tenant)

    def on_failure(self, owner: int, domain: int, pool, at_h: float) -> None:
        """A spare if one is free; else the lease keeps its failed domain, short until repaired."""
        if self.ctx.take_spare(owner, domain, at_h) is None:
            self._short(self.by_id[owner], at_h, (domain,))

    def on_repair(self, owner: int, domain: int, at_h: float) -> None:
        t = self.by_id[owner]
        if domain in t.short_since:
            self._short(t, at_h, (), (domain,))

    def _short(self, t: Tranche, at_h: float, add=(), remove=()) -> None:
        """The tranche's failed domains change at `at_h`: book the shortfall so far, in
        contracted GPUs (a 1-GPU tranche on a 72-GPU domain is short 1 GPU, not 72)."""
        t.short_gpu_h += t.short_gpus * (at_h - t.short_at_h)
        gpus_of = self.ctx.cluster.gpus_of
        for d in add:
            if d not in t.short_since:
                t.short_down_gpus += gpus_of[d]
            t.short_since[d] = at_h
        for d in remove:
            if t.short_since.pop(d, None) is not None:
                t.short_down_gpus -= gpus_of[d]
        t.short_gpus = short_gpus(t.gpus, t.gpus_held, t.short_down_gpus)
        t.short_at_h = at_h

    def _close_shortfalls(self, t: Tranche, until_h: float) -> None:
        self._short(t, until_h, remove=list(t.short_since))

    # -- notices and money -------------------------------------------------------------------
    def on_notice(self, owner: int) -> None:
        t = self.by_id.get(owner)
        if t is None or t.end_h <= self.ctx.now:
            raise SimError(f"policy gave notice on owner {owner}, which is not a live lease")
        if not t.lease.lessor_may_reclaim:
            raise SimError(f"policy gave notice on {t.name}, which the lessor may not reclaim")
        if t.notice_at_h is None:
            self.give_notice(t, "lessor")

    def _scheduled_notice(self, lease: Lease, by: str, at_h: float):
        ctx = self.ctx
        if at_h >= ctx.horizon_h:
            return
        yield ctx.env.timeout(max(0.0, at_h - ctx.now))
        for t in self.tranches:
            if t.lease is lease and t.notice_at_h is None and t.end_h > ctx.now:
                self.give_notice(t, by)

    def give_notice(self, t: Tranche, by: str) -> None:
        """Notice on a tranche: it ends after the notice period, not before its minimum term;
        whoever gives notice pays the contract's termination fee (its share of it)."""
        ctx, now = self.ctx, self.ctx.now
        t.notice_at_h, t.notice_by, t.renewals_left = now, by, 0
        t.end_h = economics.termination_h(now, t.lease.notice_days, t.min_term_end_h, t.end_h)
        t.fee_usd = t.lease.termination_fee_usd * t.share * (1 if by == "tenant" else -1)
        if t.fee_usd:
            pool = next(iter(t.pools_held), t.pools[0])
            ctx.book(ctx.ledger.site_of(pool), pool, t.lease.tenant, "termination_fee", t.fee_usd)
        ctx.event("lease-notice", t.name, t.id, t.gpus, f"by {by}; ends {ctx.date(t.end_h)}")
        if t.proc is not None and t.proc.is_alive and t.proc.target is not None:
            t.proc.interrupt("notice")

    def accrue(self, t: Tranche) -> None:
        """Book a held tranche's revenue since it was last booked (billed from delivery, at the
        ramp fee first), less any SLA credit for GPU-hours short since then; split over its
        pools by GPUs."""
        ctx, lease = self.ctx, t.lease
        now = ctx.now
        hours = now - t.accrued_h
        if not t.held or hours <= 0:
            return
        amount = leasing.billed_usd(
            t.usd_per_hour,
            t.held_from_h,
            t.accrued_h,
            now,
            lease.ramp_days,
            lease.ramp_fee_fraction,
        )
        ctx.book_split(t.pools_held, lease.tenant, "lease_revenue", amount)
        t.revenue_usd += amount
        if lease.sla_availability is not None:
            short = t.short_gpu_h + t.short_gpus * (now - t.short_at_h)  # contracted GPUs
            credit = leasing.sla_credit_usd(
                t.usd_per_hour, t.gpus, hours, short - t.short_credited_h, lease.sla_availability
            )
            t.short_credited_h = short
            if credit:
                ctx.book_split(t.pools_held, lease.tenant, "sla_credit", -credit)
                t.revenue_usd -= credit
        t.accrued_h = now

    def accrue_all(self) -> None:
        for t in self.tranches:
            self.accrue(t)

    # -- the end of the run ------------------------------------------------------------------
    def row(self, t: Tranche) -> None:
        ctx, topo = self.ctx, self.ctx.topo
        if t.held:  # still held at the horizon
            t.held_until_h, t.end_reason = ctx.horizon_h, "horizon"
        if t.held_from_h is not None:  # failed, unrepaired at the end
            self._close_shortfalls(t, t.held_until_h)
        start_h, end_h = max(0.0, t.start_h), min(t.contract_end_h, ctx.horizon_h)
        held_h = 0.0 if t.held_from_h is None else t.held_until_h - t.held_from_h
        facility_mw = sum(
            n * topo.pool(p).it_w_per_gpu * topo.pool(p).pue / 1e6 for p, n in t.pools_held.items()
        )
        ctx.rec.add(
            "leases",
            lease_id=t.id,
            contract=t.lease.name,
            tenant=t.lease.tenant,
            tranche=t.index,
            pools=counts(t.pools_held),
            gpus_contracted=t.gpus,
            gpus_held=t.gpus_held,
            start_at=t.start_h,
            end_at=t.end_h,
            held_from=t.held_from_h,
            held_until=None if t.held_from_h is None else t.held_until_h,
            end_reason=t.end_reason,
            notice_at=t.notice_at_h,
            notice_by=t.notice_by,
            gpu_hours_contracted=t.gpus * max(0.0, end_h - start_h),
            gpu_hours_delivered=min(t.gpus_held, t.gpus) * held_h - t.short_gpu_h,
            gpu_hours_short=t.short_gpu_h,
            facility_mw_held=facility_mw,
            usd_per_hour=t.usd_per_hour,
            revenue_usd=t.revenue_usd,
            termination_fee_usd=t.fee_usd,
        )
