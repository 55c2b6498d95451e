"""`sim mfu FILE`: step time, MFU and its attribution for one training job (or a layout sweep)."""

from __future__ import annotations

import json

import click

from sim.perf.sweep import best_layouts
from sim.perf.training import step
from sim.spec.mfu import load_mfu


def _layout(job) -> str:
    p, t = job.parallelism, job.training
    s = f"tp{p.tp} pp{p.pp} dp{p.dp} cp{p.cp} vp{p.vp}"
    return s + (f" ep{p.ep}" if p.ep > 1 else "") + f" mb{t.micro_batch}"


@click.command("mfu")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--sweep", is_flag=True, help="Search tp/pp/cp/vp/micro-batch for the best MFU that fits."
)
@click.option("--top", default=10, show_default=True, help="Layouts to show with --sweep.")
def command(file: str, as_json: bool, sweep: bool, top: int) -> None:
    """Model FLOPs utilisation of the training job in FILE, with what it loses and why."""
    _, job, placement = load_mfu(file)
    res = step(job, placement)
    out = res.to_dict()
    out["layout"] = _layout(job)
    best = best_layouts(job, placement, top=top) if sweep else []
    if sweep:
        out["sweep"] = [dict(layout=_layout(j), **r.to_dict()) for j, r in best]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    precision = job.training.precision
    click.echo(f"layout            {out['layout']}  ({placement.partitioning})")
    click.echo(f"step time         {res.step_time_s:.3f} s")
    click.echo(f"tokens/s          {res.tokens_per_s:,.0f}")
    click.echo(f"model TFLOP/s/GPU {res.model_tflops_per_gpu:.1f}")
    click.echo(
        f"MFU               {res.mfu:.1%} of dense {precision} peak ({res.mfu_bf16:.1%} of BF16)"
    )
    fit = "fits" if res.fits else f"DOES NOT FIT: {res.reason}"
    click.echo(f"memory/GPU        {res.memory_gb_per_gpu:.1f} GB, {fit}")
    click.echo("attribution (fraction kept by each factor; they multiply to the MFU):")
    for name, f in res.attribution.items():
        click.echo(f"  {name:18s} {f:6.3f}")
    if len(res.per_type) > 1:
        click.echo("per GPU type:")
        for t in res.per_type:
            click.echo(
                f"  {t.gpu:6s} {t.gpus:>8,d} GPUs  {t.microbatches:7.2f} micro-batches/replica"
                f"  busy {t.busy_s:.3f} s  {t.memory.total_gb:.1f} GB"
            )
    if sweep:
        click.echo(f"best {len(best)} fitting layouts:")
        for j, r in best:
            click.echo(
                f"  {_layout(j):34s} MFU {r.mfu:6.1%}  step {r.step_time_s:8.3f} s"
                f"  {r.memory_gb_per_gpu:6.1f} GB"
            )
