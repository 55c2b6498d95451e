"""Benchmark: build the full Memphis campus (arrays, then the switch-level networkx graph).

Run: python benchmarks/bench_topology.py  -> prints a table, writes benchmarks/results/topology.json
"""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from sim.topology import load_topology

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> dict:
    files = [ROOT / "topologies/colossus1.toml", ROOT / "topologies/colossus2.toml"]
    rss0 = rss_mb()
    t0 = time.perf_counter()
    topo = load_topology(files)
    t1 = time.perf_counter()
    graph = topo.graph
    t2 = time.perf_counter()
    queries = 20_000
    pools = topo.pools
    for i in range(queries):
        pool = pools[i % len(pools)]
        topo.span([pool.name], 1 + (i * 7919) % pool.gpus)
    t3 = time.perf_counter()
    result = {
        "gpus": sum(p.gpus for p in topo.pools),
        "domains": topo.domains,
        "graph_nodes": graph.number_of_nodes(),
        "graph_edges": graph.number_of_edges(),
        "load_s": round(t1 - t0, 3),
        "graph_build_s": round(t2 - t1, 3),
        "graph_peak_rss_mb_added": round(rss_mb() - rss0, 1),
        "span_queries_per_s": round(queries / (t3 - t2)),
    }
    for k, v in result.items():
        print(f"{k:>26}  {v:,}")
    out = ROOT / "benchmarks/results/topology.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
