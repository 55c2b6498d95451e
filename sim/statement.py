"""The statement of a run or sweep folder: its ledger read through the chart, per period, with
the scenario's reported figures beside (text, JSON data, an HTML section with the cash burn)."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.errors import InputError
from sim.finance import statement as st
from sim.spec.money import period_span

# (line key, label, chart line whose accounts it lists; None for derived lines)
ROWS = (
    ("revenue_usd", "Revenue", "revenue"),
    ("cost_of_revenue_usd", "Cost of revenue", "cost_of_revenue"),
    ("rnd_usd", "R&D", "rnd"),
    ("sga_usd", "SG&A", "sga"),
    ("operating_result_usd", "Operating result", None),
    ("d_and_a_usd", "  memo: D&A (in cost of revenue and R&D)", None),
    ("operating_cash_flow_usd", "Operating cash flow (result + D&A)", None),
    ("capex_usd", "Capex", "capex"),
    ("free_cash_flow_usd", "Free cash flow", None),
)


def _horizon(scenario: dict) -> tuple[dt.date, dt.date]:
    h = scenario["horizon"]
    return dt.date.fromisoformat(str(h["start"])), dt.date.fromisoformat(str(h["end"]))


@dataclass(frozen=True)
class Target:
    """A run or sweep folder as the statement reads it."""

    name: str
    runs: list[tuple[str, pd.DataFrame]]  # (run label, ledger)
    reported: dict
    start: dt.date
    end: dt.date
    series: list[dict]  # the given series of the run's workloads (resolved), with sources


def load_target(target: str) -> Target:
    path = Path(target)
    if (path / "ledger.parquet").is_file() and (path / "scenario.json").is_file():
        resolved = json.loads((path / "scenario.json").read_text())
        scenario = resolved["scenario"]
        ledger = pd.read_parquet(path / "ledger.parquet")
        start, end = _horizon(scenario)
        series = [s for w in resolved.get("workloads", []) for s in w.get("series", [])]
        label = f"{scenario['name']} {path.name}"
        return Target(
            label, [(path.name, ledger)], scenario.get("reported", {}), start, end, series
        )
    if (path / "sweep.json").is_file() and (path / "ledger").is_dir():
        ledger = pd.read_parquet(path / "ledger")
        scen = sorted((path / "scenarios").glob("*.toml"))
        if not scen:
            raise InputError.single("", "a sweep folder without scenarios/*.toml", str(path))
        with scen[0].open("rb") as fh:
            raw = tomllib.load(fh)
        start, end = _horizon(raw)
        runs = [
            (f"scenario={s} seed={n}", g)
            for (s, n), g in ledger.groupby(["scenario", "seed"], observed=True)
        ]
        name = f"sweep {path.name} ({len(runs)} runs)"
        return Target(name, runs, raw.get("reported", {}), start, end, [])
    raise InputError.single(
        "",
        "not a run folder (ledger.parquet, scenario.json) or a sweep folder (sweep.json)",
        target,
    )


def given_points(series: list[dict], period: str) -> list[dict]:
    """The given series' points that overlap a period, with their sources."""
    lo, hi = period_span(period)
    out = []
    for s in series:
        for p in s["points"]:
            a, b = period_span(p["period"])
            if a < hi and lo < b:
                out.append({"series": s["name"], "account": s["account"], **p})
    return out


def build(target: str, period: str) -> list[dict]:
    """One statement per period of a run or sweep folder (see `entries`)."""
    return entries(load_target(target), period, target)


def entries(t: Target, period: str, where: str = "") -> list[dict]:
    """One statement per period: lines (or their percentiles over a sweep), accounts, kinds,
    coverage, the given points behind the given lines, and the reported figures."""
    try:
        wanted = st.periods(period, t.start, t.end)
    except ValueError as exc:
        raise InputError.single("--period", f"{exc}; or one of {list(st.GRAINS)}", period) from None
    out = []
    for p in wanted:
        try:
            per_run = [st.by_account(ledger, p) for _, ledger in t.runs]
        except KeyError as exc:
            raise InputError.single("ledger.account", str(exc.args[0]), file=where) from None
        booked = sorted({a for acc in per_run for a in acc})
        entry = {
            "period": p,
            "run": t.name,
            "coverage": st.coverage(p, t.start, t.end),
            "kinds": st.line_kinds(booked),
            "reported": t.reported.get(p, {}),
            "given": given_points(t.series, p),
        }
        if len(t.runs) == 1:
            entry["lines"] = st.lines(per_run[0])
            entry["accounts"] = st.detail(per_run[0])
        else:
            entry["lines"] = st.percentiles([st.lines(a) for a in per_run])
            entry["runs"] = len(t.runs)
        out.append(entry)
    return out


def _b(usd: float | None) -> str:
    return "" if usd is None else f"{usd / 1e9:,.3f}"


def _value(v) -> float:
    return v["p50"] if isinstance(v, dict) else v


