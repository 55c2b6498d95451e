"""Money by day, site, pool, counterparty and account: pure, no SimPy.

Revenue is positive, costs negative. The engine books amounts as they arise (`book`, or
`book_split` to share one amount over pools by GPUs) and closes each day with `book_costs`
(power, facility opex and depreciation from the day's exact GPU-hours, by the capacity's use;
capex ahead of each phase; the given series: `sim.finance.daybook`) and `close`, which hands
back the day's rows in a fixed order. Every account is one of the chart's
(`sim/finance/chart.py`), which maps it to a statement line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from sim.finance.daybook import DayBook
from sim.spec.money import Series
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

    def __init__(
        self,
        topo: Topology,
        prices: Prices,
        start: dt.date,
        days: int,
        given: Iterable[Series] = (),
    ) -> None:
        self.topo, self.prices = topo, prices
        self._open: dict[int, dict[tuple[str, str, str, str], float]] = {}
        self.daybook = DayBook(topo, prices, start, days, given)

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

    def book_costs(self, day: int, gpu_hours: np.ndarray) -> None:
        """The day's capacity costs of each pool from its GPU-hours by state (rows of the
        accounting's (pool, state) array), split by use; then the day's capex and given
        series."""
        for i, p in enumerate(self.topo.pools):
            for counterparty, account, usd in self.daybook.capacity_costs(day, i, gpu_hours[i]):
                self.book(day, p.site.name, p.name, counterparty, account, usd)
        for site, pool, counterparty, account, usd in self.daybook.scheduled(day):
            self.book(day, site, pool, counterparty, account, usd)

    def close(self, day: int) -> list[Line]:
        """The day's lines, sorted by (site, pool, counterparty, account); the day is closed."""
        lines = self._open.pop(day, {})
        return [Line(day, *key, usd) for key, usd in sorted(lines.items())]
