"""Serving at a latency target: the instance size and batch that give the most output tokens/s
per GPU while meeting TPOT / TTFT / tokens-per-second-per-user targets, the Pareto curve of
throughput against interactivity, and what a million input and output tokens cost.

Steady state of continuous batching with `b` sequences in flight, prompts of P and outputs of O
tokens: each step finishes b/O requests, so to stay full it also prefills b P / O prompt tokens.
- chunked (default): those prompt tokens share the step with the b decode tokens (chunked
  prefill, as vLLM/SGLang/TensorRT-LLM schedule by default); TPOT is that mixed step.
- disaggregated: prefill runs on its own GPUs (compute-bound, prompts batched to
  PREFILL_TOKENS_PER_GPU a step), decode on others; the GPU shares follow the two rates.
Memory decides the largest batch: weights + the KV of b sequences at mean context P + O/2 fit
in usable HBM. TTFT is one prompt's prefill on an idle instance plus one step (no queueing).
Every instance size that fits is tried (powers of two up to the NVLink domain and the domain
itself; mixtures of experts also across the scale-out tier up to 64 GPUs), unless one is given.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from sim.errors import InputError
from sim.hardware import gpu as lookup
from sim.perf import constants as C
from sim.perf.inference import Fit, Instance, ServedModel, ServePrecision, check_precision
from sim.perf.inference import instance as make_instance
from sim.perf.inference_fit import FITTED

# Prompt tokens per GPU per prefill step of a prefill-only instance (TensorRT-LLM's default
# max_num_tokens is 8192; SGLang's large-EP prefill ran 16,384 a device). assumed within 4k-16k.
PREFILL_TOKENS_PER_GPU = 8192
MAX_BATCH = 1 << 20
SCALE_OUT_MAX_GPUS = 64


@dataclass(frozen=True, slots=True)
class Targets:
    tpot_s: float | None = None
    ttft_s: float | None = None
    tokens_per_s_per_user: float | None = None

    @property
    def tpot_limit(self) -> float | None:
        lims = [
            x
            for x in (
                self.tpot_s,
                1.0 / self.tokens_per_s_per_user if self.tokens_per_s_per_user else None,
            )
            if x is not None
        ]
        return min(lims) if lims else None


@dataclass(frozen=True, slots=True)
class ServeResult:
    tokens_per_s_per_gpu: float  # output tokens/s per GPU (all GPUs, both roles if disaggregated)
    input_tokens_per_s_per_gpu: float
    tpot_s: float
    ttft_s: float
    batch: int  # sequences in flight on one (decode) instance
    gpus_per_instance: int
    mode: str
    prefill_gpu_share: float  # disaggregated: share of GPUs prefilling (chunked: 0)
    gpu_s_per_input_token: float  # GPU-seconds per prompt token
    gpu_s_per_output_token: float  # GPU-seconds per generated token (decode only)
    weights_gb_per_gpu: float
    kv_gb_per_gpu: float
    hbm_gb: float
    experts_touched: float  # distinct experts per layer a decode step reads (MoE)

    @property
    def tokens_per_s_per_user(self) -> float:
        return 1.0 / self.tpot_s

    # kept for callers of the earlier interface
    @property
    def instance_gpus(self) -> int:
        return self.gpus_per_instance

    @property
    def time_per_output_token_s(self) -> float:
        return self.tpot_s

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens_per_s_per_user"] = self.tokens_per_s_per_user
        return d


def candidate_sizes(model: ServedModel, domain: int) -> list[int]:
    top = max(domain, SCALE_OUT_MAX_GPUS) if model.is_moe else domain
    sizes = [1 << i for i in range(0, 12) if (1 << i) <= top]
    return sorted(set(sizes + ([domain] if domain > 1 else [])))


def _point(
    inst: Instance, fit: Fit, b: int, prompt: int, output: int, disaggregated: bool
) -> ServeResult:
    """The steady state of one instance at batch `b`."""
    m, n = inst.model, inst.n
    ctx = prompt + output / 2.0
    dec = inst.step_s(fit, b, 0.0, ctx, prompt)
    out_gpu_s = n * dec / b
    if disaggregated:
        chunk = max(prompt, PREFILL_TOKENS_PER_GPU * n)
        pre = inst.step_s(fit, 0.0, chunk, ctx, prompt)
        in_gpu_s = n * pre / chunk
        tpot = dec
        # KV of the prompt moves to the decode instance over the same tier as the all-to-all
        kv_move = prompt * inst.kv_bytes_per_token() / n / inst.link_bw()
        ttft = inst.step_s(fit, 0.0, prompt, ctx, prompt) + kv_move + dec
    else:
        c = b * prompt / output
        mixed = inst.step_s(fit, b, c, ctx, prompt)
        in_gpu_s = n * (mixed - dec) / c
        tpot = mixed
        ttft = inst.step_s(fit, 0.0, prompt, ctx, prompt) + mixed
    per_out = out_gpu_s + in_gpu_s * prompt / output  # GPU-s per output token, prefill included
    share = in_gpu_s * prompt / output / per_out if disaggregated else 0.0
    kv = b * ctx * inst.kv_bytes_per_token() / n
    return ServeResult(
        tokens_per_s_per_gpu=1.0 / per_out,
        input_tokens_per_s_per_gpu=prompt / output / per_out,
        tpot_s=tpot,
        ttft_s=ttft,
        batch=b,
        gpus_per_instance=n,
        mode="disaggregated" if disaggregated else "chunked",
        prefill_gpu_share=share,
        gpu_s_per_input_token=in_gpu_s,
        gpu_s_per_output_token=out_gpu_s,
        weights_gb_per_gpu=inst.weights_bytes_per_gpu() / 1e9,
        kv_gb_per_gpu=kv / 1e9,
        hbm_gb=inst.gpu.hbm_gb,
        experts_touched=m.experts_touched(b),
    )


def _meets(r: ServeResult, t: Targets) -> bool:
    lim = t.tpot_limit
    return (lim is None or r.tpot_s <= lim) and (t.ttft_s is None or r.ttft_s <= t.ttft_s)


def _instances(model, g, precision, sizes, kv_bytes, ctx, fit) -> list[tuple[Instance, int]]:
    out = []
    for n in sizes:
        inst = make_instance(model, g, n, precision, kv_bytes, fit.reserve_gb)
        b_max = min(MAX_BATCH, inst.max_sequences(ctx))
        if b_max >= 1:
            out.append((inst, b_max))
    return out


def _setup(model, gpu, precision, prompt, output, gpus_per_instance, kv_bytes, fit):
    g = lookup(gpu)
    check_precision(g, precision)
    if kv_bytes is None:
        kv_bytes = 1.0 if precision in ("fp8", "fp4") else 2.0  # FP8 KV cache with FP8/FP4
    sizes = (
        [gpus_per_instance] if gpus_per_instance else candidate_sizes(model, g.nvlink_domain_gpus)
    )
    found = _instances(model, g, precision, sizes, kv_bytes, prompt + output / 2.0, fit)
    if not found:
        what = (
            f"{gpus_per_instance} GPUs"
            if gpus_per_instance
            else f"any instance of up to {max(sizes)} GPUs"
        )
        raise InputError.single(
            "serving.gpus_per_instance" if gpus_per_instance else "model.params",
            f"weights + KV cache of one sequence do not fit {what} of {g.name} "
            f"({g.hbm_gb:.0f} GB HBM each)",
            model.params,
        )
    return found


def serve(
    model: ServedModel,
    gpu: str,
    precision: ServePrecision,
    prompt_tokens: int,
    output_tokens: int,
    scenario: str = "offline",
    batch: int | None = None,
    tpot_s: float | None = None,
    gpus_per_instance: int | None = None,
    ttft_s: float | None = None,
    tokens_per_s_per_user: float | None = None,
    disaggregated: bool = False,
    kv_bytes: float | None = None,
    fit: Fit = FITTED,
) -> ServeResult:
    """The best (instance size, batch) meeting the targets; without one, the offline maximum.
    `batch` caps the batch; scenario "server" books MLPerf-style Poisson load (SERVER_LOAD)."""
    targets = Targets(tpot_s, ttft_s, tokens_per_s_per_user)
    best: ServeResult | None = None
    for inst, b_max in _setup(
        model, gpu, precision, prompt_tokens, output_tokens, gpus_per_instance, kv_bytes, fit
    ):
        hi = min(b_max, batch) if batch else b_max

        def at(b: int, inst: Instance = inst) -> ServeResult:
            return _point(inst, fit, b, prompt_tokens, output_tokens, disaggregated)

        r = at(hi)
        if not _meets(r, targets):  # latency rises with batch: bisect the largest that meets
            lo = 1
            if not _meets(at(lo), targets):
                continue
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _meets(at(mid), targets):
                    lo = mid
                else:
                    hi = mid
            r = at(lo)
        if best is None or r.tokens_per_s_per_gpu > best.tokens_per_s_per_gpu:
            best = r
    if best is None:
        got = {k: v for k, v in asdict(targets).items() if v is not None}
        raise InputError.single(
            "serving", "no instance size and batch meets the latency targets (even batch 1)", got
        )
    if scenario == "server":
        s = C.SERVER_LOAD
        best = _scaled(best, s)
    return best


def _scaled(r: ServeResult, s: float) -> ServeResult:
    d = asdict(r)
    d["tokens_per_s_per_gpu"] *= s
    d["input_tokens_per_s_per_gpu"] *= s
    return ServeResult(**d)


def pareto(
    model: ServedModel,
    gpu: str,
    precision: ServePrecision,
    prompt_tokens: int,
    output_tokens: int,
    gpus_per_instance: int | None = None,
    disaggregated: bool = False,
    kv_bytes: float | None = None,
    fit: Fit = FITTED,
) -> list[ServeResult]:
    """Throughput vs interactivity: the points no other point beats on both tokens/s per GPU
    and tokens/s per user, over every instance size and batches in powers of sqrt(2)."""
    pts = []
    for inst, b_max in _setup(
        model, gpu, precision, prompt_tokens, output_tokens, gpus_per_instance, kv_bytes, fit
    ):
        bs = sorted({min(b_max, max(1, round(2 ** (i / 2)))) for i in range(0, 2 * 17)})
        pts += [_point(inst, fit, b, prompt_tokens, output_tokens, disaggregated) for b in bs]
    pts.sort(key=lambda r: (-r.tokens_per_s_per_user, -r.tokens_per_s_per_gpu))
    front, best = [], -math.inf
    for r in pts:
        if r.tokens_per_s_per_gpu > best:
            front.append(r)
            best = r.tokens_per_s_per_gpu
    return front


def tokens_per_s_per_gpu(
    model: ServedModel,
    gpu: str,
    precision: ServePrecision,
    prompt_tokens: int,
    output_tokens: int,
    scenario: str = "offline",
    batch: int | None = None,
    tpot_s: float | None = None,
) -> float:
    """Output tokens/s per GPU (see `serve`)."""
    return serve(
        model, gpu, precision, prompt_tokens, output_tokens, scenario, batch, tpot_s
    ).tokens_per_s_per_gpu


def served_model(t) -> ServedModel:
    """The ServedModel of a `[model]` / `[serving.model]` table (sim.spec.workload)."""
    return ServedModel(
        t.params,
        t.layers,
        t.hidden,
        t.heads,
        t.kv_heads,
        t.active_params,
        t.experts,
        t.top_k,
        t.kv_lora_rank,
        t.head_dim,
    )


def serve_table(model_table, s, gpu_name: str) -> ServeResult:
    """`serve` for a model table and a serving table (a serve file's `[serving]` or a
    workload's `[[serving]]`): its request shape, instance size and latency targets (ms)."""
    ms = 1e-3
    return serve(
        served_model(model_table),
        gpu_name,
        s.precision,
        s.prompt_tokens,
        s.output_tokens,
        tpot_s=s.tpot_ms * ms if s.tpot_ms else None,
        ttft_s=s.ttft_ms * ms if s.ttft_ms else None,
        tokens_per_s_per_user=s.tokens_per_s_per_user,
        gpus_per_instance=s.gpus_per_instance,
        disaggregated=s.disaggregated,
    )
