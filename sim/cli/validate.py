"""`sim validate FILE...`: check scenario and topology files, printing every problem."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sim.errors import InputError
from sim.runner import prepare
from sim.spec.base import load, read_toml
from sim.spec.topology import TopologyFile
from sim.spec.workload import WorkloadFile

WORKLOAD_TABLES = tuple(WorkloadFile.model_fields)  # training, streams, leases, serving, ...


def file_kind(path: str | Path) -> str:
    """'topology' for a file with a [site] table, 'workload' for one with only workload
    tables, otherwise 'scenario'."""
    doc = read_toml(path)
    if "site" in doc:
        return "topology"
    if doc and set(doc) <= set(WORKLOAD_TABLES):
        return "workload"
    return "scenario"


def describe(path: str) -> str:
    """Validate one file and return a one-line description; raises InputError."""
    kind = file_kind(path)
    if kind == "workload":
        w = load(WorkloadFile, path)
        return "workload: " + ", ".join(f"{len(getattr(w, t))} {t}" for t in WORKLOAD_TABLES)
    if kind == "topology":
        topo = load(TopologyFile, path)
        gpus = sum(ph.gpus for ph in topo.phases)
        return (
            f"topology {topo.site.name!r}: {len(topo.pools)} pools, "
            f"{len(topo.phases)} phases, {gpus:,} GPUs"
        )
    prep = prepare(path)
    sc = prep.scenario
    return (
        f"scenario {sc.name!r}: {sc.horizon.start} to {sc.horizon.end}, "
        f"{len(prep.topology.sites)} sites, {len(prep.workloads)} workload files, "
        f"policy {sc.policy.kind!r}"
    )


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
def command(files: tuple[str, ...]) -> None:
    """Validate scenario or topology FILES; exit 2 if any has a problem."""
    from sim.cli import EXIT_BAD_INPUT, report_problems

    bad = 0
    for path in files:
        try:
            click.echo(f"ok: {path}: {describe(path)}")
        except InputError as err:
            bad += 1
            click.echo(f"invalid: {path}", err=True)
            report_problems(err)
    if bad:
        sys.exit(EXIT_BAD_INPUT)
