"""Money as pure functions: lease and token revenue, power cost, contract dates (capex and
depreciation from the timeline: sim/finance/capex.py).

Conventions: a year is 365 days (so a price per year accrues exactly over 365 days and a price
per month is x12 per year); amounts are USD, revenue positive and costs negative in the ledger.
"""

from __future__ import annotations

import math

HOURS_PER_YEAR = 365 * 24.0

# assumed all-in IT capex per GPU (server share, networking, racks), USD. Calibrated so that the
# campus at ~1 GW lands near FACTS.md's "xAI cumulative AI capex 2023-Q1 2026 ~$26.5-30B for
# ~1 GW (~0.3 GW H100/H200 + ~0.7 GW GB200/GB300)": 150k H100 + 50k H200 + 20k GB200 ~$10.4B,
# ~350k GB200/GB300 ~$21B. A scenario overrides these per GPU type.
CAPEX_USD_PER_GPU = {
    "A100-80GB": 25_000.0,
    "H100": 45_000.0,
    "H200": 48_000.0,
    "GB200": 60_000.0,
    "GB300": 65_000.0,
}


def lease_usd_per_hour(
    gpus: int,
    price_usd_per_month: float | None = None,
    price_usd_per_year: float | None = None,
    price_usd_per_gpu_hour: float | None = None,
) -> float:
    """Revenue per hour of a lease holding `gpus` at exactly one of the three price forms."""
    given = [
        p
        for p in (price_usd_per_month, price_usd_per_year, price_usd_per_gpu_hour)
        if p is not None
    ]
    if len(given) != 1:
        raise ValueError("give exactly one price")
    if price_usd_per_month is not None:
        return price_usd_per_month * 12.0 / HOURS_PER_YEAR
    if price_usd_per_year is not None:
        return price_usd_per_year / HOURS_PER_YEAR
    return price_usd_per_gpu_hour * gpus


def power_cost_usd(
    busy_gpu_hours: float,
    idle_gpu_hours: float,
    it_w_per_gpu: float,
    pue: float,
    usd_per_mwh: float,
    idle_power_fraction: float,
) -> float:
    """Electricity of GPUs at full draw when owned and at a fraction of it when idle, with the
    facility overhead (PUE). Failed GPUs are taken to draw nothing."""
    it_mwh = (busy_gpu_hours + idle_gpu_hours * idle_power_fraction) * it_w_per_gpu / 1e6
    return it_mwh * pue * usd_per_mwh


def token_revenue_usd(tokens: float, usd_per_million_tokens: float) -> float:
    return tokens * usd_per_million_tokens / 1e6


def serving_revenue_usd(
    output_tokens: float,
    input_tokens: float,
    usd_per_million_output: float,
    usd_per_million_input: float,
    usd_per_million_cached_input: float = 0.0,
    cached_input_fraction: float = 0.0,
) -> tuple[float, float]:
    """(input, output) token revenue: prompt tokens split into fresh and cached at their own
    prices, generated tokens at the output price."""
    fresh = input_tokens * (1.0 - cached_input_fraction)
    cached = input_tokens * cached_input_fraction
    inp = token_revenue_usd(fresh, usd_per_million_input) + token_revenue_usd(
        cached, usd_per_million_cached_input
    )
    return inp, token_revenue_usd(output_tokens, usd_per_million_output)


def usd_per_million_tokens(gpu_s_per_token: float, usd_per_gpu_hour: float) -> float:
    """What a million tokens cost when each takes `gpu_s_per_token` GPU-seconds."""
    return gpu_s_per_token * usd_per_gpu_hour / 3600.0 * 1e6


def termination_h(
    notice_h: float, notice_days: float, min_term_end_h: float, end_h: float
) -> float:
    """When a lease given notice at `notice_h` ends: after the notice period, never before its
    minimum term, never after its contracted end."""
    return min(end_h, max(notice_h + notice_days * 24.0, min_term_end_h))


def usd_per_gw_year(revenue_usd: float, hours: float, facility_mw: float) -> float:
    """Revenue annualised (365-day year) per GW of facility power; nan without power or time."""
    if hours <= 0 or facility_mw <= 0:
        return math.nan
    return revenue_usd * HOURS_PER_YEAR / hours / (facility_mw / 1000.0)
