"""The day's money that follows from the timeline and the given series, by account of the chart:
capacity costs (power, facility opex, depreciation) split by the capacity's use, capex ahead of
each phase, and given series. Precomputed once per run; the ledger asks for one day at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np

from sim import economics
from sim.finance import capex, series
from sim.finance.chart import account_for, delivery_share
from sim.spec.money import Series

SEGMENT = ""  # site and pool of amounts that belong to the segment, not to a site


def capex_prices(topo, overrides: Mapping[str, float]) -> dict[str, float]:
    """Capex per GPU for every GPU type of the topology: the scenario's, else the defaults."""
    out = {}
    for p in topo.pools:
        name = p.gpu.name
        out[name] = float(overrides.get(name, economics.CAPEX_USD_PER_GPU.get(name, 0.0)))
    return out


def terms(prices) -> capex.CapexTerms:
    """The capex terms of a scenario's `[prices]`."""
    return capex.CapexTerms(
        gpu_lead_days=float(prices.gpu_lead_days),
        construction_lead_days=float(prices.construction_lead_days),
        construction_usd_per_mw=prices.construction_usd_per_mw,
        depreciation_years=prices.depreciation_years,
        facility_life_years=prices.facility_life_years,
        facility_opex_usd_per_mw_year=float(prices.facility_opex_usd_per_mw_year),
    )


class DayBook:
    """Per-day amounts of a run from `start` over `days` days."""

    def __init__(self, topo, prices, start: dt.date, days: int, given: Iterable[Series] = ()):
        self.topo, self.prices = topo, prices
        self.days = days
        items = capex.builds(topo, capex_prices(topo, prices.capex_usd_per_gpu))
        self.sched = capex.schedule(items, terms(prices), start, days, len(topo.pools))
        self.depreciation = self.sched["depreciation_gpus"] + self.sched["depreciation_facility"]
        self._given_each = {
            (s.name, s.account): series.daily([s], start, days)[s.account] for s in given
        }

    def capacity_costs(
        self, day: int, pool: int, hours: np.ndarray
    ) -> list[tuple[str, str, float]]:
        """(counterparty, account, signed USD) of one pool's day from its GPU-hours by state
        (lease, training, serving, idle, down, ...): power of busy hours by their use (idle draw
        with training, in R&D), facility opex and depreciation split by the day's delivery
        share."""
        p = self.topo.pools[pool]
        pr = self.prices
        lease, training, serving, idle, down = (float(x) for x in hours[:5])
        share = delivery_share(lease, training, serving, idle, down)

        def power(busy: float, idle_h: float) -> float:
            return economics.power_cost_usd(
                busy, idle_h, p.it_w_per_gpu, p.pue, pr.power_usd_per_mwh, pr.idle_power_fraction
            )

        out = []
        if day >= self.days:
            return out
        delivery_power = power(lease + serving, 0.0)
        research_power = power(training, idle)
        dep = float(self.depreciation[day, pool])
        opex = float(self.sched["facility_opex"][day, pool])
        for kind, counterparty, d_usd, r_usd in (
            ("power", "utility", delivery_power, research_power),
            ("facility_opex", "site", opex * share, opex * (1.0 - share)),
            ("depreciation", "capex", dep * share, dep * (1.0 - share)),
        ):
            if d_usd:
                out.append((counterparty, account_for(kind, "delivery"), -d_usd))
            if r_usd:
                out.append((counterparty, account_for(kind, "research"), -r_usd))
        return out

    def scheduled(self, day: int) -> list[tuple[str, str, str, str, float]]:
        """(site, pool, counterparty, account, signed USD) booked on a day whatever happens in
        the run: capex ahead of each phase (cash out), and the given series."""
        out = []
        if not 0 <= day < self.days:
            return out
        for i, p in enumerate(self.topo.pools):
            for account in ("capex_gpus", "capex_facility"):
                usd = float(self.sched[account][day, i])
                if usd:
                    out.append((p.site.name, p.name, "capex", account, -usd))
        for (name, account), arr in self._given_each.items():
            usd = float(arr[day])
            if usd:
                out.append((SEGMENT, SEGMENT, name, account, usd))
        return out
