"""How many configurations the performance model evaluates per second on one core.

Run: python benchmarks/bench_perf.py   (prints a table, writes benchmarks/results/perf.json)
Every call is on a distinct input (no caching involved); the engine calls `step` in its hot path.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

from sim.hardware import gpu
from sim.perf import (
    Parallelism,
    Placement,
    ServedModel,
    Training,
    TrainJob,
    memory,
    step,
    tokens_per_s_per_gpu,
)
from sim.perf.shapes import LLAMA3_70B

OUT = Path(__file__).resolve().parent / "results" / "perf.json"
SERVED = ServedModel(params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8)


def jobs(n: int) -> list[TrainJob]:
    """n distinct training jobs (layouts and batches vary)."""
    out = []
    layouts = [(8, 4, 1, 5), (4, 8, 1, 5), (8, 2, 2, 1), (2, 4, 1, 2), (8, 8, 1, 1)]
    i = 0
    while len(out) < n:
        tp, pp, cp, vp = layouts[i % len(layouts)]
        dp = 2048 // (tp * pp * cp)
        out.append(
            TrainJob(
                LLAMA3_70B, Training(dp * (1 + i // len(layouts))), Parallelism(tp, pp, dp, cp, vp)
            )
        )
        i += 1
    return out


def rate(fn, items, repeat: int = 3) -> float:
    """Items per second, best of `repeat` passes (the machine is shared: the best pass is the
    one least disturbed by other processes)."""
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in items:
            fn(x)
        best = max(best, len(items) / (time.perf_counter() - t0))
    return best


def rates(n: int = 10_000) -> dict[str, int]:
    """Configurations per second for each case."""
    js = jobs(n)
    h100 = Placement.single("H100", 2048)
    mix_u = Placement.mix({"H100": 1024, "H200": 512, "GB200": 512}, "uniform")
    mix_p = Placement.mix({"H100": 1024, "H200": 512, "GB200": 512}, "proportional")
    g = gpu("H100")
    cases = {
        "training step, one GPU type": rate(lambda j: step(j, h100), js),
        "training step, 3-type mix, uniform": rate(lambda j: step(j, mix_u), js[: n // 2]),
        "training step, 3-type mix, proportional": rate(lambda j: step(j, mix_p), js[: n // 2]),
        "memory fit only": rate(lambda j: memory(j, g), js),
        "inference tokens/s/GPU": rate(
            lambda b: tokens_per_s_per_gpu(SERVED, "H100", "fp8", 294, 292, batch=b),
            list(range(1, n // 4)),
        ),
    }
    return {k: round(v) for k, v in cases.items()}


def main() -> int:
    cases = rates()
    width = max(map(len, cases))
    print(f"{'case':{width}s}  configs/s")
    for name, r in cases.items():
        print(f"{name:{width}s}  {r:10,.0f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "configs_per_s": cases,
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "target_configs_per_s": 10_000,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
