"""The performance model's physical constants: few, named, the same for every job and row.

Each uncertain constant is a `Param` in `PARAMS` with its value, its range and why: either
`fitted` (by `sim.perf.fit` on the calibration rows; the value is read from
`sim/data/perf_fit.toml`, which `scripts/calibration_report.py` writes; the range is the fit's
bound) or `assumed` (no calibration row decides it; the range is what the cited sources allow).
The model reads them as module attributes (`constants.OVERLAP_EFF`), so `overridden(...)` can
vary any of them, e.g. for SALib over the `assumed` ones. Peaks, HBM and link bandwidths, memory
sizes come from `sim.hardware`. docs/perf-model.md says how each constant enters the model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

FIT_PATH = Path(__file__).resolve().parents[1] / "data" / "perf_fit.toml"


@dataclass(frozen=True)
class Param:
    name: str
    value: float
    low: float
    high: float
    kind: Literal["fitted", "assumed"]
    why: str


PARAMS: dict[str, Param] = {}


def _p(name: str, value: float, low: float, high: float, kind: str, why: str) -> float:
    PARAMS[name] = Param(name, value, low, high, kind, why)  # type: ignore[arg-type]
    return value


_FIT = tomllib.loads(FIT_PATH.read_text()) if FIT_PATH.is_file() else {}
_fitted = _FIT.get("constants", {})

# -- fitted (prior value = the physical estimate; the fit moves it within its bounds) ---------
# Prior and bounds for each fitted constant: (prior, low, high, what fixes it physically).
FIT_PRIORS: dict[str, tuple[float, float, float, str]] = {
    "GEMM_EFF_AMPERE": (
        0.80,
        0.6,
        0.95,
        "fraction of A100 dense FP16/BF16 peak a large cuBLAS GEMM reaches (~250-280 of 312"
        " TFLOPS: NVIDIA Matrix Multiplication Background guide)",
    ),
    "GEMM_EFF_HOPPER": (
        0.80,
        0.6,
        0.95,
        "fraction of H100/H200 dense BF16 peak a large GEMM reaches (~750-800 of 989 TFLOPS,"
        " public cuBLAS sweeps 2023-24)",
    ),
    "FP8_GEMM_RATIO": (
        0.85,
        0.6,
        1.0,
        "FP8 GEMM efficiency / BF16 GEMM efficiency on the same GPU (H100: ~1,300-1,450 of"
        " 1,979 FP8 TFLOPS vs ~0.8 at BF16; scaling and tile quantisation cost FP8 more)",
    ),
    "OVERLAP_EFF": (
        0.7,
        0.2,
        1.0,
        "fraction of the compute window behind which data-parallel / FSDP traffic hides: the"
        " collective kernels take SMs and HBM from the GEMMs they overlap",
    ),
    "ATTN_EFF_FLASH": (
        0.55,
        0.35,
        0.8,
        "flash-attention fraction of the BF16 peak over forward + backward on Hopper/Blackwell"
        " (FlashAttention-3, Shah et al. 2024: ~0.5-0.75 forward, less backward)",
    ),
    "GEMM_RIDGE_FACTOR": (
        1.0,
        0.3,
        4.0,
        "half-efficiency point of the soft GEMM roofline in units of the ridge (peak / HBM"
        " bandwidth; Williams et al. 2009): how fast small, thin GEMMs lose efficiency",
    ),
    "UNFUSED_ATTN_FLOP_PER_BYTE": (
        32.0,
        12.0,
        80.0,
        "FLOP per HBM byte of unfused attention (scores written, masked, softmaxed, read back:"
        " ~2 x head_dim FLOP per score over ~8 B moved per score), i.e. ~60 TFLOP/s on A100",
    ),
    "TP_OVERLAP": (
        0.5,
        0.05,
        0.9,
        "fraction of tensor-parallel collectives hidden when the recipe pipelines them with the"
        " GEMMs (userbuffers); the GEMMs they overlap lose SMs, so it is well below 1",
    ),
    "NET_EFF": (
        0.85,
        0.5,
        0.95,
        "achieved fraction of the NIC line rate for large collectives (nccl-tests bus bandwidth:"
        " ~45 of 50 GB/s per 400G NIC, ~21-23 of 25 GB/s per HDR 200G)",
    ),
}
GEMM_EFF_AMPERE = _p(
    "GEMM_EFF_AMPERE",
    _fitted.get("GEMM_EFF_AMPERE", 0.80),
    0.6,
    0.95,
    "fitted",
    FIT_PRIORS["GEMM_EFF_AMPERE"][3],
)
GEMM_EFF_HOPPER = _p(
    "GEMM_EFF_HOPPER",
    _fitted.get("GEMM_EFF_HOPPER", 0.80),
    0.6,
    0.95,
    "fitted",
    FIT_PRIORS["GEMM_EFF_HOPPER"][3],
)
FP8_GEMM_RATIO = _p(
    "FP8_GEMM_RATIO",
    _fitted.get("FP8_GEMM_RATIO", 0.85),
    0.6,
    1.0,
    "fitted",
    FIT_PRIORS["FP8_GEMM_RATIO"][3],
)
OVERLAP_EFF = _p(
    "OVERLAP_EFF", _fitted.get("OVERLAP_EFF", 0.7), 0.2, 1.0, "fitted", FIT_PRIORS["OVERLAP_EFF"][3]
)
NET_EFF = _p("NET_EFF", _fitted.get("NET_EFF", 0.85), 0.5, 0.95, "fitted", FIT_PRIORS["NET_EFF"][3])

# -- assumed (no calibration row decides them; ranges from the cited sources) -----------------
# Blackwell GEMMs relative to Hopper at the same precision. No Blackwell training row is used
# (the public Blackwell tables are reserved for validation): public B200/GB200 GEMM benchmarks
# (2025) reach ~0.6-0.75 of the dense peak against ~0.8 on Hopper.
BLACKWELL_GEMM_VS_HOPPER = _p(
    "BLACKWELL_GEMM_VS_HOPPER",
    0.90,
    0.75,
    1.0,
    "assumed",
    "Blackwell large-GEMM efficiency / Hopper's; public B200 GEMM benchmarks 0.6-0.75 of peak",
)
# NVFP4 GEMM efficiency relative to FP8 on the same GPU (block scales every 16 elements,
# smaller tiles per byte moved).
FP4_GEMM_RATIO = _p(
    "FP4_GEMM_RATIO",
    0.85,
    0.6,
    1.0,
    "assumed",
    "NVFP4 GEMM efficiency / FP8's; no public training-GEMM sweep at NVFP4",
)
# NVFP4 training recipe (NVIDIA, "Pretraining Large Language Models with NVFP4", arXiv
# 2509.25147, 2025): some linear layers stay in BF16 (~15% of the blocks in its 12B run: the
# first two and the last eight of 62), weight-gradient inputs get a 16x16 random Hadamard
# transform, gradients are stochastically rounded. Fraction of linear FLOPs kept at BF16:
FP4_BF16_FRACTION = _p(
    "FP4_BF16_FRACTION",
    0.15,
    0.05,
    0.3,
    "assumed",
    "share of linear layers the NVFP4 recipe keeps in BF16 (~16% of blocks in its 12B run)",
)
# Soft roofline: a GEMM of arithmetic intensity I (FLOP per byte moved) reaches
# eff * I / (I + GEMM_RIDGE_FACTOR * ridge), ridge = peak FLOP/s / HBM byte/s of the GPU.
# 1.0 puts the half-efficiency point at the roofline ridge (Williams et al., CACM 2009).
GEMM_RIDGE_FACTOR = _p(
    "GEMM_RIDGE_FACTOR",
    _fitted.get("GEMM_RIDGE_FACTOR", 1.0),
    0.3,
    4.0,
    "fitted",
    FIT_PRIORS["GEMM_RIDGE_FACTOR"][3],
)
# Attention core (QK^T, softmax, AV): fraction of the BF16 dense peak reached on the FLOPs it
# executes. Hopper/Blackwell: flash attention (FA3 / cuDNN) ~50-75% forward, less backward
# (Shah et al. 2024, FlashAttention-3), and it skips the masked half of causal attention.
# A100 rows (2021-22 Megatron) predate flash attention: the s x s scores were materialised and a
# fused softmax ran over them, memory-bound at ~32 FLOP/B, i.e. ~60 TFLOP/s on 2 TB/s HBM.
ATTN_EFF_FLASH = _p(
    "ATTN_EFF_FLASH",
    _fitted.get("ATTN_EFF_FLASH", 0.55),
    0.35,
    0.8,
    "fitted",
    FIT_PRIORS["ATTN_EFF_FLASH"][3],
)
UNFUSED_ATTN_FLOP_PER_BYTE = _p(
    "UNFUSED_ATTN_FLOP_PER_BYTE",
    _fitted.get("UNFUSED_ATTN_FLOP_PER_BYTE", 32.0),
    12.0,
    80.0,
    "fitted",
    FIT_PRIORS["UNFUSED_ATTN_FLOP_PER_BYTE"][3],
)
# Fused elementwise kernels (norms, residuals, activations, casts): ~80-90% of datasheet HBM
# bandwidth on STREAM-like copies (NVIDIA nvbandwidth, H100).
HBM_EFF = _p("HBM_EFF", 0.80, 0.7, 0.9, "assumed", "STREAM-like HBM efficiency (nvbandwidth)")
# NVLink: ~360-380 of 450 GB/s per direction on H100 (nccl-tests all-reduce bus bandwidth).
NVLINK_EFF = _p("NVLINK_EFF", 0.80, 0.7, 0.9, "assumed", "nccl-tests NVLink bus bandwidth")
# Tensor-parallel collectives and pipeline sends sit between dependent GEMMs; Megatron-Core's
# GEMM/collective pipelining (training.tp_comm_overlap) hides part of them but slows the GEMMs
# it overlaps; without it they are fully exposed. Fitted (TP_OVERLAP above).
TP_OVERLAP = _p(
    "TP_OVERLAP", _fitted.get("TP_OVERLAP", 0.5), 0.05, 0.9, "fitted", FIT_PRIORS["TP_OVERLAP"][3]
)
# MoE routing imbalance: the most loaded expert rank receives this multiple of the mean tokens.
# Switch Transformer (Fedus et al., JMLR 2022) trains with capacity factors 1.0-1.25 (tokens
# beyond capacity dropped); dropless MoE with an auxiliary balancing loss sees peaks of the
# same order. Multiplies the expert GEMMs and the all-to-all (which waits for the fullest rank).
MOE_IMBALANCE = _p(
    "MOE_IMBALANCE",
    1.25,
    1.0,
    1.5,
    "assumed",
    "max/mean tokens per expert rank; Switch Transformer capacity factor 1.0-1.25",
)
# Grouped GEMM (all local experts in one kernel): efficiency relative to one dense GEMM of the
# same per-expert shape (CUTLASS / cuBLASLt grouped GEMM; ragged sizes, launch and tail cost).
GROUPED_GEMM_EFF = _p(
    "GROUPED_GEMM_EFF",
    0.85,
    0.7,
    1.0,
    "assumed",
    "grouped-GEMM efficiency vs a dense GEMM of the same shape (ragged groups, tails)",
)
# Campus core between pools of different generations: per-GPU bandwidth = slower NIC / this.
# assumed: 4:1, the oversubscription topologies/colossus1.toml assumes between pool fabrics.
CROSS_TYPE_OVERSUBSCRIPTION = _p(
    "CROSS_TYPE_OVERSUBSCRIPTION",
    4.0,
    2.0,
    8.0,
    "assumed",
    "oversubscription of the campus core between pools of different GPU generations",
)
# Per-GPU step-time jitter (OS noise, clocks, thermal throttling): a synchronous step waits for
# the slowest of N, E[max] ~ mean * (1 + cv * sqrt(2 ln N)). 0.5% matches the ~1-3% straggler
# losses reported at 10k+ GPU scale ("What-if analysis of stragglers", Lin et al. 2025).
STEP_JITTER_CV = _p(
    "STEP_JITTER_CV",
    0.005,
    0.002,
    0.01,
    "assumed",
    "per-GPU step-time coefficient of variation (straggler studies at 10k+ GPUs)",
)

# -- not uncertain: definitions and recipe facts ----------------------------------------------
# Memory accounting, bytes per parameter (Megatron-LM distributed optimizer docs): bf16 weights
# and gradients, fp32 master copy and Adam moments (4 + 4 + 4) sharded per zero_stage.
WEIGHT_BYTES = 2.0
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
# Transformer Engine FP8 keeps an FP8 copy of each weight and of its transpose for the step
# (NVFP4 the same at 0.5 B each plus block scales: ~1.1 B).
FP8_WEIGHT_CACHE_BYTES = 2.0
FP4_WEIGHT_CACHE_BYTES = 1.1
# CUDA context, NCCL buffers, allocator fragmentation: kept free on every GPU.
MEMORY_RESERVE_GB = 3.0
# MoE dispatch/combine payload per token element (BF16).
A2A_BYTES = 2.0

# -- Inference ----------------------------------------------------------------------------------
# Serving constants are fitted (sim/data/inference_fit.toml, see sim/perf/inference_calibration.py).
# MLPerf "server" runs Poisson arrivals under tail-latency bounds; a server can be loaded to about
# this fraction of its offline throughput before the 99th percentile breaks (M/D/1-like queueing).
SERVER_LOAD = 0.85

# -- per GPU type -------------------------------------------------------------------------------
GENERATION = {
    "A100-80GB": "ampere",
    "H100": "hopper",
    "H200": "hopper",
    "H100-PCIe": "hopper",
    "GB200": "blackwell",
    "GB300": "blackwell",
    "B200": "blackwell",
}
DEFAULT = "H100"


def generation(gpu_name: str) -> str:
    return GENERATION.get(gpu_name, "hopper")


def gemm_eff(gpu_name: str, precision: str) -> float:
    """Large-GEMM fraction of the dense peak at `precision` (the GPU's effective precision)."""
    gen = generation(gpu_name)
    base = GEMM_EFF_AMPERE if gen == "ampere" else GEMM_EFF_HOPPER
    if gen == "blackwell":
        base *= BLACKWELL_GEMM_VS_HOPPER
    if precision == "fp8":
        return base * FP8_GEMM_RATIO
    if precision == "fp4":
        return base * FP8_GEMM_RATIO * FP4_GEMM_RATIO
    return base


# -- the inference model's own tables (sim/perf/inference.py, owned by the serving work) --------
# Kept as they were calibrated against calibration/inference.csv; the training model uses
# `gemm_eff`, ATTN_EFF_FLASH and UNFUSED_ATTN_FLOP_PER_BYTE above. Sources as in docs/perf-model.md (cuBLAS GEMM sweeps,
# FlashAttention-3).
GEMM_EFF_MAX: dict[str, dict[str, float]] = {
    "A100-80GB": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.80},
    "H100": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.68},
    "H200": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.68},
    "GB200": {"bf16": 0.73, "fp16": 0.73, "fp8": 0.62, "fp4": 0.55},
    "GB300": {"bf16": 0.73, "fp16": 0.73, "fp8": 0.62, "fp4": 0.55},
}
# NIC efficiency the serving fit (sim/data/inference_fit.toml) was made with: the training fit
# moves NET_EFF, the serving constants were fitted at this value.
SERVING_NET_EFF = 0.85
ATTENTION: dict[str, tuple[float, float]] = {
    "A100-80GB": (0.20, 1.0),
    "H100": (0.55, 0.5),
    "H200": (0.55, 0.5),
    "GB200": (0.55, 0.5),
    "GB300": (0.55, 0.5),
}


def interval_quantiles() -> tuple[float, float, float]:
    """(level, low, high) quantiles of log(modelled / reported step time) over the
    leave-one-source-out residuals (sim/data/perf_fit.toml); (0.8, 0, 0) before any fit."""
    iv = _FIT.get("interval", {})
    return iv.get("level", 0.8), iv.get("log_residual_low", 0.0), iv.get("log_residual_high", 0.0)


_hooks: list = []  # callables run after constants change (e.g. cache_clear of cached_step)


def on_change(callback) -> None:
    """Call `callback()` whenever `overridden` sets or restores constants (memo invalidation)."""
    _hooks.append(callback)


@contextmanager
def overridden(**values: float) -> Iterator[None]:
    """Set constants by name for the duration of the block (unknown names raise KeyError)."""
    g = globals()
    old = {}
    for k, v in values.items():
        if k not in PARAMS:
            raise KeyError(f"unknown performance constant {k!r}; known: {', '.join(PARAMS)}")
        old[k] = g[k]
        g[k] = v
    for h in _hooks:
        h()
    try:
        yield
    finally:
        g.update(old)
        for h in _hooks:
            h()