def format_one(e: dict) -> str:
    cov = "" if e["coverage"] >= 1 else f"  (the run covers {e['coverage']:.0%} of it)"
    head = f"{e['run']} · {e['period']}{cov}" + (
        f" · P50 [P10, P90] over {e['runs']} runs" if "runs" in e else ""
    )
    lines = [head, f"{'USD billions':<46}{'kind':<10}{'value':>12}{'reported':>11}{'diff':>8}"]
    kinds = e["kinds"]
    for key, label, line in ROWS:
        v = e["lines"][key]
        rep = e["reported"].get(key)
        kind = kinds.get(line, "") if line else "derived"
        if key == "d_and_a_usd":
            kind = "modelled" if _value(v) else ""
        val = _b(_value(v))
        if isinstance(v, dict):
            val += f" [{_b(v['p10'])}, {_b(v['p90'])}]"
        r = rep["value"] if rep else None
        diff = f"{(_value(v) - r) / abs(r):+.0%}" if r not in (None, 0) else ""
        lines.append(f"{label:<46}{kind:<10}{val:>12}{_b(r):>11}{diff:>8}")
        if line is not None and "accounts" in e:
            for a in e["accounts"]:
                if a["line"] == line:
                    tag = "given" if a["kind"] == "given" else "modelled"
                    lines.append(
                        f"    {a['stream'] + ' (' + a['account'] + ')':<42}{tag:<10}"
                        f"{_b(a['usd']):>12}"
                    )
    if e.get("given"):
        lines.append("given points behind the given lines:")
        lines += [
            f"  {g['account']} {g['period']}: {_b(g['usd'])} ({g['series']}; {g['source']})"
            for g in e["given"]
        ]
    sources = [f"  {k}: {v['source']}" for k, v in e["reported"].items()]
    if sources:
        lines.append("reported figures:")
        lines += sources
    return "\n".join(lines)


def monthly_cash(ledger: pd.DataFrame) -> pd.DataFrame:
    """Per month: operating result, D&A, capex and free cash flow (USD), from one ledger."""
    d = ledger.assign(month=ledger.date.dt.tz_localize(None).dt.to_period("M").astype(str))
    rows = []
    for month, g in d.groupby("month", sort=True):
        lines = st.lines(st.by_account(g, month))
        rows.append({"month": month, **lines})
    return pd.DataFrame(rows)


def table_html(items: list[dict]) -> str:
    """The statement per period as an HTML table (USD billions), reported figures beside."""
    import html

    head = "".join(f"<th>{html.escape(e['period'])}</th>" for e in items)
    body = []
    for key, label, line in ROWS:
        cells = []
        for e in items:
            v = _value(e["lines"][key])
            rep = e["reported"].get(key)
            extra = f" <small>(reported {rep['value'] / 1e9:,.2f})</small>" if rep else ""
            cells.append(f"<td>{v / 1e9:,.2f}{extra}</td>")
        kind = ""
        if line:
            kinds = {e["kinds"].get(line, "") for e in items} - {""}
            kind = "/".join(sorted(kinds))
        body.append(
            f"<tr><td class=l>{html.escape(label.strip())}</td><td class=l>{kind}</td>"
            f"{''.join(cells)}</tr>"
        )
    return (
        "<table><tr><th class=l>USD billions</th><th class=l>kind</th>"
        + head
        + "</tr>"
        + "".join(body)
        + "</table><p>kind: modelled = simulated; given = a workload [[series]] with a source "
        "per point (<code>sim statement RUN_DIR</code> lists them).</p>"
    )


def cash_burn_figure(ledger: pd.DataFrame):
    """Monthly capex (cash out) and operating cash flow, with the cumulative free cash flow."""
    import plotly.graph_objects as go

    cash = monthly_cash(ledger)
    fig = go.Figure()
    fig.add_bar(x=cash.month, y=-cash.capex_usd / 1e9, name="capex (cash out)")
    fig.add_bar(x=cash.month, y=cash.operating_cash_flow_usd / 1e9, name="operating cash flow")
    fig.add_scatter(
        x=cash.month,
        y=cash.free_cash_flow_usd.cumsum() / 1e9,
        name="cumulative free cash flow",
        mode="lines",
    )
    fig.update_layout(barmode="relative", yaxis_title="USD billions per month")
    return fig


def report_parts(ledger: pd.DataFrame, scenario: dict, grain: str = "year"):
    """For `sim report`: (the statement table as HTML, the cash-burn plotly figure) of one
    run's ledger and resolved scenario; None if the ledger has accounts outside the chart (a
    run folder from before the chart) or is empty."""
    if ledger is None or ledger.empty:
        return None
    try:
        start, end = _horizon(scenario)
        t = Target(
            scenario.get("name", ""), [("", ledger)], scenario.get("reported", {}), start, end, []
        )
        items = entries(t, grain)
    except (InputError, KeyError, ValueError):
        return None
    return table_html(items), cash_burn_figure(ledger)


def html_section(target: str, period: str = "year", include_plotlyjs: bool | str = False) -> str:
    """A self-standing HTML section: the statement per period and the cash-burn chart."""
    t = load_target(target)
    chart = cash_burn_figure(t.runs[0][1]).to_html(
        full_html=False, include_plotlyjs=include_plotlyjs
    )
    return (
        "<section><h2>Income statement and cash flow</h2>"
        + table_html(entries(t, period, target))
        + "<h3>Cash burn</h3>"
        + chart
        + "</section>"
    )
