"""Serving calibration: compare the serving model with calibration/inference.csv, fit its five
constants, and measure how well it predicts sources it was not fitted to.

Procedure (written once, run by `python scripts/calibration_report.py --fit-inference`):
1. Each row is predicted like with like: `offline` rows at their published instance size (or the
   best one the model finds) with no latency target; `server` rows (MLPerf) at the benchmark's
   TTFT/TPOT bounds and SERVER_LOAD; `decode` / `prefill` rows as one pool of a disaggregated
   deployment, at the published batch where given.
2. The constants (gemm_eff, layer_overhead_us, seq_overhead_us, moe_token_ns, reserve_gb)
   minimise the sum of squared log errors log(model / reported) over all rows (scipy.optimize.least_squares, trust
   region reflective, within physical bounds, from a fixed start).
3. Leave-one-source-out: for each source (one publication: an MLPerf round, the TensorRT-LLM
   performance tables, one SGLang blog post) refit on the others and predict its rows; the mean
   absolute percentage error of those out-of-sample predictions is the headline. The same with
   whole publishers left out (MLPerf, NVIDIA TensorRT-LLM, SGLang) is reported beside it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from sim.perf.inference import Fit, ServedModel
from sim.perf.inference_fit import FITTED, NAMES
from sim.perf.serving import serve

ROOT = Path(__file__).resolve().parents[2]
INFERENCE_CSV = ROOT / "calibration" / "inference.csv"

# Served model shapes (model cards / papers): Llama 2 (Touvron et al. 2023), Llama 3.1/3.3 model
# cards, Qwen3 technical report and model cards (2025), Llama 4 model card (2025), DeepSeek-V3
# technical report (2024; MLA latent 512, 256 routed experts top-8; head_dim 160 = mean of its
# 192-wide keys and 128-wide values, for prefill attention FLOPs).
SHAPES: dict[str, ServedModel] = {
    "llama2-70b": ServedModel(70e9, 80, 8192, 64, 8),
    "llama3.3-70b": ServedModel(70.6e9, 80, 8192, 64, 8),
    "llama3.1-405b": ServedModel(405e9, 126, 16384, 128, 8),
    "qwen3-235b-a22b": ServedModel(235e9, 94, 4096, 64, 4, 22e9, 128, 8, None, 128),
    "qwen3-30b-a3b": ServedModel(30.5e9, 48, 2048, 32, 4, 3.3e9, 128, 8, None, 128),
    "llama4-maverick": ServedModel(400e9, 48, 5120, 40, 8, 17e9, 128, 1, None, 128),
    "deepseek-v3": ServedModel(671e9, 61, 7168, 128, 128, 37e9, 256, 8, 512, 160),
}
# MLPerf Inference server-scenario latency bounds (MLCommons rules: llama2-70b TTFT 2 s,
# TPOT 200 ms; llama3.1-405b TTFT 6 s, TPOT 175 ms; both at the 99th percentile).
SERVER_BOUNDS = {"llama2-70b": (2.0, 0.200), "llama3.1-405b": (6.0, 0.175)}
# Bounds of the fit: physical ranges of each constant.
LOWER = np.array([0.3, 0.0, 0.0, 0.0, 0.0])
UPPER = np.array([1.3, 300.0, 200.0, 20000.0, 40.0])
START = np.array([0.85, 20.0, 10.0, 50.0, 5.0])


@dataclass(frozen=True)
class Row:
    source: str
    publisher: str
    table: str
    model: str
    gpu: str
    precision: str
    mode: str
    prompt: int
    output: int
    gpus_per_instance: int | None
    batch: int | None
    kv_bytes: float | None
    metric: str
    reported: float  # per GPU

    @property
    def is_moe(self) -> bool:
        return SHAPES[self.model].is_moe

    @property
    def detail(self) -> str:
        n = f"{self.gpus_per_instance} GPUs" if self.gpus_per_instance else "size chosen"
        return f"{self.mode} {self.precision} {self.prompt}/{self.output} {n}"


def rows(path: Path = INFERENCE_CSV) -> list[Row]:
    text = "".join(line for line in path.open() if not line.startswith("#"))
    out = []
    for r in csv.DictReader(io.StringIO(text)):
        out.append(
            Row(
                r["source"],
                r["publisher"],
                r["table"],
                r["model"],
                r["gpu"],
                r["precision"],
                r["mode"],
                int(r["prompt_tokens"]),
                int(r["output_tokens"]),
                int(r["gpus_per_instance"]) if r["gpus_per_instance"] else None,
                int(r["batch"]) if r["batch"] else None,
                float(r["kv_bytes"]) if r["kv_bytes"] else None,
                r["metric"],
                float(r["reported"]) / float(r["reported_over_gpus"]),
            )
        )
    return out


def predict(r: Row, fit: Fit) -> float:
    """The model's figure for one row, like with like (see the module docstring)."""
    m = SHAPES[r.model]
    kw = dict(gpus_per_instance=r.gpus_per_instance, batch=r.batch, kv_bytes=r.kv_bytes, fit=fit)
    if r.mode in ("decode", "prefill"):
        res = serve(m, r.gpu, r.precision, r.prompt, r.output, disaggregated=True, **kw)
        gpu_s = res.gpu_s_per_output_token if r.mode == "decode" else res.gpu_s_per_input_token
        return 1.0 / gpu_s
    if r.mode == "server":
        ttft, tpot = SERVER_BOUNDS[r.model]
        res = serve(
            m, r.gpu, r.precision, r.prompt, r.output, "server", tpot_s=tpot, ttft_s=ttft, **kw
        )
        return res.tokens_per_s_per_gpu
    return serve(m, r.gpu, r.precision, r.prompt, r.output, **kw).tokens_per_s_per_gpu


