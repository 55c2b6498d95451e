"""Summaries of a run folder: MFU by pool and job class, GPU-hours by owner, leases, revenue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim import risk
from sim.finance import statement
from sim.finance.chart import ACCOUNTS
from sim.output import read_object


def _read(run_dir: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(run_dir / f"{table}.parquet")


def _mfu(df: pd.DataFrame, by: str) -> dict[str, float]:
    g = df.groupby(by, observed=True)[["model_flops", "peak_flop"]].sum()
    g = g[g.peak_flop > 0]
    return (g.model_flops / g.peak_flop).round(4).to_dict()


def policy_label(policy: dict) -> str:
    """A policy as people name it: its kind, plus each parameter switched on
    (`{kind = "fifo", params = {backfill = true}}` is "fifo+backfill")."""
    params = policy.get("params") or {}
    on = [k for k, v in params.items() if v is True]
    return "+".join([str(policy.get("kind", "?")), *on])


def pool_set(name: str) -> str:
    """A job's pools, "c1-h100,c1-h200" as "c1-h100 + c1-h200" (one pool stays as it is)."""
    return " + ".join(str(name).split(","))


def summarize(run_dir: str | Path) -> dict:
    """KPIs of one run folder, from its tables (a pure function of the folder)."""
    run_dir = Path(run_dir)
    manifest = read_object(run_dir / "manifest.json")
    resolved = read_object(run_dir / "scenario.json")
    frames = {t: _read(run_dir, t) for t in ("segments", "jobs", "pools", "leases", "ledger")}
    return summarize_frames(frames, manifest, resolved["scenario"], resolved["workloads"])


