"""`sim trace import SRC --format F --out FILE`: turn a public GPU-cluster trace into the
normalised Parquet trace that a workload's `[[traces]]` table replays."""

from __future__ import annotations

import click

from sim import limits
from sim.trace_file import write_trace
from sim.traces import ALIASES, FORMATS, TIME_UNITS, import_trace, parse_map


@click.group("trace")
def command() -> None:
    """Job traces: import public GPU-cluster traces for replay."""


@command.command("import")
@click.argument("src", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(sorted([*FORMATS, *ALIASES])),
    help="Source layout: "
    + "; ".join(f"{n}: {f.doc}" for n, f in FORMATS.items())
    + "; aliases "
    + ", ".join(f"{a}={n}" for a, n in ALIASES.items()),
)
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False), help="Parquet file to write."
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="KEY=COLUMN",
    help="csv format: submit=, gpus=, duration= (or start= and end=), optional job_id=, gpu_model=.",
)
@click.option(
    "--time-unit",
    default="s",
    type=click.Choice(list(TIME_UNITS)),
    help="csv format: unit of numeric times and durations.",
)
@click.option(
    "--skip-bad", is_flag=True, help="Drop malformed rows (counted) instead of failing on them."
)
@click.option(
    "--max-input-mb",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help=f"Refuse a SRC larger than this (default {limits.DEFAULT_MAX_TRACE_MB:g} MB).",
)
def import_command(
    src: str,
    fmt: str,
    out: str,
    mapping: tuple[str, ...],
    time_unit: str,
    skip_bad: bool,
    max_input_mb: float | None,
) -> None:
    """Read SRC in format F and write the normalised trace to --out (atomically). Malformed
    rows are listed with their row number and the reason, and the command exits 2. CSV
    sources are read row by row; a line over 1 MiB is malformed."""
    if max_input_mb is not None:
        limits.set_max_input_mb(max_input_mb)
    result = import_trace(src, fmt, parse_map(mapping) or None, time_unit, skip_bad)
    path = write_trace(out, result.table)
    t = result.table
    gpu_h = (
        sum(g * d for g, d in zip(t["gpus"].to_pylist(), t["duration_s"].to_pylist(), strict=True))
        / 3600
    )
    click.echo(f"{path}: {result.summary()}; {gpu_h:,.1f} GPU-hours")
