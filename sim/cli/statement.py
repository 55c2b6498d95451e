"""`sim statement RUN_OR_SWEEP [--period P] [--json]`: the income statement and cash flow of a
run (or P10/P50/P90 over a sweep's runs), modelled vs given lines, reported figures beside."""

from __future__ import annotations

import json

import click

from sim.statement import build, format_one


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
