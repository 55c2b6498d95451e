"""Sweeps: a base scenario x axes x seeds, expanded and validated up front, run on any
`concurrent.futures.Executor` (local processes, Dask), resumable, into one hive-partitioned
Parquet dataset per table plus a summary of KPIs per run. See docs/sweeps.md.

Layout of `<out>/<sweep name>/`:
    sweep.json                                  the expanded plan (points, overrides, seeds)
    scenarios/<id>.toml                         each point as a complete scenario (`sim run` it)
    <table>/scenario=<id>/seed=<n>/part.parquet jobs, segments, leases, pools, serving, events, ...
    runs/scenario=<id>/seed=<n>/result.json     status, KPIs or error: written last (done marker)
    summary.parquet, summary.csv                one row per run: axes, status, KPIs
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import platform
import re
import shutil
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.errors import InputError, Problem
from sim.spec.base import load, read_toml, validate
from sim.spec.scenario import Scenario
from sim.spec.sweep import Axis, SweepFile, parse_path

if TYPE_CHECKING:  # imported where the results are tabled: expanding (`sim validate`) needs none
    import pandas as pd

META = "runs"  # folder of per-run metadata; every other folder with partitions is a table
RESERVED = {META, "scenarios", ".tmp"}


# -- overriding a scenario by dotted path ------------------------------------------------------


def set_path(data: dict, path: str, value: Any) -> dict:
    """A deep copy of `data` with the field at dotted `path` set to `value` (ValueError if the
    path cannot exist: an index past a list's end, a key under a non-table)."""
    out = copy.deepcopy(data)
    parts = parse_path(path)
    node: Any = out
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        where = _fmt(parts[:i]) or "the scenario"
        if isinstance(key, int):
            if not isinstance(node, list):
                raise ValueError(f"{where} is not a list")
            if key >= len(node):
                raise ValueError(f"{where} has {len(node)} items; no index {key}")
        elif not isinstance(node, dict):
            raise ValueError(f"{where} is not a table")
        if last:
            node[key] = copy.deepcopy(value)
        else:
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]
    return out


def _fmt(parts: Sequence[str | int]) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else ("." if s else "") + p
    return s


# -- writing TOML (the stdlib only reads it) ---------------------------------------------------

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _string(s: str) -> str:
    """A TOML basic string: any Unicode as itself (JSON's surrogate-pair escapes of emoji are
    not valid TOML), quotes, backslashes and control characters escaped."""
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, str | Path):
        return _string(str(v))
    if isinstance(v, dict):
        inner = ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items() if x is not None)
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: dict) -> str:
    """TOML text of a scenario-like dict: scalars first, then tables and arrays of tables."""
    lines = [
        f"{_key(k)} = {_value(v)}" for k, v in data.items() if not _is_table(v) and v is not None
    ]
    for k, v in data.items():
        if isinstance(v, dict) and _is_table(v):
            lines += ["", f"[{_key(k)}]"]
            lines += [f"{_key(a)} = {_value(b)}" for a, b in v.items() if b is not None]
        elif _is_table(v):
            for item in v:
                lines += ["", f"[[{_key(k)}]]"]
                lines += [f"{_key(a)} = {_value(b)}" for a, b in item.items() if b is not None]
    return "\n".join(lines) + "\n"


def _is_table(v: Any) -> bool:
    return isinstance(v, dict) or (
        isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)
    )


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One combination of axis values: its id, overrides (dotted path -> value), labels."""

    id: str
    index: int
    overrides: dict[str, Any]
    labels: dict[str, Any]  # axis column -> value (numbers) or label (other values)
    file: Path  # the complete scenario, written under scenarios/
    digest: str


@dataclass(frozen=True)
class Task:
    """One run: a point's scenario file with a seed; what `run_one` needs, picklable."""

    sweep_dir: str
    scenario_id: str
    seed: int
    scenario_file: str
    digest: str
    # (axis column, value) of the point: written into every table of the run, so the dataset
    # needs no join with summary.parquet to know a row's axis values
    labels: tuple[tuple[str, Any], ...] = ()


@dataclass
class Plan:
    sweep: SweepFile
    file: Path
    out_dir: Path
    points: list[Point]
    seeds: list[int]
    axes: list[Axis] = field(default_factory=list)

    def tasks(self, shard: tuple[int, int] | None = None) -> list[Task]:
        """Every run in a fixed order (point, then seed); with shard (i, n) every n-th from i."""
        out = [
            Task(str(self.out_dir), p.id, s, str(p.file), p.digest, tuple(p.labels.items()))
            for p in self.points
            for s in self.seeds
        ]
        if shard:
            i, n = shard
            out = [t for k, t in enumerate(out) if k % n == i]
        return out

    def axis_columns(self) -> list[str]:
        return [f"axis.{a.key}" for a in self.axes]


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _label(axis: Axis, i: int) -> Any:
    v = axis.all_values()[i]
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in axis.all_values())
    return float(v) if numeric and axis.labels is None else axis.label(i)


