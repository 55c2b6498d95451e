"""`sim compare`: one scenario under several policies and seeds, KPIs side by side."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from sim import risk
from sim.report import summarize
from sim.runner import prepare, simulate

# The comparison's columns: (column, what it is)
COLUMNS = {
    "revenue_usd_per_year": "revenue per year (leases + tokens + fees + given series), USD",
    "cost_usd_per_year": "operating costs per year (cost of revenue + R&D + SG&A), USD",
    "margin_usd_per_year": "campus margin per year: campus revenue - power, facility opex, "
    "depreciation, USD",
    "operating_result_usd_per_year": "operating result per year (revenue - operating costs), USD",
    "free_cash_flow_usd_per_year": "free cash flow per year (result + D&A - capex), USD",
    "revenue_usd_per_gw_year": "revenue per year per GW of facility power online, USD",
    "lease_revenue_usd": "lease revenue over the horizon, USD",
    "lease_gpu_hours_delivered": "lease GPU-hours delivered",
    "lease_delivered_fraction": "lease GPU-hours delivered / contracted",
    "notices_by_lessor": "lease notices the lessor gave",
    "training_tokens": "tokens trained by internal jobs",
    "training_mfu": "MFU of internal training (model FLOPs / allocated peak)",
    "revenue_usd": "revenue over the horizon, USD",
    "revenue_minus_costs_usd": "revenue - ledger costs over the horizon, USD",
    "operating_result_usd": "operating result over the horizon (income statement), USD",
    "lease_revenue_contracted_usd": "lease revenue contracted within the horizon, USD",
    "lease_revenue_at_risk_usd": "lease revenue at risk: contracted - realised, USD",
    "tenant_gpu_hours_taken_back": "tenant impact: GPU-hours the lessor took back",
    "tenant_gpu_hours_left": "GPU-hours tenants gave up by their own notice",
    "notices_by_tenant": "lease notices tenants gave",
    "idle_market_value_usd": "idle GPU-hours at the market rental price, USD",
    "reclaimed_market_value_usd": "GPU-hours taken back at the market rental price, USD",
}

# The Monte Carlo summary's KPIs (P10/P50/P90 per policy), with the pre-training finish days.
MONTE_CARLO = (
    "revenue_usd",
    "operating_result_usd",
    "revenue_minus_costs_usd",
    "lease_revenue_at_risk_usd",
    "tenant_gpu_hours_taken_back",
)


def _one(path: str, table: dict, seed: int, out: str) -> dict:
    """One run and its comparison row (top level, so process pools can call it)."""
    policy = table["kind"]
    return run_row(path, {"policy": table}, seed, str(Path(out) / policy))


def run_row(path: str, tables: dict, seed: int, out: str) -> dict:
    """Run a scenario (with `tables` replacing its top-level tables) and return its KPI row
    (from the summary the run computed in memory)."""
    return summary_row(simulate(path, seed=seed, out=Path(out), tables=tables).summary)


def folder_row(run_dir: str | Path) -> dict:
    """The comparison row of a run folder already written."""
    return summary_row(summarize(run_dir))


def summary_row(s: dict) -> dict:
    """The comparison row of a run's summary (`sim.report.summarize_frames`)."""
    contracts = s["contracts"].values()
    delivered = sum(c["gpu_hours_delivered"] for c in contracts)
    contracted = sum(c["gpu_hours_contracted"] for c in contracts)
    row = {
        "policy": s.get("policy_label", s["policy"]),  # "fifo+backfill" when fifo backfills
        "seed": s["seed"],
        "revenue_usd_per_year": s["money"]["revenue_usd_per_year"],
        "cost_usd_per_year": s["money"]["cost_usd_per_year"],
        "margin_usd_per_year": s["money"]["margin_usd_per_year"],
        "operating_result_usd_per_year": s["money"]["operating_result_usd_per_year"],
        "free_cash_flow_usd_per_year": s["money"]["free_cash_flow_usd_per_year"],
        "revenue_usd_per_gw_year": s["money"]["revenue_usd_per_gw_year"],
        "lease_revenue_usd": s["lease_revenue_usd"],
        "lease_gpu_hours_delivered": delivered,
        "lease_delivered_fraction": delivered / contracted if contracted else None,
        "notices_by_lessor": s["notices"]["lessor"],
        "training_tokens": sum(v["tokens_trained"] for v in s["jobs_by_class"].values()),
        "training_mfu": s["mfu_all_training"],
        "revenue_usd": s["money"]["revenue_usd"],
        "revenue_minus_costs_usd": s["money"]["margin_usd"],
        # the income statement's line (issue 16) where the summary has it
        "operating_result_usd": s["money"].get("operating_result_usd"),
        **s["risk"],
    }
    for job, day in s["finish"].items():
        row[f"finish_day:{job}"] = day
    return row


def compare(
    path: str | Path,
    policies: Sequence[str],
    seeds: Sequence[int],
    out: str | Path,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Run every (policy, seed) and return one row each, sorted by policy then seed."""
    # A policy the scenario already uses keeps its parameters; others run with their defaults.
    own = prepare(path).scenario.policy
    tables = [{"kind": k, "params": own.params if own.kind == k else {}} for k in policies]
    for table in tables:  # every policy is checked before anything runs
        prepare(path, {"policy": table})
    jobs = [(str(path), t, s, str(out)) for t in tables for s in seeds]
    own_pool = executor is None
    executor = executor or ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1))
    try:
        rows = list(executor.map(_one, *zip(*jobs, strict=True)))
    finally:
        if own_pool:
            executor.shutdown()
    return pd.DataFrame(rows).sort_values(["policy", "seed"], kind="stable").reset_index(drop=True)


def monte_carlo(table: pd.DataFrame) -> pd.DataFrame:
    """P10/P50/P90 per policy of revenue, operating result, lease revenue at risk, tenant
    impact and each pre-training job's finish day (not finished = after the horizon)."""
    cols = [*MONTE_CARLO, *sorted(c for c in table.columns if c.startswith("finish_day:"))]
    cols = [c for c in cols if c in table.columns and table[c].notna().any()]
    return risk.percentiles(table, cols)


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and min-max across seeds for each policy."""
    numeric = table.drop(columns=["seed"]).groupby("policy", sort=False)
    return numeric.agg(["mean", "min", "max"])
