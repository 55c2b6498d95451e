"""Training step time, MFU and its attribution for a job on a (possibly mixed) placement.

Pure functions over frozen inputs: `step(job, placement)` is what the engine calls (and caches).
Method (docs/perf-model.md): per pipeline stage and micro-batch, GEMM time from a soft roofline,
flash-attention time at BF16, memory-bound elementwise time; exposed tensor/context/expert-parallel
and pipeline-send time; the 1F1B bubble (p-1)/v micro-batch times; exposed data-parallel reduction
over the fabric the job spans; a synchronous step waits for its slowest rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from sim.errors import InputError, Problem
from sim.hardware import GPU, catalog
from sim.perf import constants as C
from sim.perf.memory import MemoryUse, memory, params_per_gpu
from sim.perf.model import TrainJob

Partitioning = Literal["uniform", "proportional"]

FACTORS = (
    "kernel_efficiency",
    "recompute",
    "tp_cp_comm",
    "pp_comm",
    "pipeline_bubble",
    "dp_comm",
    "straggler",
    "failures",
    "capacity_wait",
)


@dataclass(frozen=True, slots=True)
class Placement:
    """GPUs by type, how work is split between types, and fabric bandwidths (Gbit/s per GPU,
    per direction). Missing bandwidths default to each type's NIC; traffic between types crosses
    a campus core at `cross_type_gbit_per_s` (default: slower NIC / CROSS_TYPE_OVERSUBSCRIPTION)."""

    gpus: tuple[tuple[str, int], ...]
    partitioning: Partitioning = "uniform"
    fabric_gbit_per_s: tuple[tuple[str, float], ...] = ()
    cross_type_gbit_per_s: float | None = None
    jitter_cv: float = C.STEP_JITTER_CV

    @classmethod
    def single(
        cls, gpu: str, count: int, fabric_gbit_per_s: float | None = None, **kw
    ) -> Placement:
        fab = ((gpu, fabric_gbit_per_s),) if fabric_gbit_per_s else ()
        return cls(((gpu, count),), fabric_gbit_per_s=fab, **kw)

    @classmethod
    def mix(
        cls,
        counts: Mapping[str, int],
        partitioning: Partitioning = "uniform",
        fabric_gbit_per_s: Mapping[str, float] | None = None,
        **kw,
    ) -> Placement:
        fab = tuple(sorted((fabric_gbit_per_s or {}).items()))
        return cls(tuple(counts.items()), partitioning, fab, **kw)

    @property
    def total_gpus(self) -> int:
        return sum(n for _, n in self.gpus)


@dataclass(frozen=True, slots=True)
class TypeResult:
    """Per GPU type: micro-batches per replica, busy time (s), memory use."""

    gpu: str
    gpus: int
    replicas: int
    microbatches: float
    busy_s: float
    memory: MemoryUse


@dataclass(frozen=True)
class StepResult:
    step_time_s: float
    tokens_per_s: float
    model_flops_per_step: float
    hardware_flops_per_step: float
    mfu: float
    mfu_bf16: float
    model_tflops_per_gpu: float
    memory_gb_per_gpu: float
    fits: bool
    reason: str
    attribution: dict[str, float]
    per_type: tuple[TypeResult, ...] = field(default=())

    def with_losses(self, failures: float = 1.0, capacity_wait: float = 1.0) -> StepResult:
        """The same result with the engine's availability factors (fractions of time useful)."""
        att = dict(self.attribution, failures=failures, capacity_wait=capacity_wait)
        k = (
            failures
            * capacity_wait
            / (self.attribution["failures"] * self.attribution["capacity_wait"])
        )
        return StepResult(
            self.step_time_s / k,
            self.tokens_per_s * k,
            self.model_flops_per_step,
            self.hardware_flops_per_step,
            self.mfu * k,
            self.mfu_bf16 * k,
            self.model_tflops_per_gpu * k,
            self.memory_gb_per_gpu,
            self.fits,
            self.reason,
            att,
            self.per_type,
        )

    def to_dict(self) -> dict:
        return {
            "step_time_s": self.step_time_s,
            "tokens_per_s": self.tokens_per_s,
            "model_flops_per_step": self.model_flops_per_step,
            "hardware_flops_per_step": self.hardware_flops_per_step,
            "model_tflops_per_gpu": self.model_tflops_per_gpu,
            "mfu": self.mfu,
            "mfu_bf16": self.mfu_bf16,
            "memory_gb_per_gpu": self.memory_gb_per_gpu,
            "fits": self.fits,
            "reason": self.reason,
            "attribution": dict(self.attribution),
            "per_type": {
                t.gpu: {
                    "gpus": t.gpus,
                    "replicas": t.replicas,
                    "microbatches_per_replica": t.microbatches,
                    "busy_s": t.busy_s,
                    "memory_gb_per_gpu": t.memory.total_gb,
                    "fits": t.memory.fits,
                }
                for t in self.per_type
            },
        }