def expand(sweep_file: str | Path, out: str | Path | None = None) -> Plan:
    """Load a sweep file, check every axis value and every combination, and write the points'
    scenario files; raises InputError with every problem found (nothing has run yet)."""
    from sim.runner import prepare

    sweep_file = Path(sweep_file)
    sweep = load(SweepFile, sweep_file)
    base_file = sweep.scenario
    base = read_toml(base_file)
    ctx = {"base_dir": base_file.parent}
    out_dir = (Path(out) if out else sweep_file.parent / "out") / sweep.name
    problems: list[Problem] = []

    scen_dir = out_dir / "scenarios"

    def check(data: dict, where: str, value: Any, path: Path) -> Any:
        """Validate overridden data with everything it names (topologies, workloads, policy),
        writing it as a complete scenario file at `path`; problems are reported at `where`."""
        try:
            sc = validate(Scenario, data, file=base_file, context=ctx)
        except InputError as err:
            problems.extend(
                Problem(where, f"{p.path or '(scenario)'}: {p.message}", value, str(sweep_file))
                for p in err.problems
            )
            return None
        _write_text(path, header + to_toml(sc.model_dump()))
        try:
            return prepare(path)
        except InputError as err:
            problems.extend(
                Problem(where, f"{p.path or '(scenario)'}: {p.message}", value, str(sweep_file))
                for p in err.problems
            )
            return None

    header = f"# generated by sim sweep from {base_file}: every default filled, paths absolute\n"
    # Each axis value alone on the base: every bad value is reported, all at once.
    for i, axis in enumerate(sweep.axes):
        for j, v in enumerate(axis.all_values()):
            where = f"axes[{i}].values[{j}]" if axis.values is not None else f"axes[{i}].range"
            try:
                data = set_path(base, axis.path, v)
            except ValueError as err:
                problems.append(Problem(f"axes[{i}].path", str(err), axis.path, str(sweep_file)))
                break
            check(data, where, v, scen_dir / ".check.toml")
    (scen_dir / ".check.toml").unlink(missing_ok=True)
    if problems:
        raise InputError(problems)

    # The cartesian product, each combination validated with everything it names.
    values = [axis.all_values() for axis in sweep.axes]
    combos = _product([list(range(len(v))) for v in values])
    width = max(2, len(str(len(combos) - 1)))
    points: list[Point] = []
    for k, combo in enumerate(combos):
        data = base
        overrides = {}
        for axis, j in zip(sweep.axes, combo, strict=True):
            data = set_path(data, axis.path, axis.all_values()[j])
            overrides[axis.path] = _canonical(axis.all_values()[j])
        where = "axes: " + ", ".join(
            f"{a.key}={a.label(j)}" for a, j in zip(sweep.axes, combo, strict=True)
        )
        pid = f"s{k:0{width}d}"
        path = scen_dir / f"{pid}.toml"
        prep = check(data, where if sweep.axes else "scenario", overrides, path)
        if prep is None:
            continue
        labels = {f"axis.{a.key}": _label(a, j) for a, j in zip(sweep.axes, combo, strict=True)}
        points.append(Point(pid, k, overrides, labels, path, prep.digest()))
    if problems:
        raise InputError(problems)
    plan = Plan(sweep, sweep_file.resolve(), out_dir, points, sweep.seed_list(), list(sweep.axes))
    _write_text(out_dir / "sweep.json", json.dumps(_plan_json(plan), indent=2, default=str) + "\n")
    return plan


