"""Benchmark: the default scenario end to end (3.4 simulated years of the Memphis campus).

Run: python benchmarks/bench_engine.py [SCENARIO]  -> prints a table, writes
benchmarks/results/engine.json. Reports wall time, peak memory and SimPy events per second.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from sim.runner import run

ROOT = Path(__file__).resolve().parent.parent


def main(scenario: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, manifest = run(scenario, out=tmp)
        total_s = time.perf_counter() - t0
    result = {
        "scenario": manifest["scenario"],
        "wall_s_total": round(total_s, 3),
        "wall_s_simulation": manifest["wall_s"],
        "events": manifest["events"],
        "events_per_s": manifest["events_per_s"],
        "scheduling_passes": manifest["scheduling_passes"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows": manifest["rows"],
    }
    for k, v in result.items():
        print(f"{k:>20}  {v}")
    out = ROOT / "benchmarks/results/engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs/memphis.toml")
