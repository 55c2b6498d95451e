"""The sections of the report's pages: each builder takes a run's (`RunData`) or a sweep's
(`SweepData`) data and returns a `Section` (one heading, escaped HTML tables, figures) or None.
`sim.htmlreport` lists them in page order."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from sim.plots import Figure, Section
from sim.plots import run as runfig
from sim.plots import sweep as sweepfig
from sim.plots.rundata import RunData
from sim.plots.style import fmt, kpi_label, kpi_title, money
from sim.plots.sweep import SweepData


def esc(x) -> str:
    return html.escape(str(x), quote=True)


def _table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; cells are HTML already; the first `left` columns align left."""

    def cells(tag: str, row: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=l' if i < left else ''}>{c}</{tag}>" for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><tr>{cells('th', head)}</tr>{body}</table>"


def _count(n: int, what: str) -> str:
    """`3 failed` in red, `0 failed` plain: red only when there is something to look at."""
    text = f"{n:,} {what}"
    return f"<span class=bad>{text}</span>" if n else text


def _only(*figs: Figure | None) -> list[Figure]:
    return [f for f in figs if f is not None]


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
    "failures.total",
    "failures.lease_gpu_hours_short",
)


def _kpi_rows(k: dict[str, float], keys) -> list[list[str]]:
    rows = []
    for n in keys:
        if n not in k:
            continue
        label, unit = kpi_label(n)
        value = fmt(n, k[n])
        if n.startswith("failures.") and k[n]:
            value = f"<span class=bad>{value}</span>"
        rows.append([esc(label), value, f"<code>{esc(n)}</code>"])
    return rows


def sec_headline(d: RunData) -> Section | None:
    k = d.kpis
    if not k:
        return Section(
            "Headline numbers",
            html=f"<p class=bad>{esc(d.manifest.get('note', 'KPIs unavailable'))}</p>",
        )
    return Section(
        "Headline numbers", html=_table(["", "value", "KPI name"], _kpi_rows(k, HEADLINE))
    )


def sec_holders(d: RunData) -> Section | None:
    return Section("Who held which pool", _only(runfig.fig_holders(d)))


def sec_leases(d: RunData) -> Section | None:
    figs = _only(runfig.fig_lease_delivery(d), runfig.fig_leases(d))
    leases = d.table("leases")
    rows = []
    if leases is not None:
        for r in leases.itertuples():
            frac = (
                r.gpu_hours_delivered / r.gpu_hours_contracted if r.gpu_hours_contracted else None
            )
            rows.append(
                [
                    esc(f"{r.contract} #{r.tranche}"),
                    esc(r.tenant),
                    f"{r.gpus_contracted:,}",
                    f"{r.gpus_held:,}",
                    "n/a" if frac is None else f"{100 * frac:.1f}%",
                    money(r.revenue_usd),
                    esc(r.end_reason),
                ]
            )
    table = (
        _table(
            [
                "tranche",
                "tenant",
                "GPUs contracted",
                "GPUs held",
                "delivered (of contracted GPU-hours)",
                "revenue",
                "ended by",
            ],
            rows,
            2,
        )
        if rows
        else ""
    )
    return Section("Leases", figs, table) if figs or table else None


def sec_sites(d: RunData) -> Section | None:
    return Section("Power and idle capacity per site", _only(runfig.fig_sites(d)))


def sec_training(d: RunData) -> Section | None:
    return Section(
        "Training efficiency (MFU)", _only(runfig.fig_mfu_over_time(d), runfig.fig_waterfall(d))
    )


def sec_money(d: RunData) -> Section | None:
    return Section("Money", _only(runfig.fig_money(d)))


def sec_failures(d: RunData) -> Section | None:
    pools = d.table("pools")
    if pools is None or "failures" not in pools:
        return None
    n = pools.groupby("pool", observed=True, sort=False).failures.sum()
    down = pools.groupby("pool", observed=True, sort=False).gpu_hours_down.sum()
    rows = [[esc(p), _count(int(v), "failures"), f"{down[p] / 1e6:,.2f}M"] for p, v in n.items()]
    return Section("Failures", html=_table(["pool", "failures", "GPU-hours down"], rows))


def sec_all_kpis(d: RunData) -> Section | None:
    if not d.kpis:
        return None
    table = _table(["", "value", "KPI name"], _kpi_rows(d.kpis, sorted(d.kpis)))
    return Section(
        "All KPIs", html=f"<details><summary>show all {len(d.kpis)}</summary>{table}</details>"
    )


