"""Money by day, site, pool, counterparty and account: pure, no SimPy.

Revenue is positive, costs negative. The engine books amounts as they arise (`book`, or
`book_split` to share one amount over pools by GPUs) and closes each day with `book_costs`
(power and depreciation from the day's exact GPU-hours) and `close`, which hands back the
day's rows in a fixed order. A new account is just a new `account` string booked here; the
`ledger` table and every summary group by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sim import economics
from sim.spec.scenario import Prices
from sim.topology import Topology


@dataclass(frozen=True)
class Line:
    """One ledger row: the day's total of one (site, pool, counterparty, account)."""

    day: int
    site: str
    pool: str
    counterparty: str
    account: str
    usd: float


class Ledger:
    """Amounts booked per day, summed per (site, pool, counterparty, account)."""

    def __init__(self, topo: Topology, prices: Prices) -> None:
        self.topo, self.prices = topo, prices
        self._open: dict[int, dict[tuple[str, str, str, str], float]] = {}

    def book(
        self, day: int, site: str, pool: str, counterparty: str, account: str, usd: float
    ) -> None:
        """Add an amount to a day's ledger (revenue positive, costs negative)."""
        lines = self._open.setdefault(day, {})
        key = (site, pool, counterparty, account)
        lines[key] = lines.get(key, 0.0) + usd

    def book_split(
        self, day: int, by_pool: Mapping[str, int], counterparty: str, account: str, usd: float
    ) -> None:
        """Book `usd` over pools in proportion to the GPUs held in each (`by_pool`)."""
        total = sum(by_pool.values())
        for pool, gpus in by_pool.items():
            site = self.topo.pool(pool).site.name
            self.book(day, site, pool, counterparty, account, usd * gpus / total)

    def site_of(self, pool: str) -> str:
        return self.topo.pool(pool).site.name

    def capex_usd_per_gpu(self, gpu: str) -> float:
        return self.prices.capex_usd_per_gpu.get(gpu, economics.CAPEX_USD_PER_GPU.get(gpu, 0.0))

    def book_costs(self, day: int, gpu_hours: np.ndarray) -> None:
        """Power and depreciation of each pool from its GPU-hours by state (rows of the
        accounting's (pool, state) array) for the day."""
        pr = self.prices
        for i, p in enumerate(self.topo.pools):
            lease, training, serving, idle, _down, _off = gpu_hours[i]
            online = gpu_hours[i][:5].sum()
            if online <= 0:
                continue
            cost = economics.power_cost_usd(
                lease + training + serving,
                idle,
                p.it_w_per_gpu,
                p.pue,
                pr.power_usd_per_mwh,
                pr.idle_power_fraction,
            )
            self.book(day, p.site.name, p.name, "utility", "power_cost", -cost)
            dep = economics.depreciation_usd(
                online,
                self.capex_usd_per_gpu(p.gpu.name),
                pr.depreciation_years,
                p.it_w_per_gpu,
                p.pue,
                pr.construction_usd_per_mw,
                pr.facility_life_years,
            )
            self.book(day, p.site.name, p.name, "capex", "depreciation", -dep)

    def close(self, day: int) -> list[Line]:
        """The day's lines, sorted by (site, pool, counterparty, account); the day is closed."""
        lines = self._open.pop(day, {})
        return [Line(day, *key, usd) for key, usd in sorted(lines.items())]
