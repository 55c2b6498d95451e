"""`sim mfu FILE`: step time, MFU and its attribution for one training job (or a layout sweep).

FILE is an mfu file ([model], [training], [parallelism], [hardware]; see examples/mfu/), or a
scenario file with `--job NAME`: that training job's shape on the GPU type of its first pool.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from sim.errors import InputError, Problem
from sim.perf.sweep import best_layouts
from sim.perf.training import Placement, step
from sim.spec.base import read_toml
from sim.spec.mfu import load_mfu, train_job

MFU_TABLES = ("model", "training", "parallelism", "hardware")


def _layout(job) -> str:
    p, t = job.parallelism, job.training
    s = f"tp{p.tp} pp{p.pp} dp{p.dp} cp{p.cp} vp{p.vp}"
    s += f" ep{p.ep}" if p.ep > 1 else ""
    return s + f" zero{p.zero_stage} mb{t.micro_batch}"


def _scenario_job(file: str, name: str):
    """The job `name` of a scenario's workloads, on its first pool's GPU type."""
    from sim.spec.base import load
    from sim.spec.scenario import load_scenario
    from sim.spec.workload import WorkloadFile

    scenario, topologies = load_scenario(file)
    gpu_of = {p.name: p.gpu for t in topologies for p in t.pools}
    shapes = {}
    for w in scenario.workloads:
        wf = load(WorkloadFile, w)
        shapes.update({j.name: j for j in (*wf.training, *wf.streams)})
    if name not in shapes:
        raise InputError.single(
            "--job",
            f"no training job or stream of that name; known: {', '.join(shapes)}",
            name,
            file=file,
        )
    shape = shapes[name]
    job = train_job(shape.model, shape.training, shape.parallelism)
    gpu = gpu_of.get(shape.pools[0], shape.pools[0])
    return job, Placement.single(gpu, job.parallelism.gpus)


def _load(file: str, job_name: str | None):
    raw = read_toml(file)
    is_mfu = any(k in raw for k in MFU_TABLES)
    if job_name is not None and not is_mfu:
        return _scenario_job(file, job_name)
    if not is_mfu:
        kind = (
            "a scenario file"
            if "horizon" in raw
            else (
                "a workload file"
                if {"training", "streams", "leases"} & set(raw)
                else "not an mfu file"
            )
        )
        raise InputError(
            [
                Problem(
                    "",
                    f"{kind}: `sim mfu` reads an mfu file, with tables [model], [training],"
                    " [parallelism] and [hardware] (examples in examples/mfu/); for a scenario,"
                    " pass --job NAME to take one of its training jobs",
                    file=str(Path(file)),
                )
            ]
        )
    _, job, placement = load_mfu(file)
    return job, placement


@click.command("mfu")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--sweep", is_flag=True, help="Search tp/pp/cp/vp/micro-batch for the best MFU that fits."
)
@click.option("--top", default=10, show_default=True, help="Layouts to show with --sweep.")
@click.option(
    "--job",
    "job_name",
    default=None,
    help="FILE is a scenario: model this training job (or stream) on its first pool's GPU type.",
)
def command(file: str, as_json: bool, sweep: bool, top: int, job_name: str | None) -> None:
    """Model FLOPs utilisation of the training job in FILE, with what it loses and why."""
    job, placement = _load(file, job_name)
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
    level = round(out["interval_level"] * 100)
    click.echo(f"layout            {out['layout']}  ({placement.partitioning})")
    click.echo(
        f"step time         {res.step_time_s:.3f} s  ({level}% interval"
        f" {out['step_time_s_low']:.3f}-{out['step_time_s_high']:.3f} s)"
    )
    click.echo(f"tokens/s          {res.tokens_per_s:,.0f}")
    click.echo(f"model TFLOP/s/GPU {res.model_tflops_per_gpu:.1f}")
    click.echo(
        f"MFU               {res.mfu:.1%} of dense {precision} peak ({res.mfu_bf16:.1%} of BF16;"
        f" {level}% interval {out['mfu_low']:.1%}-{out['mfu_high']:.1%})"
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
