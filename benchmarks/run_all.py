"""Every benchmark, one command: `python benchmarks/run_all.py [--only NAME ...]`.

Each benchmark runs in a fresh child process (so peak memory is its own) and measures bare
SimPy in that same process before and after it, keeping the faster (`simpy_baseline.py`), so
every figure is also a ratio to what SimPy itself does on this machine at that moment. Prints one table and writes
benchmarks/results/<name>.json and benchmarks/results/summary.json. Not part of the test run.

Benchmarks:
- engine: the default scenario (runs/memphis.toml, 3.4 years, failures on): wall time, peak
  memory, and the changes it applied (SimPy events, plus the domain failures and repairs
  applied between events); ratios: wall time over bare SimPy's M/M/c run, and time per change
  over SimPy's time per request/release event.
- replay: a 70,000-job trace on 64 HGX nodes (bench_replay.py): jobs/s; ratio = jobs/s over the
  customers/s of a bare SimPy M/M/c queue with the same number of customers.
- replay60d: a 60-day trace of ~16k jobs of 1-64 GPUs on 128 HGX nodes with packing.
- startup: whole-process wall time of `sim --help` and `sim validate runs/memphis.toml`, best
  of 5 (ratio: to a bare `python -c pass`).
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
    # ours, not the ("within a small factor of SimPy's floor"): time per change over
    # time per SimPy request/release event
    "change_cost_x_simpy": 2.0,
}


def _campus(k: int) -> dict:
    """The default scenario with every phase's GPUs times `k`."""
    import bench_engine

    from sim.spec.base import load
    from sim.spec.scenario import load_scenario
    from sim.spec.topology import TopologyFile

    sc, _ = load_scenario(ROOT / "runs/memphis.toml")
    sites = []
    for site in sc.sites:
        phases = load(TopologyFile, site.topology).phases
        d = site.model_dump()
        d["phase_gpus"] = {ph.name: k * site.phase_gpus.get(ph.name, ph.gpus) for ph in phases}
        sites.append(d)
    r = bench_engine.measure(tables={"sites": sites})
    r["gpu_scale"] = k
    return r


def _per_change(r: dict, rr: dict) -> float:
    """Wall time per change of a campus run over bare SimPy's time per request/release event."""
    return r["wall_s_simulation"] / r["changes"] * rr["events_per_s"]


def _startup() -> dict:
    """Whole-process wall time (best of 5) of `sim --help` and `sim validate runs/memphis.toml`,
    and of a bare `python -c pass` (the interpreter's own start)."""
    cmds = {
        "python_pass": [sys.executable, "-c", "pass"],
        "sim_help": [sys.executable, "-m", "sim", "--help"],
        "sim_validate": [sys.executable, "-m", "sim", "validate", "runs/memphis.toml"],
    }
    out = {}
    for key, cmd in cmds.items():
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
            best = min(best, time.perf_counter() - t0)
        out[f"{key}_s"] = round(best, 3)
    return out


def child(name: str) -> dict:
    """Run one benchmark, and bare SimPy before and after it in this process (the faster of
    the two: a load that slows the machine for a while moves the ratio less); return both."""
    import simpy_baseline

    before = simpy_baseline.measure()
    if name == "engine":
        import bench_engine

        result = bench_engine.measure()
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
    elif name == "startup":
        result = _startup()
    elif name == "perf":
        import bench_perf

        result = {"configs_per_s": bench_perf.rates()}
    else:
        raise SystemExit(f"unknown benchmark {name!r}")
    result["simpy"] = simpy_baseline.faster(before, simpy_baseline.measure())
    return result


def ratios(name: str, r: dict) -> list[tuple[str, str, str, str]]:
    """Table rows: (benchmark, figure, value, ratio to bare SimPy)."""
    sp = r["simpy"]
    rr, to = sp["request_release"], sp["timeouts"]
    rows = []
    if name == "engine":
        rows += [
            (
                "engine",
                "wall s (simulation / total)",
                f"{r['wall_s_simulation']:.1f} / {r['wall_s_total']:.1f}",
                f"{r['wall_s_simulation'] / rr['wall_s']:.1f}x SimPy's M/M/c of "
                f"{rr['customers']:,} customers",
            ),
            ("engine", "peak RSS MB", f"{r['peak_rss_mb']:.0f}", ""),
            (
                "engine",
                "changes (SimPy events + failures + repairs)",
                f"{r['events']:,} + 2 x {r['failures']:,}",
                f"{_per_change(r, rr):.1f}x SimPy's cost per request/release event",
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
                f"campus {r['gpu_scale']}x GPUs: wall s, peak MB, changes",
                f"{r['wall_s_simulation']:.1f}, {r['peak_rss_mb']:.0f}, {r['changes']:,}",
                f"{_per_change(r, rr):.1f}x SimPy's cost per request/release event",
            )
        )
    elif name == "startup":
        for key, label in (("sim_help", "sim --help"), ("sim_validate", "sim validate memphis")):
            rows.append(
                (
                    "startup",
                    f"{label}: whole process s (best of 5)",
                    f"{r[key + '_s']:.3f}",
                    f"{r[key + '_s'] / r['python_pass_s']:.1f}x a bare `python -c pass`",
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
        "--only",
        action="append",
        choices=["engine", "replay", "replay60d", "startup", "perf", "scaling"],
    )
    ap.add_argument("--scale-jobs", default="10000,100000,1000000")
    ap.add_argument("--scale-gpus", default="1,2,4")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0
    names = []
    for name in args.only or ["engine", "replay", "replay60d", "startup", "perf"]:
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
    # the latest figure of every benchmark: a run of some of them keeps the others' figures
    try:
        earlier = json.loads((RESULTS / "summary.json").read_text()).get("results", {})
    except (OSError, ValueError, AttributeError):
        earlier = {}
    summary = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "goals": GOALS,
        "results": {**earlier, **results},
    }
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS}/summary.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
