"""Every benchmark, one command: `python benchmarks/run_all.py [--only NAME ...]`.

Each benchmark runs in a fresh child process (so peak memory is its own) and measures bare
SimPy in that same process right after (`simpy_baseline.py`), so every figure is also a ratio
to what SimPy itself does on this machine at that moment. Prints one table and writes
benchmarks/results/<name>.json and benchmarks/results/summary.json. Not part of the test run.

Benchmarks:
- engine: the default scenario (runs/memphis.toml, 3.4 years, failures on): wall time, peak
  memory, model events/s; ratio = model events/s over SimPy request/release events/s.
- replay: a 70,000-job trace on 64 HGX nodes (bench_replay.py): jobs/s; ratio = jobs/s over the
  customers/s of a bare SimPy M/M/c queue with the same number of customers.
- replay60d: a 60-day trace of ~16k jobs of 1-64 GPUs on 128 HGX nodes with packing.
- perf: perf-model configurations/s (bench_perf.py); ratio over SimPy timeouts/s (a scale).
- scaling (opt-in: `--only scaling`, minutes): replay jobs/s at 10k, 100k and 1M jobs (the
  70k benchmark's load) with peak memory, and the default campus's wall time at 1x, 2x and 4x
  its GPUs (every phase scaled), so that cost growth with work shows (it should be linear).
  `--scale-jobs 10000,100000` and `--scale-gpus 1,2` choose the points.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

GOALS = {  # issue 15's
    "engine_wall_s": 8.0,  # the 3-year campus on one core
    "engine_peak_rss_mb": 300.0,
    "replay_jobs_per_s": 30_000,  # the 70k benchmark and the 60-day trace
    "cli_help_and_validate_s": 0.5,  # whole process
    "event_cost_x_simpy": 2.0,  # time per model event / time per SimPy request-release event
}


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _campus(k: int) -> dict:
    """The default scenario with every phase's GPUs times `k`."""
    import tempfile

    from sim.runner import run
    from sim.spec.scenario import load_scenario
    from sim.topology import scenario_topology

    sc, _ = load_scenario(ROOT / "runs/memphis.toml")
    topo = scenario_topology(sc)
    sites = []
    for site in sc.sites:
        d = site.model_dump()
        names = {ph.name for ph in topo.phases}
        from sim.spec.base import load
        from sim.spec.topology import TopologyFile

        tf = load(TopologyFile, site.topology)
        d["phase_gpus"] = {
            ph.name: k * site.phase_gpus.get(ph.name, ph.gpus)
            for ph in tf.phases
            if ph.name in names
        }
        sites.append(d)
    with tempfile.TemporaryDirectory() as tmp:
        _, m = run(ROOT / "runs/memphis.toml", out=tmp, tables={"sites": sites})
    return {
        "gpu_scale": k,
        "wall_s_simulation": m["wall_s"],
        "events": m["events"],
        "events_per_s": m["events_per_s"],
        "peak_rss_mb": _rss_mb(),
    }


def child(name: str) -> dict:
    """Run one benchmark, then bare SimPy, in this process; return both."""
    import simpy_baseline

    if name == "engine":
        import tempfile

        from sim.runner import run

        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _, m = run(ROOT / "runs/memphis.toml", out=tmp)
            total = time.perf_counter() - t0
        result = {
            "scenario": m["scenario"],
            "wall_s_total": round(total, 3),
            "wall_s_simulation": m["wall_s"],
            "events": m["events"],
            "events_per_s": m["events_per_s"],
            "scheduling_passes": m["scheduling_passes"],
            "peak_rss_mb": _rss_mb(),
            "rows": m["rows"],
        }
    elif name == "replay":
        import bench_replay

        result = bench_replay.measure()
    elif name == "replay60d":
        import bench_replay

        result = bench_replay.measure60d()
    elif name.startswith("scaling-replay:"):
        import bench_replay

        result = bench_replay.measure(int(name.split(":")[1]))
    elif name.startswith("scaling-campus:"):
        result = _campus(int(name.split(":")[1]))
    elif name == "perf":
        import bench_perf

        result = {"configs_per_s": bench_perf.rates()}
    else:
        raise SystemExit(f"unknown benchmark {name!r}")
    result["simpy"] = simpy_baseline.measure()
    return result


