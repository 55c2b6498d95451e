"""`sim assumptions FILE`: every assumed or sourced number a scenario or mfu file rests on."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from sim.assumptions import collect


@click.command("assumptions")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list.")
@click.option("--assumed-only", is_flag=True, help="Leave out numbers that name a source.")
def command(file: str, as_json: bool, assumed_only: bool) -> None:
    """List the tagged numbers of FILE, of the topology and workload files it names, of the
    catalog entries of its GPU types and of the perf model's constants: where each is set,
    its value, and its range and reason (assumed) or its source."""
    from sim.errors import InputError

    try:
        found = collect(file)
    except FileNotFoundError as exc:
        raise InputError.single("FILE", "file not found", str(exc.filename)) from None
    if assumed_only:
        found = [a for a in found if a.assumed]
    if as_json:
        click.echo(json.dumps([dict(asdict(a), assumed=a.assumed) for a in found], indent=2))
        return
    n = sum(a.assumed for a in found)
    click.echo(f"{n} assumed, {len(found) - n} sourced numbers behind {file}")
    last = None
    for a in found:
        if a.file != last:
            click.echo(f"\n{a.file}")
            last = a.file
        if a.assumed:
            click.echo(f"  {a.path} = {a.value:g}  assumed [{a.low:g}, {a.high:g}]: {a.why}")
        else:
            click.echo(f"  {a.path} = {a.value:g}  source: {a.source}")
