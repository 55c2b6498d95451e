"""Capex and depreciation from the capacity timeline, day by day (pure; numpy arrays).

A phase that comes online on day D books its GPUs (GPUs x capex per GPU of their type) as capex
spread evenly over the `gpu_lead_days` before D, and its facility (IT MW x PUE x construction
per facility MW) over the `construction_lead_days` before D. Depreciation is straight line from
D: GPUs over `depreciation_years`, the facility over `facility_life_years` (365-day years; the
last day of a life takes the fractional remainder, so a life's depreciation sums to its capex).
Facility opex (maintenance, site staff) accrues per facility MW-year from D.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Build:
    """One phase as money sees it: where, how many GPUs, their price and power, when online."""

    name: str
    pool: int  # column of the output arrays
    gpus: int
    capex_usd_per_gpu: float
    facility_mw: float  # IT MW x PUE
    online: dt.date

    @property
    def gpu_capex_usd(self) -> float:
        return self.gpus * self.capex_usd_per_gpu


@dataclass(frozen=True)
class CapexTerms:
    gpu_lead_days: float
    construction_lead_days: float
    construction_usd_per_mw: float
    depreciation_years: float
    facility_life_years: float
    facility_opex_usd_per_mw_year: float


def builds(topo, capex_usd_per_gpu: Mapping[str, float]) -> list[Build]:
    """The builds of a topology's phases (GPUs as rounded to whole NVLink domains)."""
    out = []
    for ph in topo.phases:
        p = topo.pool(ph.pool)
        out.append(
            Build(
                ph.name,
                p.index,
                ph.gpus,
                float(capex_usd_per_gpu[p.gpu.name]),
                ph.gpus * p.it_w_per_gpu * p.pue / 1e6,
                ph.online,
            )
        )
    return out


def _spread_before(out: np.ndarray, col: int, day: int, lead: float, usd: float) -> None:
    """Add `usd` evenly over the `lead` days before `day` (whole days; lead 0 books it on `day`);
    days outside the array are dropped (they fall before or after the horizon)."""
    n = max(1, math.ceil(lead)) if lead > 0 else 0
    if n == 0:
        if 0 <= day < out.shape[0]:
            out[day, col] += usd
        return
    lo, hi = max(0, day - n), min(out.shape[0], day)
    if hi > lo:
        out[lo:hi, col] += usd / n


def _straight_line(out: np.ndarray, col: int, day: int, life_days: float, usd: float) -> None:
    """Straight-line depreciation of `usd` from `day` over `life_days` (the last, fractional day
    takes the remainder)."""
    if life_days <= 0 or usd == 0:
        return
    per_day = usd / life_days
    full = math.floor(life_days)
    lo, hi = max(0, day), min(out.shape[0], day + full)
    if hi > lo:
        out[lo:hi, col] += per_day
    last = day + full
    if life_days > full and 0 <= last < out.shape[0]:
        out[last, col] += per_day * (life_days - full)


def schedule(
    items: Iterable[Build], terms: CapexTerms, start: dt.date, days: int, pools: int
) -> dict[str, np.ndarray]:
    """Per day (from `start`) and pool: capex of GPUs and facility, depreciation of each, and
    facility opex, in USD (positive amounts)."""
    out = {
        k: np.zeros((days, pools))
        for k in (
            "capex_gpus",
            "capex_facility",
            "depreciation_gpus",
            "depreciation_facility",
            "facility_opex",
        )
    }
    for b in items:
        d = (b.online - start).days
        facility_usd = b.facility_mw * terms.construction_usd_per_mw
        _spread_before(out["capex_gpus"], b.pool, d, terms.gpu_lead_days, b.gpu_capex_usd)
        _spread_before(out["capex_facility"], b.pool, d, terms.construction_lead_days, facility_usd)
        _straight_line(
            out["depreciation_gpus"],
            b.pool,
            d,
            terms.depreciation_years * DAYS_PER_YEAR,
            b.gpu_capex_usd,
        )
        _straight_line(
            out["depreciation_facility"],
            b.pool,
            d,
            terms.facility_life_years * DAYS_PER_YEAR,
            facility_usd,
        )
        lo = max(0, d)
        if lo < days:
            out["facility_opex"][lo:, b.pool] += (
                b.facility_mw * terms.facility_opex_usd_per_mw_year / DAYS_PER_YEAR
            )
    return out
