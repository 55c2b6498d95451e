"""One run: scenario file + seed -> tables in a run folder. A pure top-level function, so that
sweeps can call it from any executor."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from pydantic import ValidationError

from sim import __version__, limits, policies, tenants
from sim.errors import InputError, Problem, referenced
from sim.spec.base import load, problems_from, validate
from sim.spec.scenario import Scenario, load_scenario
from sim.spec.workload import WorkloadFile
from sim.topology import Topology, scenario_topology


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, validated together."""

    path: Path
    scenario: Scenario
    topology: Topology
    workloads: tuple[WorkloadFile, ...]
    policy: policies.Policy
    traces: dict = field(default_factory=dict)  # (workload index, trace index) -> TraceJobs

    def resolved(self) -> dict:
        """The scenario with every default filled, and the files it names, as JSON data."""
        return {
            "scenario": self.scenario.model_dump(mode="json"),
            "workloads": [w.model_dump(mode="json") for w in self.workloads],
        }

    def digest(self) -> str:
        """Hash of the scenario and every file it names (topologies, workloads)."""
        h = hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode())
        for site in self.scenario.sites:
            h.update(Path(site.topology).read_bytes())
        return h.hexdigest()[:16]


def tranche_problems(table: str, j: int, item, pools: dict, file: str) -> list[Problem]:
    """A lease tranche draws from pools that have GPUs, and one given in megawatts comes to at
    least one GPU of its first pool (the engine converts `mw` with that pool's IT watts per GPU
    and rounds down)."""
    found = []
    for k, t in enumerate(getattr(item, "tranches", []) if table == "leases" else []):
        known = [pools[n] for n in t.pools if n in pools]
        if len(known) == len(t.pools) and not any(p.gpus for p in known):
            found.append(
                Problem(
                    f"{table}[{j}].tranches[{k}].pools",
                    "no phase of the scenario puts GPUs in these pools: nothing to lease",
                    list(t.pools),
                    file,
                )
            )
        pool = pools.get(t.pools[0])
        if t.mw is not None and pool is not None and int(t.mw * 1e6 / pool.it_w_per_gpu) < 1:
            found.append(
                Problem(
                    f"{table}[{j}].tranches[{k}].mw",
                    f"is less than one GPU of {pool.name} ({pool.it_w_per_gpu:,.0f} W IT each)",
                    t.mw,
                    file,
                )
            )
    return found


def prepare(path: str | Path, tables: dict[str, dict] | None = None) -> Prepared:
    """Load and cross-check a scenario with its topologies, workloads and policy. `tables`
    replaces whole top-level tables of the scenario, e.g. {"policy": {"kind": "fifo"}} or
    {"failures": {"enabled": False}}, validated as the file's own would be."""
    path = Path(path)
    scenario, _ = load_scenario(path)
    if tables:
        data = {**scenario.model_dump(), **tables}
        scenario = validate(Scenario, data, file=path, context={"base_dir": path.parent})
    topo = scenario_topology(scenario)
    problems: list[Problem] = []
    workloads = []
    traces: dict = {}  # (workload, trace) -> its jobs
    for i, wpath in enumerate(scenario.workloads):
        try:
            w = load(WorkloadFile, wpath)
        except InputError as err:
            problems.extend(referenced(err.problems, f"workloads[{i}]", str(path)))
            continue
        workloads.append(w)
        for j, tr in enumerate(w.traces):
            try:
                from sim.trace_file import read_trace  # pyarrow: only for a trace

                traces[(len(workloads) - 1, j)] = read_trace(tr.file)
            except InputError as err:
                problems.extend(referenced(err.problems, f"traces[{j}].file", str(wpath)))
        for table in ("training", "streams", "leases", "serving", "traces", "lease_arrivals"):
            for j, item in enumerate(getattr(w, table)):
                groups = [("pools", item.pools)] if hasattr(item, "pools") else []
                groups += [
                    (f"tranches[{k}].pools", t.pools)
                    for k, t in enumerate(getattr(item, "tranches", []))
                ]
                problems += tranche_problems(table, j, item, topo.pool_by_name, str(wpath))
                for key, pools in groups:
                    for k, name in enumerate(pools):
                        if name not in topo.pool_by_name:
                            problems.append(
                                Problem(
                                    f"{table}[{j}].{key}[{k}]",
                                    f"unknown pool; the scenario's pools are {list(topo.pool_by_name)}",
                                    name,
                                    str(wpath),
                                )
                            )
    policy = None
    kind = scenario.policy.kind
    if kind not in policies.REGISTRY:
        problems.append(
            Problem(
                "policy.kind",
                f"unknown policy; known: {sorted(policies.REGISTRY)}",
                kind,
                str(path),
            )
        )
    else:
        try:
            policy = policies.make(kind, scenario.policy.params)
        except ValidationError as err:
            problems.extend(problems_from(err, str(path), prefix="policy.params"))
    if problems:
        raise InputError(problems)
    workloads = tenants.apply_terms(workloads, scenario.contract_risk)  # notice terms, hazards
    limits.warn_if_long(scenario.horizon.start, scenario.horizon.end, workloads, traces)
    return Prepared(path, scenario, topo, tuple(workloads), policy, traces)