def _residuals(x: np.ndarray, rs: list[Row]) -> np.ndarray:
    fit = Fit(*x)
    return np.array([math.log(predict(r, fit) / r.reported) for r in rs])


def fit(rs: list[Row] | None = None) -> Fit:
    """Step 2 of the procedure: least squares on log errors within the physical bounds."""
    rs = rows() if rs is None else rs
    sol = least_squares(
        _residuals, START, bounds=(LOWER, UPPER), args=(rs,), x_scale=START, diff_step=1e-3
    )
    return Fit(*(float(v) for v in sol.x))


def errors(rs: list[Row], f: Fit) -> list[float]:
    return [predict(r, f) / r.reported - 1.0 for r in rs]


def mape(errs: list[float]) -> float:
    return sum(abs(e) for e in errs) / len(errs)


def loso(rs: list[Row] | None = None, key: str = "source") -> dict[str, tuple[Fit, list[float]]]:
    """Step 3: per source (or publisher), the fit without it and the errors on its rows."""
    rs = rows() if rs is None else rs
    out = {}
    for name in sorted({getattr(r, key) for r in rs}):
        held = [r for r in rs if getattr(r, key) == name]
        f = fit([r for r in rs if getattr(r, key) != name])
        out[name] = (f, errors(held, f))
    return out


MEANING = {
    "gemm_eff": "serving GEMMs reach this fraction of the training GEMM efficiency "
    "(GEMM_EFF_MAX x this of the dense peak at the serving precision)",
    "layer_overhead_us": "fixed time per layer per engine step (kernel launches and tails, norms, "
    "all-reduce and sampling latency), microseconds",
    "seq_overhead_us": "host time per sequence per step on each scheduler (batching, sampling, "
    "detokenising), microseconds",
    "moe_token_ns": "time per token per layer of a mixture of experts on each GPU (routing, "
    "permutation, dispatch/combine bookkeeping), nanoseconds",
    "reserve_gb": "HBM per GPU held outside weights and KV cache (activations for the token "
    "budget, CUDA graphs, communication buffers), GB",
}


@cache
def loso_of_table(key: str) -> dict[str, tuple[Fit, list[float]]]:
    """`loso` over calibration/inference.csv, computed once per process (ten fits, ~20 s)."""
    return loso(rows(), key)


def _fmt(f: Fit) -> str:
    return " | ".join(f"{getattr(f, k):.3g}" for k in NAMES)


def section(f: Fit = FITTED) -> str:
    """The inference part of docs/calibration.md, as text."""
    rs = rows()
    errs = errors(rs, f)
    by_source = loso_of_table("source")
    by_pub = loso_of_table("publisher")
    out_src = [e for _, es in by_source.values() for e in es]
    out_pub = [e for _, es in by_pub.values() for e in es]
    moe_idx = [i for i, r in enumerate(rs) if r.is_moe]
    held = {}
    for name, (_, es) in by_source.items():
        for r, e in zip([r for r in rs if r.source == name], es, strict=True):
            held[id(r)] = e
    lines = [
        "## Inference",
        "",
        "Written by `sim.perf.inference_calibration.section` (procedure in its docstring): five",
        "constants fitted by `scipy.optimize.least_squares` on log(model / reported) over all",
        f"{len(rs)} rows of `calibration/inference.csv` ({len(moe_idx)} of them mixture-of-experts)",
        f"from {len(by_source)} sources ({len(by_pub)} publishers: {', '.join(by_pub)}). The",
        "headline is leave-one-source-out: each source predicted by constants fitted without it.",
        "",
        f"**Leave-one-source-out MAPE: {mape(out_src):.1%}** over {len(out_src)} rows"
        f" (mixture-of-experts rows {mape([held[id(rs[i])] for i in moe_idx]):.1%});"
        f" leave-one-publisher-out {mape(out_pub):.1%}; in-sample {mape(errs):.1%}"
        f" (mixture-of-experts rows {mape([errs[i] for i in moe_idx]):.1%}).",
        "",
        "| left out | rows | MAPE out of sample | " + " | ".join(NAMES) + " |",
        "|---|---:|---:|" + "---:|" * len(NAMES),
    ]
    for table in (by_source, by_pub):
        for name, (pf, es) in table.items():
            lines.append(f"| {name} | {len(es)} | {mape(es):.1%} | {_fmt(pf)} |")
    lines += ["", "Fitted on all rows (`sim/data/inference_fit.toml`):", ""]
    for k in NAMES:
        lines.append(f"- `{k}` = {getattr(f, k):.4g}: {MEANING[k]}.")
    lines += [
        "",
        "| source | model | GPU | table | mode | reported /GPU | model | error | out of sample |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for r, e in zip(rs, errs, strict=True):
        lines.append(
            f"| {r.source} | {r.model} | {r.gpu} | {r.table} | {r.detail} | {r.reported:,.0f} |"
            f" {r.reported * (1 + e):,.0f} | {e:+.1%} | {held[id(r)]:+.1%} |"
        )
    lines += [
        "",
        "Rows: `reported` per GPU is the published figure over the GPUs it covers; prefill rows",
        "are input tokens/s, all others output tokens/s. MLPerf server rows meet the benchmark's",
        "TTFT/TPOT bounds and carry `SERVER_LOAD`; decode/prefill rows are one pool of a",
        "disaggregated deployment measured alone. Reserved for independent validation and",
        "never used here: SemiAnalysis InferenceMAX/InferenceX, MLPerf DeepSeek-R1 and GB300",
        "results, and MLPerf Inference v6.0 onwards.",
        "",
    ]
    return "\n".join(lines)


def refit() -> Fit:
    """Fit on all rows and store the constants (the fit script's job)."""
    from sim.perf.inference_fit import dump

    f = fit()
    dump(f)
    return f
