"""The numbers behind a run's figures, from its tables: who holds each pool's GPUs day by day
(by tenant and by job class), lease delivery against contract with the revenue at risk, weekly
MFU, the MFU waterfall of a job and money by month. Pure functions of the tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.output import read_object
from sim.plots.style import OWNER_COLORS

DAY_MS = 86_400_000


STEPS = (
    ("kernel", ("kernel_efficiency", "recompute")),
    ("communication", ("tp_cp_comm", "pp_comm", "dp_comm")),
    ("bubble", ("pipeline_bubble",)),
    ("straggling", ("straggler",)),
    ("fragmentation", ("fragmentation",)),
    ("failures", ("failures",)),
    ("waiting", ("capacity_wait",)),
)


@dataclass
class RunData:
    """What every run figure reads: the tables, the manifest, the resolved scenario, the KPIs
    and the horizon's days (00:00 UTC)."""

    tables: dict[str, pd.DataFrame]
    manifest: dict = field(default_factory=dict)
    scenario: dict = field(default_factory=dict)
    kpis: dict[str, float] = field(default_factory=dict)

    @property
    def start(self) -> pd.Timestamp:
        h = self.scenario.get("horizon") or {}
        if h.get("start"):
            return pd.Timestamp(h["start"], tz="UTC")
        return self.tables["pools"].date.min()

    @property
    def end(self) -> pd.Timestamp:
        h = self.scenario.get("horizon") or {}
        if h.get("end"):
            return pd.Timestamp(h["end"], tz="UTC")
        return self.tables["pools"].date.max() + pd.Timedelta(days=1)

    @property
    def days(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.end, freq="D", inclusive="left")

    def table(self, name: str) -> pd.DataFrame | None:
        t = self.tables.get(name)
        return None if t is None or t.empty else t


def read_run(run_dir: Path, tables: dict[str, pd.DataFrame] | None = None) -> RunData:
    """A run folder's tables (or `tables` given, e.g. a sweep's partitions) and metadata."""

    def js(name: str) -> dict:
        p = run_dir / name
        return read_object(p) if p.is_file() else {}  # a damaged file is bad input

    if tables is None:
        tables = {p.stem: pd.read_parquet(p) for p in sorted(run_dir.glob("*.parquet"))}
    return RunData(tables, js("manifest.json"), js("scenario.json").get("scenario", {}))


def _counts(text) -> dict[str, int]:
    """'c1-h100=141200,c1-h200=50000' -> {'c1-h100': 141200, 'c1-h200': 50000}."""
    out = {}
    for part in str(text or "").split(","):
        name, sep, n = part.partition("=")
        if sep and n.strip().lstrip("-").isdigit():
            out[name.strip()] = out.get(name.strip(), 0) + int(n)
    return out


def _active(days: pd.DatetimeIndex, rows, start: str, end: str, key: str) -> dict:
    """{(key, pool): GPUs at each day's 00:00} of rows active over [start, end) with pools."""
    t = days.as_unit("ns").asi8  # Timestamp.value is in ns, whatever the index's unit
    out: dict[tuple[str, str], np.ndarray] = {}
    for r in rows.itertuples():
        a, b = getattr(r, start), getattr(r, end)
        if pd.isna(a):
            continue
        i = int(np.searchsorted(t, pd.Timestamp(a).value, "left"))
        j = len(t) if pd.isna(b) else int(np.searchsorted(t, pd.Timestamp(b).value, "left"))
        if j <= i:
            continue
        for pool, n in _counts(r.pools).items():
            arr = out.setdefault((str(getattr(r, key)), pool), np.zeros(len(t) + 1))
            arr[i] += n
            arr[j] -= n
    return {k: np.cumsum(v)[:-1] for k, v in out.items()}


def _split(total: np.ndarray, parts: dict[str, np.ndarray], other: str) -> dict[str, np.ndarray]:
    """`total` split in proportion to `parts` (what each holder had placed there); whatever
    no part explains goes to `other`."""
    if not parts:
        return {other: total} if total.any() else {}
    w = np.vstack(list(parts.values()))
    s = w.sum(0)
    share = np.divide(w, s, out=np.zeros_like(w, dtype=float), where=s > 0)
    out = {k: np.round(total * share[i]) for i, k in enumerate(parts)}
    rest = total - sum(out.values())
    if (np.abs(rest) > 0.5).any():
        out[other] = out.get(other, 0) + rest
    return out


def holders(d: RunData, hours: bool = False) -> dict[str, pd.DataFrame]:
    """Per pool, GPUs at 00:00 each day by holder: `lease: <tenant>`, `training: <job class>`,
    `serving`, `idle`, `down` (with `hours`, each day's GPU-hours / 24 instead: the day's
    average). The pools table's owner columns are the totals; leases' and segments'
    placements split them by tenant and job class."""
    pools = d.table("pools")
    if pools is None:
        return {}
    days = d.days
    col = "gpu_hours_{}" if hours else "gpus_{}"
    wide = {
        o: pools.pivot_table(index="date", columns="pool", values=col.format(o), observed=True)
        .reindex(days)
        .fillna(0.0)
        / (24.0 if hours else 1.0)
        for o in OWNER_COLORS
        if col.format(o) in pools
    }
    leases, seg = d.table("leases"), d.table("segments")
    by_tenant = (
        _active(days, leases, "held_from", "held_until", "tenant") if leases is not None else {}
    )
    by_class = _active(days, seg, "start_at", "end_at", "job_class") if seg is not None else {}
    out = {}
    for pool in dict.fromkeys(pools.pool.astype(str)):
        cols: dict[str, np.ndarray] = {}
        if "lease" in wide:
            parts = {f"lease: {t}": v for (t, p), v in by_tenant.items() if p == pool}
            cols.update(_split(_col(wide["lease"], pool), parts, "lease: other"))
        if "training" in wide:
            order = ("pretrain", "rl", "experiment")
            keys = sorted(
                {c for c, p in by_class if p == pool},
                key=lambda c: (c not in order, order.index(c) if c in order else 0, c),
            )
            parts = {f"training: {c}": by_class[(c, pool)] for c in keys}
            cols.update(_split(_col(wide["training"], pool), parts, "training: other"))
        for o in ("serving", "idle", "down"):
            if o in wide:
                cols[o] = _col(wide[o], pool)
        out[pool] = pd.DataFrame(cols, index=days)
    return out


