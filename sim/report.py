"""Summaries of a run folder: MFU by pool and job class, GPU-hours by owner, leases, revenue."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def _read(run_dir: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(run_dir / f"{table}.parquet")


def _mfu(df: pd.DataFrame, by: str) -> dict[str, float]:
    g = df.groupby(by, observed=True)[["model_flops", "peak_flop"]].sum()
    g = g[g.peak_flop > 0]
    return (g.model_flops / g.peak_flop).round(4).to_dict()


def summarize(run_dir: str | Path) -> dict:
    """KPIs of one run, from its tables (a pure function of the folder)."""
    run_dir = Path(run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    seg, jobs = _read(run_dir, "segments"), _read(run_dir, "jobs")
    pools, leases, serving = (
        _read(run_dir, "pools"),
        _read(run_dir, "leases"),
        _read(run_dir, "serving"),
    )
    seg = seg.assign(pool_set=seg.pools.astype(str).str.replace(r"=\d+", "", regex=True))
    gpu_hours = {
        k: float(pools[f"gpu_hours_{k}"].sum())
        for k in ("lease", "training", "serving", "idle", "down")
    }
    by_class = jobs.groupby("job_class", observed=True).agg(
        jobs=("job_id", "size"),
        finished=("state", lambda s: int((s == "finished").sum())),
        tokens_trained=("tokens_trained", "sum"),
        gpu_hours=("gpu_hours", "sum"),
    )
    return {
        "scenario": manifest["scenario"],
        "seed": manifest["seed"],
        "mfu_by_pool": _mfu(seg, "pool_set"),
        "mfu_by_job_class": _mfu(seg, "job_class"),
        "mfu_all_training": round(float(seg.model_flops.sum() / seg.peak_flop.sum()), 4)
        if len(seg) and seg.peak_flop.sum() > 0
        else None,
        "jobs_by_class": {
            k: {c: float(v) if c != "jobs" and c != "finished" else int(v) for c, v in row.items()}
            for k, row in by_class.iterrows()
        },
        "gpu_hours_by_owner": gpu_hours,
        "leases": [
            {
                "contract": r.contract,
                "tranche": int(r.tranche),
                "gpus_held": int(r.gpus_held),
                "delivered_fraction": round(r.gpu_hours_delivered / r.gpu_hours_contracted, 4)
                if r.gpu_hours_contracted
                else None,
                "revenue_usd": float(r.revenue_usd),
            }
            for r in leases.itertuples()
        ],
        "lease_revenue_usd": float(leases.revenue_usd.sum()),
        "token_revenue_usd": float(serving.revenue_usd.sum()),
        "events": manifest["events"],
        "events_per_s": manifest["events_per_s"],
        "wall_s": manifest["wall_s"],
    }


def format_summary(s: dict) -> str:
    """A short human-readable summary."""
    lines = [
        f"{s['scenario']} seed={s['seed']}: {s['events']:,} events in {s['wall_s']:.2f} s "
        f"({s['events_per_s'] or 0:,} events/s)"
    ]
    lines.append(f"MFU, all training: {_pct(s['mfu_all_training'])}")
    lines += [f"  pool {k}: {_pct(v)}" for k, v in s["mfu_by_pool"].items()]
    lines += [f"  class {k}: {_pct(v)}" for k, v in s["mfu_by_job_class"].items()]
    lines.append(
        "GPU-hours by owner: "
        + ", ".join(f"{k} {v / 1e6:,.1f}M" for k, v in s["gpu_hours_by_owner"].items())
    )
    for k, v in s["jobs_by_class"].items():
        lines.append(
            f"  {k}: {v['jobs']} jobs, {v['finished']} finished, {v['tokens_trained']:.3g} tokens"
        )
    for lease in s["leases"]:
        lines.append(
            f"lease {lease['contract']}#{lease['tranche']}: {lease['gpus_held']:,} GPUs, "
            f"delivered {_pct(lease['delivered_fraction'])}, ${lease['revenue_usd'] / 1e9:,.2f}B"
        )
    lines.append(
        f"revenue: leases ${s['lease_revenue_usd'] / 1e9:,.2f}B, tokens "
        f"${s['token_revenue_usd'] / 1e9:,.2f}B"
    )
    return "\n".join(lines)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def kpis(run_dir: str | Path) -> dict[str, float]:
    """The run's KPIs as one flat mapping of dotted names to numbers (what expectations,
    sweeps and diffs compare), e.g. `mfu.all_training`, `mfu.job_class.pretrain`,
    `gpu_hours.lease`, `revenue.lease_usd`, `lease.anthropic.delivered_fraction`."""
    s = summarize(run_dir)
    out: dict[str, float] = {}

    def put(key: str, value) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            out[key] = float(value)

    put("mfu.all_training", s["mfu_all_training"])
    for k, v in s["mfu_by_pool"].items():
        put(f"mfu.pool.{k}", v)
    for k, v in s["mfu_by_job_class"].items():
        put(f"mfu.job_class.{k}", v)
    for cls, row in s["jobs_by_class"].items():
        for k, v in row.items():
            put(f"jobs.{cls}.{k}", v)
    for k, v in s["gpu_hours_by_owner"].items():
        put(f"gpu_hours.{k}", v)
    for lease in s["leases"]:
        name = f"lease.{lease['contract']}.{lease['tranche']}"
        put(f"{name}.gpus_held", lease["gpus_held"])
        put(f"{name}.delivered_fraction", lease["delivered_fraction"])
        put(f"{name}.revenue_usd", lease["revenue_usd"])
    put("revenue.lease_usd", s["lease_revenue_usd"])
    put("revenue.token_usd", s["token_revenue_usd"])
    for k, v in s.get("finish", {}).items():
        put(f"finish_day.{k}", v)
    return out
