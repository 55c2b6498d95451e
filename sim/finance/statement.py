"""The income statement and cash flow of a ledger over a period (pure, on a pandas table).

Every ledger account maps to one line through the chart (sim/finance/chart.py); an account the
chart does not know is an error. Lines are shown with costs positive:
    operating result     = revenue - cost of revenue - R&D - SG&A
    D&A (memo)           = the depreciation inside cost of revenue and R&D
    operating cash flow  = operating result + D&A
    free cash flow       = operating cash flow - capex
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from sim.finance.chart import ACCOUNTS, LINES, line_of
from sim.spec.money import LINE_KEYS, period_span

GRAINS = {"year": "Y", "quarter": "Q", "month": "M"}


def periods(grain_or_period: str, start: dt.date, end: dt.date) -> list[str]:
    """A single period ('2025', '2026Q1', '2026-03') or every period of a grain ('year',
    'quarter', 'month') that overlaps [start, end)."""
    if grain_or_period not in GRAINS:
        period_span(grain_or_period)  # raises ValueError on a bad period
        return [grain_or_period]
    out = []
    for p in pd.period_range(start, end - dt.timedelta(days=1), freq=GRAINS[grain_or_period]):
        s = str(p)
        out.append(s)
    return out


def by_account(ledger: pd.DataFrame, period: str) -> dict[str, float]:
    """Signed ledger totals by account over a period (the ledger's own signs)."""
    lo, hi = period_span(period)
    d = ledger.date
    lo_ts, hi_ts = pd.Timestamp(lo, tz=d.dt.tz), pd.Timestamp(hi, tz=d.dt.tz)
    rows = ledger[(d >= lo_ts) & (d < hi_ts)]
    sums = rows.groupby(rows.account.astype(str)).amount_usd.sum()
    for acc in sums.index:
        line_of(acc)  # an account outside the chart fails loudly
    return {k: float(v) for k, v in sums.items()}


def lines(accounts: Mapping[str, float]) -> dict[str, float]:
    """The statement's lines (costs positive) from signed totals by account."""
    total = dict.fromkeys(LINES, 0.0)
    dep = 0.0
    for acc, usd in accounts.items():
        a = ACCOUNTS[acc]
        total[a.line] += usd
        if a.depreciation:
            dep -= usd
    out = {
        "revenue_usd": total["revenue"],
        "cost_of_revenue_usd": -total["cost_of_revenue"],
        "rnd_usd": -total["rnd"],
        "sga_usd": -total["sga"],
        "d_and_a_usd": dep,
    }
    out["operating_result_usd"] = (
        out["revenue_usd"] - out["cost_of_revenue_usd"] - out["rnd_usd"] - out["sga_usd"]
    )
    out["operating_cash_flow_usd"] = out["operating_result_usd"] + dep
    out["capex_usd"] = -total["capex"]
    out["free_cash_flow_usd"] = out["operating_cash_flow_usd"] - out["capex_usd"]
    assert tuple(out) == LINE_KEYS
    return out


def detail(accounts: Mapping[str, float]) -> list[dict]:
    """One row per account in chart order: line, stream, modelled/given, amount (costs
    positive)."""
    rows = []
    for name, a in ACCOUNTS.items():
        if name not in accounts:
            continue
        usd = accounts[name]
        rows.append(
            {
                "account": name,
                "line": a.line,
                "stream": a.stream,
                "kind": "given" if a.given else "modelled",
                "usd": usd if a.line == "revenue" else -usd,
            }
        )
    return rows


def line_kinds(accounts: Iterable[str]) -> dict[str, str]:
    """Per statement line: 'modelled', 'given' or 'mixed', from the accounts booked in it."""
    seen: dict[str, set[str]] = {}
    for acc in accounts:
        a = ACCOUNTS[acc]
        seen.setdefault(a.line, set()).add("given" if a.given else "modelled")
    return {k: (v.pop() if len(v) == 1 else "mixed") for k, v in seen.items()}


def coverage(period: str, start: dt.date, end: dt.date) -> float:
    """Share of a period's days that the run's horizon covers."""
    lo, hi = period_span(period)
    inside = (min(hi, end) - max(lo, start)).days
    return max(0, inside) / (hi - lo).days


def percentiles(runs: list[dict[str, float]], qs=(10, 50, 90)) -> dict[str, dict[str, float]]:
    """P10/P50/P90 of each line over runs (a sweep's points and seeds)."""
    out = {}
    for key in LINE_KEYS:
        v = np.array([r[key] for r in runs])
        out[key] = {f"p{q}": float(np.percentile(v, q)) for q in qs}
    return out
