"""`sim compare FILE --policies a,b,c [--seeds K]`: the same scenario under several policies."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sim.compare import COLUMNS, compare, monte_carlo
from sim.errors import InputError
from sim.output import write_csv


def _fmt(col: str, v) -> str:
    if v is None or v != v:
        return "-"
    if v == float("inf"):
        return "not by the end"
    if col.endswith("_usd") or "usd_per" in col:
        return f"${v / 1e9:,.2f}B"
    if "fraction" in col or col.endswith("_mfu"):
        return f"{100 * v:.1f}%"
    if col.startswith("finish_day"):
        return f"{v:,.0f}"
    return f"{v:,.3g}" if abs(v) < 1e4 else f"{v:,.3e}"


@click.command("compare")
@click.argument("file", type=click.Path())
@click.option("--policies", required=True, help="Comma-separated policy kinds.")
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Seeds 1..K per policy.",
)
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Folder for runs and the table (default: runs/out/compare/<scenario file>).",
)
def command(file: str, policies: str, seeds: int, out: str | None) -> None:
    """Run FILE under each policy (and seed) and print revenue, cost, margin, revenue per GW,
    training tokens and MFU, pre-training finish dates, lease delivery and notices."""
    kinds = [p.strip() for p in policies.split(",") if p.strip()]
    if not kinds:
        raise InputError.single("--policies", "give at least one policy kind, e.g. fifo", policies)
    out_dir = Path(out) if out else Path(file).parent / "out" / "compare" / Path(file).stem
    table = compare(file, kinds, range(1, seeds + 1), out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / "compare.parquet", index=False)
    write_csv(table, out_dir / "compare.csv")
    means = table.drop(columns=["seed"]).groupby("policy", sort=False)
    mean, lo, hi = means.mean(), means.min(), means.max()
    cols = [c for c in table.columns if c not in ("policy", "seed")]
    t = Table(title=f"{Path(file).name}: {len(kinds)} policies x {seeds} seeds (mean; min-max)")
    t.add_column("KPI")
    for kind in kinds:
        t.add_column(kind, justify="right")
    for col in cols:
        cells = []
        for kind in kinds:
            m = mean.loc[kind, col]
            cell = _fmt(col, m)
            if seeds > 1 and lo.loc[kind, col] != hi.loc[kind, col]:
                cell += f" ({_fmt(col, lo.loc[kind, col])}-{_fmt(col, hi.loc[kind, col])})"
            cells.append(cell)
        t.add_row(COLUMNS.get(col, col.replace("finish_day:", "pre-training finish day: ")), *cells)
    Console(width=max(120, 30 + 22 * len(kinds))).print(t)
    if seeds > 1:
        mc = monte_carlo(table)
        mc.to_csv(out_dir / "monte-carlo.csv")
        m = Table(title=f"Monte Carlo over {seeds} seeds: P10 / P50 / P90")
        m.add_column("KPI")
        for kind in kinds:
            m.add_column(kind, justify="right")
        for col in mc.columns.get_level_values(0).unique():
            name = COLUMNS.get(col, col.replace("finish_day:", "pre-training finish day: "))
            m.add_row(
                name,
                *(
                    " / ".join(_fmt(col, mc.loc[kind, (col, p)]) for p in ("P10", "P50", "P90"))
                    for kind in kinds
                ),
            )
        Console(width=max(120, 30 + 34 * len(kinds))).print(m)
    click.echo(f"table: {out_dir / 'compare.parquet'} (and .csv)")