def _col(frame: pd.DataFrame, pool: str) -> np.ndarray:
    return frame[pool].to_numpy(float) if pool in frame else np.zeros(len(frame))


def lease_delivery(d: RunData) -> dict[str, pd.DataFrame]:
    """Per tenant and day: GPUs contracted (tranches within their term), GPUs delivered (the
    day's lease GPU-hours / 24, split by tenant as in `holders`) and the revenue at risk: the
    shortfall priced at the tranches' USD per GPU-hour, accumulated."""
    leases = d.table("leases")
    if leases is None:
        return {}
    days = d.days
    t = days.as_unit("ns").asi8
    held: dict[str, np.ndarray] = {}
    for frame in holders(d, hours=True).values():
        for c in frame.columns:
            if c.startswith("lease: "):
                held[c[7:]] = held.get(c[7:], 0) + frame[c].to_numpy(float)
    out = {}
    for tenant, g in leases.groupby(leases.tenant.astype(str), sort=False):
        gpus, usd_h = np.zeros(len(t)), np.zeros(len(t))
        for r in g.itertuples():
            on = (t >= pd.Timestamp(r.start_at).value) & (t < pd.Timestamp(r.end_at).value)
            gpus[on] += r.gpus_contracted
            usd_h[on] += r.usd_per_hour
        got = np.minimum(held.get(tenant, np.zeros(len(t))), gpus)
        got = np.round(got)
        price = np.divide(usd_h, gpus, out=np.zeros(len(t)), where=gpus > 0)
        at_risk = np.cumsum((gpus - got) * price * 24.0)
        out[tenant] = pd.DataFrame(
            {"contracted": gpus, "delivered": got, "at_risk_usd": at_risk}, index=days
        )
    return out


def weekly_mfu(seg: pd.DataFrame, by: str | None) -> pd.DataFrame:
    """Model FLOPs / peak FLOPs per week, segments apportioned by their overlap with each week."""
    s = seg[(seg.peak_flop > 0) & seg.end_at.notna()]
    if s.empty:
        return pd.DataFrame()
    t0, t1 = s.start_at.min().floor("D"), s.end_at.max().ceil("D")
    edges = pd.date_range(t0, t1 + pd.Timedelta(days=7), freq="7D")
    e = edges.asi8.astype(float)
    a, b = s.start_at.astype("int64").to_numpy(float), s.end_at.astype("int64").to_numpy(float)
    dur = np.maximum(b - a, 1.0)
    lo = np.maximum(a[:, None], e[None, :-1])
    hi = np.minimum(b[:, None], e[None, 1:])
    frac = np.clip(hi - lo, 0.0, None) / dur[:, None]
    groups = {"all training": np.ones(len(s), bool)}
    if by:
        for k in sorted(s[by].astype(str).unique()):
            groups[k] = (s[by].astype(str) == k).to_numpy()
    out = {}
    mf, pf = s.model_flops.to_numpy(float), s.peak_flop.to_numpy(float)
    for k, m in groups.items():
        num, den = (frac[m] * mf[m, None]).sum(0), (frac[m] * pf[m, None]).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[k] = np.where(den > 0, num / den, np.nan)
    return pd.DataFrame(out, index=edges[:-1])


def waterfall(row) -> list[tuple[str, float, float]]:
    """(step, value before, value after) from 100% of peak down to what the job achieved."""
    out, v = [], 1.0
    for label, factors in STEPS:
        f = float(np.prod([getattr(row, f"att_{x}", 1.0) for x in factors]))
        if not np.isfinite(f):
            f = 1.0
        out.append((label, v, v * f))
        v *= f
    return out


def monthly_money(d: RunData) -> tuple[pd.DataFrame, str]:
    """USD per month and counterparty (+ revenue, - cost), and where the numbers come from."""
    ledger = d.table("ledger")
    if ledger is not None:
        m = ledger.date.dt.tz_localize(None).dt.to_period("M")
        g = ledger.groupby([m, ledger.counterparty.astype(str)], observed=True).amount_usd.sum()
        return g.unstack(fill_value=0.0).sort_index(), "the ledger table"
    parts = []
    leases = d.table("leases")
    if leases is not None and "held_from" in leases:
        for r in leases[leases.held_from.notna()].itertuples():
            days = pd.date_range(r.held_from.floor("D"), r.held_until, freq="D", inclusive="left")
            if len(days) and r.revenue_usd:
                parts.append(
                    pd.DataFrame(
                        {"date": days, "who": str(r.tenant), "usd": r.revenue_usd / len(days)}
                    )
                )
    serving = d.table("serving")
    if serving is not None:
        parts.append(
            pd.DataFrame(
                {"date": serving.date, "who": serving.name.astype(str), "usd": serving.revenue_usd}
            )
        )
    if not parts:
        return pd.DataFrame(), ""
    x = pd.concat(parts)
    x["month"] = x.date.dt.tz_localize(None).dt.to_period("M")
    g = x.groupby(["month", "who"]).usd.sum().unstack(fill_value=0.0).sort_index()
    return g, "leases.revenue_usd and serving.revenue_usd (no ledger: costs not shown)"
