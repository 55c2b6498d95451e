"""What-if ablations of one training job's MFU: remove each bottleneck in turn (mixed GPU
generations, fabric, failures, pipeline bubble, exposed communication) and see what it alone
would recover. Pure functions over the perf model; `sim explain` prints them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import pandas as pd

from sim import availability, jobrate, perf
from sim.engine.failures import domain_rate
from sim.errors import InputError
from sim.hardware import catalog
from sim.sensitivity import shapley
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
    combined: float  # every bottleneck removed together
    shapley: dict[str, float] = field(default_factory=dict)  # bottleneck -> share of the gap
    gap: float = 0.0  # combined - mfu, what the Shapley shares divide (exactly)
    homogeneous_step_s: dict[str, float] = field(default_factory=dict)  # all of one type

    @property
    def main(self) -> list[Ablation]:
        return [a for a in self.ablations if a.main]

    @property
    def largest(self) -> Ablation:
        return max(self.main, key=lambda a: a.mfu)

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
            "gap": self.gap,
            "shapley": self.shapley,
            "failures_from": self.setup.failures_from,
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


def expected_failures(prep, job: Found, setup: Setup) -> float:
    """The job's expected useful share of time under the scenario's failure rates and its
    checkpoint interval (sim.availability, Daly 2006): what `--run` would measure, on average."""
    topo, fs = prep.topology, prep.scenario.failures
    rate = 0.0  # failures per hour of the job's domains, as the engine draws them
    for name, n in setup.alloc.items():
        pool = topo.pool(name)
        rate += -(-n // pool.gpus_per_domain) * domain_rate(fs, pool)
    write_h = fs.checkpoint_write_minutes / 60
    every = getattr(job.shape, "checkpoint_interval_h", 1.0)
    tau = jobrate.checkpoint_h(every, rate, write_h)
    return availability.useful_fraction(rate, tau, write_h, fs.restart_minutes / 60)


# The bottlenecks the Shapley shares divide the gap between, each with the ablation removing it.
BOTTLENECKS = {
    "mixed_generations": "homogeneous",
    "fabric": "ideal_fabric",
    "failures": "no_failures",
    "pipeline_bubble": "no_bubble",
    "exposed_communication": "perfect_overlap",
    "stragglers": "no_jitter",
}


def explain(prep, name: str, run_dir: str | Path | None = None) -> Explanation:
    """Baseline MFU of the job, what removing each bottleneck alone would give, and each
    bottleneck's Shapley share of the gap to all removed; `prep` is a prepared scenario
    (`sim.runner.prepare`). The failure factor comes from `run_dir` when given, else from the
    expectation under the scenario's failure rates (a run folder is never looked up)."""
    job = find_job(prep, name)
    setup = from_run(prep, job, name, Path(run_dir)) if run_dir else full_size(prep, job)
    if run_dir:
        f = failure_factor(Path(run_dir), name, job.kind)
        if f is None:
            raise InputError.single("--run", f"no job row of {name} in this run", str(run_dir))
        setup = replace(setup, failures=f, failures_from=f"measured in {run_dir}")
    else:
        f = expected_failures(prep, job, setup)
        setup = replace(setup, failures=f, failures_from="expected")
    shape = job.shape
    part = shape.partitioning
    unit = shape.parallelism.tp * shape.parallelism.pp * shape.parallelism.cp
    total = sum(setup.by_type.values())
    tj = _train_job(shape.model, shape.training, shape.parallelism, total // unit)
    place = setup.placement(part)  # jitter_cv None: the perf model's STEP_JITTER_CV
    base = perf.step(tj, place)

    prec = shape.training.precision
    gpus = catalog()
    mixed = len(setup.by_type) > 1
    most = max(setup.by_type, key=lambda g: setup.by_type[g])
    fastest = max(setup.by_type, key=lambda g: gpus[g].peak_tflops(prec))
    nics = {g: gpus[g].nic_gbit_per_s for g in setup.by_type}

    def placed(removed: frozenset, homo: str = most) -> perf.Placement:
        """The job's placement with the fabric and mixing bottlenecks in `removed` taken away."""
        ideal = "ideal_fabric" in removed
        if "homogeneous" in removed:
            bw = IDEAL_GBIT_PER_S if ideal else setup.fabric[homo]
            p = perf.Placement(((homo, total),), part, ((homo, bw),), None)
        elif ideal:
            p = replace(
                place,
                fabric_gbit_per_s=tuple(sorted((g, IDEAL_GBIT_PER_S) for g in setup.by_type)),
                cross_type_gbit_per_s=min(nics.values()) if mixed else None,
            )
        else:
            p = place
        jitter = 0.0 if "no_jitter" in removed else place.jitter_cv
        return replace(p, jitter_cv=jitter)

    def run(removed: frozenset, homo: str = most) -> tuple[float, float]:
        keep = 1.0 if "no_failures" in removed else f
        r = perf.step(
            tj,
            placed(removed, homo),
            no_bubble="no_bubble" in removed,
            perfect_overlap="perfect_overlap" in removed,
        )
        return r.mfu * keep, r.step_time_s / keep

    cache: dict[frozenset, tuple[float, float]] = {}

    def value(removed: frozenset) -> float:
        if removed not in cache:
            cache[removed] = run(removed)
        return cache[removed][0]

    labels = {
        "homogeneous": f"homogeneous: all {total:,} {most} (the majority type)"
        if mixed
        else f"homogeneous GPUs (already all {most})",
        "ideal_fabric": "ideal fabric (non-blocking, every link at NIC rate)",
        "no_failures": "no failures or restarts",
        "no_bubble": "no pipeline bubble",
        "perfect_overlap": "perfect overlap (all communication hidden)",
        "no_jitter": "no per-GPU step jitter (stragglers)",
    }
    players = tuple(BOTTLENECKS.values())
    shares = shapley(lambda s: value(frozenset(s)), players)
    rows = [(k, labels[k], *run(frozenset({k})), True) for k in players]
    if mixed and fastest != most:
        rows.append(
            (
                "homogeneous_fastest",
                f"homogeneous: all {total:,} {fastest} (the fastest type)",
                *run(frozenset({"homogeneous"}), fastest),
                False,
            )
        )
    if mixed and part == "uniform":
        rows.append(
            (
                "proportional",
                "heterogeneity-aware partitioning (same GPUs)",
                *run_partitioned(tj, place, f),
                False,
            )
        )
    everything = frozenset(players)
    return Explanation(
        name,
        job.kind,
        setup,
        part,
        base,
        base.mfu * f,
        tuple(Ablation(*r) for r in rows),
        value(everything),
        {b: float(shares[a]) for b, a in BOTTLENECKS.items()},
        float(Fraction(value(everything)) - Fraction(value(frozenset()))),
        {g: run(frozenset({"homogeneous"}), g)[1] for g in setup.by_type} if mixed else {},
    )


def run_partitioned(tj, place: perf.Placement, failures: float) -> tuple[float, float]:
    """MFU and step time with work split in proportion to each type's speed (same GPUs)."""
    r = perf.step(tj, replace(place, partitioning="proportional"))
    return r.mfu * failures, r.step_time_s / failures


def format_explanation(e: Explanation) -> str:
    """The what-if table as text: the bottlenecks with their Shapley shares, then related
    what-ifs, then the diagnosis."""
    s = e.setup
    mix = " + ".join(f"{n:,} {g}" for g, n in s.by_type.items())
    fab = ", ".join(f"{g} {bw:,.0f}" for g, bw in s.fabric.items())
    if s.failures_from == "expected":
        fail_note = (
            "expected under the scenario's failure rates and checkpoint interval "
            "(no run read; give --run DIR to use a run's measured factor)"
        )
    else:
        fail_note = s.failures_from
    lines = [
        f"{e.job} ({e.kind}): {mix} = {sum(s.by_type.values()):,} GPUs, {e.partitioning} partitioning",
        f"placement: {s.source}",
        f"fabric per GPU (Gbit/s): {fab}"
        + (f"; between types {s.cross:,.0f}" if s.cross is not None else ""),
        f"failures: useful share {s.failures:.3f}, {fail_note}",
        f"MFU now: {e.mfu:.1%} (step {e.base.step_time_s / s.failures:.2f} s with failures, "
        f"{e.base.step_time_s:.2f} s without)",
        "attribution (fraction kept, chained): "
        + ", ".join(f"{k} {v:.3f}" for k, v in e.base.attribution.items() if k != "failures")
        + f", failures {s.failures:.3f}",
        "",
        f"{'each bottleneck removed alone':54s} {'MFU':>6s} {'gain':>9s}  "
        f"{'Shapley share (order-free)':>26s}",
    ]
    by_key = {v: k for k, v in BOTTLENECKS.items()}
    for a in sorted(e.main, key=lambda a: -e.shapley.get(by_key[a.key], 0.0)):
        sh = e.shapley.get(by_key[a.key], 0.0)
        pct = f" ({sh / e.gap:4.0%})" if e.gap > 1e-12 else ""
        lines.append(
            f"  {a.label:52s} {a.mfu:6.1%} {100 * (a.mfu - e.mfu):+6.1f} pts  "
            f"{100 * sh:+17.1f} pts{pct}"
        )
    lines.append(
        f"  {'all ' + str(len(e.main)) + ' removed together':52s} {e.combined:6.1%} "
        f"{100 * e.gap:+6.1f} pts  {100 * sum(e.shapley.values()):+17.1f} pts (sum)"
    )
    related = [a for a in e.ablations if not a.main]
    if related:
        lines += ["", "related what-ifs (not part of the sum):"]
        for a in sorted(related, key=lambda a: -a.mfu):
            lines.append(f"  {a.label:52s} {a.mfu:6.1%} {100 * (a.mfu - e.mfu):+6.1f} pts")
    fast = next((a for a in related if a.key == "homogeneous_fastest"), None)
    homo = next((a for a in e.main if a.key == "homogeneous"), None)
    if fast and homo and fast.mfu < homo.mfu and e.homogeneous_step_s:
        t = e.homogeneous_step_s
        g_fast, g_most = min(t, key=t.get), max(s.by_type, key=lambda g: s.by_type[g])
        lines.append(
            f"  (all {g_fast} is {t[g_most] / t[g_fast]:.2f}x faster than all {g_most}, "
            f"{t[g_fast]:.2f} vs {t[g_most]:.2f} s per step, yet its MFU is lower: MFU is a "
            "share of peak, and a higher peak on the same NIC leaves more communication exposed)"
        )
    top = max(e.shapley, key=e.shapley.get) if e.shapley else None
    lines.append("")
    if top is not None and e.gap > 1e-12:
        a = next(x for x in e.main if x.key == BOTTLENECKS[top])
        lines.append(
            f"largest bottleneck: {a.label}: {100 * e.shapley[top]:.1f} of the "
            f"{100 * e.gap:.1f} points between {e.mfu:.1%} and {e.combined:.1%} "
            f"({e.shapley[top] / e.gap:.0%}, Shapley); alone it lifts MFU to {a.mfu:.1%}."
        )
    att = dict(e.base.attribution, failures=s.failures)
    worst = min(att, key=att.get)
    why = WHY.get(worst, "")
    if worst == "dp_comm" and s.cross is not None:
        why += f"; between GPU types it crosses the core at {s.cross:,.0f} Gbit/s per GPU"
    lines.append(
        f"largest single factor: {worst} keeps {att[worst]:.3f}" + (f" ({why})" if why else "")
    )
    return "\n".join(lines)
