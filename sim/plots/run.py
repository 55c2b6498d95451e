"""Figures of one run (plotly): who holds each pool's GPUs day by day (by tenant and by job
class), lease delivery against contract with the revenue at risk, facility power and idle GPUs
per site, MFU over time, where MFU goes, money by month and the lease timeline. The numbers
come from `sim.plots.rundata`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.plots import Figure
from sim.plots.rundata import (
    DAY_MS,
    RunData,
    holders,
    lease_delivery,
    monthly_money,
    waterfall,
    weekly_mfu,
)
from sim.plots.style import SITE_DASH, color


def _daily(trace_cls, values: np.ndarray, start: pd.Timestamp, **kw):
    """A daily series as x0 + dx (no date list in the page: it stays small)."""
    return trace_cls(y=np.asarray(values), x0=start.strftime("%Y-%m-%d"), dx=DAY_MS, **kw)


def _date_axes(fig, rows: int) -> None:
    """Dates on every panel's x axis (not only the bottom one)."""
    fig.update_xaxes(type="date", showticklabels=True, tickformat="%Y-%m-%d")


def fig_holders(d: RunData) -> Figure | None:
    h = holders(d)
    if not h:
        return None
    pools = d.table("pools")
    info = pools.drop_duplicates("pool").set_index("pool")
    names = list(h)
    titles = [
        f"{p} ({info.gpu.get(p, '')}, {info.site.get(p, '')})" if "gpu" in info else p
        for p in names
    ]
    fig = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        subplot_titles=titles,
        vertical_spacing=0.25 / len(names),
    )
    seen = set()
    for i, pool in enumerate(names, start=1):
        for holder, v in h[pool].items():
            if not np.any(v):
                continue
            fig.add_trace(
                _daily(
                    go.Scatter,
                    v.to_numpy(np.int32),
                    d.start,
                    name=holder,
                    legendgroup=holder,
                    showlegend=holder not in seen,
                    stackgroup=f"p{i}",
                    line={"width": 0, "color": color(holder)},
                    fillcolor=color(holder),
                    hovertemplate=f"{holder}: %{{y:,.0f}} GPUs<extra></extra>",
                ),
                row=i,
                col=1,
            )
            seen.add(holder)
        fig.update_yaxes(title_text="GPUs", row=i, col=1)
    _date_axes(fig, len(names))
    fig.update_layout(height=240 * len(names) + 120, hovermode="x unified")
    return Figure(
        "gpus_by_holder",
        "Who held which pool, day by day",
        "For each pool, the GPUs online at 00:00 UTC each day stacked by who held them: each "
        "tenant's lease, internal training by job class, serving, idle, and down (failed). "
        "The totals per owner class are the pools table's; the split by tenant and job class "
        "follows where each lease tranche and training segment was placed. The top of each "
        "stack is the pool's online capacity: steps up are phases coming online.",
        fig,
    )


