"""Memory fit per GPU: weights, gradients, optimizer state (sharded) and activations per stage.

Byte accounting (Megatron-Core mixed precision), per `parallelism.zero_stage`:
  bf16 weights 2 B (+ FP8 weight and transpose caches 2 B, NVFP4 ~1.1 B), bf16 gradients 2 B,
  fp32 master weights and Adam moments 12 B per parameter held; stage 1 (the distributed
  optimizer, the default) shards the 12 B over the data-parallel x context-parallel group
  (expert weights: over the expert-data-parallel group), stage 2 also the gradients, stage 3
  (FSDP) also the weights, plus two layers' gathered weights in flight (the prefetch buffer).
Activations follow Korthikanti et al. 2022 with sequence parallelism and flash attention (no
s x s matrices are stored): per token and layer 2 B x (6h + 2 kv_dim + MLP input and output
widths), divided by tp; FP8 stores the four GEMM inputs in 1 byte. The first pipeline stage holds
min(m, p) micro-batches of its layers, times (1 + (p-1)/(p v)) with interleaving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sim.hardware import GPU
from sim.perf import constants as C
from sim.perf.model import TrainJob

GB = 1e9


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """Bytes per GPU on the most loaded pipeline stage, in GB; `fits` keeps MEMORY_RESERVE_GB free."""

    weights_gb: float
    grads_gb: float
    optimizer_gb: float
    activations_gb: float
    hbm_gb: float

    @property
    def total_gb(self) -> float:
        return self.weights_gb + self.grads_gb + self.optimizer_gb + self.activations_gb

    @property
    def fits(self) -> bool:
        return self.total_gb + C.MEMORY_RESERVE_GB <= self.hbm_gb

    @property
    def reason(self) -> str:
        if self.fits:
            return ""
        return (
            f"needs {self.total_gb:.1f} GB + {C.MEMORY_RESERVE_GB:.0f} GB reserve of "
            f"{self.hbm_gb:.0f} GB HBM (weights {self.weights_gb:.1f}, grads {self.grads_gb:.1f}, "
            f"optimizer {self.optimizer_gb:.1f}, activations {self.activations_gb:.1f})"
        )


def params_per_gpu(job: TrainJob) -> tuple[float, float]:
    """(non-expert, expert) parameters held by one GPU of the most loaded pipeline stage."""
    m, par = job.model, job.parallelism
    layers = math.ceil(m.layers / par.pp)
    emb = m.vocab * m.hidden
    # First stage holds the input embedding, the last the output layer (tied: a copy of it).
    embed = emb * (m.embedding_tables if par.pp == 1 else 1)
    dense = (layers * m.attn_params_layer + embed) / par.tp
    if m.is_moe:
        shared = m.shared_mlp_params_layer
        routed = layers * (m.mlp_params_layer - shared)
        return dense + layers * shared / par.tp, routed / (par.etp * par.ep)
    return dense + layers * m.mlp_params_layer / par.tp, 0.0


def layer_params_per_gpu(job: TrainJob) -> float:
    """Parameters of one transformer layer held by one GPU (what FSDP gathers per layer)."""
    m, par = job.model, job.parallelism
    if m.is_moe:
        shared = m.shared_mlp_params_layer
        return (m.attn_params_layer + shared) / par.tp + (m.mlp_params_layer - shared) / (
            par.etp * par.ep
        )
    return (m.attn_params_layer + m.mlp_params_layer) / par.tp


def activation_bytes_per_token_layer(job: TrainJob) -> float:
    """Stored activation bytes per token per layer on one GPU (before the pipeline multiplier)."""
    m, t = job.model, job.training
    h, ffn = m.hidden, m.ffn_active
    if t.recompute == "full":
        return 2.0 * h / job.parallelism.tp  # only each layer's input is kept
    ffn_in = 2.0 * ffn if m.gated else ffn
    elems = 6.0 * h + 2.0 * m.kv_dim + ffn_in + ffn
    b = 2.0 * elems
    if t.precision == "fp8":
        b -= 3.0 * h + ffn  # GEMM inputs saved as FP8
    elif t.precision == "fp4":
        b -= 1.4 * (3.0 * h + ffn)  # GEMM inputs saved as NVFP4 (0.5 B + block scales)
    return b / job.parallelism.tp


def memory(job: TrainJob, g: GPU, microbatches: int | None = None) -> MemoryUse:
    """Memory of one GPU of type `g`; `microbatches` per pipeline per step (default from dp)."""
    m, t, par = job.model, job.training, job.parallelism
    if microbatches is None:
        microbatches = max(1, t.global_batch // (par.dp * t.micro_batch))
    dense, expert = params_per_gpu(job)
    d = par.dp * par.cp
    d_exp = par.edp
    sharded = dense / d + expert / d_exp
    held = dense + expert
    z = par.zero_stage
    cache = {"fp8": C.FP8_WEIGHT_CACHE_BYTES, "fp4": C.FP4_WEIGHT_CACHE_BYTES}
    wb = C.WEIGHT_BYTES + cache.get(t.precision, 0.0)
    # FSDP: own shard + two gathered layers (the one computing, the one prefetched).
    weights = (sharded + 2.0 * layer_params_per_gpu(job) if z >= 3 else held) * wb
    grads = (sharded if z >= 2 else held) * C.GRAD_BYTES
    opt = C.OPTIMIZER_BYTES * (sharded if z >= 1 else held)
    tokens = t.micro_batch * m.seq_len / par.cp
    layers = math.ceil(m.layers / par.pp)
    p, v = par.pp, par.vp
    if p > 1:
        in_flight = layers * min(p, microbatches) * (1.0 + (p - 1) / (p * v))
    else:
        in_flight = float(layers)
    act = activation_bytes_per_token_layer(job) * tokens * in_flight
    if t.recompute == "full":  # one layer's full working set while it is recomputed
        full = TrainJob(m, replace(t, recompute="none"), par)
        act += activation_bytes_per_token_layer(full) * tokens
    act += tokens * m.vocab / par.tp * 4.0  # fp32 logits for the loss (last stage)
    return MemoryUse(weights / GB, grads / GB, opt / GB, act / GB, g.hbm_gb)


def fits(job: TrainJob, gpu_name: str) -> tuple[bool, str]:
    """Whether `job`'s layout fits one GPU type's HBM, and if not, why (for the engine)."""
    from sim.hardware import gpu

    use = memory(job, gpu(gpu_name))
    return use.fits, use.reason
