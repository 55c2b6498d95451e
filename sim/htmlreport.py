"""`sim report`: one self-contained HTML page (figures embedded as PNG, also written beside it)
for a run folder or a sweep folder. Figures with matplotlib; every user-provided text is
escaped. See docs/getting-started.md for what each figure shows."""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.output import read_object

OWNERS = ("lease", "training", "serving", "idle", "down")
OWNER_COLORS = {
    "lease": "#4c78a8",
    "training": "#f58518",
    "serving": "#54a24b",
    "idle": "#d3d3d3",
    "down": "#e45756",
}
# Waterfall steps: label -> attribution factors (jobs.att_*) multiplied into that step.
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
class Figure:
    slug: str
    title: str
    description: str
    png: bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "text.parse_math": False,  # user text with "$" is text, not math
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 9,
        }
    )
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


# -- reading -----------------------------------------------------------------------------------


def _tables_of_run(run_dir: Path) -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_parquet(p) for p in sorted(run_dir.glob("*.parquet"))}


def _tables_of_sweep_run(sweep_dir: Path, scenario: str, seed: int) -> dict[str, pd.DataFrame]:
    out = {}
    for d in sorted(sweep_dir.iterdir()):
        part = d / f"scenario={scenario}" / f"seed={seed}" / "part.parquet"
        if part.is_file():
            out[d.name] = pd.read_parquet(part)
    return out


# -- run figures -------------------------------------------------------------------------------


def fig_gpus_by_owner(t: dict[str, pd.DataFrame]) -> Figure | None:
    pools = t.get("pools")
    if pools is None or pools.empty:
        return None
    plt = _plt()
    names = list(dict.fromkeys(pools.pool.astype(str)))
    cols = 2 if len(names) > 1 else 1
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.6 * rows), sharex=True, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        p = pools[pools.pool.astype(str) == name].sort_values("date")
        owners = [o for o in OWNERS if f"gpus_{o}" in p]
        ax.stackplot(
            p.date,
            *[p[f"gpus_{o}"] / 1e3 for o in owners],
            labels=owners,
            colors=[OWNER_COLORS[o] for o in owners],
            linewidth=0,
        )
        gpu = str(p.gpu.iloc[0]) if "gpu" in p else ""
        ax.set_title(f"{name} ({gpu})", loc="left")
        ax.set_ylabel("GPUs (thousands)")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper center", ncol=5, frameon=False, bbox_to_anchor=(0.5, 1.0)
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.autofmt_xdate()
    return Figure(
        "gpus_by_owner",
        "GPUs by owner class over time, per pool",
        "For each pool, the GPUs online each day (00:00 UTC) stacked by who holds them: tenant "
        "leases, internal training, internal serving, idle, and down (failed). The top of each "
        "stack is the pool's online capacity; steps up are phases coming online.",
        _png(fig),
    )


def _weekly_mfu(seg: pd.DataFrame, by: str | None) -> pd.DataFrame:
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


def fig_mfu_over_time(t: dict[str, pd.DataFrame]) -> Figure | None:
    seg = t.get("segments")
    if seg is None or seg.empty:
        return None
    w = _weekly_mfu(seg, "job_class")
    if w.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 3.6))
    for k in w.columns:
        lw, style = (2.2, "-") if k == "all training" else (1.2, "-")
        ax.plot(
            w.index,
            100 * w[k],
            style,
            lw=lw,
            label=k,
            color="black" if k == "all training" else None,
        )
    ax.set_ylabel("MFU (%)")
    ax.set_ylim(0, max(60, float(np.nanmax(100 * w.to_numpy())) * 1.1))
    ax.legend(loc="upper left", ncol=4, frameon=False)
    fig.autofmt_xdate()
    return Figure(
        "mfu_over_time",
        "MFU over time by job class",
        "Weekly model FLOPs utilisation: model FLOPs done / dense peak FLOPs of the GPUs "
        "allocated (whole NVLink domains), per job class and over all training (black). "
        "Segments are apportioned to weeks by their overlap. Capacity waiting is not in it.",
        _png(fig),
    )


