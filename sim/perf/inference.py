"""Inference throughput: output tokens/s per GPU for a served model on a GPU type.

An instance is the smallest power-of-two tensor-parallel group inside one NVLink domain whose
HBM holds the weights within INFER_WEIGHT_HBM_FRACTION. The batch fills the rest of HBM with KV
cache (or is given, or cut to meet a time-per-output-token target). Per request the instance
spends a compute-bound prefill (linear layers at the serving precision, causal attention at BF16)
and, per output token, a share of a decode step: linear layers under the same soft roofline as training GEMMs,
plus KV-cache reads (memory-bound) and tensor-parallel all-reduces over NVLink.
Throughput = batch x output tokens / (batch x prefill + output tokens x decode step), per GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sim.errors import InputError
from sim.hardware import GPU
from sim.hardware import gpu as lookup
from sim.perf import constants as C

ServePrecision = Literal["bf16", "fp16", "fp8", "fp4"]
Scenario = Literal["offline", "server"]

# Bytes per weight; NVFP4 = 4-bit values + one FP8 scale per 16 (NVIDIA Blackwell NVFP4 format).
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "fp4": 0.5625}


@dataclass(frozen=True, slots=True)
class ServedModel:
    """Shape of a served decoder-only model; `active_params` for mixture-of-experts."""

    params: float
    layers: int
    hidden: int
    heads: int
    kv_heads: int | None = None
    active_params: float | None = None

    @property
    def kv_dim(self) -> int:
        return (self.kv_heads or self.heads) * (self.hidden // self.heads)


@dataclass(frozen=True, slots=True)
class ServeResult:
    tokens_per_s_per_gpu: float
    instance_gpus: int
    batch: int
    decode_step_s: float
    prefill_s_per_request: float
    time_per_output_token_s: float


def _peak(g: GPU, precision: str) -> float:
    if precision == "fp4":
        if g.name not in C.FP4_DENSE_TFLOPS:
            raise InputError.single("precision", f"{g.name} has no FP4 tensor cores", precision)
        return C.FP4_DENSE_TFLOPS[g.name] * 1e12
    return g.peak_tflops(precision) * 1e12  # type: ignore[arg-type]


def instance_gpus(model: ServedModel, g: GPU, precision: ServePrecision) -> int:
    """Smallest power-of-two TP group in one NVLink domain that holds the weights."""
    weights = model.params * WEIGHT_BYTES[precision]
    n = 1
    while n <= g.nvlink_domain_gpus:
        if weights <= C.INFER_WEIGHT_HBM_FRACTION * n * g.hbm_gb * 1e9:
            return n
        n *= 2
    raise InputError.single(
        "model.params", f"weights ({weights / 1e9:.0f} GB) do not fit one NVLink domain of {g.name}"
    )


def serve(
    model: ServedModel,
    gpu: str,
    precision: ServePrecision,
    prompt_tokens: int,
    output_tokens: int,
    scenario: Scenario = "offline",
    batch: int | None = None,
    tpot_s: float | None = None,
    gpus_per_instance: int | None = None,
) -> ServeResult:
    """Throughput of one serving instance, per GPU, with its batch and latencies."""
    g = lookup(gpu)
    n = gpus_per_instance or instance_gpus(model, g, precision)
    active = model.active_params or model.params
    weights = model.params * WEIGHT_BYTES[precision]
    low = precision in ("fp8", "fp4")
    kv_tok = 2.0 * model.layers * model.kv_dim * (1.0 if low else 2.0)  # FP8 KV cache if low
    ctx = prompt_tokens + output_tokens / 2.0
    free = C.INFER_HBM_USABLE * n * g.hbm_gb * 1e9 - weights
    if free <= 0:
        raise InputError.single("gpus_per_instance", "weights leave no room for KV cache", n)
    b_max = max(1, int(free / (kv_tok * ctx)))
    b = min(batch, b_max) if batch else b_max
    effs = C.GEMM_EFF_MAX.get(g.name) or C.GEMM_EFF_MAX[C.DEFAULT]
    eff = effs.get(precision, effs["bf16"]) * C.INFER_GEMM_EFF_VS_TRAINING
    rate = n * _peak(g, precision) * eff
    a_eff, a_exec = C.ATTENTION.get(g.name) or C.ATTENTION[C.DEFAULT]
    attn_rate = n * g.bf16_dense_tflops * 1e12 * a_eff / (2.0 * a_exec)
    hbm = n * g.hbm_bandwidth_tb_per_s * 1e12 * C.HBM_EFF
    # Tensor-parallel all-reduce: 2 per layer of tokens x hidden x 2 B, ring 2(n-1)/n.
    ar_per_token = (
        2.0
        * model.layers
        * model.hidden
        * 2.0
        * 2.0
        * (n - 1)
        / n
        / (g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF)
        if n > 1
        else 0.0
    )
    prefill = (
        2.0 * active * prompt_tokens / rate
        + 2.0 * prompt_tokens**2 * model.hidden * model.layers / attn_rate  # causal: half of 4 s h
        + prompt_tokens * ar_per_token
    )

    ridge = C.GEMM_RIDGE_FACTOR * _peak(g, precision) / (g.hbm_bandwidth_tb_per_s * 1e12)

    def decode(bb: int) -> float:
        # Soft roofline of the decode GEMMs: intensity ~ 2 FLOPs per weight byte per sequence.
        intensity = 2.0 * bb / WEIGHT_BYTES[precision]
        return (
            2.0 * active * bb / rate * (1.0 + ridge / intensity)
            + bb * ctx * kv_tok / hbm
            + bb * ar_per_token
        )

    def tpot(bb: int) -> float:  # a decode step with its share of in-flight prefills
        return decode(bb) + bb / output_tokens * prefill

    if tpot_s is not None:
        while b > 1 and tpot(b) > tpot_s:
            b = max(1, int(b * 0.9))
    t_dec = decode(b)
    tokens = b * output_tokens / (b * prefill + output_tokens * t_dec) / n
    if scenario == "server":
        tokens *= C.SERVER_LOAD
    return ServeResult(tokens, n, b, t_dec, prefill, tpot(b))


def tokens_per_s_per_gpu(
    model: ServedModel,
    gpu: str,
    precision: ServePrecision,
    prompt_tokens: int,
    output_tokens: int,
    scenario: Scenario = "offline",
    batch: int | None = None,
    tpot_s: float | None = None,
) -> float:
    """Output tokens/s per GPU (see `serve` for the details)."""
    return serve(
        model, gpu, precision, prompt_tokens, output_tokens, scenario, batch, tpot_s
    ).tokens_per_s_per_gpu
