"""Serving physics: the time of one engine step of a served model on an instance of n GPUs.

A step processes `decode` sequences (one token each) and `prefill` prompt tokens together
(chunked prefill) or either alone (disaggregated pools). Per GPU of the instance it costs
  + GEMMs: a roofline blend of FLOPs / (peak x efficiency) and weight bytes read / (HBM x
    HBM_EFF); a mixture of experts reads only the experts the step's tokens touch: per layer
    the expected number of distinct experts hit by T tokens each picking top_k of E is
    E (1 - (1 - k/E)^T), so batch 1 reads ~the active weights and a large batch all of them
  + attention: decode reads each sequence's KV cache (MLA: the compressed latent) or is
    compute-bound; prefill attention is causal (2 s^2 x query width FLOPs per prompt)
  + collectives: tensor-parallel all-reduces over NVLink; expert-parallel all-to-all (dispatch
    FP8, combine BF16) over NVLink inside one NVLink domain, over the NICs beyond it
  + overheads: per layer, per token of each MoE layer and per sequence (host scheduling), fitted.
Memory: weights + KV must fit the HBM left after a runtime reserve (fitted). Constants fitted by
`sim.perf.inference_calibration` (procedure there and in docs/calibration.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from sim.errors import InputError
from sim.hardware import GPU
from sim.perf import constants as C

ServePrecision = Literal["bf16", "fp16", "fp8", "fp4"]

# Bytes per weight; NVFP4 = 4-bit values + one FP8 scale per 16 (NVIDIA Blackwell NVFP4 format).
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5625}
# Bytes per all-to-all element: DeepEP dispatches FP8 activations and combines in BF16
# (DeepSeek-V3 report, 2024; SGLang large-scale EP blog, 2025-05-05).
A2A_DISPATCH_BYTES, A2A_COMBINE_BYTES = 1.0, 2.0
# MLA decoupled RoPE key width (DeepSeek-V2/V3: qk_rope_head_dim = 64).
MLA_ROPE_DIM = 64
# Attention tensor parallelism stops at the KV heads (beyond them KV would be replicated);
# engines run attention data-parallel past that (TensorRT-LLM attention DP, SGLang DP attention).
ATTN_TP_MAX = 8
# Latency of one small NVLink all-reduce (NCCL/TensorRT-LLM custom all-reduce, 8 GPUs):
# nccl-tests show ~10-20 us at small sizes on HGX H100; assumed 10 us within [5, 25].
AR_LATENCY_S = 10e-6
# Fraction of the HBM left after weights and runtime reserve that engines give the KV cache
# (TensorRT-LLM kv_cache_free_gpu_mem_fraction 0.90-0.95; vLLM gpu_memory_utilization 0.9).
KV_FRACTION = 0.9
# Roofline blend of compute and memory time of one kernel, (t_c^p + t_m^p)^(1/p): p -> infinity
# is the hard roofline max(t_c, t_m); measured GEMMs and attention kernels near the ridge reach
# neither peak, which a finite p describes.
ROOFLINE_P = 4.0


def roof(compute_s: float, memory_s: float) -> float:
    p = ROOFLINE_P
    return (compute_s**p + memory_s**p) ** (1.0 / p)


@dataclass(frozen=True, slots=True)
class ServedModel:
    """Shape of a served decoder-only model. A mixture of experts gives `active_params`,
    `experts` and `top_k`; MLA (DeepSeek-style compressed KV) gives `kv_lora_rank`."""

    params: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int | None = None
    active_params: float | None = None
    experts: int | None = None
    top_k: int | None = None
    kv_lora_rank: int | None = None
    head_dim: int | None = None

    @property
    def dh(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:
        return self.heads * self.dh

    @property
    def is_moe(self) -> bool:
        return bool(self.experts and self.top_k and self.experts > self.top_k)

    @property
    def active(self) -> float:
        return self.active_params or self.params

    @property
    def expert_params(self) -> float:
        """Parameters of one expert summed over layers: P = S + E e and A = S + k e."""
        if not self.is_moe:
            return 0.0
        return (self.params - self.active) / (self.experts - self.top_k)  # type: ignore[operator]

    @property
    def shared_params(self) -> float:
        """Parameters every token uses (attention, embeddings, dense and shared-expert FFNs)."""
        return self.params - (self.experts or 0) * self.expert_params

    def kv_elems_per_token(self) -> float:
        """KV-cache elements per token over all layers (MLA: latent + RoPE key)."""
        if self.kv_lora_rank:
            return float(self.layers * (self.kv_lora_rank + MLA_ROPE_DIM))
        return 2.0 * self.layers * (self.kv_heads or self.heads) * self.dh

    def attn_dims(self) -> tuple[int, int]:
        """(key width, value width) per query head that decode attention multiplies over."""
        if self.kv_lora_rank:  # absorbed MLA attends over the latent
            return self.kv_lora_rank + MLA_ROPE_DIM, self.kv_lora_rank
        return self.dh, self.dh

    def experts_touched(self, tokens: float) -> float:
        """Expected distinct experts per layer that `tokens` tokens (top_k each) hit."""
        if not self.is_moe:
            return 0.0
        e, k = self.experts, self.top_k
        return e * (1.0 - (1.0 - k / e) ** max(tokens, 0.0))  # type: ignore[operator]


@dataclass(frozen=True, slots=True)
class Fit:
    """The fitted constants (procedure in sim/perf/inference_calibration.py)."""

    gemm_eff: float  # serving GEMMs: fraction of the training GEMM efficiency (GEMM_EFF_MAX)
    layer_overhead_us: float  # fixed time per layer per step: launches, norms, syncs, sampling
    seq_overhead_us: float  # host time per sequence per step: scheduling, batching, detokenising
    moe_token_ns: (
        float  # per token per MoE layer on each GPU: routing, permutation, a2a bookkeeping
    )
    reserve_gb: float  # HBM per GPU held outside weights and KV: activations, graphs, buffers


@dataclass(frozen=True, slots=True)
class Instance:
    """An instance: n GPUs of one type serving one model, with its derived layout."""

    model: ServedModel
    gpu: GPU
    n: int
    precision: ServePrecision
    kv_bytes: float  # per KV element
    reserve_gb: float = 0.0  # HBM kept for activations, CUDA graphs, buffers (Fit.reserve_gb)

    @property
    def attn_tp(self) -> int:
        """Tensor-parallel degree of attention and shared weights (the rest is data-parallel)."""
        m = self.model
        if not m.is_moe:
            return self.n
        if m.kv_lora_rank:
            return 1  # MLA latents would be replicated by TP: attention data-parallel
        return max(1, min(self.n, m.kv_heads or m.heads, ATTN_TP_MAX))

    def weights_bytes_per_gpu(self) -> float:
        m, wb = self.model, WEIGHT_BYTES[self.precision]
        if not m.is_moe:
            return m.params * wb / self.n
        return (m.shared_params / self.attn_tp + m.experts * m.expert_params / self.n) * wb

    def weight_bytes_read(self, tokens: float) -> tuple[float, float]:
        """(shared, expert) weight bytes one GPU reads in a step of `tokens` tokens: its shard
        of the weights every token uses, and its share of the experts the tokens touch."""
        m, wb = self.model, WEIGHT_BYTES[self.precision]
        if not m.is_moe:
            return m.params * wb / self.n, 0.0
        touched = min(float(m.experts), m.experts_touched(tokens))  # type: ignore[arg-type]
        return m.shared_params * wb / self.attn_tp, touched * m.expert_params * wb / self.n

    def kv_bytes_per_token(self) -> float:
        """KV-cache bytes of one token of one sequence (held on one attention group)."""
        return self.model.kv_elems_per_token() * self.kv_bytes

    def max_sequences(self, context: float) -> int:
        """Sequences of mean context `context` whose KV fits beside the weights (0: none)."""
        free = KV_FRACTION * (
            (self.gpu.hbm_gb - self.reserve_gb) * 1e9 - self.weights_bytes_per_gpu()
        )
        if free <= 0:
            return 0
        return int(free * self.n / (self.kv_bytes_per_token() * context))

    def a2a_bytes_per_token(self, per_domain: bool) -> float:
        """Bytes one token sends (dispatch FP8) and gets back (combine BF16) per MoE layer over
        the slowest tier: one copy per remote expert it picks, or with `per_domain` (DeepEP's
        prefill kernels, which forward inside the domain) one per remote domain it touches."""
        m, n, dom = self.model, self.n, self.gpu.nvlink_domain_gpus
        per_copy = m.hidden * (A2A_DISPATCH_BYTES + A2A_COMBINE_BYTES)
        if n <= dom or not per_domain:
            return m.top_k * per_copy * (n - 1) / n  # type: ignore[operator]
        d = n / dom
        touched = d * (1.0 - (1.0 - 1.0 / d) ** m.top_k)  # type: ignore[operator]
        return touched * per_copy * (d - 1) / d

    def link_bw(self) -> float:
        """Per-GPU bytes/s of the tier the instance spans (NVLink domain, else the NICs)."""
        g = self.gpu
        if self.n <= g.nvlink_domain_gpus:
            return g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF
        return g.nic_gbit_per_s / 8.0 * 1e9 * C.SERVING_NET_EFF

    def step_s(
        self, fit: Fit, decode: float, prefill: float, context: float, prompt: float
    ) -> float:
        """Time of one step with `decode` sequences at mean `context` and `prefill` prompt
        tokens of prompts `prompt` long, per GPU (every GPU of the instance works in step)."""
        m, g, n = self.model, self.gpu, self.n
        tokens = decode + prefill
        peak = g.peak_tflops(self.precision) * 1e12
        effs = C.GEMM_EFF_MAX.get(g.name) or C.GEMM_EFF_MAX[C.DEFAULT]
        rate = peak * effs.get(self.precision, effs["bf16"]) * fit.gemm_eff
        bw = g.hbm_bandwidth_tb_per_s * 1e12 * C.HBM_EFF
        a_eff, a_exec = C.ATTENTION.get(g.name) or C.ATTENTION[C.DEFAULT]
        attn_rate = g.bf16_dense_tflops * 1e12 * a_eff
        # GEMMs (linear layers): weights every token uses, then the experts the tokens touch.
        shared_b, expert_b = self.weight_bytes_read(tokens)
        if m.is_moe:
            shared_flops = 2.0 * m.shared_params * tokens / n
            exp_flops = 2.0 * m.top_k * m.expert_params * tokens / n  # type: ignore[operator]
            t = roof(shared_flops / rate, shared_b / bw) + roof(exp_flops / rate, expert_b / bw)
        else:
            t = roof(2.0 * m.params * tokens / n / rate, shared_b / bw)
        # Attention: decode KV reads (or MLA's FLOPs), causal prefill over its prompt.
        dk, dv = m.attn_dims()
        kv_read = decode * context * self.kv_bytes_per_token() / n
        dec_flops = 2.0 * m.layers * m.heads * decode * context * (dk + dv) / n
        t += roof(dec_flops / attn_rate, kv_read / bw)
        t += 2.0 * prefill * prompt * m.layers * m.q_dim * (2.0 * a_exec) / n / attn_rate
        # Collectives.
        tp = self.attn_tp
        if tp > 1:  # two all-reduces per layer over the tensor-parallel group, ring 2(tp-1)/tp
            group_tokens = tokens * tp / n
            ar = 2.0 * m.layers * group_tokens * m.hidden * 2.0 * 2.0 * (tp - 1) / tp
            t += ar / (g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF) + 2.0 * m.layers * AR_LATENCY_S
        if m.is_moe and n > 1:
            a2a = (
                m.layers
                * (
                    decode * self.a2a_bytes_per_token(per_domain=False)
                    + prefill * self.a2a_bytes_per_token(per_domain=True)
                )
                / n
            )
            t += a2a / self.link_bw()
        # host work per sequence runs on each attention group's scheduler in parallel
        t += fit.seq_overhead_us * 1e-6 * decode * tp / n
        if m.is_moe:
            t += m.layers * tokens / n * fit.moe_token_ns * 1e-9
        return t + m.layers * fit.layer_overhead_us * 1e-6


@cache
def instance(
    model: ServedModel,
    g: GPU,
    n: int,
    precision: ServePrecision,
    kv_bytes: float,
    reserve_gb: float = 0.0,
) -> Instance:
    return Instance(model, g, n, precision, kv_bytes, reserve_gb)


def check_precision(g: GPU, precision: str) -> None:
    """FP4 weights need FP4 tensor cores (Blackwell); elsewhere they would not be served."""
    if precision == "fp4" and g.fp4_dense_tflops is None:
        raise InputError.single("serving.precision", f"{g.name} has no FP4 tensor cores", precision)
