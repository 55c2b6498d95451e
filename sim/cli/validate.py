"""`sim validate FILE...`: check scenario, topology, workload, sweep, mfu and serve files, each as
what it is (recognised by its tables), printing every problem."""

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
MFU_TABLES = ("model", "training", "parallelism", "hardware")
KINDS = ("scenario", "topology", "workload", "sweep", "mfu", "serve")


def file_kind(path: str | Path) -> str:
    """The kind of input file, from its top-level keys: 'topology' ([site]), 'mfu' ([model]
    and [parallelism]), 'serve' ([model] and a [serving] table), 'sweep' ([[axes]], or a
    `scenario` key naming the base file), 'workload' (only workload tables), otherwise
    'scenario'."""
    doc = read_toml(path)
    if "site" in doc:
        return "topology"
    if "model" in doc and "parallelism" in doc:
        return "mfu"
    if "model" in doc and isinstance(doc.get("serving"), dict):
        return "serve"
    if "horizon" not in doc and ("axes" in doc or isinstance(doc.get("scenario"), str)):
        return "sweep"
    if doc and set(doc) <= set(WORKLOAD_TABLES):
        return "workload"
    return "scenario"


def _sweep(path: str) -> str:
    """Expand the sweep into a throwaway folder: every axis value and combination is checked
    with everything it names, and nothing is written beside the file."""
    import tempfile

    from sim.sweep import expand

    with tempfile.TemporaryDirectory(prefix="sim-validate-") as tmp:
        plan = expand(path, tmp)
    axes = ", ".join(f"{a.key} ({len(a.all_values())})" for a in plan.axes) or "no axes"
    return (
        f"sweep {plan.sweep.name!r}: {len(plan.points)} scenarios x {len(plan.seeds)} seeds = "
        f"{len(plan.points) * len(plan.seeds)} runs; axes: {axes}"
    )


def _mfu(path: str) -> str:
    from sim.spec.mfu import load_mfu

    spec, job, placement = load_mfu(path)
    p = spec.parallelism
    hw = spec.hardware
    gpus = (
        f"{hw.gpus:,} {hw.gpu}"
        if hw.mix is None
        else ", ".join(f"{n:,} {g}" for g, n in hw.mix.items())
    )
    return f"mfu: {spec.model.params / 1e9:,.0f}B-parameter model, tp{p.tp} pp{p.pp} on {gpus}"


def describe(path: str) -> str:
    """Validate one file as the kind it is and return a one-line description; raises
    InputError."""
    if Path(path).is_dir():
        raise InputError.single("", "is a directory; give a .toml file", file=path)
    kind = file_kind(path)
    if kind == "workload":
        w = load(WorkloadFile, path)
        parts = [f"{len(getattr(w, t))} {t}" for t in WORKLOAD_TABLES if getattr(w, t)]
        return "workload: " + (", ".join(parts) or "empty")
    if kind == "topology":
        topo = load(TopologyFile, path)
        gpus = sum(ph.gpus for ph in topo.phases)
        return (
            f"topology {topo.site.name!r}: {len(topo.pools)} pools, "
            f"{len(topo.phases)} phases, {gpus:,} GPUs"
        )
    if kind == "sweep":
        return _sweep(path)
    if kind == "mfu":
        return _mfu(path)
    if kind == "serve":
        from sim.spec.serve import load_serve

        spec = load_serve(path)
        return (
            f"serve: {spec.model.params / 1e9:,.0f}B-parameter model on "
            f"{spec.serving.gpu} at {spec.serving.precision}"
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
    """Validate FILES (scenario, topology, workload, sweep, mfu or serve files, each
    recognised by its tables); exit 2 if any has a problem."""
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
