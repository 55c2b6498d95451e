"""Training step time, MFU and its attribution for a job on a (possibly mixed) placement.

Pure functions over frozen inputs: `step(job, placement)` is what the engine calls (and caches).
Method (docs/perf-model.md): per pipeline stage and micro-batch, GEMM time from a soft roofline
(grouped expert GEMMs paced by the fullest expert rank), attention time at BF16, memory-bound
elementwise time; exposed tensor/context-parallel, expert all-to-all and pipeline-send time, each
collective priced by the bytes it sends across each fabric tier (sim.perf.collectives); the 1F1B
bubble (p-1)/v micro-batch times; data-parallel / FSDP traffic per `zero_stage`, exposed beyond
the compute window the schedule gives it; a synchronous step waits for its slowest rank.
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
from sim.perf.collectives import Algorithm, Tiers, a2a_per_byte, p2p_bandwidth, rs_per_byte
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
    a campus core at `cross_type_gbit_per_s` (default: slower NIC / CROSS_TYPE_OVERSUBSCRIPTION).
    `tiers` gives, per type, the scale-out tiers above the NVLink domain as (block GPUs, Gbit/s
    per GPU) pairs inside out, the last block unbounded (leaf group, pod, core); without it a
    type has one scale-out tier at its `fabric_gbit_per_s` (or NIC). `algorithm` is the
    data-parallel collective's (sim.perf.collectives). `jitter_cv` None: STEP_JITTER_CV."""

    gpus: tuple[tuple[str, int], ...]
    partitioning: Partitioning = "uniform"
    fabric_gbit_per_s: tuple[tuple[str, float], ...] = ()
    cross_type_gbit_per_s: float | None = None
    jitter_cv: float | None = None
    tiers: tuple[tuple[str, tuple[tuple[float, float], ...]], ...] = ()
    algorithm: Algorithm = "hierarchical"

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

    def interval(self) -> dict[str, float]:
        """Prediction interval from the leave-one-source-out residuals (docs/calibration.md):
        a modelled step T lies in [T exp(-high), T exp(-low)] at the stated level."""
        level, lo, hi = C.interval_quantiles()
        t_lo, t_hi = self.step_time_s * math.exp(-hi), self.step_time_s * math.exp(-lo)
        k = self.step_time_s
        return {
            "interval_level": level,
            "step_time_s_low": t_lo,
            "step_time_s_high": t_hi,
            "mfu_low": self.mfu * k / t_hi,
            "mfu_high": self.mfu * k / t_lo,
        }

    def to_dict(self) -> dict:
        return {
            "step_time_s": self.step_time_s,
            **self.interval(),
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
    if par.zero_stage not in (0, 1, 2, 3):
        out.append(Problem("parallelism.zero_stage", "must be 0, 1, 2 or 3", par.zero_stage))
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
    elif (par.tp * par.cp * par.dp) % par.ep:
        out.append(
            Problem("parallelism.ep", "must divide tp*cp*dp (the folded expert grid)", par.ep)
        )
    elif par.ep > 1 and m.experts and m.experts % par.ep:
        out.append(Problem("parallelism.ep", f"must divide model.experts ({m.experts})", par.ep))
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


def effective_precision(g: GPU, precision: str) -> str:
    """The precision a GPU runs `precision` at: FP4 falls back to FP8, FP8 to BF16."""
    if precision == "fp4" and g.fp4_dense_tflops is not None:
        return "fp4"
    if precision in ("fp4", "fp8") and g.fp8_dense_tflops is not None:
        return "fp8"
    return "bf16" if precision in ("fp4", "fp8") else precision


_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5625}  # per element, NVFP4 with scales