def ratios(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    """Table rows: (benchmark, figure, value, ratio to bare SimPy)."""
    sp = r["simpy"]
    rr, to = sp["request_release"], sp["timeouts"]
    rows = []
    if name == "engine":
        cost = rr["events_per_s"] / r["events_per_s"]
        rows += [
            (
                "engine",
                "wall s (simulation / total)",
                f"{r['wall_s_simulation']:.1f} / {r['wall_s_total']:.1f}",
                "",
            ),
            ("engine", "peak RSS MB", f"{r['peak_rss_mb']:.0f}", ""),
            (
                "engine",
                "model events/s",
                f"{r['events_per_s']:,}",
                f"{r['events_per_s'] / rr['events_per_s']:.3f} of SimPy req/rel "
                f"({cost:.1f}x its cost per event); "
                f"{r['events_per_s'] / to['events_per_s']:.3f} of SimPy timeouts",
            ),
        ]
    elif name == "replay":
        rows += [
            ("replay", "jobs", f"{r['jobs']:,} ({r['finished']:,} finished)", ""),
            ("replay", "wall s (simulation)", f"{r['wall_s_simulation']:.1f}", ""),
            (
                "replay",
                "jobs/s",
                f"{r['jobs_per_s']:,}",
                f"{r['jobs_per_s'] / rr['customers_per_s']:.3f} of SimPy M/M/c customers/s",
            ),
            (
                "replay",
                "model events/s",
                f"{r['events_per_s']:,}",
                f"{r['events_per_s'] / rr['events_per_s']:.3f} of SimPy req/rel "
                f"({rr['events_per_s'] / r['events_per_s']:.1f}x its cost per event)",
            ),
            ("replay", "peak RSS MB", f"{r['peak_rss_mb']:.0f}", ""),
        ]
    elif name == "replay60d":
        rows += [
            ("replay60d", "jobs", f"{r['jobs']:,} ({r['finished']:,} finished)", ""),
            ("replay60d", "wall s (simulation)", f"{r['wall_s_simulation']:.1f}", ""),
            (
                "replay60d",
                "jobs/s",
                f"{r['jobs_per_s']:,}",
                f"{r['jobs_per_s'] / rr['customers_per_s']:.3f} of SimPy M/M/c customers/s",
            ),
            ("replay60d", "mean wait h", f"{r['mean_wait_h']}", ""),
        ]
    elif name.startswith("scaling-replay:"):
        rows.append(
            (
                "scaling",
                f"replay {r['jobs']:,} jobs: jobs/s, peak MB",
                f"{r['jobs_per_s']:,}, {r['peak_rss_mb']:.0f}",
                f"{r['jobs_per_s'] / rr['customers_per_s']:.3f} of SimPy M/M/c customers/s",
            )
        )
    elif name.startswith("scaling-campus:"):
        rows.append(
            (
                "scaling",
                f"campus {r['gpu_scale']}x GPUs: wall s, peak MB",
                f"{r['wall_s_simulation']:.1f}, {r['peak_rss_mb']:.0f}",
                f"{r['events_per_s'] / rr['events_per_s']:.3f} of SimPy req/rel events/s",
            )
        )
    elif name == "perf":
        for case, v in r["configs_per_s"].items():
            rows.append(
                (
                    "perf",
                    f"{case} configs/s",
                    f"{v:,}",
                    f"{v / to['events_per_s']:.3f} of SimPy timeouts/s",
                )
            )
    rows += [
        (name, "SimPy timeouts events/s", f"{to['events_per_s']:,}", "1"),
        (
            name,
            "SimPy req/rel events/s (customers/s)",
            f"{rr['events_per_s']:,} ({rr['customers_per_s']:,})",
            "1",
        ),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--only", action="append", choices=["engine", "replay", "replay60d", "perf", "scaling"]
    )
    ap.add_argument("--scale-jobs", default="10000,100000,1000000")
    ap.add_argument("--scale-gpus", default="1,2,4")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    names = []
    for name in args.only or ["engine", "replay", "replay60d", "perf"]:
        if name == "scaling":
            names += [f"scaling-replay:{n}" for n in args.scale_jobs.split(",") if n]
            names += [f"scaling-campus:{k}" for k in args.scale_gpus.split(",") if k]
        else:
            names.append(name)
    results, table = {}, []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, cwd=ROOT
        )
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results[name] = r
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name.replace(':', '-')}.json").write_text(json.dumps(r, indent=2) + "\n")
        table += ratios(name, r)
    header = ("benchmark", "figure", "value", "ratio to bare SimPy")
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(3)]
    print(
        f"{header[0]:{widths[0]}}  {header[1]:{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]}"
    )
    for b, fig, val, ratio in table:
        print(f"{b:{widths[0]}}  {fig:{widths[1]}}  {val:>{widths[2]}}  {ratio}")
    summary = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "goals": GOALS,
        "results": results,
    }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS}/summary.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
