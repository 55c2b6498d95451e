"""The fitted serving constants, read once from sim/data/inference_fit.toml (written by the
documented fit in `sim.perf.inference_calibration`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim.perf.inference import Fit

FIT_PATH = Path(__file__).resolve().parents[1] / "data" / "inference_fit.toml"
NAMES = ("gemm_eff", "layer_overhead_us", "seq_overhead_us", "moe_token_ns", "reserve_gb")


def load(path: Path = FIT_PATH) -> Fit:
    raw = tomllib.loads(path.read_text())
    return Fit(**{k: float(raw[k]) for k in NAMES})


def dump(fit: Fit, path: Path = FIT_PATH) -> None:
    head = [line for line in path.read_text().splitlines() if line.startswith("#")]
    body = [f"{k} = {getattr(fit, k):.6g}" for k in NAMES]
    path.write_text("\n".join(head + body) + "\n")


FITTED = load()
