"""Figures of a sweep, from its summary (one row per run): each KPI against each axis with the
spread over seeds, each scenario's difference from a baseline scenario, and the policies side
by side. Every figure names scenarios by their axis values, never by `s00`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.plots import Figure
from sim.plots.style import PALETTE, higher_is_better, kpi_label, scale, wrap

# The KPIs a sweep page compares unless `--kpis` names others: the first present of each group.
PREFERRED = (
    ("mfu.all_training",),
    ("revenue.total_usd", "revenue.lease_usd"),
    ("margin.total_usd",),
    ("cost.total_usd",),
    ("revenue.token_usd",),
    ("gpu_hours.idle",),
)


@dataclass
class SweepData:
    """What every sweep figure reads: the summary, the plan (sweep.json), the axis columns, the
    KPIs compared and the baseline scenario's id."""

    dir: Path
    plan: dict
    df: pd.DataFrame
    kpis: list[str]
    baseline: str | None
    axes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> pd.DataFrame:
        return self.df[self.df.status == "ok"]

    def label(self, scenario: str) -> str:
        """A scenario named by its axis values: `failure_scale=0.5, policy=fifo+backfill`."""
        row = self.df[self.df.scenario == scenario]
        if row.empty or not self.axes:
            return str(scenario)
        r = row.iloc[0]
        return ", ".join(f"{a[5:]}={value_text(r[a])}" for a in self.axes)


def value_text(x: Any) -> str:
    if isinstance(x, float) and x.is_integer():
        return f"{x:g}"
    return str(x)


def default_kpis(df: pd.DataFrame, limit: int = 6) -> list[str]:
    """The KPIs a sweep page compares by default: MFU, revenue, margin, cost, tokens, idle,
    and the first pre-training finish day, those the summary has."""
    cols = [
        c
        for c in df.columns
        if df[c].dtype.kind == "f" and c != "wall_s" and not c.startswith("axis.")
    ]
    out = []
    for group in PREFERRED:
        hit = next((c for c in group if c in cols), None)
        if hit and hit not in out:
            out.append(hit)
    out += [c for c in sorted(cols) if c.startswith("finish_day.") and c not in out][:1]
    return out[:limit]


def _get(data: Any, path: str) -> Any:
    """The value at a dotted path (`sites[1].phase_online.x`) of a TOML document, or None."""
    import re

    cur = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            cur = cur[i] if isinstance(cur, list) and i < len(cur) else None
        else:
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur is None:
            return None
    return cur


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: json.dumps(v, sort_keys=True, default=str)  # noqa: E731
    if isinstance(a, dict) and isinstance(b, dict):  # a policy table: kind and params
        return norm({"params": {}, **a}) == norm({"params": {}, **b})
    return norm(a) == norm(b)


def default_baseline(plan: dict) -> str | None:
    """The point whose every axis value is the base scenario's own (the sweep's "as planned"),
    else the first point."""
    points = plan.get("points") or []
    if not points:
        return None
    try:
        from sim.spec.base import read_toml

        base = read_toml(plan["scenario"])
    except Exception:  # the base file moved: fall back to the first point
        return points[0]["id"]
    for p in points:
        if all(_same(_get(base, path), v) for path, v in p.get("overrides", {}).items()):
            return p["id"]
    return points[0]["id"]


def _stats(v: pd.Series) -> tuple[float, float, float]:
    """Mean, and the distances down to the lowest and up to the highest value (never negative:
    a KPI equal in every run has a mean a rounding error away from its min and max)."""
    v = v[np.isfinite(v.astype(float))]
    if v.empty:
        return np.nan, np.nan, np.nan
    m = float(v.mean())
    return m, max(0.0, m - float(v.min())), max(0.0, float(v.max()) - m)


def fig_kpis_vs_axes(s: SweepData) -> Figure | None:
    ok = s.ok
    if ok.empty or not s.axes or not s.kpis:
        return None
    fig = make_subplots(
        rows=len(s.kpis),
        cols=len(s.axes),
        subplot_titles=[f"{kpi_label(k)[0]} against {a[5:]}" for k in s.kpis for a in s.axes],
        vertical_spacing=0.35 / len(s.kpis),
        horizontal_spacing=0.08,
    )
    seen: set[str] = set()
    palette: dict[str, str] = {}  # one colour per line name across the whole figure
    for j, axis in enumerate(s.axes, start=1):
        hue = next((a for a in s.axes if a != axis), None)
        xs = list(dict.fromkeys(s.df[axis].tolist()))
        hues = list(dict.fromkeys(s.df[hue].tolist())) if hue else [None]
        for i, k in enumerate(s.kpis, start=1):
            f, title = scale(k, s.ok.get(k))
            for h in hues:
                sub = ok if h is None else ok[ok[hue] == h]
                name = "all runs" if h is None else f"{hue[5:]}={value_text(h)}"
                c = palette.setdefault(name, PALETTE[len(palette) % len(PALETTE)])
                stats = [_stats(sub.loc[sub[axis] == x, k]) for x in xs]
                m = np.array([t[0] for t in stats]) * f
                lo = np.array([t[1] for t in stats]) * abs(f)
                hi = np.array([t[2] for t in stats]) * abs(f)
                labels = [f"{axis[5:]}={value_text(x)}" for x in xs]
                fig.add_trace(
                    go.Scatter(
                        x=labels,
                        y=m,
                        mode="lines+markers",
                        name=name,
                        legendgroup=name,
                        showlegend=name not in seen,
                        line={"color": c},
                        error_y={"type": "data", "array": hi, "arrayminus": lo, "visible": True},
                        hovertemplate=f"{name}, %{{x}}: %{{y:.4g}}<extra>mean over seeds</extra>",
                    ),
                    row=i,
                    col=j,
                )
                seen.add(name)
                pts = sub[[axis, k]].dropna()
                fig.add_trace(
                    go.Scatter(
                        x=[f"{axis[5:]}={value_text(x)}" for x in pts[axis]],
                        y=pts[k].to_numpy(float) * f,
                        mode="markers",
                        marker={"color": c, "size": 5, "opacity": 0.45},
                        name=f"{name} runs",
                        legendgroup=name,
                        showlegend=False,
                        hovertemplate="one run: %{y:.4g}<extra></extra>",
                    ),
                    row=i,
                    col=j,
                )
            if j == 1:
                fig.update_yaxes(title_text=title.replace(" (", "<br>("), row=i, col=j)
    fig.update_layout(height=260 * len(s.kpis) + 100, hovermode="closest")
    return Figure(
        "kpis_vs_axes",
        "KPIs against each axis, with the spread across seeds",
        "One column per swept axis, one row per KPI. Points are single runs; the line joins the "
        "mean over seeds and the error bar spans the lowest to the highest run. Lines are split "
        "by the other axis; any further axes are pooled.",
        fig,
    )


