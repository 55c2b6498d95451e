"""`sim schema`: the JSON Schema of an input format, for editors and other tools."""

from __future__ import annotations

import json

import click

from sim.spec.mfu import MfuFile
from sim.spec.scenario import Scenario
from sim.spec.serve import ServeFile
from sim.spec.sweep import SweepFile
from sim.spec.topology import TopologyFile
from sim.spec.workload import WorkloadFile

# Every kind `sim validate` recognises.
MODELS = {
    "scenario": Scenario,
    "topology": TopologyFile,
    "workload": WorkloadFile,
    "sweep": SweepFile,
    "mfu": MfuFile,
    "serve": ServeFile,
}


@click.command("schema")
@click.argument("kind", type=click.Choice(sorted(MODELS)), default="scenario")
def command(kind: str) -> None:
    """Print the JSON Schema of a KIND of input file (default: scenario)."""
    schema = MODELS[kind].model_json_schema(mode="validation")
    click.echo(json.dumps(schema, indent=2, sort_keys=True))