def tiers(placement: Placement, g: GPU) -> Tiers:
    """The fabric seen by one GPU of type `g`: (block GPUs, bytes/s per GPU), inside out."""
    out = [(float(g.nvlink_domain_gpus), g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF)]
    nic = g.nic_gbit_per_s
    for name, tt in placement.tiers:
        if name == g.name:
            out += [(b, min(bw, nic) * 1e9 / 8.0 * C.NET_EFF) for b, bw in tt]
            return tuple(out)
    bw = nic
    for name, f in placement.fabric_gbit_per_s:
        if name == g.name:
            bw = min(f, nic)
    out.append((math.inf, bw * 1e9 / 8.0 * C.NET_EFF))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Rank:
    """Per micro-batch times on the most loaded stage of one GPU type (seconds), and the
    per-GPU bytes data-parallel traffic moves per step."""

    compute_s: float  # including recomputation
    compute_model_s: float  # the same without recomputation
    fwd_s: float  # the forward pass of one micro-batch (window for parameter gathers)
    mp_comm_s: float  # exposed TP + CP + EP
    pp_comm_s: float  # exposed pipeline sends
    dense_params: float  # non-expert parameters held by one GPU
    expert_params: float
    layers: int

    @property
    def microbatch_s(self) -> float:
        return self.compute_s + self.mp_comm_s + self.pp_comm_s

    @property
    def bwd_s(self) -> float:
        return self.compute_s - self.fwd_s


