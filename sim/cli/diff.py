"""`sim diff RUN_A RUN_B`: what moved between two runs (or sweeps), KPI by KPI and table by table."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sim.cli import EXIT_FAILED_CHECK, EXIT_OK
from sim.cli.run import interactive
from sim.diff import DEFAULT_REL, Tolerance, diff
from sim.errors import InputError


def _rule(text: str) -> tuple[str, float]:
    pattern, sep, rel = text.rpartition("=")
    try:
        value = float(rel)
    except ValueError:
        value = -1.0
    if not sep or not pattern or not value >= 0:
        raise InputError.single("--tol", "expected PATTERN=REL with REL >= 0", text)
    return pattern, value


@click.command("diff")
@click.argument("run_a", type=click.Path())
@click.argument("run_b", type=click.Path())
@click.option(
    "--rel",
    type=click.FloatRange(min=0),
    default=DEFAULT_REL,
    show_default=True,
    help="Relative tolerance of every KPI, row count and column sum.",
)
@click.option(
    "--tol",
    "rules",
    multiple=True,
    metavar="PATTERN=REL",
    help="Tolerance for KPI or table.column names matching PATTERN (e.g. 'mfu.*=0.01'); "
    "repeatable, the last match wins.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--summary-json",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the comparison as JSON to this file.",
)
@click.option("--no-progress", is_flag=True, help="No colour (implied when not a terminal).")
def command(
    run_a: str,
    run_b: str,
    rel: float,
    rules: tuple[str, ...],
    as_json: bool,
    summary_json: str | None,
    no_progress: bool,
) -> None:
    """Compare RUN_A with RUN_B (run folders, or folders of runs paired by relative path).

    Exit 0 if nothing moved beyond tolerance, 1 if anything did, 2 if the input is invalid."""
    tol = Tolerance(rel, [_rule(r) for r in rules])
    report = diff(run_a, run_b, tol)
    code = EXIT_FAILED_CHECK if report.moved else EXIT_OK
    data = {**report.to_dict(), "exit_code": code}
    if summary_json:
        path = Path(summary_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        color = None if interactive(no_progress) else False
        for note in report.notes:
            click.echo(f"note: {note}", color=color)
        lines = report.lines()
        click.echo(click.style(lines[0], fg="red" if report.moved else "green"), color=color)
        for line in lines[1:]:
            click.echo(line, color=color)
    click.get_current_context().exit(code)
