"""`sim explain FILE --job NAME`: what each MFU bottleneck of one training job costs."""

from __future__ import annotations

import json

import click

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
    help="A run folder of FILE: use the job's actual placement there (default: place it at full size).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(file: str, job: str, run_dir: str | None, as_json: bool) -> None:
    """Rerun the job's MFU with each bottleneck removed in turn (homogeneous GPUs, ideal fabric,
    no failures, no pipeline bubble, perfect overlap) and print what each alone recovers."""
    e = explain(prepare(file), job, run_dir)
    if as_json:
        click.echo(json.dumps(e.to_dict(), indent=2, default=str))
    else:
        click.echo(format_explanation(e))
