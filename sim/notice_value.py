"""What the notice clause is worth: the same scenario and seeds under each notice term.

Variants (`contract_risk.notice`): "none" (neither side may give notice: the base), "mutual"
(the contracts as written), "lessor-only", "tenant-only". For each variant and seed the
operating result and the pre-training finish days are compared with the base at the same seed;
the option value is the mean of those paired differences, with a Student-t interval from their
spread. Pairing removes the noise the variants share (failures, arrivals, stream draws): the
interval an unpaired design would give (Welch, from the same runs) is reported beside it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from sim.compare import folder_row, run_row
from sim.runner import prepare

BASE = "none"
VARIANTS = ("none", "mutual", "lessor-only", "tenant-only")
# The operating result: the income statement's line (issue 16) where runs have it, else the
# ledger's revenue less its costs (`result_column`).
RESULT = "operating_result_usd"
FALLBACK = "revenue_minus_costs_usd"
LEVEL = 0.95


def paired_interval(diffs: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of paired differences and its Student-t interval (n-1 degrees of freedom)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def unpaired_interval(
    a: Sequence[float], b: Sequence[float], level: float = LEVEL
) -> tuple[float, float, float]:
    """Mean of a - b and its Welch interval, as if a and b came from independent seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    mean = float(a.mean() - b.mean())
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return mean, mean, mean
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return mean, mean - half, mean + half


def variant_tables(path: str | Path, variant: str) -> dict:
    """The scenario's `contract_risk` table with its notice terms replaced by `variant`."""
    own = prepare(path).scenario.contract_risk.model_dump(mode="json")
    return {"contract_risk": {**own, "notice": variant}}


def _run(path: str, variant: str, seed: int, out: str, digest: str) -> dict:
    """One variant at one seed (top level, so process pools can call it). A run folder left by
    an earlier call with the same inputs (scenario hash) is read instead of run again."""
    folder = Path(out) / variant
    done = folder / prepare(path).scenario.name / f"seed={seed}" / "manifest.json"
    if done.is_file() and json.loads(done.read_text()).get("scenario_hash") == digest:
        return {"variant": variant, "run": "reused", **folder_row(done.parent)}
    row = run_row(path, variant_tables(path, variant), seed, str(folder))
    return {"variant": variant, "run": "simulated", **row}


def run_variants(
    path: str | Path,
    seeds: Sequence[int],
    out: str | Path,
    variants: Sequence[str] = VARIANTS,
    executor: Executor | None = None,
) -> pd.DataFrame:
    """Every (variant, seed) run, one row each, sorted by variant then seed.

    "tenant-only" differs from "mutual" only in forbidding the lessor's notices: at a seed where
    the mutual run gave none (and no lease names a lessor notice date), every scheduling pass
    sees the same state and decides the same, so the tenant-only row is the mutual row (marked
    `run = "as mutual"`) and is not simulated again."""
    digests = {}
    for v in variants:  # every variant is checked before anything runs
        digests[v] = prepare(path, variant_tables(path, v)).digest()
    dated = any(x.lessor_notice is not None for w in prepare(path).workloads for x in w.leases)
    shortcut = "tenant-only" in variants and "mutual" in variants and not dated
    first = [v for v in variants if not (shortcut and v == "tenant-only")]
    own_pool = executor is None
    executor = executor or ProcessPoolExecutor(
        max_workers=min(len(variants) * len(seeds), os.cpu_count() or 1)
    )
    try:
        jobs = [(str(path), v, s, str(out), digests[v]) for v in first for s in seeds]
        rows = list(executor.map(_run, *zip(*jobs, strict=True)))
        if shortcut:
            mutual = {r["seed"]: r for r in rows if r["variant"] == "mutual"}
            again = [s for s in seeds if mutual[s]["notices_by_lessor"] > 0]
            rows += [
                {**mutual[s], "variant": "tenant-only", "run": "as mutual"}
                for s in seeds
                if s not in again
            ]
            jobs = [(str(path), "tenant-only", s, str(out), digests["tenant-only"]) for s in again]
            if jobs:
                rows += list(executor.map(_run, *zip(*jobs, strict=True)))
    finally:
        if own_pool:
            executor.shutdown()
    table = pd.DataFrame(rows)
    table["variant"] = pd.Categorical(table.variant, categories=list(variants))
    return table.sort_values(["variant", "seed"], kind="stable").reset_index(drop=True)


def result_column(table: pd.DataFrame) -> str:
    """`operating_result_usd` if every run has it, else `revenue_minus_costs_usd`."""
    if RESULT in table.columns and table[RESULT].notna().all():
        return RESULT
    return FALLBACK


def option_values(table: pd.DataFrame, result: str | None = None) -> dict[str, dict]:
    """Per variant: the option value (mean paired difference of `result` against the base),
    its interval, the unpaired interval, and the paired difference of each finish day."""
    result = result or result_column(table)
    base = table[table.variant == BASE].set_index("seed")
    jobs = sorted(c for c in table.columns if c.startswith("finish_day:"))
    out = {}
    for v in table.variant.cat.categories:
        g = table[table.variant == v].set_index("seed")
        seeds = sorted(set(g.index) & set(base.index))
        diffs = (g.loc[seeds, result] - base.loc[seeds, result]).to_numpy()
        mean, lo, hi = paired_interval(diffs)
        _, ulo, uhi = unpaired_interval(g.loc[seeds, result], base.loc[seeds, result])
        days = {}
        for job in jobs:
            both = [s for s in seeds if pd.notna(g.at[s, job]) and pd.notna(base.at[s, job])]
            d_mean, d_lo, d_hi = paired_interval(
                (g.loc[both, job] - base.loc[both, job]).to_numpy()
            )
            days[job.split(":", 1)[1]] = {
                "finish_day_difference": d_mean,
                "ci_low_days": d_lo,
                "ci_high_days": d_hi,
                "seeds_finished_both": len(both),
            }
        out[str(v)] = {
            "option_value_usd": mean,
            "ci_low_usd": lo,
            "ci_high_usd": hi,
            "seeds": len(seeds),
            "unpaired_ci_low_usd": ulo,
            "unpaired_ci_high_usd": uhi,
            "operating_result": result,
            "operating_result_mean_usd": float(g.loc[seeds, result].mean()),
            "lease_revenue_at_risk_mean_usd": float(
                g.loc[seeds, "lease_revenue_at_risk_usd"].mean()
            ),
            "tenant_gpu_hours_taken_back_mean": float(
                g.loc[seeds, "tenant_gpu_hours_taken_back"].mean()
            ),
            "notices_by_tenant_mean": float(g.loc[seeds, "notices_by_tenant"].mean()),
            "notices_by_lessor_mean": float(g.loc[seeds, "notices_by_lessor"].mean()),
            "milestones": days,
        }
    return out