# -- validation --------------------------------------------------------------------------------


def problems(job: TrainJob, placement: Placement) -> list[Problem]:
    """Every inconsistency between job and placement, with the mfu-file path of the field."""
    m, t, par = job.model, job.training, job.parallelism
    out = [Problem(path, msg) for path, msg in m.structure_problems()]
    known = catalog()
    for name, n in placement.gpus:
        where = "hardware.gpu" if len(placement.gpus) == 1 else f"hardware.mix.{name}"
        if name not in known:
            out.append(Problem(where, f"unknown GPU type; known: {', '.join(known)}", name))
        if n <= 0:
            out.append(Problem(where, "GPU count must be positive", n))
        elif len(placement.gpus) > 1 and n % par.replica_gpus:
            out.append(Problem(where, f"must be a multiple of tp*pp*cp = {par.replica_gpus}", n))
    for key in ("tp", "pp", "dp", "cp", "vp", "ep"):
        if getattr(par, key) < 1:
            out.append(Problem(f"parallelism.{key}", "must be >= 1", getattr(par, key)))
    if out:
        return out
    total = placement.total_gpus
    if par.gpus != total:
        out.append(
            Problem(
                "parallelism.tp",
                f"tp*pp*dp*cp = {par.gpus} must equal the job's GPUs ({total})",
                (par.tp, par.pp, par.dp, par.cp),
            )
        )
    if m.heads % par.tp:
        out.append(Problem("parallelism.tp", f"must divide model.heads ({m.heads})", par.tp))
    elif (m.kv_heads or m.heads) % par.tp and par.tp % (m.kv_heads or m.heads):
        out.append(Problem("parallelism.tp", f"incompatible with kv_heads ({m.kv_heads})", par.tp))
    if par.pp > m.layers:
        out.append(Problem("parallelism.pp", f"exceeds model.layers ({m.layers})", par.pp))
    elif par.vp > 1 and (par.pp == 1 or par.pp * par.vp > m.layers):
        out.append(
            Problem("parallelism.virtual_pipeline", "needs pp > 1 and pp*vp <= layers", par.vp)
        )
    if m.seq_len % par.cp:
        out.append(Problem("parallelism.cp", f"must divide model.seq_len ({m.seq_len})", par.cp))
    if par.ep > 1 and not m.is_moe:
        out.append(Problem("parallelism.ep", "expert parallelism needs an MoE model", par.ep))
    elif (par.dp * par.cp) % par.ep:
        out.append(Problem("parallelism.ep", "must divide dp*cp", par.ep))
    if t.global_batch % t.micro_batch:
        out.append(
            Problem(
                "training.micro_batch",
                f"must divide global_batch ({t.global_batch})",
                t.micro_batch,
            )
        )
    elif placement.partitioning == "uniform" or len(placement.gpus) == 1:
        if t.global_batch % (par.dp * t.micro_batch):
            out.append(
                Problem(
                    "training.global_batch",
                    f"must be a multiple of dp*micro_batch = {par.dp * t.micro_batch}",
                    t.global_batch,
                )
            )
    elif t.global_batch // t.micro_batch < par.dp:
        out.append(
            Problem(
                "training.global_batch",
                f"gives fewer micro-batches than dp ({par.dp})",
                t.global_batch,
            )
        )
    return out


# -- per-rank physics --------------------------------------------------------------------------


def _gemm_s(
    mm: float, n: float, k: float, peak: float, eff: float, ridge: float, b: float
) -> float:
    """Time of an M x K by K x N GEMM under a soft roofline (see constants.GEMM_RIDGE_FACTOR)."""
    flops = 2.0 * mm * n * k
    intensity = flops / (b * (mm * k + k * n + mm * n))
    return flops / (peak * eff * intensity / (intensity + ridge))


