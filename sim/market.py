"""Market rental prices per GPU-hour over time: a pure function of a GPU type's curve and a date.

The curves (`sim/data/market.toml`, each figure sourced or tagged assumed) decline steadily and
step down when a newer generation ships. Tenants compare them with their contract price
(`sim.tenants`), new tenants are priced against them, and idle or reclaimed capacity is valued
at them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from sim.errors import InputError
from sim.spec.base import read_toml, validate
from sim.spec.risk import MarketCurve

CURVES_PATH = Path(__file__).parent / "data" / "market.toml"
DAYS_PER_YEAR = 365.0


@lru_cache(maxsize=4)
def default_curves(path: Path = CURVES_PATH) -> dict[str, MarketCurve]:
    """The default curve of every GPU type (validated; a bad file is an InputError)."""
    return {gpu: validate(MarketCurve, v, file=path) for gpu, v in read_toml(path).items()}


def curves(overrides: Mapping[str, MarketCurve] | None = None) -> dict[str, MarketCurve]:
    """Default curves with a scenario's overrides by GPU type."""
    return {**default_curves(), **dict(overrides or {})}


def price_usd_per_gpu_hour(curve: MarketCurve, day: dt.date) -> float:
    """The curve's price on `day` (before its anchor the decline runs backwards)."""
    years = (day - curve.anchor).days / DAYS_PER_YEAR
    shipped = sum(curve.anchor < g <= day for g in curve.next_generation) - sum(
        day < g <= curve.anchor for g in curve.next_generation
    )
    return (
        curve.usd_per_gpu_hour
        * (1.0 - curve.decline_per_year) ** years
        * (1.0 - curve.step_down) ** shipped
    )


def relative(curve: MarketCurve, since: dt.date, day: dt.date) -> float:
    """Price on `day` over price on `since` (1.0 = unchanged, 0.8 = fell by a fifth)."""
    base = price_usd_per_gpu_hour(curve, since)
    return price_usd_per_gpu_hour(curve, day) / base if base > 0 else 1.0


def curve_for(table: Mapping[str, MarketCurve], gpu: str, where: str = "") -> MarketCurve:
    """The curve of GPU type `gpu`, or an InputError naming where it was needed."""
    if gpu not in table:
        raise InputError.single(
            where or "contract_risk.market",
            f"no market price curve for GPU type {gpu!r}; known: {sorted(table)}",
            gpu,
        )
    return table[gpu]