@dataclass(frozen=True)
class RunResult:
    """A finished run: its folder, its manifest as written (with `kpis`) and its summary."""

    out_dir: Path
    manifest: dict
    summary: dict


def run(
    path: str | Path,
    seed: int | None = None,
    out: str | Path | None = None,
    progress=None,
    check: bool = False,
    tables: dict[str, dict] | None = None,
    invariants: bool = True,
) -> tuple[Path, dict]:
    """Simulate a scenario with a seed (default: the scenario's) and write its run folder.

    Returns the folder and the manifest (with the run's KPIs). `progress(fraction)` is called
    as time advances; `check` re-verifies the engine's invariants every simulated day (slower;
    tests use it); `tables` replaces top-level tables of the scenario (see `prepare`);
    `invariants` checks the tables (`sim.invariants`) before they are written and raises
    InvariantError.
    """
    r = simulate(path, seed, out, progress, check, tables, invariants)
    return r.out_dir, r.manifest


def simulate(
    path: str | Path | Prepared,
    seed: int | None = None,
    out: str | Path | None = None,
    progress=None,
    check: bool = False,
    tables: dict[str, dict] | None = None,
    invariants: bool = True,
) -> RunResult:
    """`run`, also returning the summary: the KPIs are computed once, in memory, from the
    recorder's tables, and written with them (results flow one way: nothing is read back).
    `path` may be a scenario already prepared (`prepare`), which is then not read again."""
    from sim.engine import Engine  # here, not at the top: `sim validate` needs none of these
    from sim.invariants import check as check_invariants
    from sim.output import write_run
    from sim.recorder import Recorder
    from sim.report import kpis_of, summarize_frames

    if isinstance(path, Prepared):
        if tables:
            raise ValueError("tables replace a scenario's tables as it is prepared, not after")
        prep = path
    else:
        prep = prepare(path, tables)
    sc = prep.scenario
    seed = sc.seed if seed is None else seed
    base = Path(out) if out else prep.path.parent / "out"
    out_dir = base / sc.name / f"seed={seed}"
    rec = Recorder()
    t0 = time.perf_counter()
    engine = Engine.from_prepared(prep, seed=seed, recorder=rec, check=check)
    events = engine.run(progress)
    wall_s = time.perf_counter() - t0
    manifest = {
        "scenario": sc.name,
        "scenario_file": str(prep.path),
        "scenario_hash": prep.digest(),
        "seed": seed,
        "horizon": [sc.horizon.start.isoformat(), sc.horizon.end.isoformat()],
        "policy": sc.policy.kind,
        "wall_s": round(wall_s, 3),
        "events": events,
        "events_per_s": round(events / wall_s) if wall_s > 0 else None,
        "scheduling_passes": engine.passes,
        "versions": {
            "colossus-sim": __version__,
            "python": platform.python_version(),
            **{p: version(p) for p in ("simpy", "numpy", "pyarrow", "networkx", "pydantic")},
        },
        "argv": sys.argv,
    }
    tables_out = dict(rec.tables())
    if invariants:  # a run whose tables break an invariant fails loudly, before any write
        check_invariants(tables_out)
    resolved = prep.resolved()
    # the summary reads every table but `events` (its row count only): no pandas copy of it
    manifest["rows"] = {name: t.num_rows for name, t in tables_out.items()}
    frames = {name: t.to_pandas() for name, t in tables_out.items() if name != "events"}
    summary = summarize_frames(frames, manifest, resolved["scenario"], resolved["workloads"])
    manifest["kpis"] = kpis_of(summary)
    manifest = write_run(out_dir, tables_out.items(), resolved, manifest)
    return RunResult(out_dir, manifest, summary)
