"""Mean wait of one synthetic trace under strict FIFO on a GPU-granular pool (H100 PCIe: 1-GPU
NVLink domains) and on as many GPUs as 8-GPU HGX nodes with `consolidate` and `spread` packing.

Usage: ``python scripts/packing_wait.py GPUS LOAD JOBS SIZES`` e.g.
``python scripts/packing_wait.py 128 0.9 20000 1,1,1,1,1,1,2,2,4,8``: Poisson arrivals at LOAD
x GPUS / mean size per hour, exponential 1 h durations, sizes drawn uniformly from SIZES (repeat
a size to weight it). Runs go to a temporary folder; prints the mean waits in hours.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

from sim.traces import poisson_trace
from tests.test_replay import replay


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    gpus, load, n = int(argv[0]), float(argv[1]), int(argv[2])
    sizes = tuple(int(x) for x in argv[3].split(","))
    rate = load * gpus / (sum(sizes) / len(sizes))
    table = poisson_trace(n, rate, 1.0, gpus=sizes, seed=7)
    days = math.ceil(n / rate / 24 * 1.5) + 10
    waits = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, topo, pool, params in (
            ("gpu-granular", "pcie.toml", "pcie", "{}"),
            ("consolidate", "hgx.toml", "hgx", "{}"),
            ("spread", "hgx.toml", "hgx", '{ placement = "spread" }'),
        ):
            folder = Path(tmp) / label
            folder.mkdir()
            jobs, _ = replay(folder, table, topo, pool, gpus, days=days, policy=params)
            waits[label] = float(jobs.waiting_hours.mean())
            print(f"{label}: mean wait {waits[label]:.4f} h", flush=True)
    base = waits["gpu-granular"]
    if base > 0:
        print(
            "ratio to gpu-granular: " + ", ".join(f"{k} {v / base:.2f}" for k, v in waits.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