def deltas(s: SweepData) -> pd.DataFrame:
    """Per scenario and KPI: mean over seeds minus the baseline scenario's mean."""
    means = s.ok.groupby("scenario")[s.kpis].mean()
    if s.baseline not in means.index:
        return pd.DataFrame()
    return means - means.loc[s.baseline]


def fig_deltas(s: SweepData) -> Figure | None:
    d = deltas(s)
    if d.empty or len(d) < 2:
        return None
    order = [
        p["id"] for p in s.plan.get("points", []) if p["id"] in d.index and p["id"] != s.baseline
    ]
    labels = [s.label(sid) for sid in order]
    fig = make_subplots(
        rows=1,
        cols=len(s.kpis),
        subplot_titles=[wrap(kpi_label(k)[0]) for k in s.kpis],
        horizontal_spacing=0.05,
    )
    for j, k in enumerate(s.kpis, start=1):
        f, title = scale(k, d[k])
        v = d.loc[order, k].to_numpy(float) * f
        sign = 1 if higher_is_better(k) else -1
        colors = [
            "#54a24b" if x * sign > 0 else "#e45756" if x * sign < 0 else "#c7c7c7"
            for x in np.nan_to_num(v)
        ]
        fig.add_trace(
            go.Bar(
                y=labels,
                x=v,
                orientation="h",
                marker_color=colors,
                showlegend=False,
                hovertemplate="%{y}: %{x:+.4g}<extra>" + title + "</extra>",
            ),
            row=1,
            col=j,
        )
        fig.update_xaxes(title_text=title.split(" (")[-1].rstrip(")"), row=1, col=j)
        fig.update_yaxes(showticklabels=j == 1, autorange="reversed", row=1, col=j)
    fig.update_layout(height=36 * len(order) + 200)
    return Figure(
        "deltas_vs_baseline",
        f"Each scenario against the baseline ({s.label(s.baseline)})",
        "Mean over seeds of each KPI minus the baseline scenario's mean: green where the "
        "scenario does better (more revenue, margin, MFU; less cost, idle, failures, days to "
        "finish), red where it does worse.",
        fig,
    )


def policy_axis(s: SweepData) -> str | None:
    for a in s.plan.get("axes", []):
        if a["path"] == "policy" or a["path"].startswith("policy."):
            return f"axis.{a['key']}"
    return None


def fig_policies(s: SweepData) -> Figure | None:
    pol = policy_axis(s)
    ok = s.ok
    if pol is None or ok.empty or not s.kpis:
        return None
    names = list(dict.fromkeys(s.df[pol].tolist()))
    fig = make_subplots(
        rows=1,
        cols=len(s.kpis),
        subplot_titles=[wrap(kpi_label(k)[0]) for k in s.kpis],
        horizontal_spacing=0.06,
    )
    for j, k in enumerate(s.kpis, start=1):
        f, title = scale(k, s.ok.get(k))
        stats = [_stats(ok.loc[ok[pol] == n, k]) for n in names]
        m = np.array([t[0] for t in stats]) * f
        fig.add_trace(
            go.Bar(
                x=[f"{pol[5:]}={n}" for n in names],
                y=m,
                marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(names))],
                error_y={
                    "type": "data",
                    "array": np.array([t[2] for t in stats]) * abs(f),
                    "arrayminus": np.array([t[1] for t in stats]) * abs(f),
                    "visible": True,
                    "color": "#000",
                },
                showlegend=False,
                hovertemplate="%{x}: %{y:.4g}<extra>" + title + "</extra>",
            ),
            row=1,
            col=j,
        )
        fig.update_yaxes(title_text=title.split(" (")[-1].rstrip(")"), row=1, col=j)
    fig.update_layout(height=400)
    return Figure(
        "policy_comparison",
        "Policy comparison",
        "Each KPI by allocation policy: the bar is the mean over every other axis value and "
        "seed, the whisker spans the lowest to the highest run.",
        fig,
    )


SWEEP_FIGURES = (fig_kpis_vs_axes, fig_deltas, fig_policies)
