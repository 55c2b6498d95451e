"""The performance model's physical constants: few, documented, the same for every job and row.

Per-GPU-type constants are keyed by catalog name; a type missing here falls back to `DEFAULT`.
Everything else (peaks, HBM and link bandwidths, memory sizes) comes from `sim.hardware`.
See docs/perf-model.md for how each constant enters the model.
"""

from __future__ import annotations

# -- Matmul (GEMM) efficiency -------------------------------------------------------------------
# Fraction of the dense peak a large, well-shaped GEMM achieves, per GPU type and input precision.
# Sources (approximate, public microbenchmarks of cuBLAS/cuBLASLt large GEMMs, ranges):
#   A100: ~250-280 of 312 FP16/BF16 TFLOPS at 400 W (NVIDIA "Matrix Multiplication Background"
#         performance guide); H100 SXM: ~750-800 of 989 BF16, ~1,300-1,450 of 1,979 FP8 TFLOPS
#         (public H100 GEMM sweeps 2023-24); B200/GB200: ~0.6-0.75 of the dense BF16/FP8 peak
#         (public Blackwell GEMM benchmarks, 2025; FP4 lower still).
# Where a range is reported the value was set within it from the calibration rows
# (docs/calibration.md): A100 0.80 (low end: 2021-22 Megatron at 400 W), Blackwell FP8 0.62.
# The fraction actually reached by a given GEMM falls with its arithmetic intensity, see below.
GEMM_EFF_MAX: dict[str, dict[str, float]] = {
    "A100-80GB": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.80},
    "H100": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.68},
    "H200": {"bf16": 0.80, "fp16": 0.80, "fp8": 0.68},
    "GB200": {"bf16": 0.73, "fp16": 0.73, "fp8": 0.62, "fp4": 0.55},
    "GB300": {"bf16": 0.73, "fp16": 0.73, "fp8": 0.62, "fp4": 0.55},
}
DEFAULT = "H100"

# Soft roofline: a GEMM of arithmetic intensity I (FLOP per byte moved) reaches
# GEMM_EFF_MAX * I / (I + GEMM_RIDGE_FACTOR * ridge), ridge = peak FLOP/s / HBM byte/s of the GPU.
# 1.0 puts the half-efficiency point at the roofline ridge (Williams et al., CACM 2009).
GEMM_RIDGE_FACTOR = 1.0

# Attention core (QK^T, softmax, AV) per GPU type: the fraction of the BF16 dense peak reached
# on the FLOPs it executes, and which fraction of the full s x s work it executes.
# Hopper/Blackwell: flash attention (FA3 / cuDNN) reaches ~50-75% of BF16 peak forward and less
# backward (Shah et al. 2024, FlashAttention-3) and skips the masked half of causal attention.
# A100: its calibration rows (Narayanan 2021, Korthikanti 2022) predate flash attention:
# Megatron materialised the s x s scores and ran a fused softmax over them, memory-bound at
# ~2 x head_dim / (bytes moved per score ~8) ~ 32 FLOP/B, i.e. ~60 TFLOP/s on 2 TB/s HBM.
# Attention always runs in BF16 (FP8 recipes keep attention in BF16).
ATTENTION: dict[str, tuple[float, float]] = {  # type -> (efficiency, executed fraction)
    "A100-80GB": (0.20, 1.0),
    "H100": (0.55, 0.5),
    "H200": (0.55, 0.5),
    "GB200": (0.55, 0.5),
    "GB300": (0.55, 0.5),
}

# FP4 dense peaks are not in the catalog (training never uses them; inference does).
# NVIDIA GB200 NVL72 spec: FP4 1,440 PFLOPS per rack with sparsity -> 10 PF dense per GPU;
# GB300 NVL72 spec: FP4 1,080 PFLOPS dense per rack -> 15 PF per GPU.
FP4_DENSE_TFLOPS: dict[str, float] = {"GB200": 10000.0, "GB300": 15000.0}

# -- Memory-bound work --------------------------------------------------------------------------
# Fraction of the HBM bandwidth that fused elementwise kernels (norms, residuals, activations,
# FP8 casts) sustain: ~80-90% of datasheet on STREAM-like copies (NVIDIA nvbandwidth, H100).
HBM_EFF = 0.80

# -- Interconnects ------------------------------------------------------------------------------
# Achieved fraction of the per-direction link rate for large collectives (NCCL bus bandwidth):
# NVLink ~360-380 of 450 GB/s on H100 (nccl-tests); InfiniBand/RoCE ~45 of 50 GB/s per 400G NIC.
NVLINK_EFF = 0.80
NET_EFF = 0.85
# Fraction of tensor/expert-parallel collectives and pipeline sends hidden behind compute.
# They sit between dependent GEMMs; Megatron-Core's GEMM/collective pipelining (userbuffers)
# hides part of them but slows the GEMMs it overlaps by SM and memory contention, so the net
# gain is small: taken as fully exposed (0.0), which the calibration rows support (0.25 and 0.5
# raise the training MAPE from 7% to 8% and 10%). Context-parallel ring exchange is different:
# it is hidden behind the attention blocks it feeds (see training._rank).
COMM_OVERLAP = 0.0
# Data-parallel gradient reduce-scatter / parameter all-gather can hide behind the backward of
# the last micro-batch and the forward of the first one (Megatron distributed optimizer with
# overlap_grad_reduce/overlap_param_gather); this is the fraction of that window usable.
DP_OVERLAP_WINDOW = 0.80
# Campus core between pools of different generations: per-GPU bandwidth = slower NIC / this.
# assumed: 4:1, the oversubscription topologies/colossus1.toml assumes between pool fabrics.
CROSS_TYPE_OVERSUBSCRIPTION = 4.0

# -- Synchronous steps at scale -----------------------------------------------------------------
# Per-GPU step-time jitter (coefficient of variation: OS noise, clocks, thermal throttling).
# A synchronous step waits for the slowest of N: E[max] ~ mean * (1 + cv * sqrt(2 ln N)).
# assumed: 0.5%, consistent with the ~1-3% straggler losses reported at 10k+ GPU scale
# (Meta Llama 3 paper 2024; "What-if analysis of stragglers", Lin et al. 2025).
STEP_JITTER_CV = 0.005

# -- Memory accounting (bytes per parameter, Megatron mixed precision with distributed optimizer) --
# Megatron-LM distributed optimizer docs: bf16 params + bf16 grads, fp32 master copy and Adam
# moments (4 + 4 + 4 bytes) sharded over the data-parallel (x context-parallel) group.
WEIGHT_BYTES = 2.0
GRAD_BYTES = 2.0
OPTIMIZER_BYTES = 12.0
# Transformer Engine FP8 keeps an FP8 copy of each weight and of its transpose for the step.
FP8_WEIGHT_CACHE_BYTES = 2.0
# CUDA context, NCCL buffers, allocator fragmentation: kept free on every GPU.
MEMORY_RESERVE_GB = 3.0

# -- Inference ----------------------------------------------------------------------------------
# Serving constants are fitted (sim/data/inference_fit.toml, see sim/perf/inference_calibration.py).
# MLPerf "server" runs Poisson arrivals under tail-latency bounds; a server can be loaded to about
# this fraction of its offline throughput before the 99th percentile breaks (M/D/1-like queueing).
SERVER_LOAD = 0.85
