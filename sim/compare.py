"""`sim compare`: one scenario under several policies and seeds, KPIs side by side."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from sim.report import policy_label
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
}


def _one(path: str, table: dict, seed: int, out: str) -> dict:
    """One run and its comparison row (top level, so process pools can call it)."""
    policy = table["kind"]
    s = simulate(path, seed=seed, out=Path(out) / policy, tables={"policy": table}).summary
    contracts = s["contracts"].values()
    delivered = sum(c["gpu_hours_delivered"] for c in contracts)
    contracted = sum(c["gpu_hours_contracted"] for c in contracts)
    row = {
        "policy": policy_label(table),  # "fifo+backfill" when the scenario's fifo backfills
        "seed": seed,
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


def spread(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and min-max across seeds for each policy."""
    numeric = table.drop(columns=["seed"]).groupby("policy", sort=False)
    return numeric.agg(["mean", "min", "max"])
