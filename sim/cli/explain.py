"""`sim explain FILE --job NAME`: what each MFU bottleneck of one training job costs, and with
`--sensitivity` / `--observed-mfu` which assumptions decide it and which an observation supports."""

from __future__ import annotations

import json

import click

from sim.errors import InputError
from sim.explain import explain, format_explanation
from sim.runner import prepare


@click.command("explain")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--job", "job", required=True, help="Training job (or stream) name in FILE's workloads."
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="A run folder of FILE: use the job's placement and measured failure factor there "
    "(default: the engine's placement on an empty campus, the expected failure factor; no run "
    "folder is read unless given here).",
)
@click.option("--sensitivity", is_flag=True, help="Global sensitivity over the ranged assumptions "
              "the job's MFU reads: Morris screening, then Sobol S1/ST with intervals.")
@click.option("--samples", type=click.IntRange(8, 1 << 16), default=256, show_default=True,
              help="Sobol base samples (a power of two; N x (k + 2) model calls); rejection "
              "sampling draws 64 x N.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every sample.")
@click.option("--observed-mfu", type=click.FloatRange(0, 1, min_open=True), default=None,
              help="An observed MFU: keep the samples that reproduce it and report the ranges "
              "that survive (implies --sensitivity).")
@click.option("--tolerance", type=click.FloatRange(0, 1, min_open=True), default=0.02,
              show_default=True, help="How close a sample's MFU must come to --observed-mfu.")
@click.option("--html", "html", type=click.Path(dir_okay=False), default=None,
              help="Also write the tornado chart of the sensitivity run as one offline HTML file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(
    file: str,
    job: str,
    run_dir: str | None,
    sensitivity: bool,
    samples: int,
    seed: int,
    observed_mfu: float | None,
    tolerance: float,
    html: str | None,
    as_json: bool,
) -> None:
    """Rerun the job's MFU with each bottleneck removed (homogeneous GPUs, ideal fabric, no
    failures, no pipeline bubble, perfect overlap, no stragglers), alone and in every
    combination: what each alone recovers and its order-free Shapley share of the gap."""
    prep = prepare(file)
    e = explain(prep, job, run_dir)
    analysis = None
    if sensitivity or observed_mfu is not None:
        if run_dir:
            raise InputError.single(
                "--run", "sensitivity samples the modelled job, not a run; leave out --run", run_dir
            )
        from sim.hypotheses import analyse, format_analysis

        analysis = analyse(prep, job, samples, seed, observed_mfu, tolerance, 64 * samples)
        if html:
            from sim.hypotheses import tornado

            tornado(analysis).write_html(html, include_plotlyjs=True, full_html=True)
    elif html:
        raise InputError.single("--html", "the tornado chart needs --sensitivity", html)
    if as_json:
        out = e.to_dict()
        if analysis is not None:
            out.update(analysis.to_dict())
        click.echo(json.dumps(out, indent=2, default=str))
        return
    click.echo(format_explanation(e))
    if analysis is not None:
        click.echo("")
        click.echo(format_analysis(analysis))