def _waterfall(row) -> list[tuple[str, float, float]]:
    """(step, value before, value after) from 100% of peak down to what the job achieved."""
    out, v = [], 1.0
    for label, factors in STEPS:
        f = float(np.prod([getattr(row, f"att_{x}", 1.0) for x in factors]))
        if not np.isfinite(f):
            f = 1.0
        out.append((label, v, v * f))
        v *= f
    return out


def fig_waterfall(t: dict[str, pd.DataFrame], top: int = 4) -> Figure | None:
    jobs = t.get("jobs")
    if jobs is None or jobs.empty or "att_kernel_efficiency" not in jobs:
        return None
    big = jobs[jobs.gpu_hours > 0].sort_values("gpu_hours", ascending=False).head(top)
    if big.empty:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(big), figsize=(2.9 * len(big) + 1, 3.8), squeeze=False)
    for ax, row in zip(axes.flat, big.itertuples(), strict=True):
        steps = _waterfall(row)
        labels = ["peak", *[s[0] for s in steps], "achieved"]
        ax.bar(0, 100, color="#4c78a8")
        for i, (_, before, after) in enumerate(steps, start=1):
            ax.bar(i, 100 * (before - after), bottom=100 * after, color="#e45756")
            if before - after > 0.004:
                ax.text(
                    i, 100 * before + 1, f"-{100 * (before - after):.1f}", ha="center", fontsize=7
                )
        final = steps[-1][2]
        ax.bar(len(labels) - 1, 100 * final, color="#54a24b")
        ax.text(len(labels) - 1, 100 * final + 1, f"{100 * final:.1f}%", ha="center", fontsize=8)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_ylim(0, 110)
        ax.set_title(f"{row.name} ({row.job_class})\n{row.gpu_hours / 1e6:,.0f}M GPU-h", fontsize=8)
        ax.set_ylabel("% of dense peak")
    fig.tight_layout()
    return Figure(
        "mfu_waterfall",
        "Where MFU goes: attribution of the biggest jobs",
        "For the jobs with the most GPU-hours, from 100% of the allocated GPUs' dense peak down "
        "to what the job achieved including time waiting for capacity: each red bar is the share "
        "of peak lost to kernel efficiency (and recomputation), exposed communication (tensor, "
        "pipeline and data parallel), the pipeline bubble, straggling (slowest GPU or type), "
        "fragmentation (GPUs allocated but unused by the layout), failures and waiting. Losses "
        "multiply, so each bar is taken from what is left after the previous ones.",
        _png(fig),
    )


