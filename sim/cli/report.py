"""`sim report RUN_OR_SWEEP_DIR`: one offline HTML page with interactive figures (or PNGs)."""

from __future__ import annotations

import click

from sim.htmlreport import write_report


@click.command("report")
@click.argument("target", type=click.Path(file_okay=False))
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder (default: TARGET/report)."
)
@click.option(
    "--static", is_flag=True, help="PNG figures (no JavaScript), also written beside the page."
)
@click.option(
    "--kpis",
    default=None,
    metavar="A,B,C",
    help="Sweep: the KPIs to compare (summary column names, e.g. mfu.all_training,margin.total_usd).",
)
@click.option(
    "--baseline",
    default=None,
    metavar="ID|AXIS=VALUE,...",
    help="Sweep: the scenario the others are compared with (default: the base scenario's own "
    "axis values, else the first).",
)
def command(
    target: str, out: str | None, static: bool, kpis: str | None, baseline: str | None
) -> None:
    """Write TARGET/report/index.html, one file that needs no network to view, for a run folder
    (runs/out/<scenario>/seed=<n>), a sweep folder (runs/out/<sweep>), or a folder holding
    exactly one of them (a sweep's --out folder)."""
    names = [k.strip() for k in kpis.split(",") if k.strip()] if kpis else None
    page, figs = write_report(target, out, static, names, baseline)
    size = page.stat().st_size
    click.echo(f"{page} ({size / 1e6:.2f} MB, {len(figs)} figures)")
    for f in figs:
        click.echo(f"  {f.slug}: {f.title}")
