"""`sim run FILE`: simulate a scenario, write its tables, print a summary, check `[expect]`.

Exit 0 when every expectation holds (or there are none), 1 when any fails, 2 for bad input.
"""

from __future__ import annotations

import datetime
import json
import sys
import time

import click

from sim.cli import EXIT_BAD_INPUT, EXIT_FAILED_CHECK, EXIT_OK
from sim.errors import InputError
from sim.expect import check_runs, write_outputs
from sim.report import format_summary
from sim.runner import prepare, simulate


def interactive(no_progress: bool) -> bool:
    """Progress bars and colour only for a person at a terminal."""
    return not no_progress and sys.stdout.isatty() and sys.stderr.isatty()


class ProgressLog:
    """Progress for a log (CI, nohup): a line every `every_s` seconds of wall time with the
    simulated date, the share of the horizon done and the time left at the pace so far."""

    def __init__(self, start, end, every_s: float = 5.0, clock=time.monotonic, echo=None):
        self.start, self.days = start, (end - start).days
        self.every_s, self.clock = every_s, clock
        self.echo = echo or (lambda line: click.echo(line, err=True))
        self.t0 = self.clock()
        self.next_at = self.t0 + every_s

    def __call__(self, fraction: float) -> None:
        now = self.clock()
        if now < self.next_at or fraction >= 1.0:
            return
        self.next_at = now + self.every_s
        spent = now - self.t0
        date = self.start + datetime.timedelta(days=int(fraction * self.days))
        eta = f"ETA {spent * (1 - fraction) / fraction:,.0f} s" if fraction > 0 else "ETA ?"
        self.echo(
            f"simulated {date.isoformat()} ({100 * fraction:.0f}% of the horizon), "
            f"{spent:,.0f} s elapsed, {eta}"
        )


def ci_options(f):
    """The options every checking command shares: --summary-json, --junit, --no-progress."""
    f = click.option(
        "--junit",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write the checks as JUnit XML to this file.",
    )(f)
    f = click.option(
        "--summary-json",
        type=click.Path(dir_okay=False),
        default=None,
        help="Write KPIs, checks, outcome, scenario hash and versions as JSON to this file.",
    )(f)
    return click.option(
        "--no-progress",
        is_flag=True,
        help="No progress bar and no colour (implied when not a terminal).",
    )(f)


def echo_report(report, as_json: bool, color: bool | None) -> None:
    """Print the checks' outcome: on stdout with the text summary, on stderr beside JSON."""
    lines = report.lines()
    if as_json and report.ok:
        return
    for i, line in enumerate(lines):
        style = {"fg": "red" if report.failed else "green"} if i == 0 and report.checks else {}
        click.echo(click.style(line, **style), err=as_json, color=color)


@click.command("run")
@click.argument("file", type=click.Path())
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=None,
    help="Seed, 0 to 2**63-1 (default: the scenario's).",
)
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Output base folder (default: runs/out beside the scenario).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary (and checks) as JSON.")
@click.option(
    "--no-check",
    "no_check",
    is_flag=True,
    help="Write the tables even if they break an invariant (GPU-hours conserved, delivered <= "
    "contracted, ...; see docs/reliability.md), to inspect them.",
)
@ci_options
def command(
    file: str,
    seed: int | None,
    out: str | None,
    as_json: bool,
    no_check: bool,
    no_progress: bool,
    summary_json: str | None,
    junit: str | None,
) -> None:
    """Simulate the scenario FILE and write runs/out/<scenario>/seed=<n>/.

    Then evaluate the scenario's [expect] table: exit 0 if every check holds, 1 if any fails
    (each failure is listed with the value seen), 2 if the input is invalid."""
    show = interactive(no_progress)
    try:
        if show:  # rich draws the bar: loaded for a person at a terminal only
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            with Progress(
                TextColumn("simulating"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=True,
                console=Console(stderr=True),
            ) as bar:
                task = bar.add_task("run", total=1.0)
                result = simulate(
                    file,
                    seed,
                    out,
                    lambda f: bar.update(task, completed=f),
                    invariants=not no_check,
                )
        elif no_progress:
            result = simulate(file, seed, out, invariants=not no_check)
        else:  # not a terminal: a progress line every few seconds, on stderr
            prep = prepare(file)  # (prepared once: its horizon dates the progress lines)
            horizon = prep.scenario.horizon
            result = simulate(
                prep, seed, out, ProgressLog(horizon.start, horizon.end), invariants=not no_check
            )
        out_dir = result.out_dir
        report = check_runs(out_dir)
    except InputError as err:
        write_outputs(None, summary_json, junit, EXIT_BAD_INPUT, error=err)
        raise
    code = EXIT_OK if report.ok else EXIT_FAILED_CHECK
    write_outputs(report, summary_json, junit, code)
    summary = dict(result.summary)  # computed once by the run, not read back
    color = None if show else False
    if as_json:
        summary["checks"] = report.summary(code)["checks"]
        summary["ok"] = report.ok
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary))
        click.echo(f"tables: {out_dir}")
    if report.checks:
        echo_report(report, as_json, color)
    click.get_current_context().exit(code)