@dataclass(frozen=True, slots=True)
class _Rank:
    """Per micro-batch times on the most loaded stage of one GPU type (seconds)."""

    compute_s: float  # including recomputation
    compute_model_s: float  # the same without recomputation
    mp_comm_s: float  # exposed TP + CP + EP
    pp_comm_s: float  # exposed pipeline sends
    dp_bytes: float  # data-parallel bytes per GPU per step (reduce-scatter + all-gather)
    dp_bytes_expert: float

    @property
    def microbatch_s(self) -> float:
        return self.compute_s + self.mp_comm_s + self.pp_comm_s


def _link(g: GPU, group_gpus: int, fabric_bytes: float) -> float:
    """Achieved bytes/s per GPU for a collective over `group_gpus` consecutive ranks."""
    if group_gpus <= g.nvlink_domain_gpus:
        return g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF
    return fabric_bytes


def _rank(job: TrainJob, g: GPU, fabric_bytes: float, hide_comm: bool = False) -> _Rank:
    m, t, par = job.model, job.training, job.parallelism
    exposed = 0.0 if hide_comm else 1 - C.COMM_OVERLAP
    prec = t.precision
    tp, cp, pp, vp = par.tp, par.cp, par.pp, par.vp
    h, kv = m.hidden, m.kv_dim
    ffn = m.ffn_active
    ffn_in = 2.0 * ffn if m.gated else ffn
    fp8 = prec == "fp8" and g.fp8_dense_tflops is not None
    effs = C.GEMM_EFF_MAX.get(g.name) or C.GEMM_EFF_MAX[C.DEFAULT]
    peak = g.peak_tflops(prec) * 1e12
    bf16 = g.bf16_dense_tflops * 1e12
    hbm = g.hbm_bandwidth_tb_per_s * 1e12
    eff = effs["fp8" if fp8 else "bf16"]
    ridge = C.GEMM_RIDGE_FACTOR * peak / hbm
    b = 1.0 if fp8 else 2.0
    rows = t.micro_batch * m.seq_len / cp  # tokens per GPU per micro-batch
    layers = math.ceil(m.layers / pp)
    full = t.recompute == "full"
    # Forward GEMMs of one layer: QKV, attention output, MLP in, MLP out.
    fwd = (
        _gemm_s(rows, (h + 2 * kv) / tp, h, peak, eff, ridge, b)
        + _gemm_s(rows, h, h / tp, peak, eff, ridge, b)
        + _gemm_s(rows, ffn_in / tp, h, peak, eff, ridge, b)
        + _gemm_s(rows, h, ffn / tp, peak, eff, ridge, b)
    )
    lin_model = 3.0 * fwd * layers
    lin_re = fwd * layers if full else 0.0
    # Attention core at BF16 (flash attention skips the causal half, see constants.ATTENTION).
    a_eff, a_exec = C.ATTENTION.get(g.name) or C.ATTENTION[C.DEFAULT]
    attn_fwd = 4.0 * m.seq_len * h * rows / tp * a_exec
    attn_rate = bf16 * a_eff
    attn_model = 3.0 * attn_fwd * layers / attn_rate
    attn_re = attn_fwd * layers / attn_rate if t.recompute != "none" else 0.0
    # Output layer on the last stage.
    logits = 3.0 * _gemm_s(rows, m.vocab / tp, h, peak, eff, ridge, b)
    # Memory-bound elementwise traffic per token and layer, forward (backward ~2x):
    # norms 4h, residual adds 6h, QKV split/rotary 4h; activation reads ffn_in, writes ffn.
    elem = 2.0 * (14.0 * h + ffn_in + ffn)
    if fp8:
        elem += 5.0 * (3.0 * h + ffn)  # cast to FP8 (read 2, write 1) + amax (read 2)
    mem_fwd = elem * rows / tp * layers / (hbm * C.HBM_EFF)
    compute_model = lin_model + attn_model + logits + 3.0 * mem_fwd
    compute = compute_model + lin_re + attn_re + (mem_fwd if full else 0.0)
    # Tensor parallel (sequence parallel): 4 all-gather/reduce-scatter per layer per pass.
    mp = 0.0
    act_bytes = rows * h * 2.0
    if tp > 1:
        n = 4.0 * (3.0 if full else 2.0) * layers
        mp += n * (tp - 1) / tp * act_bytes / _link(g, tp, fabric_bytes) * exposed
    if cp > 1:  # ring exchange of K and V chunks, hidden behind the attention blocks
        chunk = rows * 2.0 * kv / tp * 2.0
        n = (4.0 if t.recompute != "none" else 3.0) * (cp - 1) * layers
        cp_s = n * chunk / _link(g, tp * cp, fabric_bytes)
        mp += 0.0 if hide_comm else max(0.0, cp_s - (attn_model + attn_re))
    if par.ep > 1:  # token dispatch + combine all-to-alls, forward and backward
        copies = max(1.0, ffn / (m.ffn_hidden or 4 * h))
        n = (6.0 if full else 4.0) * layers
        a2a = n * (par.ep - 1) / par.ep * act_bytes * copies / tp
        mp += a2a / _link(g, tp * par.ep, fabric_bytes) * exposed
    pps = 0.0
    if pp > 1:  # activations forward, gradients backward, per virtual chunk
        sent = 2.0 * vp * act_bytes / tp
        pps = sent / _link(g, par.gpus, fabric_bytes) * exposed
    dense, expert = params_per_gpu(job)
    return _Rank(
        compute, compute_model, mp, pps, 2.0 * C.GRAD_BYTES * dense, 2.0 * C.GRAD_BYTES * expert
    )