def summarize_frames(
    frames: dict[str, pd.DataFrame], manifest: dict, scenario: dict, workloads=()
) -> dict:
    """KPIs of one run from its tables as data frames (what the runner computes in memory,
    once, before writing them); `scenario` and `workloads` are the resolved inputs as JSON."""
    seg, jobs, pools = frames["segments"], frames["jobs"], frames["pools"]
    leases, ledger = frames["leases"], frames["ledger"]
    start = pd.Timestamp(scenario["horizon"]["start"], tz="UTC")
    years = (pd.Timestamp(scenario["horizon"]["end"], tz="UTC") - start).days / 365.0
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
    pretrain = jobs[jobs.job_class == "pretrain"]
    finish = {
        r.name: round((r.end_at - start).total_seconds() / 86400.0, 3)
        for r in pretrain.itertuples()
        if pd.notna(r.end_at)
    }
    # money, from the ledger
    by_account = ledger.groupby("account", observed=True).amount_usd.sum()
    accounts = {str(k): float(v) for k, v in by_account.items()}
    stmt = statement.lines(accounts)  # the statement over the whole horizon (chart lines)
    revenue = stmt["revenue_usd"]
    cost = stmt["cost_of_revenue_usd"] + stmt["rnd_usd"] + stmt["sga_usd"]
    # the campus margin: what the campus earns (leases, tokens, fees) less what it costs to run
    # and own (power, facility opex, depreciation); no given lines, no capex
    campus = [a for a in accounts if not ACCOUNTS[a].given and ACCOUNTS[a].line != "capex"]
    campus_revenue = sum(accounts[a] for a in campus if ACCOUNTS[a].line == "revenue")
    margin = sum(accounts[a] for a in campus)
    online_h = pools.groupby("pool", observed=True).gpu_hours_online.sum()
    pool_revenue = (
        ledger[ledger.account.isin(["lease_revenue", "token_revenue"])]
        .groupby("pool", observed=True)
        .amount_usd.sum()
    )
    facility_gw = float(
        (
            pools.facility_mw
            * pools.gpu_hours_online
            / pools.gpus_online.where(pools.gpus_online > 0)
        ).sum()
        / 24.0
        / (years * 365.0)
        / 1000.0
    )  # time-average of the online facility power
    contracts = {}
    for name, g in leases.groupby("contract", observed=True):
        held_h = ((g.held_until - g.held_from).dt.total_seconds() / 3600.0).fillna(0.0)
        mw_h = float((g.facility_mw_held * held_h).sum())
        contracts[name] = {
            "revenue_usd": float(g.revenue_usd.sum()),
            # revenue per facility GW-year held: FACTS.md's "lease revenue per GW" figure
            "usd_per_gw_year": float(g.revenue_usd.sum() / (mw_h / 1000.0 / 8760.0))
            if mw_h > 0
            else None,
            "gpu_hours_delivered": float(g.gpu_hours_delivered.sum()),
            "gpu_hours_contracted": float(g.gpu_hours_contracted.sum()),
            "notices": int(g.notice_at.notna().sum()),
        }
    # failures: how many per pool, and the GPU-hours of training they cost (restarts, lost
    # work since the last checkpoint, checkpoint writes): gpus x duration x (1 - att_failures)
    held_h = (seg.end_at - seg.start_at).dt.total_seconds() / 3600.0
    lost = (
        (seg.gpus * held_h * (1.0 - seg.att_failures.fillna(1.0)))
        .groupby(seg.pool_set, observed=True)
        .sum()
    )
    failures = {
        "by_pool": {
            k: int(v) for k, v in pools.groupby("pool", observed=True).failures.sum().items()
        },
        "training_gpu_hours_lost_by_pool": {k: float(v) for k, v in lost.items()},
        "training_jobs_hit": int((jobs.failures > 0).sum()),
        "lease_gpu_hours_short": float(leases.gpu_hours_short.sum()),
    }
    return {
        "scenario": manifest["scenario"],
        "seed": manifest["seed"],
        "policy": scenario["policy"]["kind"],
        "policy_label": policy_label(scenario["policy"]),
        "failures": failures,
        "years": years,
        "mfu_by_pool": _mfu(seg, "pool_set"),
        "mfu_by_job_class": _mfu(seg, "job_class"),
        "mfu_all_training": round(float(seg.model_flops.sum() / seg.peak_flop.sum()), 4)
        if len(seg) and seg.peak_flop.sum() > 0
        else None,
        "jobs_by_class": {
            k: {c: float(v) if c != "jobs" and c != "finished" else int(v) for c, v in row.items()}
            for k, row in by_class.iterrows()
        },
        "finish": finish,
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
                "end_reason": r.end_reason,
            }
            for r in leases.itertuples()
        ],
        "contracts": contracts,
        "notices": {
            "lessor": int((leases.notice_by == "lessor").sum()),
            "tenant": int((leases.notice_by == "tenant").sum()),
        },
        "money": {
            "revenue_usd": revenue,
            "cost_usd": cost,
            "margin_usd": margin,
            "revenue_usd_per_year": revenue / years,
            "cost_usd_per_year": cost / years,
            "margin_usd_per_year": margin / years,
            "operating_result_usd": stmt["operating_result_usd"],
            "operating_result_usd_per_year": stmt["operating_result_usd"] / years,
            "free_cash_flow_usd": stmt["free_cash_flow_usd"],
            "free_cash_flow_usd_per_year": stmt["free_cash_flow_usd"] / years,
            "capex_usd": stmt["capex_usd"],
            "d_and_a_usd": stmt["d_and_a_usd"],
            "by_account_usd": accounts,
            "revenue_usd_per_gw_year": campus_revenue / years / facility_gw
            if facility_gw
            else None,
            "revenue_usd_per_gpu_hour_by_pool": {
                k: float(pool_revenue.get(k, 0.0) / v) for k, v in online_h.items() if v > 0
            },
        },
        "lease_revenue_usd": float(by_account.get("lease_revenue", 0.0)),
        "token_revenue_usd": float(by_account.get("token_revenue", 0.0)),
        "risk": risk.kpis_of_frames(leases, pools, scenario, workloads),
        "events": manifest["events"],
        # rows of events.parquet: the state changes recorded, fewer than the SimPy events
        "event_rows": len(frames["events"])
        if "events" in frames
        else manifest.get("rows", {}).get("events"),
        "events_per_s": manifest["events_per_s"],
        "wall_s": manifest["wall_s"],
    }


