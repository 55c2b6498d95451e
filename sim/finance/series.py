"""Given series booked by day: each point's amount spread evenly over the days of its period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np

from sim.finance.chart import ACCOUNTS
from sim.spec.money import Series, period_span


def ledger_sign(account: str) -> float:
    """Revenue books positive, costs and capex negative (the ledger's convention)."""
    return 1.0 if ACCOUNTS[account].line == "revenue" else -1.0


def daily(series: Iterable[Series], start: dt.date, days: int) -> dict[str, np.ndarray]:
    """Signed USD per day from `start`, by account; days outside [start, start + days) are
    dropped (the part of a point before or after the horizon)."""
    out: dict[str, np.ndarray] = {}
    for s in series:
        acc = out.setdefault(s.account, np.zeros(days))
        sign = ledger_sign(s.account)
        for p in s.points:
            lo, hi = period_span(p.period)
            n = (hi - lo).days
            a, b = max(0, (lo - start).days), min(days, (hi - start).days)
            if b > a:
                acc[a:b] += sign * p.usd / n
    return out