def _monthly_money(t: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    """USD per month and counterparty (+ revenue, - cost), and where the numbers come from."""
    ledger = t.get("ledger")
    if ledger is not None and not ledger.empty:
        d = ledger.assign(month=ledger.date.dt.tz_localize(None).dt.to_period("M"))
        g = d.groupby(["month", d.counterparty.astype(str)], observed=True).amount_usd.sum()
        return g.unstack(fill_value=0.0).sort_index(), "the ledger table"
    parts = []
    leases = t.get("leases")
    if leases is not None and not leases.empty and "held_from" in leases:
        for r in leases[leases.held_from.notna()].itertuples():
            days = pd.date_range(r.held_from.floor("D"), r.held_until, freq="D", inclusive="left")
            if len(days) and r.revenue_usd:
                parts.append(
                    pd.DataFrame(
                        {"date": days, "who": str(r.tenant), "usd": r.revenue_usd / len(days)}
                    )
                )
    serving = t.get("serving")
    if serving is not None and not serving.empty:
        parts.append(
            pd.DataFrame(
                {
                    "date": serving.date,
                    "who": "tokens: " + serving.name.astype(str),
                    "usd": serving.revenue_usd,
                }
            )
        )
    if not parts:
        return pd.DataFrame(), ""
    d = pd.concat(parts)
    d["month"] = d.date.dt.tz_localize(None).dt.to_period("M")
    g = d.groupby(["month", "who"]).usd.sum().unstack(fill_value=0.0).sort_index()
    return g, "leases.revenue_usd and serving.revenue_usd (no ledger: costs not shown)"


def fig_money(t: dict[str, pd.DataFrame]) -> Figure | None:
    m, source = _monthly_money(t)
    if m.empty:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4))
    x = np.arange(len(m))
    cmap = plt.get_cmap("tab10")
    pos, neg = np.zeros(len(m)), np.zeros(len(m))
    order = sorted(m.columns, key=lambda c: -abs(m[c]).sum())
    for i, c in enumerate(order):
        v = m[c].to_numpy() / 1e9
        up, down = np.clip(v, 0, None), np.clip(v, None, 0)
        color = cmap(i % 10)
        if up.any():
            ax.bar(x, up, bottom=pos, color=color, label=c, width=0.85)
            pos += up
        if down.any():
            ax.bar(
                x,
                down,
                bottom=neg,
                color=color,
                label=None if up.any() else c,
                width=0.85,
                hatch="//",
            )
            neg += down
    ax.plot(x, (pos + neg), color="black", lw=1.5, label="net")
    ax.axhline(0, color="black", lw=0.6)
    step = max(1, len(m) // 12)
    ax.set_xticks(x[::step], [str(p) for p in m.index[::step]], rotation=45, ha="right")
    ax.set_ylabel("billion USD per month")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=6, fontsize=8, frameon=False)
    return Figure(
        "money_by_month",
        "Revenue and cost by month and counterparty",
        f"USD per calendar month from {source}: revenue above zero, costs below (hatched), "
        "stacked by counterparty; the black line is the month's net.",
        _png(fig),
    )