def _product(lists: list[list[int]]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for values in lists:
        out = [c + (v,) for c in out for v in values]
    return out


def _plan_json(plan: Plan) -> dict:
    return {
        "sweep": plan.sweep.name,
        "description": plan.sweep.description,
        "file": str(plan.file),
        "scenario": str(plan.sweep.scenario),
        "axes": [
            {
                "key": a.key,
                "path": a.path,
                "labels": [a.label(i) for i in range(len(a.all_values()))],
            }
            for a in plan.axes
        ],
        "seeds": plan.seeds,
        "points": [
            {"id": p.id, "overrides": p.overrides, "labels": p.labels, "digest": p.digest}
            for p in plan.points
        ],
    }


def _write_text(path: Path, text: str) -> None:
    """Write atomically (temporary sibling, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# -- one run -----------------------------------------------------------------------------------


def meta_dir(sweep_dir: str | Path, scenario_id: str, seed: int) -> Path:
    return Path(sweep_dir) / META / f"scenario={scenario_id}" / f"seed={seed}"


def run_one(task: Task) -> dict:
    """Run one scenario point with one seed into the sweep's dataset; never raises for a failing
    run: the result (status ok with KPIs, or failed with the error) is returned and written to
    `runs/scenario=<id>/seed=<n>/result.json` last, as the run's done marker."""
    from sim.runner import run

    t0 = time.perf_counter()
    root = Path(task.sweep_dir)
    meta = meta_dir(root, task.scenario_id, task.seed)
    result: dict[str, Any] = {
        "scenario": task.scenario_id,
        "seed": task.seed,
        "digest": task.digest,
        "host": platform.node(),
    }
    try:
        (root / ".tmp").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root / ".tmp") as tmp:
            run_dir, manifest = run(task.scenario_file, task.seed, out=tmp)
            values = manifest["kpis"]  # computed once by the run
            part = Path(f"scenario={task.scenario_id}") / f"seed={task.seed}"
            for old in root.glob(f"*/{part}"):  # a previous attempt's partitions
                if old.parts[-3] not in RESERVED:
                    shutil.rmtree(old, ignore_errors=True)
            for f in sorted(run_dir.glob("*.parquet")):
                if task.labels:
                    _add_axis_columns(f, task.labels)
                dest = root / f.stem / part / "part.parquet"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(f, dest)
            meta.mkdir(parents=True, exist_ok=True)
            for name in ("manifest.json", "scenario.json"):
                os.replace(run_dir / name, meta / name)
        result.update(status="ok", error="", kpis=values, events=manifest.get("events"))
    except Exception as exc:  # a failing run is recorded, never stops the others
        result.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(limit=8),
            kpis={},
        )
    result["wall_s"] = round(time.perf_counter() - t0, 3)
    _write_text(meta / "result.json", json.dumps(result, indent=2, default=str) + "\n")
    return result


def _add_axis_columns(path: Path, labels: tuple[tuple[str, Any], ...]) -> None:
    """Rewrite a run's table with one constant column per axis (`axis.<key>`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    for name, value in labels:
        kind = pa.float64() if isinstance(value, float) else pa.string()
        table = table.append_column(name, pa.array([value] * table.num_rows, kind))
    pq.write_table(table, path)


def read_result(sweep_dir: str | Path, scenario_id: str, seed: int) -> dict | None:
    p = meta_dir(sweep_dir, scenario_id, seed) / "result.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def is_done(task: Task) -> bool:
    """A run is done when its marker says ok for the same scenario content (digest)."""
    r = read_result(task.sweep_dir, task.scenario_id, task.seed)
    return bool(r) and r.get("status") == "ok" and r.get("digest") == task.digest


# -- the sweep ---------------------------------------------------------------------------------


@dataclass
class Progress:
    """What a progress display shows; `eta_s` is None until a run of this session finished."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    eta_s: float | None = None
    last: dict | None = None


