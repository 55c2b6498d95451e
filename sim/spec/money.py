"""Input models for the money the simulation does not produce: given series (a workload's
`[[series]]`) and the figures a scenario holds its statement against (`[reported]`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from sim.assumptions import Assumed
from sim.spec.base import Strict

# The statement's line keys (`sim statement --json`), costs positive; the `[reported]` table
# and the statement both use exactly these names.
LINE_KEYS = (
    "revenue_usd",
    "cost_of_revenue_usd",
    "rnd_usd",
    "sga_usd",
    "d_and_a_usd",
    "operating_result_usd",
    "operating_cash_flow_usd",
    "capex_usd",
    "free_cash_flow_usd",
)

_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4])|-(\d{2}))?$")


def period_span(period: str) -> tuple[dt.date, dt.date]:
    """'2025' -> the year, '2026Q1' -> the quarter, '2026-03' -> the month: [start, end)."""
    m = _PERIOD.match(period)
    if not m:
        raise ValueError(f"a period is YYYY, YYYYQn or YYYY-MM, got {period!r}")
    year = int(m.group(1))
    if m.group(2):
        q = int(m.group(2))
        start = dt.date(year, 3 * q - 2, 1)
        end = dt.date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    elif m.group(3):
        month = int(m.group(3))
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {period!r}")
        start = dt.date(year, month, 1)
        end = dt.date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    else:
        start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    return start, end


def _tagged(v: Any) -> bool:
    return isinstance(v, dict) and ("source" in v or "assumed" in v)


class SeriesPoint(Strict):
    """An amount over a period (YYYY, YYYYQn or YYYY-MM), booked evenly over its days."""

    period: str
    usd: Assumed
    source: str = ""

    @model_validator(mode="before")
    @classmethod
    def _has_a_source(cls, data: Any):
        if not isinstance(data, dict):
            return data
        usd = data.get("usd")
        if not (data.get("source") or _tagged(usd)):
            raise ValueError(
                'a point needs its source: source = "...", or usd = { value = X, source = '
                '"..." } or { value = X, assumed = [low, high], why = "..." }'
            )
        if not data.get("source"):  # the tag's source, or its range and reason, stay with it
            if "assumed" in usd:  # a malformed range is reported by the Assumed type
                rng = usd["assumed"]
                if isinstance(rng, list) and all(isinstance(x, int | float) for x in rng):
                    rng = "[" + ", ".join(f"{x:g}" for x in rng) + "]"
                data = {**data, "source": f"assumed {rng}: {usd.get('why', '')}"}
            else:
                data = {**data, "source": str(usd["source"])}
        return data

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        period_span(v)
        return v

    @field_validator("usd")
    @classmethod
    def _number(cls, v):
        if isinstance(v, bool) or not isinstance(v, int | float) or abs(v) > 1e13:
            raise ValueError(f"expected an amount in USD (|x| <= 1e13), got {v!r}")
        return float(v)


class Series(Strict):
    """A series the simulation does not produce (X advertising, subscriptions, staff R&D, SG&A),
    booked into one given account of the chart (sim/finance/chart.py). Amounts are positive;
    a cost account books them as costs."""

    name: str = Field(min_length=1)
    account: str
    points: list[SeriesPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_overlap(self):
        spans = sorted(period_span(p.period) for p in self.points)
        for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False):
            if b_start < a_end:
                raise ValueError("points' periods overlap; give each day at most one point")
        return self


class Reported(Strict):
    """A reported figure: its value (costs positive, results signed) and where it comes from."""

    value: float
    source: str = Field(min_length=1)
    low: float | None = None
    high: float | None = None


def _check_reported(v: dict) -> dict:
    for period, lines in v.items():
        period_span(period)
        for key in lines:
            if key not in LINE_KEYS:
                raise ValueError(f"{period}.{key}: unknown line; lines are {list(LINE_KEYS)}")
    return v


# `[reported]` of a scenario: period -> line key -> reported figure.
ReportedTable = Annotated[dict[str, dict[str, Reported]], AfterValidator(_check_reported)]