def fig_leases(t: dict[str, pd.DataFrame]) -> Figure | None:
    leases = t.get("leases")
    if leases is None or leases.empty:
        return None
    plt = _plt()
    ls = leases.sort_values(["start_at", "contract", "tranche"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(11, 0.6 * len(ls) + 1.4))
    tenants = list(dict.fromkeys(ls.tenant.astype(str)))
    cmap = plt.get_cmap("tab10")
    notices = []
    for i, r in enumerate(ls.itertuples()):
        color = cmap(tenants.index(str(r.tenant)) % 10)
        ax.barh(i, r.end_at - r.start_at, left=r.start_at, height=0.7, color=color, alpha=0.25)
        if pd.notna(r.held_from):
            ax.barh(i, r.held_until - r.held_from, left=r.held_from, height=0.35, color=color)
        at = getattr(r, "notice_at", pd.NaT)
        if pd.notna(at):
            by = getattr(r, "notice_by", "")
            ax.plot([at], [i], marker="v", color="#d62728", ms=10)
            ax.annotate(
                f"notice ({by})" if by else "notice",
                (at, i),
                xytext=(4, 8),
                textcoords="offset points",
                fontsize=7,
            )
            notices.append(i)
    events = t.get("events")
    if events is not None and not events.empty:
        ev = events[events.kind.astype(str).str.contains("notice|reclaim")]
        for r in ev.itertuples():
            rows = [i for i, c in enumerate(ls.contract.astype(str)) if c == str(r.subject)]
            for i in rows:
                if i not in notices:
                    ax.plot([r.at], [i], marker="v", color="#d62728", ms=8)
    ax.set_yticks(
        range(len(ls)),
        [
            f"{r.contract} #{r.tranche} ({r.tenant}, {r.gpus_contracted:,} GPUs)"
            for r in ls.itertuples()
        ],
    )
    ax.invert_yaxis()
    ax.set_xlabel("date")
    fig.autofmt_xdate()
    return Figure(
        "lease_timeline",
        "Lease timeline with notices",
        "One row per lease tranche: the pale bar is the contracted term, the solid bar the time "
        "the capacity was actually held by the tenant; red triangles mark notices (from either "
        "party) and reclaims.",
        _png(fig),
    )


RUN_FIGURES: tuple[Callable, ...] = (
    fig_gpus_by_owner,
    fig_mfu_over_time,
    fig_waterfall,
    fig_money,
    fig_leases,
)


# -- sweep figures -----------------------------------------------------------------------------

PREFERRED = (
    ("mfu.all_training",),
    ("revenue.total_usd", "revenue.lease_usd"),
    ("margin.total_usd", "margin.usd", "money.margin_usd"),
    ("cost.total_usd", "cost.usd"),
    ("revenue.token_usd",),
    ("gpu_hours.idle",),
)


def sweep_kpis(df: pd.DataFrame, limit: int = 6) -> list[str]:
    """The KPIs to plot: preferred names when present, then any finish day and margin/cost."""
    cols = [
        c
        for c in df.columns
        if df[c].dtype.kind == "f" and c != "wall_s" and not c.startswith("axis.")
    ]
    out = []
    for group in PREFERRED:
        hit = next((c for c in group if c in cols), None)
        if hit is None:
            word = group[0].split(".")[0]
            if word in ("margin", "cost"):
                hit = next((c for c in sorted(cols) if word in c and c not in out), None)
        if hit and hit not in out:
            out.append(hit)
    out += [c for c in sorted(cols) if c.startswith("finish_day.") and c not in out][:1]
    return out[:limit]


def _order(values: pd.Series) -> list:
    return list(dict.fromkeys(values.tolist()))


def fig_kpis_vs_axes(df: pd.DataFrame, axes: list[str], kpis: list[str]) -> Figure | None:
    ok = df[df.status == "ok"]
    if ok.empty or not axes or not kpis:
        return None
    plt = _plt()
    fig, grid = plt.subplots(
        len(kpis), len(axes), figsize=(4.6 * len(axes) + 0.5, 2.6 * len(kpis)), squeeze=False
    )
    cmap = plt.get_cmap("tab10")
    for j, axis in enumerate(axes):
        hue = next((a for a in axes if a != axis), None)
        xs = _order(df[axis])
        hues = _order(df[hue]) if hue else [None]
        for i, k in enumerate(kpis):
            ax = grid[i][j]
            for h_i, h in enumerate(hues):
                sub = ok if h is None else ok[ok[hue] == h]
                off = (h_i - (len(hues) - 1) / 2) * 0.08
                means, lo, hi = [], [], []
                for x in xs:
                    v = sub.loc[sub[axis] == x, k].dropna()
                    means.append(v.mean() if len(v) else np.nan)
                    lo.append(v.min() if len(v) else np.nan)
                    hi.append(v.max() if len(v) else np.nan)
                    ax.scatter([xs.index(x) + off] * len(v), v, s=8, color=cmap(h_i), alpha=0.45)
                pos = np.arange(len(xs)) + off
                means, lo, hi = map(np.array, (means, lo, hi))
                ax.errorbar(
                    pos,
                    means,
                    yerr=[means - lo, hi - means],
                    color=cmap(h_i),
                    capsize=3,
                    marker="o",
                    ms=4,
                    lw=1.4,
                    label=None if h is None else f"{hue[5:]}={h}",
                )
            ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=20, ha="right")
            if j == 0:
                ax.set_ylabel(_kpi_label(k))
            if i == 0:
                ax.set_title(f"against {axis[5:]}", loc="left")
                if hue:
                    ax.legend(fontsize=7, frameon=False)
            _scale_axis(ax, k)
    fig.tight_layout()
    return Figure(
        "kpis_vs_axes",
        "KPIs against each axis, with the spread across seeds",
        "One column per swept axis, one row per KPI. Points are single runs (one per seed); the "
        "line joins the mean over seeds and the error bar spans the lowest to the highest seed. "
        "Lines are split by the other axis; any further axes are pooled.",
        _png(fig),
    )


def _kpi_label(k: str) -> str:
    if k.endswith("_usd"):
        return f"{k}\n(billion USD)"
    if k.startswith("mfu."):
        return f"{k}\n(%)"
    if k.startswith("gpu_hours."):
        return f"{k}\n(million GPU-h)"
    return k