def sec_sweep_overview(s: SweepData) -> Section | None:
    df, plan = s.df, s.plan
    st = df.status.value_counts()
    text = (
        f"<p>Base scenario <code>{esc(plan.get('scenario', ''))}</code>; "
        f"{len(plan.get('points', []))} scenarios x {len(plan.get('seeds', []))} seeds = "
        f"{len(df)} runs: {int(st.get('ok', 0))} ok, {_count(int(st.get('failed', 0)), 'failed')}, "
        f"{_count(int(st.get('missing', 0)), 'missing')}. Baseline for the differences: "
        f"<b>{esc(s.label(s.baseline)) if s.baseline else 'none'}</b>.</p>"
    )
    rows = [
        [esc(a["key"]), f"<code>{esc(a['path'])}</code>", esc(", ".join(map(str, a["labels"])))]
        for a in plan.get("axes", [])
    ]
    if rows:
        text += _table(["axis", "scenario field", "values"], rows, 3)
    return Section("The sweep", html=text)


def sec_sweep_axes(s: SweepData) -> Section | None:
    return Section("KPIs against the axes", _only(sweepfig.fig_kpis_vs_axes(s)))


def _axis_cells(s: SweepData, sid: str) -> list[str]:
    r = s.df[s.df.scenario == sid].iloc[0]
    return [esc(sweepfig.value_text(r[a])) for a in s.axes]


def sec_sweep_baseline(s: SweepData) -> Section | None:
    d = sweepfig.deltas(s)
    if d.empty:
        return None
    means = s.ok.groupby("scenario")[s.kpis].mean()
    rows = []
    for p in s.plan.get("points", []):
        sid = p["id"]
        if sid not in d.index:
            continue
        cells = [
            fmt(k, means.loc[sid, k])
            + (
                ""
                if sid == s.baseline
                else f"<span class=muted> ({fmt(k, d.loc[sid, k], signed=True)})</span>"
            )
            for k in s.kpis
        ]
        name = "baseline" if sid == s.baseline else ""
        rows.append([*_axis_cells(s, sid), name, *cells])
    head = [esc(a[5:]) for a in s.axes] + [""] + [esc(kpi_title(k)) for k in s.kpis]
    table = _table(head, rows, len(s.axes) + 1)
    note = "<p class=muted>Mean over seeds; in brackets the difference from the baseline.</p>"
    return Section("Against the baseline", _only(sweepfig.fig_deltas(s)), table + note)


def sec_sweep_policies(s: SweepData) -> Section | None:
    pol = sweepfig.policy_axis(s)
    if pol is None:
        return None
    ok = s.ok
    rows = []
    for name in dict.fromkeys(s.df[pol].tolist()):
        sub = ok[ok[pol] == name]
        cells = [
            (fmt(k, sub[k].mean()) if len(sub) else "n/a")
            + (
                f"<span class=muted> ± {fmt(k, sub[k].std())}</span>"
                if len(sub) > 1 and np.isfinite(sub[k].std())
                else ""
            )
            for k in s.kpis
        ]
        rows.append([esc(name), str(len(sub)), *cells])
    table = _table([esc(pol[5:]), "runs ok"] + [esc(kpi_title(k)) for k in s.kpis], rows)
    note = "<p class=muted>Mean ± standard deviation over runs (seeds and the other axes).</p>"
    return Section("Policy comparison", _only(sweepfig.fig_policies(s)), table + note)


def sec_sweep_scenarios(s: SweepData) -> Section | None:
    rows = []
    for p in s.plan.get("points", []):
        sub = s.df[s.df.scenario == p["id"]]
        if sub.empty:
            continue
        ok = sub[sub.status == "ok"]
        cells = []
        for k in s.kpis:
            v = ok[k].dropna() if k in ok else pd.Series(dtype=float)
            if v.empty:
                cells.append("n/a")
            elif len(v) > 1 and fmt(k, v.min()) != fmt(k, v.max()):
                cells.append(
                    f"{fmt(k, v.mean())}<span class=muted> ({fmt(k, v.min())} to {fmt(k, v.max())})</span>"
                )
            else:
                cells.append(fmt(k, v.mean()))
        n_ok = f"{len(ok)}/{len(sub)}"
        rows.append(
            [
                *_axis_cells(s, p["id"]),
                f"<code>{esc(p['id'])}</code>",
                n_ok if len(ok) == len(sub) else f"<span class=bad>{n_ok}</span>",
                *cells,
            ]
        )
    head = [esc(a[5:]) for a in s.axes] + ["id", "runs ok"] + [esc(kpi_title(k)) for k in s.kpis]
    note = "<p class=muted>Mean over seeds, with the range over seeds in brackets where they differ.</p>"
    return Section("Scenarios", html=_table(head, rows, len(s.axes) + 1) + note)


def sec_sweep_failed(s: SweepData) -> Section | None:
    failed = s.df[s.df.status == "failed"]
    if failed.empty:
        return None
    rows = [
        [esc(s.label(r.scenario)), esc(r.seed), f"<span class=bad>{esc(r.error)}</span>"]
        for r in failed.itertuples()
    ]
    return Section("Failed runs", html=_table(["scenario", "seed", "error"], rows, 3))