def run_sweep(
    plan: Plan,
    executor: Executor,
    workers: int,
    shard: tuple[int, int] | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> pd.DataFrame:
    """Run the plan's missing runs (all, or one shard's) on `executor` and return the summary.

    Runs already done (ok, same scenario digest) are skipped; a run that raised or whose worker
    died is recorded as failed and the others go on. At most `workers` runs are handed to the
    executor at a time, so an interrupted sweep (Ctrl-C, SIGTERM) leaves only those to finish."""
    tasks = plan.tasks(shard)
    todo = [t for t in tasks if not is_done(t)]
    state = Progress(total=len(tasks), skipped=len(tasks) - len(todo))
    t0 = time.monotonic()
    queue = iter(todo)
    running: dict = {}

    def fill() -> None:
        while len(running) < max(1, workers):
            task = next(queue, None)
            if task is None:
                return
            running[executor.submit(run_one, task)] = task

    try:
        fill()
        state.running = len(running)
        if progress:
            progress(state)
        finished = 0
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                result = _result(fut, running.pop(fut))
                finished += 1
                state.done += result["status"] == "ok"
                state.failed += result["status"] != "ok"
                fill()
                left = len(todo) - finished
                state.running = len(running)
                state.eta_s = (time.monotonic() - t0) / finished * left
                state.last = result
                if progress:
                    progress(state)
    except BaseException:  # interrupted: drop what has not started
        for fut in running:
            fut.cancel()
        raise
    return write_summary(plan)


def _result(fut, task: Task) -> dict:
    """A finished future's result; a worker that died is recorded as a failed run."""
    try:
        return fut.result()
    except Exception as exc:  # the worker itself died (killed, out of memory, lost)
        result = {
            "scenario": task.scenario_id,
            "seed": task.seed,
            "digest": task.digest,
            "status": "failed",
            "error": f"worker lost: {type(exc).__name__}: {exc}",
            "kpis": {},
        }
        _write_text(
            meta_dir(task.sweep_dir, task.scenario_id, task.seed) / "result.json",
            json.dumps(result, indent=2, default=str) + "\n",
        )
        return result


def summary(plan: Plan) -> pd.DataFrame:
    """One row per run of the plan: scenario, seed, axes, status (ok, failed, missing), error,
    wall time, and every KPI (columns named as `sim.report.kpis`)."""
    import pandas as pd

    rows = []
    for p in plan.points:
        for seed in plan.seeds:
            r = read_result(plan.out_dir, p.id, seed)
            if r is None or r.get("digest") != p.digest:
                r = {"status": "missing", "error": "", "kpis": {}}
            rows.append(
                {
                    "scenario": p.id,
                    "seed": seed,
                    **p.labels,
                    "status": r["status"],
                    "error": r.get("error", ""),
                    "wall_s": r.get("wall_s"),
                    **r.get("kpis", {}),
                }
            )
    df = pd.DataFrame(rows)
    fixed = ["scenario", "seed", *plan.axis_columns(), "status", "error", "wall_s"]
    kpi_cols = sorted(c for c in df.columns if c not in fixed)
    df = df[fixed + kpi_cols]
    df["wall_s"] = df["wall_s"].astype(float)
    return df


# KPIs whose spread over seeds the sweep reports (P10/P50/P90 per scenario point)
MONTE_CARLO = (
    "revenue.total_usd",
    "margin.total_usd",
    "risk.lease_revenue_at_risk_usd",
    "risk.tenant_gpu_hours_taken_back",
)


def monte_carlo(df: pd.DataFrame) -> pd.DataFrame:
    """P10/P50/P90 over seeds per scenario point of revenue, operating result (ledger revenue
    less costs), lease revenue at risk, GPU-hours taken back and pre-training finish days."""
    import pandas as pd

    from sim.risk import percentiles

    ok = df[df.status == "ok"]
    cols = [c for c in MONTE_CARLO if c in ok.columns]
    cols += sorted(c for c in ok.columns if c.startswith("finish_day."))
    return percentiles(ok, cols, by="scenario") if len(ok) else pd.DataFrame()


def write_summary(plan: Plan) -> pd.DataFrame:
    """Write summary.parquet and summary.csv atomically (any shard may do it: each write is a
    complete view of the runs done so far)."""
    from sim.output import write_csv

    df = summary(plan)
    mc = monte_carlo(df)
    for name, write in (
        ("summary.parquet", lambda p: df.to_parquet(p, index=False)),
        ("summary.csv", lambda p: write_csv(df, p)),
        ("monte-carlo.csv", lambda p: mc.to_csv(p)),
    ):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=plan.out_dir)
        os.close(fd)
        write(tmp)
        os.replace(tmp, plan.out_dir / name)
    return df


# -- engines -----------------------------------------------------------------------------------


def _watch_parent(parent: int, interval_s: float = 0.5) -> None:
    """Worker initializer: exit as soon as the sweep's process is gone (killed with SIGKILL, it
    cannot tell its workers; they would run on for minutes holding hundreds of MB each)."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGKILL)  # at once: nothing of this worker is worth keeping

    if os.getppid() != parent:  # already orphaned while starting
        os.kill(os.getpid(), signal.SIGKILL)
    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


@contextmanager
def local_engine(workers: int | None = None) -> Iterator[tuple[Executor, int]]:
    """A process pool over the local cores (spawned processes: no state shared with the
    parent; each worker exits when the parent process dies)."""
    n = workers or os.cpu_count() or 1
    ex = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )
    try:
        yield ex, n
    except BaseException:  # interrupted: drop queued runs; running ones finish and record
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


@contextmanager
def dask_engine(
    scheduler: str | None = None, workers: int | None = None
) -> Iterator[tuple[Executor, int]]:
    """Dask distributed's executor: join the cluster at `scheduler`, else start a local one."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError.single(
            "--engine",
            "the dask engine needs Dask distributed: pip install 'colossus-sim[cluster]'",
            "dask",
        ) from None
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,  # shutdown chatter; run errors are in results
        )
        client = Client(cluster)
    try:
        threads = sum(client.nthreads().values()) or 1
        executor = client.get_executor(pure=False)
        try:
            yield executor, threads
        except BaseException:  # interrupted: cancel what has not run
            executor.shutdown(wait=False)
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


ENGINES = {"local": local_engine, "dask": dask_engine}


def read_table(sweep_dir: str | Path, table: str) -> pd.DataFrame:
    """One table of every run of a sweep, with `scenario` and `seed` columns (pandas reads the
    hive partitions by itself; this is `pd.read_parquet(<sweep>/<table>)`)."""
    import pandas as pd

    return pd.read_parquet(Path(sweep_dir) / table)
