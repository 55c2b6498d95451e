"""Benchmark: replay a 70,000-job trace (the size of Microsoft's ITP/ElasticFlow trace, 69,351
jobs) on 64 HGX nodes with FIFO, the load set so that the queue stays busy without growing
without bound.

Run: python benchmarks/bench_replay.py  -> prints a table, writes benchmarks/results/replay.json.
Jobs: Poisson arrivals, exponential durations (mean 1 h), sizes 1-32 GPUs; a job holds whole
8-GPU nodes, so the load is counted in nodes: rho = arrivals x mean nodes per job x 1 h / 64.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sim.runner import run
from sim.trace_file import write_trace
from sim.traces import poisson_trace

HERE = Path(__file__).resolve().parent
SIZES = (1, 1, 2, 4, 8, 16, 32)
NODES = 64


def measure(n: int = 70_000, rho: float = 0.8, seed: int = 1) -> dict:
    nodes_per_job = np.mean([math.ceil(g / 8) for g in SIZES])
    rate = rho * NODES / nodes_per_job  # jobs per hour
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_trace(d / "trace.parquet", poisson_trace(n, rate, 1.0, gpus=SIZES, seed=seed))
        (d / "w.toml").write_text(
            '[[traces]]\nname = "bench"\nfile = "trace.parquet"\nstart = 2026-01-01\n'
            'pools = ["hgx"]\n'
        )
        days = math.ceil(n / rate / 24 * 1.5) + 30
        end = np.datetime64("2026-01-01") + np.timedelta64(days, "D")
        (d / "s.toml").write_text(
            f'name = "replay-bench"\nseed = 1\nworkloads = ["w.toml"]\n'
            f"[horizon]\nstart = 2026-01-01\nend = {end}\n"
            f'[[sites]]\ntopology = "{HERE / "data/replay-hgx.toml"}"\n'
            '[policy]\nkind = "fifo"\n[failures]\nenabled = false\n'
        )
        t0 = time.perf_counter()
        out, m = run(d / "s.toml", out=d / "out")
        total = time.perf_counter() - t0
        jobs = pq.read_table(out / "jobs.parquet", columns=["state", "waiting_hours"]).to_pandas()
    finished = int((jobs.state == "finished").sum())
    return {
        "jobs": n,
        "finished": finished,
        "node_load": rho,
        "mean_wait_h": round(float(jobs.waiting_hours.mean()), 3),
        "wall_s_simulation": m["wall_s"],
        "wall_s_total": round(total, 3),
        "events": m["events"],
        "events_per_s": m["events_per_s"],
        "jobs_per_s": round(n / m["wall_s"]),
        "scheduling_passes": m["scheduling_passes"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> dict:
    result = measure()
    for k, v in result.items():
        print(f"{k:>20}  {v}")
    out = HERE / "results/replay.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(main() and 0)
