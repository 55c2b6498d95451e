"""Model of an mfu file (`sim mfu FILE`): a model, a training recipe, a layout and the hardware.

Its cross-field checks call the perf model's `problems` (layout vs model vs GPUs), so loading it
with `sim.spec.base.load` reports structural and consistency problems, each with its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sim.assumptions import AssumedInt
from sim.errors import Problem
from sim.hardware import catalog
from sim.limits import MAX_JOB_GPUS
from sim.perf.model import Model, Parallelism, Training, TrainJob
from sim.perf.training import Placement, problems
from sim.spec.base import FilePath, Strict, load

Pos = Annotated[int, Field(ge=1)]
# A positive integer that may carry an `assumed` range (a job shape nobody published).
AssumedPos = Annotated[AssumedInt, Field(ge=1)]


class ModelSpec(Strict):
    """Transformer shape. `params` is the total parameter count (e.g. 70e9), not billions."""

    params: float = Field(ge=1e6)
    layers: Pos
    hidden: Pos
    heads: Pos
    vocab: Pos
    seq_len: Pos
    kv_heads: Pos | None = None
    ffn_hidden: Pos | None = None
    active_params: float | None = Field(default=None, ge=1e6)
    # Mixture of experts: routed experts of width ffn_hidden each, top_k per token, plus
    # shared_experts always active.
    experts: Pos | None = None
    top_k: Pos | None = None
    shared_experts: int = Field(default=0, ge=0)


class TrainingSpec(Strict):
    global_batch: AssumedPos
    micro_batch: AssumedPos
    precision: Literal["bf16", "fp16", "fp8", "fp4"]
    recompute: Literal["none", "selective", "full"]
    # Recipe software: fused (flash) or unfused attention; TP collectives pipelined with GEMMs.
    attention: Literal["flash", "unfused"] = "flash"
    tp_comm_overlap: bool = False


class ParallelismSpec(Strict):
    tp: Pos
    pp: Pos
    dp: Pos
    cp: Pos
    virtual_pipeline: AssumedPos = 1
    ep: AssumedPos = 1
    # 0 replicated, 1 optimizer state sharded (distributed optimizer), 2 + gradients, 3 FSDP.
    zero_stage: Literal[0, 1, 2, 3] = 1

    @model_validator(mode="after")
    def _not_beyond_any_campus(self) -> ParallelismSpec:
        gpus = self.tp * self.pp * self.dp * self.cp
        if gpus > MAX_JOB_GPUS:
            raise ValueError(
                f"tp x pp x dp x cp = {gpus:,} GPUs; one job holds at most {MAX_JOB_GPUS:,}"
            )
        return self


def train_job(m: ModelSpec, t: TrainingSpec, p: ParallelismSpec, dp: int | None = None) -> TrainJob:
    """The perf model's job for these tables, optionally at another data-parallel degree."""
    return TrainJob(
        Model(
            m.params,
            m.layers,
            m.hidden,
            m.heads,
            m.vocab,
            m.seq_len,
            m.kv_heads,
            m.ffn_hidden,
            m.active_params,
            m.experts,
            m.top_k,
            m.shared_experts,
        ),
        Training(
            t.global_batch, t.micro_batch, t.precision, t.recompute, t.attention, t.tp_comm_overlap
        ),
        Parallelism(
            p.tp, p.pp, p.dp if dp is None else dp, p.cp, p.virtual_pipeline, p.ep, p.zero_stage
        ),
    )


class HardwareSpec(Strict):
    """Either `gpu` and `gpus`, or `mix` (GPUs per type) with `partitioning`."""

    gpu: str | None = None
    gpus: Pos | None = None
    mix: dict[str, Pos] | None = None
    partitioning: Literal["uniform", "proportional"] = "uniform"
    topology: FilePath | None = None
    pools: list[str] | None = None


