"""`sim report RUN_OR_SWEEP_DIR`: a self-contained HTML page with the figures, and their PNGs."""

from __future__ import annotations

import click

from sim.htmlreport import write_report


@click.command("report")
@click.argument("target", type=click.Path(file_okay=False))
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder (default: TARGET/report)."
)
def command(target: str, out: str | None) -> None:
    """Write TARGET/report/index.html (figures embedded) and one PNG per figure, for a run folder
    (runs/out/<scenario>/seed=<n>) or a sweep folder (runs/out/<sweep>)."""
    page, figs = write_report(target, out)
    size = page.stat().st_size
    click.echo(f"{page} ({size / 1e6:.2f} MB, {len(figs)} figures)")
    for f in figs:
        click.echo(f"  {f.slug}: {f.title}")