def _rank(job: TrainJob, g: GPU, tt: Tiers, hide_comm: bool = False) -> _Rank:
    m, t, par = job.model, job.training, job.parallelism
    exposed = 0.0 if hide_comm else (1 - C.TP_OVERLAP if t.tp_comm_overlap else 1.0)
    prec = effective_precision(g, t.precision)
    tp, cp, pp, vp = par.tp, par.cp, par.pp, par.vp
    h, kv = m.hidden, m.kv_dim
    bf16 = g.bf16_dense_tflops * 1e12
    hbm = g.hbm_bandwidth_tb_per_s * 1e12
    peak = g.peak_tflops(prec) * 1e12
    eff = C.gemm_eff(g.name, prec)
    b = _BYTES[prec]
    ridge = C.GEMM_RIDGE_FACTOR * peak / hbm
    if prec == "fp4":  # part of the linear layers stays at BF16 (NVFP4 recipe)
        f16 = C.FP4_BF16_FRACTION
        eff16 = C.gemm_eff(g.name, "bf16")
        ridge16 = C.GEMM_RIDGE_FACTOR * bf16 / hbm

        def gemm(mm, n, k):
            return (1 - f16) * _gemm_s(mm, n, k, peak, eff, ridge, b) + f16 * _gemm_s(
                mm, n, k, bf16, eff16, ridge16, 2.0
            )
    else:

        def gemm(mm, n, k):
            return _gemm_s(mm, n, k, peak, eff, ridge, b)

    rows = t.micro_batch * m.seq_len / cp  # tokens per GPU per micro-batch
    layers = math.ceil(m.layers / pp)
    full = t.recompute == "full"
    # Forward GEMMs of one layer: QKV and attention output, then the MLP.
    fwd = gemm(rows, (h + 2 * kv) / tp, h) + gemm(rows, h, h / tp)
    ffn_act = m.ffn_active
    ffn_in_act = 2.0 * ffn_act if m.gated else ffn_act
    if m.is_moe:
        w = m.expert_width
        if m.shared_experts:
            sw = m.shared_experts * w
            fwd += gemm(rows, 2.0 * sw / tp, h) + gemm(rows, h, sw / tp)
        # Routed experts: grouped GEMMs over the local experts, paced by the fullest expert rank
        # (with ep = 1 every GPU holds every expert: no rank is fuller than another).
        etp, ep = par.etp, par.ep
        imbalance = C.MOE_IMBALANCE if ep > 1 else 1.0
        local = max(1.0, m.n_experts / ep)
        per_expert = rows / tp * m.n_top_k * etp / local
        grouped = local * (gemm(per_expert, 2.0 * w / etp, h) + gemm(per_expert, h, w / etp))
        fwd += grouped * imbalance / C.GROUPED_GEMM_EFF
    else:
        fwd += gemm(rows, ffn_in_act / tp, h) + gemm(rows, h, ffn_act / tp)
    lin_model = 3.0 * fwd * layers
    lin_re = fwd * layers if full else 0.0
    # Attention core at BF16: flash kernels skip the causal half; unfused, the s x s scores are
    # written, softmaxed and read back at UNFUSED_ATTN_FLOP_PER_BYTE (memory-bound).
    if t.attention == "flash":
        attn_fwd = 4.0 * m.seq_len * h * rows / tp * 0.5
        attn_rate = bf16 * C.ATTN_EFF_FLASH
    else:
        attn_fwd = 4.0 * m.seq_len * h * rows / tp
        attn_rate = min(
            bf16 * C.gemm_eff(g.name, "bf16"), C.UNFUSED_ATTN_FLOP_PER_BYTE * hbm * C.HBM_EFF
        )
    attn_model = 3.0 * attn_fwd * layers / attn_rate
    attn_re = attn_fwd * layers / attn_rate if t.recompute != "none" else 0.0
    # Output layer on the last stage.
    logits = 3.0 * gemm(rows, m.vocab / tp, h)
    # Memory-bound elementwise traffic per token and layer, forward (backward ~2x):
    # norms 4h, residual adds 6h, QKV split/rotary 4h; activation reads ffn_in, writes ffn.
    elem = 2.0 * (14.0 * h + ffn_in_act + ffn_act)
    if prec == "fp8":
        elem += 5.0 * (3.0 * h + ffn_act)  # cast to FP8 (read 2, write 1) + amax (read 2)
    elif prec == "fp4":  # cast to NVFP4 with block scales + amax, Hadamard on wgrad inputs
        elem += 7.0 * (3.0 * h + ffn_act)
    mem_fwd = elem * rows / tp * layers / (hbm * C.HBM_EFF)
    compute_model = lin_model + attn_model + logits + 3.0 * mem_fwd
    compute = compute_model + lin_re + attn_re + (mem_fwd if full else 0.0)
    fwd_s = compute_model / 3.0
    # Tensor parallel (sequence parallel): 4 all-gather/reduce-scatter per layer per pass.
    mp = 0.0
    act_bytes = rows * h * 2.0
    if tp > 1:
        n = 4.0 * (3.0 if full else 2.0) * layers
        mp += n * act_bytes * rs_per_byte(tp, 1, tt) * exposed
    if cp > 1:  # ring exchange of K and V chunks, hidden behind the attention blocks
        chunk = rows * 2.0 * kv / tp * 2.0
        n = (4.0 if t.recompute != "none" else 3.0) * (cp - 1) * layers
        cp_s = n * chunk / p2p_bandwidth(tt, tp * cp)
        mp += 0.0 if hide_comm else max(0.0, cp_s - (attn_model + attn_re))
    if m.is_moe and par.ep > 1:  # dispatch + combine all-to-alls, forward and backward
        v = rows / tp * m.n_top_k * h * C.A2A_BYTES * C.MOE_IMBALANCE
        n = (6.0 if full else 4.0) * layers
        mp += n * v * a2a_per_byte(par.ep, par.etp, tt) * exposed
    pps = 0.0
    if pp > 1:  # activations forward, gradients backward, per virtual chunk
        sent = 2.0 * vp * act_bytes / tp
        pps = sent / p2p_bandwidth(tt, tp * cp * par.dp + 1) * exposed
    dense, expert = params_per_gpu(job)
    return _Rank(compute, compute_model, fwd_s, mp, pps, dense, expert, layers)


def _exposed(comm: float, window: float, buckets: int) -> float:
    """Traffic left after hiding behind `window` of compute (OVERLAP_EFF of it usable); the
    last bucket (a layer's worth) waits for the compute that produces it."""
    if comm <= 0.0:
        return 0.0
    return max(comm / buckets, comm - C.OVERLAP_EFF * window)