class MfuFile(Strict):
    model: ModelSpec
    training: TrainingSpec
    parallelism: ParallelismSpec
    hardware: HardwareSpec

    def problems(self) -> list[Problem]:
        hw = self.hardware
        out = []
        if hw.mix is None:
            if hw.gpu is None:
                out.append(
                    Problem("hardware.gpu", "required key is missing (or give hardware.mix)")
                )
            elif hw.gpu not in catalog():
                out.append(
                    Problem(
                        "hardware.gpu", f"unknown GPU type; known: {', '.join(catalog())}", hw.gpu
                    )
                )
            if hw.gpus is None:
                out.append(
                    Problem("hardware.gpus", "required key is missing (or give hardware.mix)")
                )
        else:
            if hw.gpu is not None or hw.gpus is not None:
                out.append(Problem("hardware.mix", "give either gpu and gpus, or mix, not both"))
            if not hw.mix:
                out.append(Problem("hardware.mix", "must name at least one GPU type"))
        if (hw.topology is None) != (hw.pools is None):
            out.append(Problem("hardware.pools", "topology and pools go together"))
        if out:
            return out
        return problems(self.job(), self.placement(fabric=False))

    def job(self) -> TrainJob:
        return train_job(self.model, self.training, self.parallelism)

    def placement(self, fabric: bool = True) -> Placement:
        """The placement; with `fabric`, bandwidths from the topology file if one is given."""
        hw = self.hardware
        counts = dict(hw.mix) if hw.mix else {hw.gpu: hw.gpus}
        if not fabric or hw.topology is None:
            return Placement.mix(counts, hw.partitioning)
        fab, cross = fabric_from_topology(hw.topology, hw.pools or [], counts)
        tiers = tiers_from_topology(hw.topology, hw.pools or [], counts)
        return Placement.mix(counts, hw.partitioning, fab, cross_type_gbit_per_s=cross, tiers=tiers)


def fabric_from_topology(
    path: Path, pools: list[str], counts: dict[str, int]
) -> tuple[dict[str, float], float | None]:
    """Per-type data-parallel bandwidth and the cross-type bandwidth (Gbit/s per GPU) of a job
    filling `pools` in order, from `sim.topology`'s Span of each type and of the whole job."""
    from sim.topology import load_topology  # only mfu files with a topology need it

    topo = load_topology([path])
    by_type: dict[str, list[str]] = {}
    for name in pools:
        by_type.setdefault(topo.pool(name).gpu.name, []).append(name)
    fab = {}
    for gpu_type, n in counts.items():
        if gpu_type in by_type:
            fab[gpu_type] = topo.span(by_type[gpu_type], n).bandwidth_gbit_per_s
    cross = None
    if len(counts) > 1:
        cross = topo.span(pools, sum(counts.values())).bandwidth_gbit_per_s
    return fab, cross


def pool_tiers(pool) -> tuple[tuple[float, float], ...]:
    """A pool's scale-out tiers as (block GPUs, Gbit/s per GPU): leaf group, pod, then the
    pool's core (`sim.topology.PoolInfo`; sim.perf.collectives prices bytes by tier)."""
    import math

    f = pool.fabric
    leaf = f.domains_per_leaf_group * pool.gpus_per_domain
    bw = pool.tier_bandwidth_gbit_per_s
    return ((leaf, bw["leaf"]), (leaf * f.leaf_groups_per_pod, bw["spine"]), (math.inf, bw["core"]))


def tiers_from_topology(path: Path, pools: list[str], counts: dict[str, int]):
    """Per type, the tiers of its first pool in `pools` (see `pool_tiers`)."""
    from sim.topology import load_topology

    topo = load_topology([path])
    out: dict[str, tuple] = {}
    for name in pools:
        p = topo.pool(name)
        if p.gpu.name in counts and p.gpu.name not in out:
            out[p.gpu.name] = pool_tiers(p)
    return tuple(out.items())


def load_mfu(path: str | Path) -> tuple[MfuFile, TrainJob, Placement]:
    """Read an mfu file (every problem at once, with its path) into a job and a placement."""
    spec = load(MfuFile, path)
    return spec, spec.job(), spec.placement()