# -- the step ----------------------------------------------------------------------------------


def _split_proportional(
    total: int, replicas: list[int], mb_s: list[float], bubble: float
) -> list[int]:
    """Micro-batches per type so that every type finishes at about the same time."""
    # Continuous solution: sum_i r_i (T / t_i - bubble) = total.
    inv = sum(r / s for r, s in zip(replicas, mb_s, strict=True))
    T = (total + bubble * sum(replicas)) / inv
    counts = [max(r, int(r * (T / s - bubble))) for r, s in zip(replicas, mb_s, strict=True)]
    left = total - sum(counts)
    while left > 0:
        i = min(
            range(len(counts)),
            key=lambda k: (math.ceil((counts[k] + 1) / replicas[k]) + bubble) * mb_s[k],
        )
        counts[i] += 1
        left -= 1
    while left < 0:  # floor of max(r, ...) overshot: take from the slowest finisher
        i = max(
            (k for k in range(len(counts)) if counts[k] > replicas[k]),
            key=lambda k: (math.ceil(counts[k] / replicas[k]) + bubble) * mb_s[k],
        )
        counts[i] -= 1
        left += 1
    return counts


def _fabric_bytes(placement: Placement, g: GPU) -> float:
    for name, bw in placement.fabric_gbit_per_s:
        if name == g.name:
            return min(bw, g.nic_gbit_per_s) * 1e9 / 8.0 * C.NET_EFF
    return g.nic_gbit_per_s * 1e9 / 8.0 * C.NET_EFF


