"""Lease pricing as a contract reads: one pure place the lease lifecycle calls.

- A contract price (per month or per year) is split over the contract's tranches by the value
  of their GPUs: the contract's price per GPU-hour by type where it names one
  (`price_usd_per_gpu_hour_by_type`), else the GPUs' capex per GPU by type (the documented
  rule: a tranche of newer, dearer GPUs carries more of the price). The split conserves the
  contract price exactly.
- A price per GPU-hour (flat, or by type) applies to each tranche's contracted GPUs.
- Billing starts at delivery (when the tranche is first held); for the first `ramp_days` after
  delivery the tenant pays `ramp_fee_fraction` of the fee.
- With an SLA (`sla_availability`), GPU-hours short beyond the allowed (1 - SLA) share of the
  contracted GPU-hours are credited at the tranche's price per contracted GPU-hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sim import economics


def tranche_value_per_gpu(
    pool_gpus: Mapping[str, int], value_by_type: Mapping[str, float]
) -> float:
    """Value per GPU of a tranche that may draw from several pools: the pools' GPU types'
    values weighted by the pools' GPU counts (`pool_gpus`: GPU type per pool -> GPUs)."""
    total = sum(pool_gpus.values())
    if total <= 0:
        raise ValueError("a tranche needs pools with GPUs to be valued")
    return sum(value_by_type[t] * n for t, n in pool_gpus.items()) / total


def split_price(total_usd_per_hour: float, weights: Sequence[float]) -> list[float]:
    """Split a contract's price per hour over tranches in proportion to `weights`; the parts
    add up to the total (the last part takes the rounding remainder)."""
    w = sum(weights)
    if w <= 0:
        raise ValueError("weights must add up to more than 0")
    parts = [total_usd_per_hour * x / w for x in weights[:-1]]
    return [*parts, total_usd_per_hour - sum(parts)]


def tranche_prices_usd_per_hour(
    gpus: Sequence[int],
    value_per_gpu: Sequence[float],
    price_usd_per_month: float | None = None,
    price_usd_per_year: float | None = None,
    price_usd_per_gpu_hour: float | None = None,
    price_per_gpu_hour_of_tranche: Sequence[float] | None = None,
) -> list[float]:
    """Revenue per hour of each tranche of one contract while held.

    `value_per_gpu[i]` weighs tranche i's GPUs in a contract-price split; with the contract's
    price per GPU-hour by type, pass it there and in `price_per_gpu_hour_of_tranche` (which,
    without a contract price, is the tranche's price per GPU-hour)."""
    if price_usd_per_month is not None or price_usd_per_year is not None:
        total = economics.lease_usd_per_hour(0, price_usd_per_month, price_usd_per_year)
        return split_price(total, [g * v for g, v in zip(gpus, value_per_gpu, strict=True)])
    if price_per_gpu_hour_of_tranche is not None:
        return [g * p for g, p in zip(gpus, price_per_gpu_hour_of_tranche, strict=True)]
    if price_usd_per_gpu_hour is None:
        raise ValueError("give a contract price or a price per GPU-hour")
    return [g * price_usd_per_gpu_hour for g in gpus]


def billed_usd(
    usd_per_hour: float,
    delivered_h: float,
    from_h: float,
    to_h: float,
    ramp_days: float = 0.0,
    ramp_fee_fraction: float = 1.0,
) -> float:
    """The fee for [from_h, to_h) of a tranche delivered at `delivered_h`: nothing before
    delivery, `ramp_fee_fraction` of the price during the ramp, the full price after."""
    a, b = max(from_h, delivered_h), to_h
    if b <= a:
        return 0.0
    ramp_end = delivered_h + ramp_days * 24.0
    in_ramp = max(0.0, min(b, ramp_end) - a)
    return usd_per_hour * ((b - a) - in_ramp * (1.0 - ramp_fee_fraction))


def sla_credit_usd(
    usd_per_hour: float,
    contracted_gpus: int,
    hours: float,
    short_gpu_hours: float,
    sla_availability: float | None,
) -> float:
    """Credit owed for a period of `hours`: the GPU-hours short beyond the SLA's allowance,
    at the price per contracted GPU-hour; 0 without an SLA."""
    if sla_availability is None or contracted_gpus <= 0 or hours <= 0:
        return 0.0
    contracted = contracted_gpus * hours
    beyond = short_gpu_hours - (1.0 - sla_availability) * contracted
    return max(0.0, beyond) * usd_per_hour / contracted_gpus
