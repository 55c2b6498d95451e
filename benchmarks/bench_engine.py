"""Benchmark: the default scenario end to end (3.4 simulated years of the Memphis campus).

Run: python benchmarks/bench_engine.py [SCENARIO]  -> prints the figures, writes
benchmarks/results/engine.json. Reports wall time, peak memory, SimPy events and the changes the
run applied: SimPy events plus the domain failures and repairs applied between events (these
were SimPy events once; `benchmarks/run_all.py` states the cost of each as a ratio to bare
SimPy's cost per request/release event).
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(scenario: Path = ROOT / "runs/memphis.toml", tables: dict | None = None) -> dict:
    """One run of `scenario` (with `tables` replacing whole tables of it) in a temporary folder."""
    from sim.runner import run

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _, m = run(scenario, out=tmp, tables=tables)
        total_s = time.perf_counter() - t0
    failures = int(m["kpis"].get("failures.total", 0))
    return {
        "scenario": m["scenario"],
        "wall_s_total": round(total_s, 3),
        "wall_s_simulation": m["wall_s"],
        "events": m["events"],
        "events_per_s": m["events_per_s"],
        "failures": failures,
        # every failure is repaired unless the horizon comes first: 2 changes per failure is
        # the count to within the repairs still open at the end
        "changes": m["events"] + 2 * failures,
        "scheduling_passes": m["scheduling_passes"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rows": m["rows"],
    }


def main(scenario: Path) -> dict:
    result = measure(scenario)
    for k, v in result.items():
        print(f"{k:>20}  {v}")
    out = ROOT / "benchmarks/results/engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs/memphis.toml")