def step(
    job: TrainJob, placement: Placement, *, no_bubble: bool = False, perfect_overlap: bool = False
) -> StepResult:
    """Step time, throughput, MFU and attribution of `job` on `placement` (raises InputError).

    Ablations for `sim explain` (defaults: the model as documented): `no_bubble` removes the
    pipeline bubble; `perfect_overlap` hides all TP/CP/EP, pipeline-send and data-parallel
    communication behind compute (exposed communication 0).
    """
    found = problems(job, placement)
    if found:
        raise InputError(found)
    t, par = job.training, job.parallelism
    known = catalog()
    types = [(known[name], n) for name, n in placement.gpus]
    prec = t.precision
    k = len(types)
    p, v = par.pp, par.vp
    bubble = 0.0 if no_bubble else (p - 1) / v
    total_mb = t.global_batch // t.micro_batch
    flops = job.model_flops_per_step
    replicas = [n // par.replica_gpus for _, n in types]
    fabric = [_fabric_bytes(placement, g) for g, _ in types]
    ranks = [_rank(job, g, fb, perfect_overlap) for (g, _), fb in zip(types, fabric, strict=True)]
    if k == 1:
        counts = [total_mb]
    elif placement.partitioning == "proportional":
        counts = _split_proportional(total_mb, replicas, [r.microbatch_s for r in ranks], bubble)
    else:
        counts = [total_mb * r // par.dp for r in replicas]
    # Data parallel: per-type group d_i = replicas_i * cp; the whole group d = dp * cp.
    if k > 1:
        cross = placement.cross_type_gbit_per_s
        if cross is None:
            cross = min(g.nic_gbit_per_s for g, _ in types) / C.CROSS_TYPE_OVERSUBSCRIPTION
        cross_bytes = cross * 1e9 / 8.0 * C.NET_EFF
        # Largest gradient shard a GPU exchanges across types after reducing inside its type.
        shard = max(
            (r.dp_bytes + r.dp_bytes_expert) / (rep * par.cp)
            for r, rep in zip(ranks, replicas, strict=True)
        )
    d_all = par.dp * par.cp
    dp_s = []
    for i, ((g, _), r) in enumerate(zip(types, ranks, strict=True)):
        d_i = replicas[i] * par.cp
        de_i = max(1.0, d_i / par.ep)
        bw = _link(g, par.tp * par.cp * replicas[i], fabric[i])
        if k == 1:
            s = ((d_i - 1) / d_i * r.dp_bytes + (de_i - 1) / de_i * r.dp_bytes_expert) / bw
        elif placement.partitioning == "uniform":
            # Framework unaware of types: one flat ring over all ranks, paced by its slowest link.
            de = max(1.0, d_all / par.ep)
            s = ((d_all - 1) / d_all * r.dp_bytes + (de - 1) / de * r.dp_bytes_expert) / min(
                bw, cross_bytes
            )
        else:
            # Hierarchical: reduce within the type, then exchange shards across types.
            intra = ((d_i - 1) / d_i * r.dp_bytes + (de_i - 1) / de_i * r.dp_bytes_expert) / bw
            s = intra + (k - 1) / k * shard / cross_bytes
        dp_s.append(0.0 if perfect_overlap else max(0.0, s - C.DP_OVERLAP_WINDOW * r.compute_s))
    # Busy time per type (average replica) and the step (slowest replica, plus jitter).
    w = [n * g.peak_tflops(prec) * 1e12 for g, n in types]
    W = sum(w)
    agg = dict.fromkeys(("ideal", "cm", "ch", "mp", "pp", "bub", "dp"), 0.0)
    slowest = 0.0
    per_type = []
    for i, ((g, n), r) in enumerate(zip(types, ranks, strict=True)):
        m_avg = counts[i] / replicas[i]
        m_max = math.ceil(m_avg)
        busy = (m_avg + bubble) * r.microbatch_s + dp_s[i]
        slowest = max(slowest, (m_max + bubble) * r.microbatch_s + dp_s[i])
        wi = w[i] / W
        f_gpu = flops * counts[i] / total_mb / n
        agg["ideal"] += wi * f_gpu / (g.peak_tflops(prec) * 1e12)
        agg["cm"] += wi * m_avg * r.compute_model_s
        agg["ch"] += wi * m_avg * r.compute_s
        agg["mp"] += wi * m_avg * r.mp_comm_s
        agg["pp"] += wi * m_avg * r.pp_comm_s
        agg["bub"] += wi * bubble * r.microbatch_s
        agg["dp"] += wi * dp_s[i]
        mem = memory(job, g, m_max)
        per_type.append(TypeResult(g.name, n, replicas[i], m_avg, busy, mem))
    n_total = placement.total_gpus
    jitter = 1.0 + placement.jitter_cv * math.sqrt(2.0 * math.log(n_total)) if n_total > 1 else 1.0
    T = slowest * jitter
    a = agg
    x1 = a["ch"] + a["mp"]
    x2 = x1 + a["pp"]
    x3 = x2 + a["bub"]
    x4 = x3 + a["dp"]
    attribution = {
        "kernel_efficiency": a["ideal"] / a["cm"],
        "recompute": a["cm"] / a["ch"],
        "tp_cp_comm": a["ch"] / x1,
        "pp_comm": x1 / x2,
        "pipeline_bubble": x2 / x3,
        "dp_comm": x3 / x4,
        "straggler": x4 / T,
        "failures": 1.0,
        "capacity_wait": 1.0,
    }
    mfu = flops / (T * W)
    bf16_peak = sum(n * g.bf16_dense_tflops * 1e12 for g, n in types)
    worst = max(per_type, key=lambda x: x.memory.total_gb / x.memory.hbm_gb)
    bad = [x for x in per_type if not x.memory.fits]
    reason = "; ".join(f"{x.gpu}: {x.memory.reason}" for x in bad)
    return StepResult(
        step_time_s=T,
        tokens_per_s=job.tokens_per_step / T,
        model_flops_per_step=flops,
        hardware_flops_per_step=job.hardware_flops_per_step,
        mfu=mfu,
        mfu_bf16=flops / (T * bf16_peak),
        model_tflops_per_gpu=flops / T / n_total / 1e12,
        memory_gb_per_gpu=worst.memory.total_gb,
        fits=not bad,
        reason=reason,
        attribution=attribution,
        per_type=tuple(per_type),
    )


# The engine's memo: inputs are frozen and hashable, `step` is pure.
cached_step = lru_cache(maxsize=1 << 16)(step)
