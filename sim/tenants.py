"""Tenant behaviour as pure functions: when a tenant gives notice, whether it renews, which new
tenants arrive, and which notice terms a scenario grants. No SimPy: the lease lifecycle asks for
a lease's plan once, from the lease's own named random stream, and schedules what it says.

The hazard of notice is monthly and piecewise constant; the time of notice is drawn by inverting
the cumulative hazard (one exponential draw per lease), so a constant hazard h per month gives
survival exp(-h t) exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim import market
from sim.spec.risk import ContractRisk, MarketCurve, TenantBehaviour
from sim.spec.workload import Lease, LeaseArrivals, Tranche, WorkloadFile

if TYPE_CHECKING:  # imported where draws are made: `apply_terms` (validation) needs no numpy
    import numpy as np

HOURS_PER_MONTH = 365 * 24 / 12.0  # a month is a twelfth of a 365-day year (sim/economics.py)
DAYS_PER_MONTH = 365 / 12.0


# -- hazards ---------------------------------------------------------------------------------
def price_gap(relative_price: float) -> float:
    """How far the deal's market price has fallen below the contract price, as a fraction of it
    (0 when the market is at or above the price the deal was signed at)."""
    return max(0.0, 1.0 - relative_price)


def hazard_per_month(b: TenantBehaviour, gap: float) -> float:
    """The tenant's monthly hazard of giving notice at price gap `gap` (see TenantBehaviour)."""
    past = max(0.0, gap - b.price_gap_threshold) / (1.0 - b.price_gap_threshold)
    return min(1.0, b.hazard_per_month + b.hazard_rise_per_month * past)


def sample_notice_month(rng: np.random.Generator, hazards: Sequence[float]) -> float | None:
    """Months from the start until notice, for monthly hazards `hazards[k]` over month k, or None
    if the tenant stays through them all. One exponential draw E; notice when the cumulative
    hazard reaches E, linearly within the month (the hazard is constant within it)."""
    import numpy as np

    h = np.asarray(hazards, dtype=float)
    if not len(h) or not h.any():
        return None
    e = rng.exponential(1.0)
    cum = np.cumsum(h)
    k = int(np.searchsorted(cum, e, side="left"))
    if k >= len(h):
        return None
    before = cum[k - 1] if k else 0.0
    return k + (e - before) / h[k]


def renew_probability(b: TenantBehaviour, gap: float) -> float:
    below = b.renewal_probability_below
    if below is not None and gap > b.price_gap_threshold:
        return below
    return b.renewal_probability


# -- a lease's plan --------------------------------------------------------------------------
@dataclass(frozen=True)
class TenantPlan:
    """What a lease's tenant will do: renewals taken, and hours after the lease start at which it
    gives notice (None: it never does)."""

    renewals: int
    notice_after_h: float | None


def deal_index(
    lease: Lease, gpu_of_pool: Mapping[str, str], curves: Mapping[str, MarketCurve]
) -> Callable[[dt.date], float]:
    """The market price for the deal on a day relative to its start, weighted by the GPUs of its
    tranches (each tranche priced at its first pool's GPU type)."""
    parts = []
    for i, tr in enumerate(lease.tranches):
        gpu = gpu_of_pool[tr.pools[0]]
        curve = market.curve_for(curves, gpu, f"leases.{lease.name}.tranches[{i}]")
        parts.append((float(tr.gpus or tr.mw or 1.0), curve))
    total = sum(w for w, _ in parts)

    def index(day: dt.date) -> float:
        return sum(w * market.relative(c, lease.start, day) for w, c in parts) / total

    return index


def plan(
    lease: Lease,
    gpu_of_pool: Mapping[str, str],
    curves: Mapping[str, MarketCurve],
    rng: np.random.Generator,
) -> TenantPlan:
    """Draw a lease's renewals (one uniform per option, stopping at the first refusal), then its
    notice time over the life that results (one exponential)."""
    b = lease.behaviour
    if b is None:
        return TenantPlan(lease.renewals, None)
    index = deal_index(lease, gpu_of_pool, curves)
    taken = 0
    for k in range(lease.renewals):
        day = lease.end + dt.timedelta(days=k * lease.renewal_days)
        if rng.random() >= renew_probability(b, price_gap(index(day))):
            break
        taken += 1
    end = lease.end + dt.timedelta(days=taken * lease.renewal_days)
    months = math.ceil((end - lease.start).days / DAYS_PER_MONTH)
    mid = [lease.start + dt.timedelta(days=(k + 0.5) * DAYS_PER_MONTH) for k in range(months)]
    hazards = [hazard_per_month(b, price_gap(index(d))) for d in mid]
    month = sample_notice_month(rng, hazards)
    return TenantPlan(taken, None if month is None else month * HOURS_PER_MONTH)


