"""What-if ablations of one training job's MFU: remove each bottleneck in turn (mixed GPU
generations, fabric, failures, pipeline bubble, exposed communication) and see what it alone
would recover. Pure functions over the perf model; `sim explain` prints them."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from sim import jobrate, perf
from sim.errors import InputError
from sim.hardware import catalog
from sim.spec.mfu import train_job as _train_job
from sim.spec.workload import JobShape

# What each attribution factor is, for the one-line diagnosis.
WHY = {
    "kernel_efficiency": "GEMM and attention kernels below peak",
    "recompute": "activation recomputation",
    "tp_cp_comm": "exposed tensor/context/expert-parallel collectives",
    "pp_comm": "exposed pipeline sends",
    "pipeline_bubble": "pipeline fill and drain",
    "dp_comm": "data-parallel gradient reduction not hidden behind compute",
    "straggler": "the step waits for the slowest GPU or GPU type",
    "failures": "work lost to failures and restarts",
}
IDEAL_GBIT_PER_S = 1e9  # "ideal fabric": every link at the NIC's line rate (perf caps at the NIC)


@dataclass(frozen=True)
class Found:
    """A job of the scenario's workloads (a training job, or a stream's declared shape)."""

    shape: JobShape
    kind: str  # training or stream
    max_dp: int
    min_dp: int
    submit: object


@dataclass(frozen=True)
class Setup:
    """A placement as the engine builds it: GPUs used per type, bandwidths, GPUs per pool."""

    by_type: dict[str, int]
    fabric: dict[str, float]
    cross: float | None
    alloc: dict[str, int]
    source: str
    failures: float = 1.0  # the engine's availability factor (1 = no time lost to failures)
    failures_from: str = ""  # the run it was read from ("" = none: taken as 1)

    def placement(self, partitioning: str) -> perf.Placement:
        return perf.Placement(
            tuple(sorted(self.by_type.items())),
            partitioning,
            tuple(sorted(self.fabric.items())),
            self.cross,
        )


@dataclass(frozen=True)
class Ablation:
    key: str
    label: str
    mfu: float
    step_time_s: float
    main: bool  # one of the five bottlenecks (else a related what-if)

    def gain(self, base: float) -> float:
        return self.mfu - base


@dataclass(frozen=True)
class Explanation:
    job: str
    kind: str
    setup: Setup
    partitioning: str
    base: perf.StepResult
    mfu: float  # baseline with the failure factor
    ablations: tuple[Ablation, ...]
    combined: float  # all five removed together

    @property
    def largest(self) -> Ablation:
        return max((a for a in self.ablations if a.main), key=lambda a: a.mfu)

    def share(self, a: Ablation) -> float | None:
        gap = self.combined - self.mfu
        return (a.mfu - self.mfu) / gap if gap > 1e-12 else None

    def to_dict(self) -> dict:
        return {
            "job": self.job,
            "kind": self.kind,
            "source": self.setup.source,
            "gpus_by_type": self.setup.by_type,
            "gpus_by_pool": self.setup.alloc,
            "fabric_gbit_per_s": self.setup.fabric,
            "cross_type_gbit_per_s": self.setup.cross,
            "partitioning": self.partitioning,
            "mfu": self.mfu,
            "step_time_s": self.base.step_time_s,
            "attribution": dict(self.base.attribution, failures=self.setup.failures),
            "ablations": [
                {
                    "key": a.key,
                    "what": a.label,
                    "mfu": a.mfu,
                    "gain_pts": 100 * (a.mfu - self.mfu),
                    "share_of_gap": self.share(a),
                    "bottleneck": a.main,
                }
                for a in self.ablations
            ],
            "all_removed_mfu": self.combined,
            "largest": self.largest.key,
        }


def find_job(prep, name: str) -> Found:
    """The training job (or stream) called `name` in the scenario's workloads."""
    names = []
    for w in prep.workloads:
        for j in w.training:
            names.append(j.name)
            if j.name == name:
                dp = j.parallelism.dp
                return Found(j, "training", dp, j.min_dp or dp, j.submit)
        for s in w.streams:
            names.append(s.name)
            if s.name == name:
                dp = s.parallelism.dp
                return Found(s, "stream", dp, dp, s.start)
    raise InputError.single(
        "--job", f"no training job or stream of that name; known: {', '.join(names)}", name
    )


