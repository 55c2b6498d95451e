"""Contract-risk KPIs of one run and their Monte Carlo spread over seeds.

Per run, from its `leases` and `pools` tables: lease revenue contracted and realised (the
difference is revenue at risk), GPU-hours the lessor took back from tenants, and the market
value of idle and reclaimed capacity. Across runs: P10/P50/P90 per policy.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim import market
from sim.spec.risk import MarketCurve

PERCENTILES = (10, 50, 90)
H = 3600.0


def contract_hours(leases: pd.DataFrame) -> pd.Series:
    """Contracted hours of each tranche within the horizon (what gpu_hours_contracted counts)."""
    gpus = leases.gpus_contracted.where(leases.gpus_contracted > 0)
    return (leases.gpu_hours_contracted / gpus).fillna(0.0)


def lease_kpis(
    leases: pd.DataFrame,
    horizon_start: dt.date | pd.Timestamp,
    offered: Iterable[str] = (),
) -> dict[str, float]:
    """Contracted and realised lease revenue, revenue at risk, and GPU-hours taken back.

    Contracted = each tranche's price per hour x its contracted hours within the horizon
    (renewals taken in, notices ignored); realised = what it earned. Tranches of `offered`
    contracts (new tenants' requests) count as contracted only once placed: a request the
    policy declined was never signed. Taken back = GPUs held x hours from the lessor's notice
    taking effect to the contracted end, within the horizon.
    """
    start = pd.Timestamp(horizon_start)
    start = start.tz_localize("UTC") if start.tz is None else start
    hours = contract_hours(leases)
    signed = ~leases.contract.astype(str).isin(set(offered)) | leases.held_from.notna()
    contracted = float((leases.usd_per_hour * hours)[signed].sum())
    realised = float(leases.revenue_usd.sum())
    t0 = ((leases.start_at - start).dt.total_seconds() / H).clip(lower=0.0)
    held_until = (leases.held_until - start).dt.total_seconds() / H
    back = (t0 + hours - held_until).clip(lower=0.0) * leases.gpus_held
    by_lessor = (leases.notice_by == "lessor") & leases.held_from.notna()
    by_tenant = (leases.notice_by == "tenant") & leases.held_from.notna()
    return {
        "lease_revenue_contracted_usd": contracted,
        "lease_revenue_realised_usd": realised,
        "lease_revenue_at_risk_usd": contracted - realised,
        "tenant_gpu_hours_taken_back": float(back[by_lessor].sum()),
        "tenant_gpu_hours_left": float(back[by_tenant].sum()),
        "notices_by_tenant": int((leases.notice_by == "tenant").sum()),
    }


def run_kpis(run_dir: str | Path) -> dict[str, float]:
    """The contract-risk KPIs of a run folder (its leases and pools tables, resolved scenario)."""
    run_dir = Path(run_dir)
    resolved = json.loads((run_dir / "scenario.json").read_text())
    leases = pd.read_parquet(run_dir / "leases.parquet")
    pools = pd.read_parquet(run_dir / "pools.parquet")
    return kpis_of_frames(leases, pools, resolved["scenario"], resolved["workloads"])


def kpis_of_frames(
    leases: pd.DataFrame, pools: pd.DataFrame, scenario: dict, workloads: Sequence[dict] = ()
) -> dict[str, float]:
    """The contract-risk KPIs of a run's leases and pools tables, with idle and reclaimed
    capacity valued at the market curves the run used; `scenario` and `workloads` are the
    resolved inputs as JSON data (they name the new-tenant streams)."""
    streams = [a["name"] for w in workloads for a in w.get("lease_arrivals", [])]
    names = leases.contract.astype(str)
    offered = {n for n in names.unique() if any(n.startswith(f"{s}-") for s in streams)}
    overrides = scenario.get("contract_risk", {}).get("market", {})
    curves = market.curves({k: MarketCurve.model_validate(v) for k, v in overrides.items()})
    gpu_of = dict(zip(pools.pool.astype(str), pools.gpu.astype(str), strict=False))
    start = scenario["horizon"]["start"]
    return {
        **lease_kpis(leases, start, offered),
        "idle_market_value_usd": idle_market_value_usd(pools, curves),
        "reclaimed_market_value_usd": reclaimed_market_value_usd(leases, start, gpu_of, curves),
    }


def reclaimed_market_value_usd(
    leases: pd.DataFrame,
    horizon_start: dt.date | str,
    gpu_of_pool: Mapping[str, str],
    curves: Mapping[str, MarketCurve],
) -> float:
    """GPU-hours the lessor took back, valued day by day at the market price of their GPU type
    (what renting them elsewhere would have cost), within the horizon."""
    start = pd.Timestamp(horizon_start)
    start = start.tz_localize("UTC") if start.tz is None else start
    hours = contract_hours(leases)
    total = 0.0
    for i in np.flatnonzero(((leases.notice_by == "lessor") & leases.held_from.notna()).to_numpy()):
        r = leases.iloc[i]
        t0 = max(r.start_at, start) + pd.Timedelta(hours=float(hours.iloc[i]))  # contracted end
        for part in str(r.pools).split(","):
            pool, _, n = part.partition("=")
            curve = curves.get(gpu_of_pool.get(pool, ""))
            if curve is None or not n:
                continue
            day, end = r.held_until, t0
            while day < end:
                nxt = min(end, (day + pd.Timedelta(days=1)).normalize())
                price = market.price_usd_per_gpu_hour(curve, day.date())
                total += int(n) * (nxt - day).total_seconds() / H * price
                day = nxt
    return total


def idle_market_value_usd(pools: pd.DataFrame, curves: Mapping[str, MarketCurve]) -> float:
    """Idle GPU-hours valued at the market rental price of their GPU type on their day."""
    total = 0.0
    idle = pools[pools.gpu_hours_idle > 0]
    for (gpu, day), hours in (
        idle.groupby(["gpu", "date"], observed=True).gpu_hours_idle.sum().items()
    ):
        if gpu in curves:
            total += hours * market.price_usd_per_gpu_hour(curves[gpu], day.date())
    return total


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile in which +inf (a milestone not reached within the horizon)
    sorts last and stays +inf, never nan."""
    x = np.sort(np.asarray(values, dtype=float))
    if not len(x):
        return math.nan
    pos = q * (len(x) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if math.isinf(x[hi]) or math.isinf(x[lo]):
        return x[lo] if pos == lo else math.inf
    return float(x[lo] + (x[hi] - x[lo]) * (pos - lo))


def percentiles(table: pd.DataFrame, columns: Sequence[str], by: str = "policy") -> pd.DataFrame:
    """P10/P50/P90 of each column over the seeds, one row per `by` value (in order of first
    appearance) and one column per (KPI, percentile). Missing milestones count as +inf."""
    rows = {}
    for key, g in table.groupby(by, sort=False):
        row = {}
        for col in columns:
            vals = g[col].astype(float)
            milestone = col.startswith(("finish_day:", "finish_day."))
            vals = vals.fillna(math.inf) if milestone else vals.dropna()
            for p in PERCENTILES:
                row[(col, f"P{p}")] = quantile(vals.to_numpy(), p / 100.0)
        rows[key] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.columns = pd.MultiIndex.from_tuples(out.columns, names=["kpi", "percentile"])
    out.index.name = by
    return out


def figure(table: pd.DataFrame, columns: Sequence[str], by: str = "policy"):
    """A plotly figure of each KPI's distribution over seeds, one box per policy: the box spans
    P10-P90 with a line at P50 (the table's quantiles), the whiskers the min and max."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=list(columns))
    for j, col in enumerate(columns, start=1):
        for i, (key, g) in enumerate(table.groupby(by, sort=False)):
            vals = g[col].astype(float).dropna().to_numpy()
            vals = vals[np.isfinite(vals)]
            if not len(vals):
                continue
            p10, p50, p90 = (quantile(vals, p / 100.0) for p in PERCENTILES)
            fig.add_trace(
                go.Box(
                    x=[str(key)],
                    q1=[p10],
                    median=[p50],
                    q3=[p90],
                    lowerfence=[float(vals.min())],
                    upperfence=[float(vals.max())],
                    name=str(key),
                    legendgroup=str(key),
                    marker_color=_COLOURS[i % len(_COLOURS)],
                    showlegend=j == 1,
                ),
                row=1,
                col=j,
            )
    fig.update_layout(title="Contract risk over seeds: P10-P90 box, P50 line, min-max whiskers")
    return fig


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