# -- new tenants -----------------------------------------------------------------------------
def arrivals(
    spec: LeaseArrivals,
    gpu_of_pool: Mapping[str, str],
    curves: Mapping[str, MarketCurve],
    rng: np.random.Generator,
    end: dt.date,
) -> list[Lease]:
    """The lease requests of a Poisson stream of new tenants from `spec.start` to its end (or
    `end`), each with a drawn size, term and price relative to the market on its arrival day."""
    from sim.rng import draw

    stop = min(spec.end or end, end)
    curve = market.curve_for(curves, gpu_of_pool[spec.pools[0]], f"lease_arrivals.{spec.name}")
    out: list[Lease] = []
    if spec.arrivals_per_year <= 0:
        return out
    t_days = 0.0
    while True:
        t_days += rng.exponential(365.0 / spec.arrivals_per_year)
        day = spec.start + dt.timedelta(days=int(t_days))
        if day >= stop:
            return out
        gpus = max(1, round(draw(rng, spec.gpus)))
        term = max(1, round(draw(rng, spec.term_days)))
        price = market.price_usd_per_gpu_hour(curve, day) * draw(rng, spec.price_to_market)
        name = f"{spec.name}-{len(out)}"
        out.append(
            Lease(
                name=name,
                tenant=name,
                start=day,
                end=day + dt.timedelta(days=term),
                price_usd_per_gpu_hour=price,
                min_term_days=spec.min_term_days,
                notice_days=spec.notice_days,
                lessor_may_reclaim=spec.lessor_may_reclaim,
                priority=spec.priority,
                tranches=[Tranche(pools=list(spec.pools), gpus=gpus)],
                behaviour=spec.behaviour,
            )
        )


# -- the scenario's notice terms ---------------------------------------------------------------
def _scaled(b: TenantBehaviour | None, scale: float) -> TenantBehaviour | None:
    if b is None or scale == 1.0:
        return b
    return b.model_copy(
        update={
            "hazard_per_month": min(1.0, b.hazard_per_month * scale),
            "hazard_rise_per_month": min(1.0, b.hazard_rise_per_month * scale),
        }
    )


def _lease_terms(lease: Lease, risk: ContractRisk) -> Lease:
    tenant_may = risk.notice in ("mutual", "tenant-only")
    lessor_may = risk.notice in ("mutual", "lessor-only")
    b = lease.behaviour if risk.enabled else None
    update: dict = {"behaviour": _scaled(b, risk.hazard_scale if tenant_may else 0.0)}
    if not tenant_may:
        update["tenant_notice"] = None
    if not lessor_may:
        update["lessor_may_reclaim"] = False
        update["lessor_notice"] = None
    return lease.model_copy(update=update)


def apply_terms(workloads: Sequence[WorkloadFile], risk: ContractRisk) -> tuple[WorkloadFile, ...]:
    """The workloads under the scenario's contract-risk switches: hazards scaled (or silenced
    when tenants may not give notice), lessor notices forbidden when the lessor may not, and
    arrivals dropped when contract risk is off. The defaults leave every workload as it is."""
    if risk == ContractRisk():
        return tuple(workloads)
    out = []
    for w in workloads:
        leases = [_lease_terms(x, risk) for x in w.leases]
        arrivals_ = [
            a.model_copy(
                update={
                    "lessor_may_reclaim": a.lessor_may_reclaim
                    and risk.notice in ("mutual", "lessor-only"),
                    "behaviour": _scaled(
                        a.behaviour,
                        risk.hazard_scale if risk.notice in ("mutual", "tenant-only") else 0.0,
                    ),
                }
            )
            for a in (w.lease_arrivals if risk.enabled else [])
        ]
        out.append(w.model_copy(update={"leases": leases, "lease_arrivals": arrivals_}))
    return tuple(out)