def fig_lease_delivery(d: RunData) -> Figure | None:
    ld = lease_delivery(d)
    if not ld:
        return None
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=(
            "GPUs contracted (dashed) and delivered (solid)",
            "Revenue at risk, accumulated",
        ),
        vertical_spacing=0.14,
    )
    top = max(float(f.at_risk_usd.max()) for f in ld.values())
    unit, unit_name = (1e9, "billion USD") if top >= 5e8 else (1e6, "million USD")
    for tenant, f in ld.items():
        c = color(tenant)
        kw = {"legendgroup": tenant}
        fig.add_trace(
            _daily(
                go.Scatter,
                f.delivered.to_numpy(np.int32),
                d.start,
                name=f"{tenant} delivered",
                line={"color": c, "width": 2},
                hovertemplate=f"{tenant} delivered: %{{y:,.0f}} GPUs<extra></extra>",
                **kw,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            _daily(
                go.Scatter,
                f.contracted.to_numpy(np.int32),
                d.start,
                name=f"{tenant} contracted",
                line={"color": c, "width": 1.5, "dash": "dash"},
                hovertemplate=f"{tenant} contracted: %{{y:,.0f}} GPUs<extra></extra>",
                **kw,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            _daily(
                go.Scatter,
                (f.at_risk_usd.to_numpy() / unit).astype(np.float32),
                d.start,
                name=f"{tenant} at risk",
                line={"color": c, "width": 2},
                showlegend=False,
                hovertemplate=f"{tenant} at risk: $%{{y:,.2f}}{unit_name[0]}<extra></extra>",
                **kw,
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="GPUs", row=1, col=1)
    fig.update_yaxes(title_text=unit_name, row=2, col=1)
    _date_axes(fig, 2)
    fig.update_layout(height=620, hovermode="x unified")
    return Figure(
        "lease_delivery",
        "Leases: delivered against contracted, and the revenue at risk",
        "Per tenant, the GPUs its tranches contract for on each day of their term (dashed) "
        "against the GPUs it held that day (its lease GPU-hours / 24, solid); below, the shortfall priced at the "
        "tranches' contract price per GPU-hour and summed from the start of the horizon: the "
        "lease revenue not earned (or owed back) because capacity was not there.",
        fig,
    )


def fig_leases(d: RunData) -> Figure | None:
    leases = d.table("leases")
    if leases is None:
        return None
    ls = leases.sort_values(["start_at", "contract", "tranche"]).reset_index(drop=True)
    fig = go.Figure()
    seen = set()
    for i, r in enumerate(ls.itertuples()):
        c, tenant = color(r.tenant), str(r.tenant)
        fig.add_trace(
            go.Scatter(
                x=[r.start_at, r.end_at],
                y=[i, i],
                mode="lines",
                line={"color": c, "width": 16},
                opacity=0.3,
                name=f"{tenant} contracted term",
                legendgroup=tenant,
                showlegend=False,
                hovertemplate=f"{r.contract} #{r.tranche}: term %{{x}}<extra></extra>",
            )
        )
        if pd.notna(r.held_from):
            fig.add_trace(
                go.Scatter(
                    x=[r.held_from, r.held_until],
                    y=[i, i],
                    mode="lines",
                    line={"color": c, "width": 7},
                    name=tenant,
                    legendgroup=tenant,
                    showlegend=tenant not in seen,
                    hovertemplate=f"{r.contract} #{r.tranche}: held %{{x}}<extra></extra>",
                )
            )
            seen.add(tenant)
        if pd.notna(getattr(r, "notice_at", pd.NaT)):
            by = getattr(r, "notice_by", "") or "?"
            fig.add_trace(
                go.Scatter(
                    x=[r.notice_at],
                    y=[i],
                    mode="markers",
                    marker={"symbol": "triangle-down", "size": 13, "color": "#d62728"},
                    name="notice",
                    legendgroup="notice",
                    showlegend="notice" not in seen,
                    hovertemplate=f"notice by {by}: %{{x}}<extra></extra>",
                )
            )
            seen.add("notice")
    for at, label in ((d.start, "horizon start"), (d.end, "horizon end")):
        fig.add_shape(
            type="line",
            x0=at,
            x1=at,
            y0=0,
            y1=1,
            yref="paper",
            line={"color": "#333", "dash": "dot", "width": 1.5},
        )
        fig.add_annotation(
            x=at, y=1.02, yref="paper", text=label, showarrow=False, font={"size": 10}
        )
    fig.update_yaxes(
        tickvals=list(range(len(ls))),
        ticktext=[
            f"{r.contract} #{r.tranche} ({r.tenant}, {r.gpus_contracted:,} GPUs)"
            for r in ls.itertuples()
        ],
        autorange="reversed",
    )
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d")
    fig.update_layout(height=70 * len(ls) + 160, hovermode="closest")
    return Figure(
        "lease_timeline",
        "Lease timeline with the horizon and notices",
        "One row per lease tranche: the pale bar is the contracted term, the solid bar the time "
        "the tenant actually held the capacity; red triangles mark notices. The dotted lines "
        "are the simulated horizon: a term running past it is not cut short, the run just ends.",
        fig,
    )


def fig_sites(d: RunData) -> Figure | None:
    pools = d.table("pools")
    if pools is None or "facility_mw" not in pools:
        return None
    site = pools.site.astype(str) if "site" in pools else pd.Series("site", index=pools.index)
    g = (
        pools.assign(site=site)
        .groupby(["site", "date"], observed=True)[["facility_mw", "gpus_idle"]]
        .sum()
    )
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("Facility power of the online capacity (MW)", "Idle GPUs at 00:00 UTC"),
        vertical_spacing=0.14,
    )
    for k, s in enumerate(dict.fromkeys(site)):
        f = g.loc[s].reindex(d.days).fillna(0.0)
        dash = SITE_DASH[k % len(SITE_DASH)]
        fig.add_trace(
            _daily(
                go.Scatter,
                f.facility_mw.to_numpy(np.float32),
                d.start,
                name=f"{s} MW",
                line={"color": "#9d755d", "dash": dash},
                hovertemplate=f"{s}: %{{y:,.0f}} MW<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            _daily(
                go.Scatter,
                f.gpus_idle.to_numpy(np.int32),
                d.start,
                name=f"{s} idle GPUs",
                line={"color": "#7f7f7f", "dash": dash},
                hovertemplate=f"{s}: %{{y:,.0f}} idle GPUs<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_yaxes(title_text="MW", row=1, col=1)
    fig.update_yaxes(title_text="GPUs", row=2, col=1)
    _date_axes(fig, 2)
    fig.update_layout(height=560, hovermode="x unified")
    return Figure(
        "sites_power_idle",
        "Facility power and idle GPUs per site",
        "Per site (one line style each), the facility power of the capacity online (IT load at "
        "full draw x PUE, the pools table's facility_mw summed) and the GPUs online, healthy "
        "and held by nobody at 00:00 UTC each day.",
        fig,
    )


def fig_mfu_over_time(d: RunData) -> Figure | None:
    seg = d.table("segments")
    if seg is None:
        return None
    w = weekly_mfu(seg, "job_class")
    if w.empty:
        return None
    fig = go.Figure()
    for k in w.columns:
        total = k == "all training"
        fig.add_trace(
            go.Scatter(
                x=w.index.strftime("%Y-%m-%d"),
                y=np.round(100 * w[k].to_numpy(), 2),
                name=k,
                mode="lines",
                line={"color": "#000000" if total else color(k), "width": 2.5 if total else 1.5},
                hovertemplate=f"{k}: %{{y:.1f}}%<extra></extra>",
            )
        )
    fig.update_yaxes(title_text="MFU (%)", rangemode="tozero")
    fig.update_xaxes(type="date", tickformat="%Y-%m-%d")
    fig.update_layout(height=380, hovermode="x unified")
    return Figure(
        "mfu_over_time",
        "MFU over time by job class",
        "Weekly model FLOPs utilisation: model FLOPs done / dense peak FLOPs of the GPUs "
        "allocated (whole NVLink domains), per job class and over all training (black). "
        "Segments are apportioned to weeks by their overlap. Time waiting for capacity is not in it.",
        fig,
    )


def fig_waterfall(d: RunData, top: int = 4) -> Figure | None:
    jobs = d.table("jobs")
    if jobs is None or "att_kernel_efficiency" not in jobs:
        return None
    big = jobs[jobs.gpu_hours > 0].sort_values("gpu_hours", ascending=False).head(top)
    if big.empty:
        return None
    titles = [
        f"{r.name} ({r.job_class}), {r.gpu_hours / 1e6:,.0f}M GPU-h" for r in big.itertuples()
    ]
    fig = make_subplots(rows=1, cols=len(big), subplot_titles=titles, shared_yaxes=True)
    for k, row in enumerate(big.itertuples(), start=1):
        steps = waterfall(row)
        labels = ["peak", *[s[0] for s in steps], "achieved"]
        final = steps[-1][2]
        ys = [100.0, *[100 * (b - a) for _, b, a in steps], 100 * final]
        bases = [0.0, *[100 * a for _, _, a in steps], 0.0]
        colors = ["#4c78a8", *["#e45756"] * len(steps), "#54a24b"]
        text = ["100%", *[f"-{y:.1f}" if y > 0.4 else "" for y in ys[1:-1]], f"{100 * final:.1f}%"]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=np.round(ys, 2),
                base=np.round(bases, 2),
                marker_color=colors,
                text=text,
                textposition="outside",
                textfont={"size": 9},
                showlegend=False,
                hovertemplate="%{x}: %{y:.1f} points<extra></extra>",
            ),
            row=1,
            col=k,
        )
    fig.update_yaxes(title_text="% of dense peak", range=[0, 112], row=1, col=1)
    fig.update_xaxes(tickangle=-50)
    fig.update_layout(height=440, bargap=0.15)
    return Figure(
        "mfu_waterfall",
        "Where MFU goes: attribution of the biggest jobs",
        "For the jobs with the most GPU-hours, from 100% of the allocated GPUs' dense peak down "
        "to what the job achieved including time waiting for capacity: each red bar is the share "
        "of peak lost to kernel efficiency (and recomputation), exposed communication (tensor, "
        "pipeline and data parallel), the pipeline bubble, straggling (slowest GPU or type), "
        "fragmentation (GPUs allocated but unused by the layout), failures and waiting. Losses "
        "multiply, so each bar is taken from what is left after the previous ones.",
        fig,
    )


def fig_money(d: RunData) -> Figure | None:
    m, source = monthly_money(d)
    if m.empty:
        return None
    x = [p.start_time.strftime("%Y-%m-%d") for p in m.index]
    fig = go.Figure()
    for c in sorted(m.columns, key=lambda c: -abs(m[c]).sum()):
        v = m[c].to_numpy() / 1e9
        fig.add_trace(
            go.Bar(
                x=x,
                y=np.round(v, 5),
                name=c,
                marker_color=color(c),
                hovertemplate=f"{c}: %{{y:.3f}}B USD<extra></extra>",
            )
        )
    net = m.sum(axis=1).to_numpy() / 1e9
    fig.add_trace(
        go.Scatter(
            x=x,
            y=np.round(net, 5),
            name="net",
            mode="lines+markers",
            line={"color": "#000000", "width": 2},
            hovertemplate="net: %{y:.3f}B USD<extra></extra>",
        )
    )
    fig.update_layout(barmode="relative", height=420, hovermode="x unified")
    fig.update_yaxes(title_text="billion USD per month")
    fig.update_xaxes(type="date", tickformat="%Y-%m", dtick="M1" if len(x) <= 12 else "M3")
    return Figure(
        "money_by_month",
        "Revenue and cost by month and counterparty",
        f"USD per calendar month from {source}: revenue above zero, costs below, stacked by "
        "counterparty (each counterparty has the same colour on every page); the black line is "
        "the month's net.",
        fig,
    )


RUN_FIGURES = (
    fig_holders,
    fig_lease_delivery,
    fig_sites,
    fig_mfu_over_time,
    fig_waterfall,
    fig_money,
    fig_leases,
)
