"""`sim check RUN_DIR`: evaluate the expectations of existing runs again, without simulating."""

from __future__ import annotations

import json

import click

from sim.cli import EXIT_BAD_INPUT, EXIT_FAILED_CHECK, EXIT_OK
from sim.cli.run import ci_options, echo_report, interactive
from sim.errors import InputError
from sim.expect import check_runs, write_outputs
from sim.spec.base import load
from sim.spec.expect import ExpectFile


@click.command("check")
@click.argument("run_dir", type=click.Path())
@click.option(
    "--expect",
    "expect_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Take the [expect] table from this scenario file instead of each run's scenario.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@ci_options
def command(
    run_dir: str,
    expect_file: str | None,
    as_json: bool,
    no_progress: bool,
    summary_json: str | None,
    junit: str | None,
) -> None:
    """Check the [expect] table of the run in RUN_DIR, or of every run below it (a sweep).

    Exit 0 if every check holds, 1 if any fails, 2 if the input is invalid."""
    try:
        expect = load(ExpectFile, expect_file).expect if expect_file else None
        report = check_runs(run_dir, expect)
    except InputError as err:
        write_outputs(None, summary_json, junit, EXIT_BAD_INPUT, error=err)
        raise
    code = EXIT_OK if report.ok else EXIT_FAILED_CHECK
    write_outputs(report, summary_json, junit, code)
    if as_json:
        click.echo(json.dumps(report.summary(code), indent=2))
    else:
        click.echo(f"{len(report.runs)} run{'s' if len(report.runs) != 1 else ''} in {run_dir}")
    echo_report(report, as_json, None if interactive(no_progress) else False)
    click.get_current_context().exit(code)
