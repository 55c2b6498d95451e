"""`sim run FILE`: simulate a scenario, write its tables, print a summary."""

from __future__ import annotations

import json
import sys

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from sim.report import format_summary, summarize
from sim.runner import run


@click.command("run")
@click.argument("file", type=click.Path())
@click.option("--seed", type=int, default=None, help="Seed (default: the scenario's).")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output base folder (default: runs/out beside the scenario).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar (implied when not a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(file: str, seed: int | None, out: str | None, no_progress: bool, as_json: bool) -> None:
    """Simulate the scenario FILE and write runs/out/<scenario>/seed=<n>/."""
    show = sys.stderr.isatty() and not no_progress
    if show:
        with Progress(
            TextColumn("simulating"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("run", total=1.0)
            out_dir, _ = run(file, seed, out, lambda f: bar.update(task, completed=f))
    else:
        out_dir, _ = run(file, seed, out)
    summary = summarize(out_dir)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary))
        click.echo(f"tables: {out_dir}")