def format_summary(s: dict) -> str:
    """A short human-readable summary."""
    rows = s.get("event_rows")
    lines = [
        f"{s['scenario']} seed={s['seed']}, policy {s.get('policy_label', s['policy'])}: "
        f"{s['events']:,} simulation events (SimPy steps) in {s['wall_s']:.2f} s "
        f"({s['events_per_s'] or 0:,}/s), and between them "
        f"{sum(s['failures']['by_pool'].values()):,} domain failures with their repairs"
    ]
    if rows:
        lines.append(
            f"  events.parquet: {rows:,} rows, one per recorded state change (submit, start, "
            "finish, failure, lease, phase)"
        )
    lines.append(f"MFU, all training: {_pct(s['mfu_all_training'])}")
    lines += [
        f"  {'pools' if ',' in k else 'pool'} {pool_set(k)}: {_pct(v)}"
        for k, v in s["mfu_by_pool"].items()
    ]
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
    m = s["money"]
    lines.append(
        f"revenue ${m['revenue_usd'] / 1e9:,.2f}B (leases ${s['lease_revenue_usd'] / 1e9:,.2f}B, "
        f"tokens ${s['token_revenue_usd'] / 1e9:,.2f}B), cost ${m['cost_usd'] / 1e9:,.2f}B, "
        f"campus margin ${m['margin_usd'] / 1e9:,.2f}B; per year: revenue "
        f"${m['revenue_usd_per_year'] / 1e9:,.2f}B, margin ${m['margin_usd_per_year'] / 1e9:,.2f}B"
    )
    lines.append(
        f"operating result ${m['operating_result_usd'] / 1e9:,.2f}B, capex "
        f"${m['capex_usd'] / 1e9:,.2f}B, free cash flow ${m['free_cash_flow_usd'] / 1e9:,.2f}B "
        f"(sim statement RUN_DIR for the statement by period)"
    )
    for name, c in s["contracts"].items():
        per_gw = c["usd_per_gw_year"]
        lines.append(
            f"  {name}: ${c['revenue_usd'] / 1e9:,.2f}B"
            + (f", ${per_gw / 1e9:,.1f}B per facility GW-year" if per_gw else "")
            + (f", {c['notices']} notices" if c["notices"] else "")
        )
    f = s["failures"]
    if sum(f["by_pool"].values()):
        lines.append(
            "failures: "
            + ", ".join(f"{k} {v:,}" for k, v in f["by_pool"].items())
            + f"; lease GPU-hours short {f['lease_gpu_hours_short'] / 1e6:,.2f}M"
        )
        lines.append(
            "  training goodput lost to them (GPU-hours): "
            + "; ".join(
                f"{pool_set(k)} {v / 1e6:,.2f}M"
                for k, v in f["training_gpu_hours_lost_by_pool"].items()
            )
        )
    if s["finish"]:
        lines.append(
            "pre-training finished (days from start): "
            + ", ".join(f"{k} {v:,.0f}" for k, v in s["finish"].items())
        )
    return "\n".join(lines)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def kpis(run_dir: str | Path) -> dict[str, float]:
    """A run folder's KPIs: those its manifest was written with (computed once, by the run),
    else computed from its tables (a folder written before manifests held them)."""
    manifest = read_object(Path(run_dir) / "manifest.json")
    if "kpis" in manifest:
        return manifest["kpis"]
    return kpis_of(summarize(run_dir))


def kpis_of(s: dict) -> dict[str, float]:
    """The KPIs of a summary as one flat mapping of dotted names to numbers (what
    expectations, sweeps and diffs compare), e.g. `mfu.all_training`, `mfu.job_class.pretrain`,
    `gpu_hours.lease`, `revenue.lease_usd`, `lease.anthropic.delivered_fraction`."""
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
    m = s["money"]
    put("revenue.total_usd", m["revenue_usd"])
    put("revenue.per_year_usd", m["revenue_usd_per_year"])
    put("revenue.usd_per_gw_year", m["revenue_usd_per_gw_year"])
    put("cost.total_usd", m["cost_usd"])
    put("cost.per_year_usd", m["cost_usd_per_year"])
    put("margin.total_usd", m["margin_usd"])
    put("margin.per_year_usd", m["margin_usd_per_year"])
    put("operating_result.total_usd", m["operating_result_usd"])
    put("operating_result.per_year_usd", m["operating_result_usd_per_year"])
    put("free_cash_flow.total_usd", m["free_cash_flow_usd"])
    put("free_cash_flow.per_year_usd", m["free_cash_flow_usd_per_year"])
    put("capex.total_usd", m["capex_usd"])
    put("d_and_a.total_usd", m["d_and_a_usd"])
    for k, v in m["by_account_usd"].items():
        put(f"ledger.{k}_usd", v)
    for k, v in m["revenue_usd_per_gpu_hour_by_pool"].items():
        put(f"revenue.usd_per_gpu_hour.{k}", v)
    for name, c in s["contracts"].items():
        for k, v in c.items():
            put(f"contract.{name}.{k}", v)
    put("notices.lessor", s["notices"]["lessor"])
    put("notices.tenant", s["notices"]["tenant"])
    put("training.gpu_hours", s["gpu_hours_by_owner"]["training"])
    f = s["failures"]
    put("failures.total", sum(f["by_pool"].values()))
    for k, v in f["by_pool"].items():
        put(f"failures.pool.{k}", v)
    for k, v in f["training_gpu_hours_lost_by_pool"].items():
        put(f"failures.training_gpu_hours_lost.{k}", v)
    put("failures.lease_gpu_hours_short", f["lease_gpu_hours_short"])
    put("training.tokens", sum(v["tokens_trained"] for v in s["jobs_by_class"].values()))
    for k, v in s.get("finish", {}).items():
        put(f"finish_day.{k}", v)
    for k, v in s.get("risk", {}).items():  # contract risk (sim/risk.py)
        put(f"risk.{k}", v)
    return out
