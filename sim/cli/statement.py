"""`sim statement RUN_OR_SWEEP [--period P] [--json]`: the income statement and cash flow of a
run (or P10/P50/P90 over a sweep's runs), modelled vs given lines, reported figures beside."""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import click
import pandas as pd

from sim.errors import InputError
from sim.finance import statement as st

# (line key, label, chart line it takes its accounts from, indent)
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


def load_target(target: str) -> tuple[str, list[tuple[str, pd.DataFrame]], dict, dt.date, dt.date]:
    """(name, [(run label, ledger)], reported table, horizon start, end) of a run or sweep."""
    path = Path(target)
    if (path / "ledger.parquet").is_file() and (path / "scenario.json").is_file():
        scenario = json.loads((path / "scenario.json").read_text())["scenario"]
        ledger = pd.read_parquet(path / "ledger.parquet")
        start, end = _horizon(scenario)
        label = f"{scenario['name']} {path.name}"
        return label, [(path.name, ledger)], scenario.get("reported", {}), start, end
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
        return f"sweep {path.name} ({len(runs)} runs)", runs, raw.get("reported", {}), start, end
    raise InputError.single(
        "", "not a run folder (ledger.parquet, scenario.json) or a sweep folder (sweep.json)",
        target,
    )


def build(target: str, period: str) -> list[dict]:
    """One statement per period: lines (or their percentiles over a sweep), accounts, kinds,
    coverage and the reported figures for that period."""
    name, runs, reported, start, end = load_target(target)
    try:
        wanted = st.periods(period, start, end)
    except ValueError as exc:
        raise InputError.single("--period", f"{exc}; or one of {list(st.GRAINS)}", period) from None
    out = []
    for p in wanted:
        per_run = [st.by_account(ledger, p) for _, ledger in runs]
        booked = sorted({a for acc in per_run for a in acc})
        entry = {
            "period": p,
            "run": name,
            "coverage": st.coverage(p, start, end),
            "kinds": st.line_kinds(booked),
            "reported": reported.get(p, {}),
        }
        if len(runs) == 1:
            entry["lines"] = st.lines(per_run[0])
            entry["accounts"] = st.detail(per_run[0])
        else:
            entry["lines"] = st.percentiles([st.lines(a) for a in per_run])
            entry["runs"] = len(runs)
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
        kind = kinds.get(line, "") if line else ("derived" if line is None else "")
        if key in ("operating_result_usd", "operating_cash_flow_usd", "free_cash_flow_usd"):
            kind = "derived"
        if key == "d_and_a_usd":
            kind = "modelled" if v else ""
        val = _b(_value(v))
        if isinstance(v, dict):
            val += f" [{_b(v['p10'])}, {_b(v['p90'])}]"
        r = rep["value"] if rep else None
        diff = (
            f"{(_value(v) - r) / abs(r):+.0%}" if r not in (None, 0) else ""
        )
        lines.append(f"{label:<46}{kind:<10}{val:>12}{_b(r):>11}{diff:>8}")
        if line is not None and "accounts" in e:
            for a in e["accounts"]:
                if a["line"] == line:
                    tag = "given" if a["kind"] == "given" else "modelled"
                    lines.append(f"    {a['stream'] + ' (' + a['account'] + ')':<42}{tag:<10}"
                                 f"{_b(a['usd']):>12}")
    sources = [f"  {k}: {v['source']}" for k, v in e["reported"].items()]
    if sources:
        lines.append("reported figures:")
        lines += sources
    return "\n".join(lines)


@click.command("statement")
@click.argument("target", type=click.Path())
@click.option(
    "--period",
    default="year",
    show_default=True,
    help="A period (2025, 2026Q1, 2026-03) or a grain (year, quarter, month).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {period, lines, reported} as JSON.")
def command(target: str, period: str, as_json: bool) -> None:
    """Income statement and cash flow of a run folder (runs/out/<scenario>/seed=<n>) or a sweep
    folder, with modelled and given lines marked and the scenario's [reported] figures beside.
    Costs are positive; the operating result and free cash flow are signed."""
    entries = build(target, period)
    if as_json:
        click.echo(json.dumps(entries[0] if len(entries) == 1 else entries, indent=2))
        return
    click.echo("\n\n".join(format_one(e) for e in entries))
    click.echo(
        "\nkinds: modelled = simulated (capacity, contracts, serving); given = a workload "
        "[[series]] with a source per point; mixed = both"
    )
