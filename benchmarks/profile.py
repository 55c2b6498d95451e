"""Where a run spends its time: `python benchmarks/profile.py SCENARIO [--top N] [--cprofile]`.

SCENARIO is a scenario file (e.g. runs/memphis.toml) or one of the replay benchmarks
(`replay` = the 70k-job trace, `trace60d` = the 60-day trace on 128 HGX nodes; `replay:N` for N
jobs). Runs it once in this process under pyinstrument (the `bench` extra) or, without it or
with --cprofile, cProfile, and prints a table of the top functions by own time with their
cumulative time. Every speed claim in the notes rests on a table from this script.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file's name shadows the standard library's `profile` (which cProfile imports): keep its
# folder last on the path, for bench_replay only
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE] + [str(HERE)]


def _target(name: str, tmp: Path) -> Path:
    import bench_replay

    if name.startswith("replay"):
        n = int(name.split(":")[1]) if ":" in name else 70_000
        return bench_replay.scenario(tmp, n)
    if name.startswith("trace60d"):
        n = int(name.split(":")[1]) if ":" in name else 16_000
        return bench_replay.scenario60d(tmp, n)
    return Path(name)


def _simulate(path: Path, out: Path, seed: int | None) -> dict:
    from sim.runner import run

    _, m = run(path, out=out, seed=seed) if seed is not None else run(path, out=out)
    return m


def _rows_cprofile(fn) -> tuple[list[tuple[float, float, int, str]], float]:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.runcall(fn)
    wall = time.perf_counter() - t0
    st = pstats.Stats(prof)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():
        rows.append((tt, ct, nc, f"{func}  {_short(file)}:{line}"))
    return rows, wall


def _rows_pyinstrument(fn) -> tuple[list[tuple[float, float, int, str]], float]:
    from pyinstrument import Profiler

    prof = Profiler(interval=0.001)
    t0 = time.perf_counter()
    prof.start()
    fn()
    prof.stop()
    wall = time.perf_counter() - t0
    own: dict[str, float] = defaultdict(float)
    cum: dict[str, float] = defaultdict(float)
    hits: dict[str, int] = defaultdict(int)

    def walk(frame, above: frozenset) -> None:
        key = f"{frame.function}  {_short(frame.file_path or '')}:{frame.line_no}"
        if frame.file_path is None:  # pyinstrument's synthetic [self] / root frames
            for child in frame.children:
                walk(child, above)
            return
        own[key] += frame.total_self_time
        hits[key] += 1
        if key not in above:  # recursion: count a function's span once per stack
            cum[key] += frame.time
        for child in frame.children:
            walk(child, above | {key})

    root = prof.last_session.root_frame()
    if root is not None:
        walk(root, frozenset())
    return [(own[k], cum[k], hits[k], k) for k in own], wall


def _short(path: str) -> str:
    for mark in ("/sim/", "/site-packages/", "/lib/python"):
        if mark in path:
            return path[path.index(mark) + 1 :]
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--cprofile", action="store_true", help="use cProfile, not pyinstrument")
    args = ap.parse_args(argv)
    use_cprofile = args.cprofile
    if not use_cprofile:
        try:
            import pyinstrument  # noqa: F401
        except ImportError:
            use_cprofile = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = _target(args.scenario, tmp)
        result: dict = {}

        def fn():
            result.update(_simulate(path, tmp / "out", args.seed))

        rows, wall = (_rows_cprofile if use_cprofile else _rows_pyinstrument)(fn)
    tool = "cProfile" if use_cprofile else "pyinstrument"
    print(
        f"{args.scenario}: {wall:.2f} s under {tool} (simulation {result.get('wall_s', 0):.2f} s, "
        f"{result.get('events', 0):,} events, {result.get('scheduling_passes', 0):,} passes)"
    )
    print(
        f"{'own s':>8} {'own %':>6} {'cum s':>8} {'calls' if use_cprofile else 'frames':>9}  function"
    )
    for tt, ct, nc, name in sorted(rows, reverse=True)[: args.top]:
        print(f"{tt:8.3f} {100 * tt / wall:6.1f} {ct:8.3f} {nc:9,}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
