"""Models of contract risk: how tenants behave, what the market pays, which notice terms apply.

A lease's `behaviour` table (in a workload file) gives its tenant a monthly hazard of giving
notice and a probability of renewing; a workload's `lease_arrivals` (sim/spec/workload.py)
bring new tenants; the
scenario's `[contract_risk]` table picks the notice terms (a what-if for `sim value-of-notice`),
scales every hazard and overrides the market price curves (defaults in `sim/market.py`).
Numbers may carry the `{ value, assumed = [low, high], why }` tag (`sim.assumptions`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from sim.assumptions import Assumed
from sim.spec.base import Strict

NoticeTerms = Literal["mutual", "lessor-only", "tenant-only", "none"]


def within(lo: float, hi: float):
    def check(v):
        if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError(f"must be a number between {lo} and {hi}")
        return float(v)

    return AfterValidator(check)


Probability = Annotated[Assumed, within(0.0, 1.0)]
Rate = Annotated[Assumed, within(0.0, 1.0)]  # per month, at most 1 (one notice a month)


class TenantBehaviour(Strict):
    """A tenant's propensity to leave and to renew.

    Monthly hazard of notice h(t) = hazard_per_month + hazard_rise_per_month x
    max(0, gap(t) - price_gap_threshold) / (1 - price_gap_threshold), where gap(t) is how far the
    market price for the deal has fallen below the contract price (`sim.tenants.price_gap`).
    At each renewal option the tenant renews with `renewal_probability`, or with
    `renewal_probability_below` when the gap is past the threshold.
    """

    hazard_per_month: Rate = 0.0
    hazard_rise_per_month: Rate = 0.0
    price_gap_threshold: Annotated[Assumed, within(0.0, 0.99)] = 0.25
    renewal_probability: Probability = 1.0
    renewal_probability_below: Probability | None = None  # default: renewal_probability


class MarketCurve(Strict):
    """Rental price of one GPU type over time: an anchor price on a date, a steady annual
    decline, and a step down on each date a newer generation ships."""

    anchor: dt.date
    usd_per_gpu_hour: Annotated[Assumed, within(0.0, 1e3)]
    decline_per_year: Annotated[Assumed, within(0.0, 0.95)] = 0.0
    next_generation: list[dt.date] = []
    step_down: Annotated[Assumed, within(0.0, 0.95)] = 0.0


class ContractRisk(Strict):
    """The scenario's contract-risk switches (`[contract_risk]`)."""

    # Turns tenant behaviour and new-tenant arrivals off altogether when false.
    enabled: bool = True
    # Which side may give notice: "mutual" keeps each lease's own terms; "lessor-only" silences
    # tenants' hazards; "tenant-only" forbids lessor notices; "none" forbids both (and drops
    # notice dates written into leases).
    notice: NoticeTerms = "mutual"
    # Multiplies every tenant hazard (a sensitivity knob; 0 = tenants never leave).
    hazard_scale: float = Field(default=1.0, ge=0, le=100)
    # Price curves by GPU type, replacing the defaults of sim/market.py for that type.
    market: dict[str, MarketCurve] = {}