def _scale_axis(ax, k: str) -> None:
    from matplotlib.ticker import FuncFormatter

    scale = (
        1e-9
        if k.endswith("_usd")
        else 100
        if k.startswith("mfu.")
        else 1e-6
        if k.startswith("gpu_hours.")
        else 1
    )
    if scale != 1:
        ax.yaxis.set_major_formatter(
            FuncFormatter(
                lambda v, _: f"{v * scale:,.0f}" if abs(v * scale) >= 100 else f"{v * scale:,.3g}"
            )
        )


def policy_axis(df: pd.DataFrame, plan: dict) -> str | None:
    for a in plan.get("axes", []):
        if a["path"] == "policy" or a["path"].startswith("policy."):
            return f"axis.{a['key']}"
    return None


def fig_policies(df: pd.DataFrame, pol: str, kpis: list[str]) -> Figure | None:
    ok = df[df.status == "ok"]
    if ok.empty or not kpis:
        return None
    plt = _plt()
    names = _order(df[pol])
    fig, grid = plt.subplots(1, len(kpis), figsize=(2.6 * len(kpis) + 1, 3.2), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, k in zip(grid[0], kpis, strict=True):
        for i, name in enumerate(names):
            v = ok.loc[ok[pol] == name, k].dropna()
            if v.empty:
                continue
            ax.bar(i, v.mean(), color=cmap(i), alpha=0.8)
            ax.errorbar(
                i,
                v.mean(),
                yerr=[[v.mean() - v.min()], [v.max() - v.mean()]],
                color="black",
                capsize=3,
            )
        ax.set_xticks(range(len(names)), [str(n) for n in names], rotation=30, ha="right")
        ax.set_title(_kpi_label(k), fontsize=8)
        _scale_axis(ax, k)
    fig.tight_layout()
    return Figure(
        "policy_comparison",
        "Policy comparison",
        "Each KPI by allocation policy: the bar is the mean over every other axis value and "
        "seed, the whisker spans the lowest to the highest run.",
        _png(fig),
    )


# -- the page ----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1180px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ddd}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#444;font-size:.92em;max-width:900px}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f5f5f5}
td.l,th.l{text-align:left}.muted{color:#777}.bad{color:#b00}
"""

# Marks the page once every figure has decoded (the browser test reads it); no other script.
SCRIPT = (
    "window.addEventListener('load',function(){var ok=0;for(var i=0;i<document.images.length;"
    "i++){var im=document.images[i];if(im.complete&&im.naturalWidth>0){ok++;}}"
    "document.body.setAttribute('data-figures-loaded',String(ok));});"
)


def _fmt(k: str, v) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if k.startswith("mfu.") or k.endswith("fraction"):
        return f"{100 * v:.1f}%"
    if k.endswith("_usd"):
        return f"${v / 1e9:,.2f}B"
    if k.startswith("gpu_hours."):
        return f"{v / 1e6:,.1f}M GPU-h"
    if isinstance(v, float) and v.is_integer():
        return f"{v:,.0f}"
    return f"{v:,.4g}" if isinstance(v, float) else _esc(v)


def _figure_html(f: Figure) -> str:
    data = base64.b64encode(f.png).decode()
    return (
        f'<figure id="{f.slug}"><h3>{_esc(f.title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{_esc(f.title)}: {_esc(f.description)}">'
        f"<figcaption>{_esc(f.description)} <span class='muted'>({f.slug}.png)</span></figcaption></figure>"
    )


def _kpi_table(k: dict[str, float], keys: list[str] | None = None) -> str:
    keys = keys or list(k)
    rows = "".join(
        f"<tr><td class=l>{_esc(n)}</td><td>{_fmt(n, k[n])}</td></tr>" for n in keys if n in k
    )
    return f"<table><tr><th class=l>KPI</th><th>value</th></tr>{rows}</table>"


HEADLINE = (
    "mfu.all_training",
    "revenue.total_usd",
    "revenue.lease_usd",
    "revenue.token_usd",
    "cost.total_usd",
    "margin.total_usd",
    "gpu_hours.lease",
    "gpu_hours.training",
    "gpu_hours.serving",
    "gpu_hours.idle",
)


def _page(title: str, subtitle: str, body: list[str]) -> str:
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1><p class=muted>{_esc(subtitle)}</p>"
        + "\n".join(body)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def _run_section(tables: dict[str, pd.DataFrame], figs: list[Figure]) -> list[str]:
    out = []
    for make in RUN_FIGURES:
        f = make(tables)
        if f is not None:
            figs.append(f)
            out.append(_figure_html(f))
    return out


def run_page(run_dir: Path, figs: list[Figure]) -> str:
    from sim.report import kpis

    manifest = read_object(run_dir / "manifest.json")
    scen = read_object(run_dir / "scenario.json").get("scenario", {})
    try:
        k = kpis(run_dir)
    except Exception as exc:  # an older run folder: figures still render
        k, note = {}, f"KPIs unavailable: {type(exc).__name__}: {exc}"
    else:
        note = ""
    body = [
        f"<p>{_esc(scen.get('description', ''))}</p>",
        f"<p>Seed {_esc(manifest.get('seed'))}, policy {_esc(scen.get('policy', {}).get('kind', ''))}, "
        f"horizon {_esc(' to '.join(manifest.get('horizon', [])))}.</p>",
        "<h2>Headline numbers</h2>",
        _kpi_table(k, [h for h in HEADLINE if h in k]) if k else f"<p class=bad>{_esc(note)}</p>",
        "<h2>Figures</h2>",
        *_run_section(_tables_of_run(run_dir), figs),
    ]
    if k:
        body += ["<h2>All KPIs</h2><details><summary>show</summary>", _kpi_table(k), "</details>"]
    title = f"{manifest.get('scenario', run_dir.name)}, seed {manifest.get('seed')}"
    return _page(title, f"sim report of {run_dir}", body)


def sweep_page(sweep_dir: Path, figs: list[Figure]) -> str:
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    df = pd.read_parquet(sweep_dir / "summary.parquet")
    axes = [c for c in df.columns if c.startswith("axis.")]
    kp = sweep_kpis(df)
    body = [
        f"<p>{_esc(plan.get('description', ''))}</p>",
        f"<p>Base scenario {_esc(plan.get('scenario', ''))}; {len(plan['points'])} scenarios x "
        f"{len(plan['seeds'])} seeds = {len(df)} runs: {int((df.status == 'ok').sum())} ok, "
        f"<span class=bad>{int((df.status == 'failed').sum())} failed</span>, "
        f"{int((df.status == 'missing').sum())} missing.</p>",
        "<h2>Axes</h2><table><tr><th class=l>axis</th><th class=l>field</th><th class=l>values</th></tr>"
        + "".join(
            f"<tr><td class=l>{_esc(a['key'])}</td><td class=l>{_esc(a['path'])}</td>"
            f"<td class=l>{_esc(', '.join(map(str, a['labels'])))}</td></tr>"
            for a in plan.get("axes", [])
        )
        + "</table>",
    ]
    f = fig_kpis_vs_axes(df, axes, kp)
    if f:
        figs.append(f)
        body += ["<h2>KPIs against the axes</h2>", _figure_html(f)]
    pol = policy_axis(df, plan)
    body.append("<h2>Policy comparison</h2>")
    if pol:
        f = fig_policies(df, pol, kp)
        if f:
            figs.append(f)
            body.append(_figure_html(f))
        body.append(_mean_table(df, pol, kp))
    else:
        body.append("<p class=muted>This sweep has no policy axis (policy or policy.kind).</p>")
    body += ["<h2>Scenarios</h2>", _scenario_table(df, axes, kp)]
    failed = df[df.status == "failed"]
    if len(failed):
        body.append(
            "<h2>Failed runs</h2><table><tr><th>scenario</th><th>seed</th><th class=l>error</th></tr>"
        )
        body += [
            f"<tr><td>{_esc(r.scenario)}</td><td>{_esc(r.seed)}</td><td class='l bad'>{_esc(r.error)}</td></tr>"
            for r in failed.itertuples()
        ]
        body.append("</table>")
    ok = df[df.status == "ok"]
    if len(ok):
        first = ok.iloc[0]
        tables = _tables_of_sweep_run(sweep_dir, str(first.scenario), int(first.seed))
        labels = ", ".join(f"{a[5:]}={first[a]}" for a in axes)
        body += [
            f"<h2>One run in detail: scenario {_esc(first.scenario)} ({_esc(labels)}), seed {_esc(first.seed)}</h2>",
            *_run_section(tables, figs),
        ]
    return _page(f"Sweep {plan.get('sweep', sweep_dir.name)}", f"sim report of {sweep_dir}", body)


def _mean_table(df: pd.DataFrame, by: str, kpis: list[str]) -> str:
    ok = df[df.status == "ok"]
    head = "".join(f"<th>{_esc(k)}</th>" for k in kpis)
    rows = []
    for name in _order(df[by]):
        sub = ok[ok[by] == name]
        cells = "".join(
            f"<td>{_fmt(k, sub[k].mean()) if len(sub) else 'n/a'}"
            f"<span class=muted> ± {_fmt(k, sub[k].std()) if len(sub) > 1 else '0'}</span></td>"
            for k in kpis
        )
        rows.append(f"<tr><td class=l>{_esc(name)}</td><td>{len(sub)}</td>{cells}</tr>")
    return (
        f"<table><tr><th class=l>{_esc(by[5:])}</th><th>runs</th>{head}</tr>{''.join(rows)}</table>"
        "<p class=muted>Mean ± standard deviation over runs (seeds and other axes).</p>"
    )


def _scenario_table(df: pd.DataFrame, axes: list[str], kpis: list[str]) -> str:
    head = "".join(f"<th class=l>{_esc(a[5:])}</th>" for a in axes) + "".join(
        f"<th>{_esc(k)}</th>" for k in kpis
    )
    rows = []
    for sid, sub in df.groupby("scenario", sort=True):
        ok = sub[sub.status == "ok"]
        cells = "".join(f"<td class=l>{_esc(sub[a].iloc[0])}</td>" for a in axes)
        cells += "".join(f"<td>{_fmt(k, ok[k].mean()) if len(ok) else 'n/a'}</td>" for k in kpis)
        rows.append(f"<tr><td>{_esc(sid)}</td><td>{len(ok)}/{len(sub)}</td>{cells}</tr>")
    return (
        f"<table><tr><th>scenario</th><th>runs ok</th>{head}</tr>{''.join(rows)}</table>"
        "<p class=muted>KPIs: mean over seeds.</p>"
    )


def write_report(target: str | Path, out: str | Path | None = None) -> tuple[Path, list[Figure]]:
    """Write `<out>/index.html` (self-contained) and one PNG per figure; default out:
    `<target>/report/`. `target` is a run folder (manifest.json) or a sweep (sweep.json)."""
    from sim.errors import InputError

    target = Path(target)
    out_dir = Path(out) if out else target / "report"
    figs: list[Figure] = []
    if (target / "sweep.json").is_file():
        if not (target / "summary.parquet").is_file():
            raise InputError.single(
                "", "sweep has no summary.parquet yet: run sim sweep first", file=target
            )
        page = sweep_page(target, figs)
    elif (target / "manifest.json").is_file():
        page = run_page(target, figs)
    else:
        raise InputError.single(
            "", "not a run folder (manifest.json) or a sweep folder (sweep.json)", file=target
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    for f in figs:
        n = seen[f.slug] = seen.get(f.slug, 0) + 1
        (out_dir / (f"{f.slug}.png" if n == 1 else f"{f.slug}-{n}.png")).write_bytes(f.png)
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "index.html", figs