def _fill(prep, job: Found, alloc: dict[str, int], source: str) -> Setup:
    """Whole replicas per pool in the job's pool order, up to its largest acceptable size
    (the engine's rule, `sim.jobrate.fill`); each type's bandwidth from its own span, cross-type from the whole."""
    topo, unit = prep.topology, jobrate.replica_gpus(job.shape)
    used = jobrate.fill(
        job.shape.pools, alloc, unit, jobrate.sizes(job.shape, job.max_dp, job.min_dp)
    )
    if not used:
        usable = sum(n // unit * unit for n in alloc.values())
        raise InputError.single(
            "--job", f"its pools hold {usable} usable GPUs, fewer than its smallest size", usable
        )
    by_type: dict[str, int] = {}
    fabric: dict[str, float] = {}
    for name, take in used.items():
        gpu = topo.pool(name).gpu.name
        by_type[gpu] = by_type.get(gpu, 0) + take
        bw = topo.span_of({name: alloc[name]}).bandwidth_gbit_per_s
        fabric[gpu] = min(fabric.get(gpu, bw), bw)
    cross = topo.span_of(alloc).bandwidth_gbit_per_s if len(by_type) > 1 else None
    return Setup(by_type, fabric, cross, alloc, source)


def full_size(prep, job: Found) -> Setup:
    """The placement the engine gives the job on an otherwise empty campus: every online GPU
    of its pools (on its submit date, or the horizon's start) up to its declared size."""
    topo = prep.topology
    at = max(job.submit, prep.scenario.horizon.start)
    online = topo.gpus_online(at)
    if not any(online.get(n, 0) for n in job.shape.pools):
        online = {p.name: p.gpus for p in topo.pools}
    p = job.shape.parallelism
    unit = p.tp * p.pp * p.cp
    left = job.max_dp * unit
    alloc: dict[str, int] = {}
    for name in job.shape.pools:  # whole replicas, in whole domains, pool by pool
        per = topo.pool(name).gpus_per_domain
        have = online.get(name, 0)
        use = min(have // unit * unit, left)
        if use > 0:
            alloc[name] = min(have, -(-use // per) * per)
            left -= use
        if left <= 0:
            break
    return _fill(prep, job, alloc, f"as the engine places it on an empty campus on {at}")


def failure_factor(run_dir: Path, name: str, kind: str) -> float | None:
    """The job's share of running time that counted (`jobs.att_failures`, GPU-hour weighted
    over a stream's jobs), or None if the run has no such job."""
    jobs = pd.read_parquet(Path(run_dir) / "jobs.parquet")
    mine = (
        jobs[jobs.stream.astype(str) == name]
        if kind == "stream"
        else jobs[jobs.name.astype(str) == name]
    )
    mine = mine[mine.gpu_hours > 0]
    if mine.empty or "att_failures" not in mine:
        return None
    return float((mine.att_failures * mine.gpu_hours).sum() / mine.gpu_hours.sum())


def from_run(prep, job: Found, name: str, run_dir: Path) -> Setup:
    """The job's placement in a run: its segment with the most peak FLOPs."""
    seg = pd.read_parquet(Path(run_dir) / "segments.parquet")
    mine = seg[seg.name.astype(str) == name]
    if job.kind == "stream":
        mine = seg[seg.name.astype(str).str.startswith(f"{name}-")]
    if mine.empty:
        raise InputError.single("--run", f"no segment of {name} in this run", str(run_dir))
    row = mine.sort_values("peak_flop", ascending=False).iloc[0]
    alloc = {k: int(v) for k, v in (x.split("=") for x in str(row.pools).split(","))}
    return _fill(
        prep, job, alloc, f"its largest segment in {run_dir} (from {row.start_at:%Y-%m-%d})"
    )


def matching_run(prep) -> Path | None:
    """The scenario's default run folder, if it was made from exactly this scenario."""
    sc = prep.scenario
    d = Path(prep.path).parent / "out" / sc.name / f"seed={sc.seed}"
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return d if manifest.get("scenario_hash") == prep.digest() else None


def explain(prep, name: str, run_dir: str | Path | None = None) -> Explanation:
    """Baseline MFU of the job and what removing each bottleneck alone would give; `prep` is a
    prepared scenario (`sim.runner.prepare`)."""
    job = find_job(prep, name)
    setup = from_run(prep, job, name, Path(run_dir)) if run_dir else full_size(prep, job)
    source = Path(run_dir) if run_dir else matching_run(prep)
    f = failure_factor(source, name, job.kind) if source else None
    if f is not None:
        setup = replace(setup, failures=f, failures_from=str(source))
    shape = job.shape
    part = shape.partitioning
    unit = shape.parallelism.tp * shape.parallelism.pp * shape.parallelism.cp
    total = sum(setup.by_type.values())
    tj = _train_job(shape.model, shape.training, shape.parallelism, total // unit)
    place = setup.placement(part)
    base = perf.step(tj, place)
    f = setup.failures

    prec = shape.training.precision
    gpus = catalog()
    fastest = max(setup.by_type, key=lambda g: gpus[g].peak_tflops(prec))
    homo = perf.Placement(((fastest, total),), part, ((fastest, setup.fabric[fastest]),), None)
    nics = {g: gpus[g].nic_gbit_per_s for g in setup.by_type}
    ideal = replace(
        place,
        fabric_gbit_per_s=tuple(sorted((g, IDEAL_GBIT_PER_S) for g in setup.by_type)),
        cross_type_gbit_per_s=min(nics.values()) if len(nics) > 1 else None,
    )
    ideal_homo = perf.Placement(((fastest, total),), part, ((fastest, IDEAL_GBIT_PER_S),), None)

    def mfu(p: perf.Placement, failures: float = f, **kw) -> tuple[float, float]:
        r = perf.step(tj, p, **kw)
        return r.mfu * failures, r.step_time_s / failures

    mixed = len(setup.by_type) > 1
    rows = [
        ("homogeneous", f"homogeneous GPUs (all {total:,} {fastest})", *mfu(homo), True),
        ("ideal_fabric", "ideal fabric (non-blocking, every link at NIC rate)", *mfu(ideal), True),
        ("no_failures", "no failures or restarts", *mfu(place, 1.0), True),
        ("no_bubble", "no pipeline bubble", *mfu(place, no_bubble=True), True),
        (
            "perfect_overlap",
            "perfect overlap (all communication hidden)",
            *mfu(place, perfect_overlap=True),
            True,
        ),
        (
            "no_jitter",
            "no per-GPU step jitter (stragglers)",
            *mfu(replace(place, jitter_cv=0.0)),
            False,
        ),
    ]
    if mixed:
        most = max(setup.by_type, key=lambda g: setup.by_type[g])
        same = perf.Placement(((most, total),), part, ((most, setup.fabric[most]),), None)
        rows.append(
            (
                "homogeneous_majority",
                f"homogeneous GPUs of the majority type (all {most})",
                *mfu(same),
                False,
            )
        )
    if mixed and part == "uniform":
        rows.append(
            (
                "proportional",
                "heterogeneity-aware partitioning (same GPUs)",
                *mfu(replace(place, partitioning="proportional")),
                False,
            )
        )
    combined, _ = mfu(ideal_homo, 1.0, no_bubble=True, perfect_overlap=True)
    return Explanation(
        name,
        job.kind,
        setup,
        part,
        base,
        base.mfu * f,
        tuple(Ablation(*r) for r in rows),
        combined,
    )


def format_explanation(e: Explanation) -> str:
    """The what-if table as text."""
    s = e.setup
    mix = " + ".join(f"{n:,} {g}" for g, n in s.by_type.items())
    fab = ", ".join(f"{g} {bw:,.0f}" for g, bw in s.fabric.items())
    lines = [
        f"{e.job} ({e.kind}): {mix} = {sum(s.by_type.values()):,} GPUs, {e.partitioning} partitioning",
        f"placement: {s.source}",
        f"fabric per GPU (Gbit/s): {fab}"
        + (f"; between types {s.cross:,.0f}" if s.cross is not None else ""),
        f"MFU now: {e.mfu:.1%} (step {e.base.step_time_s:.2f} s)",
        "attribution (fraction kept): "
        + ", ".join(f"{k} {v:.3f}" for k, v in e.base.attribution.items() if k != "failures")
        + f", failures {s.failures:.3f}",
        "",
        "what-if, each bottleneck removed alone:",
    ]
    for a in sorted(e.ablations, key=lambda a: -a.mfu):
        share = e.share(a)
        lines.append(
            f"  {a.label:52s} {a.mfu:6.1%}  {100 * (a.mfu - e.mfu):+6.1f} pts  x{a.mfu / e.mfu:5.2f}"
            + (f"  {share:4.0%} of the gap" if share is not None else "")
            + ("" if a.main else "  (related)")
        )
    lines.append(f"  {'all five removed together':52s} {e.combined:6.1%}")
    big = e.largest
    share = e.share(big)
    lines += [
        "",
        f"largest bottleneck: {big.label}: alone it lifts MFU from {e.mfu:.1%} to {big.mfu:.1%}"
        + (
            f", {share:.0%} of the {100 * (e.combined - e.mfu):.1f} points lost to the five"
            if share is not None
            else ""
        )
        + ".",
    ]
    att = dict(e.base.attribution, failures=s.failures)
    worst = min(att, key=att.get)
    why = WHY.get(worst, "")
    if worst == "dp_comm" and s.cross is not None:
        why += f"; between GPU types it crosses the core at {s.cross:,.0f} Gbit/s per GPU"
    lines.append(
        f"largest single factor: {worst} keeps {att[worst]:.3f}" + (f" ({why})" if why else "")
    )
    if s.failures_from:
        lines.append(f"(failures: the job's running time that counted in {s.failures_from})")
    else:
        lines.append(
            "(failures: no run of this exact scenario found, taken as none; `sim run` it first, "
            "or give --run DIR)"
        )
    return "\n".join(lines)
