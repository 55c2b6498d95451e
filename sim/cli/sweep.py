"""`sim sweep FILE`: expand, validate and run a sweep (local processes or Dask), resumably."""

from __future__ import annotations

import re
import signal
import sys
import time

import click

from sim.errors import InputError
from sim.sweep import ENGINES, Progress, expand, run_sweep


def _shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"(\d+)/(\d+)", value)
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise InputError.single("--shard", "must be I/N with 0 <= I < N, e.g. 3/8", value)
    return int(m.group(1)), int(m.group(2))


def _hms(s: float | None) -> str:
    if s is None:
        return "--:--"
    s = int(round(s))
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


@click.command("sweep")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--out", type=click.Path(), default=None, help="Base folder (default: out/ beside FILE)."
)
@click.option(
    "--engine",
    type=click.Choice(sorted(ENGINES)),
    default="local",
    show_default=True,
    help="local: a process pool on this machine; dask: Dask distributed (pip install colossus-sim[cluster]).",
)
@click.option("--workers", type=int, default=None, help="Processes (default: the local cores).")
@click.option(
    "--scheduler",
    default=None,
    help="With --engine dask: address of a running scheduler (tcp://host:8786); default: start a local cluster.",
)
@click.option(
    "--shard", default=None, help="Run only shard I of N (I/N, 0-based): one per SLURM array task."
)
@click.option("--dry-run", is_flag=True, help="Expand and validate, print the plan, run nothing.")
@click.option("--no-progress", is_flag=True, help="One line per finished run instead of a bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary table as JSON records.")
def command(file, out, engine, workers, scheduler, shard, dry_run, no_progress, as_json) -> None:
    """Run the sweep FILE: every combination of its axes with every seed, skipping runs already
    done; results in <out>/<sweep>/<table>/scenario=<id>/seed=<n>/part.parquet and
    <out>/<sweep>/summary.parquet. Exit 1 if any run failed."""
    if scheduler and engine != "dask":
        raise InputError.single("--scheduler", "needs --engine dask", scheduler)
    if workers is not None and workers < 1:
        raise InputError.single("--workers", "must be >= 1", workers)
    part = _shard(shard)
    plan = expand(file, out)
    tasks = plan.tasks(part)
    click.echo(
        f"sweep {plan.sweep.name}: {len(plan.points)} scenarios x {len(plan.seeds)} seeds = "
        f"{len(plan.points) * len(plan.seeds)} runs"
        + (f"; shard {shard}: {len(tasks)} runs" if part else "")
        + f" -> {plan.out_dir}",
        err=True,
    )
    if dry_run:
        for p in plan.points:
            labels = ", ".join(f"{k[5:]}={v}" for k, v in p.labels.items())
            click.echo(f"  {p.id}  {labels}  {p.file}")
        return
    # A scheduler's time limit (SIGTERM) stops the sweep like Ctrl-C: queued runs are dropped,
    # finished ones stay recorded, and running the same command again completes the rest.
    old = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    kw = {"scheduler": scheduler} if engine == "dask" else {}
    try:
        with ENGINES[engine](workers=workers, **kw) as (executor, slots):
            show = sys.stderr.isatty() and not no_progress
            df = run_sweep(plan, executor, slots, part, _bar() if show else _lines)
    finally:
        signal.signal(signal.SIGTERM, old)
    failed = df[df.status == "failed"]
    click.echo(
        f"done in {time.monotonic() - t0:.1f} s: {int((df.status == 'ok').sum())} ok, "
        f"{len(failed)} failed, {int((df.status == 'missing').sum())} missing of {len(df)}",
        err=True,
    )
    for r in failed.itertuples():
        click.echo(f"  failed scenario={r.scenario} seed={r.seed}: {r.error}", err=True)
    if as_json:
        click.echo(df.to_json(orient="records", indent=2))
    else:
        click.echo(f"summary: {plan.out_dir / 'summary.parquet'} (and summary.csv)")
    if len(failed):
        sys.exit(1)


def _lines(p: Progress) -> None:
    if p.last is None:
        click.echo(
            f"{p.total} runs: {p.skipped} already done, {p.total - p.skipped} to run", err=True
        )
        return
    r = p.last
    what = "ok" if r["status"] == "ok" else f"FAILED: {r.get('error', '')[:200]}"
    click.echo(
        f"[{p.skipped + p.done + p.failed}/{p.total}] scenario={r['scenario']} seed={r['seed']} "
        f"{what} ({r.get('wall_s', 0):.1f} s) | done {p.done}, running {p.running}, "
        f"failed {p.failed}, eta {_hms(p.eta_s)}",
        err=True,
    )


def _bar():
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("sweep"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        transient=False,
    )
    task = None

    def update(p: Progress) -> None:
        nonlocal task
        status = (
            f"done {p.done} (+{p.skipped} before), running {p.running}, failed {p.failed}, "
            f"eta {_hms(p.eta_s)}"
        )
        if task is None:
            bar.start()
            task = bar.add_task("sweep", total=p.total, status=status)
        bar.update(task, completed=p.skipped + p.done + p.failed, status=status)
        if p.skipped + p.done + p.failed >= p.total or (p.last is not None and p.running == 0):
            bar.stop()

    return update
