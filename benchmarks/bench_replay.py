"""Benchmark: trace replay with FIFO, two workloads.

- `bench` (the headline): a 70,000-job trace (the size of Microsoft's ITP/ElasticFlow trace,
  69,351 jobs) on 64 HGX nodes, sizes 1-32 GPUs, exponential 1 h durations, the load set so that
  the queue stays busy without growing without bound (rho = 0.8 counted in whole nodes).
- `trace60d`: a 60-day trace of ~16,000 jobs of 1-64 GPUs (three in four of 1 GPU, the shape of
  a public 60-day cluster log) on 128 HGX nodes (1,024 GPUs) with packing (jobs smaller than a
  node share nodes, larger ones span them), heavy-tailed durations (lognormal, median 0.5 h).

Run: python benchmarks/bench_replay.py [JOBS]  -> prints the figures, writes
benchmarks/results/replay.json. `scenario(folder, ...)` writes a replay scenario that
benchmarks/profile.py and the scaling table reuse.
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

import sim  # noqa: F401  (before pyarrow, which loads lazily: sim picks Arrow's allocator)

HERE = Path(__file__).resolve().parent
SIZES = (1, 1, 2, 4, 8, 16, 32)
NODES = 64


def _write(d: Path, table, gpus: int, days: int) -> Path:
    from sim.trace_file import write_trace

    write_trace(d / "trace.parquet", table)
    (d / "w.toml").write_text(
        '[[traces]]\nname = "bench"\nfile = "trace.parquet"\nstart = 2026-01-01\npools = ["hgx"]\n'
    )
    end = np.datetime64("2026-01-01") + np.timedelta64(days, "D")
    (d / "s.toml").write_text(
        f'name = "replay-bench"\nseed = 1\nworkloads = ["w.toml"]\n'
        f"[horizon]\nstart = 2026-01-01\nend = {end}\n"
        f'[[sites]]\ntopology = "{HERE / "data/replay-hgx.toml"}"\n'
        f"phase_gpus = {{ hgx = {gpus} }}\n"
        '[policy]\nkind = "fifo"\n[failures]\nenabled = false\n'
    )
    return d / "s.toml"


def scenario(d: Path, n: int = 70_000, rho: float = 0.8, seed: int = 1) -> Path:
    """The 70k-job benchmark scenario (or `n` jobs at the same load) in folder `d`."""
    from sim.traces import poisson_trace

    # the load counted in whole nodes per job, as when every job held whole nodes (so the
    # figures compare with earlier runs; packing makes the GPU load lower, ~0.56)
    rate = rho * NODES / np.mean([math.ceil(g / 8) for g in SIZES])  # jobs per hour
    days = math.ceil(n / rate / 24 * 1.5) + 30
    return _write(d, poisson_trace(n, rate, 1.0, gpus=SIZES, seed=seed), NODES * 8, days)


def trace60d(n: int = 16_000, nodes: int = 128, seed: int = 1):
    """~16k jobs over 60 days: 1-64 GPUs (75% 1 GPU), lognormal durations (median 0.5 h,
    sigma 2, capped at 10 days): the shape of a public 60-day GPU-cluster log."""
    import pyarrow as pa

    from sim.traces import SCHEMA

    rng = np.random.default_rng(seed)
    sizes = np.array([1, 2, 4, 8, 16, 32, 64])
    p = np.array([0.75, 0.08, 0.06, 0.06, 0.03, 0.015, 0.005])
    submit = np.round(np.sort(rng.uniform(0, 60 * 86400.0, n)), 6)
    duration = np.round(np.minimum(np.exp(rng.normal(math.log(1800.0), 2.0, n)), 864000.0), 6)
    return pa.table(
        {
            "job_id": pa.array([f"j{i}" for i in range(n)], pa.string()),
            "submit_s": submit,
            "duration_s": np.maximum(duration, 1e-6),
            "gpus": pa.array(rng.choice(sizes, n, p=p), pa.int64()),
            "gpu_model": pa.array([""] * n, pa.string()),
        },
        schema=SCHEMA,
    )


def scenario60d(d: Path, n: int = 16_000, nodes: int = 128) -> Path:
    return _write(d, trace60d(n, nodes), nodes * 8, 90)


def _run(path: Path, n: int) -> dict:
    import pyarrow.parquet as pq

    from sim.runner import run

    t0 = time.perf_counter()
    out, m = run(path, out=path.parent / "out")
    total = time.perf_counter() - t0
    jobs = pq.read_table(out / "jobs.parquet", columns=["state", "waiting_hours"]).to_pandas()
    return {
        "jobs": n,
        "finished": int((jobs.state == "finished").sum()),
        "mean_wait_h": round(float(jobs.waiting_hours.mean()), 3),
        "wall_s_simulation": m["wall_s"],
        "wall_s_total": round(total, 3),
        "events": m["events"],
        "events_per_s": m["events_per_s"],
        "jobs_per_s": round(n / m["wall_s"]),
        "scheduling_passes": m["scheduling_passes"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure(n: int = 70_000, rho: float = 0.8, seed: int = 1) -> dict:
    """The 70k-job benchmark."""
    with tempfile.TemporaryDirectory() as tmp:
        r = _run(scenario(Path(tmp), n, rho, seed), n)
    r["node_load"] = rho
    return r


def measure60d(n: int = 16_000) -> dict:
    """The 60-day trace on 128 HGX nodes with packing."""
    with tempfile.TemporaryDirectory() as tmp:
        return _run(scenario60d(Path(tmp), n), n)


def main(argv: list[str]) -> dict:
    result = measure(int(argv[0])) if argv else measure()
    for k, v in result.items():
        print(f"{k:>20}  {v}")
    out = HERE / "results/replay.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