def _dp_s(job: TrainJob, r: _Rank, rs, microbatches: float) -> float:
    """Exposed data-parallel / FSDP time per step for one GPU type, per `zero_stage`.

    `rs(v_dense, v_expert)` prices a reduce-scatter (= an all-gather) of those per-GPU bytes.
    0: all-reduce of gradients behind the last micro-batch's backward; 1: reduce-scatter there,
    parameter all-gather behind the next step's first forward (distributed optimizer); 2: the
    reduce-scatter after every micro-batch's backward; 3 (FSDP): per micro-batch, gather each
    layer's weights before its forward and again before its backward (prefetched one layer
    ahead), reduce-scatter its gradients after.
    """
    z = job.parallelism.zero_stage
    grads = rs(C.GRAD_BYTES * r.dense_params, C.GRAD_BYTES * r.expert_params)
    params = rs(C.WEIGHT_BYTES * r.dense_params, C.WEIGHT_BYTES * r.expert_params)
    L = r.layers
    if z == 0:
        return _exposed(2.0 * grads, r.bwd_s, L)
    if z == 1:
        return _exposed(grads, r.bwd_s, L) + _exposed(params, r.fwd_s, L)
    if z == 2:
        return microbatches * _exposed(grads, r.bwd_s, L) + _exposed(params, r.fwd_s, L)
    per_mb = _exposed(params, r.fwd_s, L) + _exposed(params + grads, r.bwd_s, L)
    return microbatches * per_mb


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
    fabric = [tiers(placement, g) for g, _ in types]
    ranks = [_rank(job, g, tt, perfect_overlap) for (g, _), tt in zip(types, fabric, strict=True)]
    if k == 1:
        counts = [total_mb]
    elif placement.partitioning == "proportional":
        counts = _split_proportional(total_mb, replicas, [r.microbatch_s for r in ranks], bubble)
    else:
        counts = [total_mb * r // par.dp for r in replicas]
    # Data parallel: the dense group d = dp*cp ranks tp apart, the expert group edp ranks
    # etp*ep apart; per type the group is that type's share of it.
    algo = placement.algorithm
    d_all = par.dp * par.cp
    e_all = par.edp
    s_d, s_e = par.tp, par.etp * par.ep
    if k > 1:
        cross = placement.cross_type_gbit_per_s
        if cross is None:
            cross = min(g.nic_gbit_per_s for g, _ in types) / C.CROSS_TYPE_OVERSUBSCRIPTION
        cross_bytes = cross * 1e9 / 8.0 * C.NET_EFF
    dp_s = []
    for i, r in enumerate(ranks):
        tt = fabric[i]
        d_i = replicas[i] * par.cp
        e_i = max(1, e_all * replicas[i] // par.dp)
        # Collective time is linear in the bytes: price one byte per group, then scale.
        if k == 1:
            ud = rs_per_byte(d_all, s_d, tt, algo)
            ue = rs_per_byte(e_all, s_e, tt, algo) if r.expert_params else 0.0
        elif placement.partitioning == "uniform":
            # Framework unaware of types: one flat ring over all ranks, paced by its slowest link.
            flat = (*tt[:-1], (math.inf, min(tt[-1][1], cross_bytes)))
            ud = rs_per_byte(d_all, s_d, flat, "ring")
            ue = rs_per_byte(e_all, s_e, flat, "ring")
        else:
            # Hierarchical: reduce within the type, then exchange shards across the k types.
            ud = rs_per_byte(d_i, s_d, tt, algo) + (k - 1) / k / d_i / cross_bytes
            ue = rs_per_byte(e_i, s_e, tt, algo) + (k - 1) / k / e_i / cross_bytes

        def rs(vd, ve, ud=ud, ue=ue):
            return vd * ud + ve * ue

        mb_i = counts[i] / replicas[i]
        dp_s.append(0.0 if perfect_overlap else _dp_s(job, r, rs, mb_i))
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
    cv = C.STEP_JITTER_CV if placement.jitter_cv is None else placement.jitter_cv
    jitter = 1.0 + cv * math.sqrt(2.0 * math.log(n_total)) if n_total > 1 else 1.0
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


# The engine's memo: inputs are frozen and hashable, `step` is pure given the constants
# (constants.overridden clears it).
cached_step = lru_cache(maxsize=1 << 16)(step)
C.on_change(cached_step.cache_clear)
