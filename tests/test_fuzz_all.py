"""Fuzz every input kind through every command: no traceback, no exit code outside
{0, 1, 2, 130}, and every run of a file that validates satisfies the tables' invariants.

Kinds: scenario, workload, topology, sweep, mfu files (mutated from working ones, and garbage),
trace sources (CSV in each importer's layout, Philly JSON), damaged run folders, and odd
command lines. Commands: validate, run (then check and diff on its folder), topology show,
sweep (--dry-run, and small sweeps run on threads), mfu, trace import (then the trace replayed),
check, diff, report, compare, explain, schema.

`FUZZ_EXAMPLES` cases in all (default 300, for CI: about a minute); `FUZZ_EXAMPLES=10000` for
the long run; `FUZZ_CASES=scenario=500,topology=100` sets kinds' counts outright. Each case is
generated from `FUZZ_SEED` (default 0) and its number, so a failure is reproduced by its seed;
`FUZZ_REPORT=file.json` writes the counts (after each kind); failing inputs are kept under
`FUZZ_FAILURES` (default: pytest's tmp folder).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import random
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tomli_w

from sim.cli import main
from tests.conftest import DATA, ROOT
from tests.fuzzkit import load_data

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("FUZZ_SEED", "0"))
# Share of the cases per kind, by cost: a case that validates runs a simulation (~0.3 s) and a
# topology case builds a fabric graph (~1 s), while an mfu or trace case takes milliseconds;
# 10,000 cases then take ~25 minutes on a shared 2-core machine.
WEIGHTS = {
    "scenario": 10,
    "workload": 8,
    "topology": 3,
    "sweep": 8,
    "mfu": 20,
    "trace-csv": 20,
    "trace-json": 8,
    "run-folder": 3,
    "command-line": 20,
}
OK_CODES = {0, 1, 2, 130}
COUNTS: Counter = Counter()
WALL: Counter = Counter()


# FUZZ_CASES=kind=n,kind=n sets some kinds' counts outright (to fit a long run in its time).
CASES = {
    k: int(n)
    for k, _, n in (x.partition("=") for x in os.environ.get("FUZZ_CASES", "").split(",") if x)
}


def _cases(kind: str) -> int:
    if kind in CASES:
        return CASES[kind]
    total = sum(WEIGHTS.values())
    return max(3, round(EXAMPLES * WEIGHTS[kind] / total))


# -- values a careless or hostile user might write --------------------------------------------

ODD = [
    -1,
    0,
    1,
    -1e308,
    1e308,
    1e-300,
    float("inf"),
    float("-inf"),
    float("nan"),
    10**30,
    -(10**30),
    2**63,
    "",
    " ",
    "x" * 300,
    "..",
    ".",
    "a/b",
    "\U0001f680 rocket",
    '=HYPERLINK("http://x")',
    "__import__('os').system('true')",
    "../../../../etc/passwd",
    "/dev/null",
    "no/such/file.toml",
    str(DATA),
    [],
    [1, "a"],
    [[[[[[1]]]]]],
    {},
    {"nested": {"deeper": 1}},
    True,
    False,
    dt.date(1900, 1, 1),
    dt.date(1970, 1, 1),
    dt.date(2199, 12, 31),
    dt.date(9999, 12, 31),
    dt.date(2026, 2, 28),
    dt.datetime(2026, 1, 1, 12, 0),
    dt.time(12, 0),
    3.5,
    0.0001,
    "2026-13-45",
    "2026-03-01",
    "fifo",
    "H100",
    "GB200",
    "small-h100",
    "small-gb200",
    "young-daly",
    "lognormal",
]
UNKNOWN_KEYS = ["colour", "tp2", "gpu_count", "x.y", "strat", "nmae", "enabeld", "pools "]


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,), v
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,), v
            yield from _paths(v, prefix + (i,))


def _parent(doc, path):
    for p in path[:-1]:
        doc = doc[p]
    return doc


def mutate(rng: random.Random, doc: dict, swaps: list | None = None) -> dict:
    """1-4 random edits: delete a key, replace a value (odd values, or a value from elsewhere
    in the file), add an unknown key, duplicate a list item, scale a number."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p, _ in _paths(doc)]
        if not paths:
            break
        path = rng.choice(paths)
        parent, key = _parent(doc, path), path[-1]
        action = rng.choice(["delete", "odd", "odd", "swap", "unknown", "dup", "scale", "deep"])
        if action == "delete":
            del parent[key]
        elif action == "odd":
            parent[key] = copy.deepcopy(rng.choice(ODD + (swaps or [])))
        elif action == "swap":
            parent[key] = copy.deepcopy(dict(_paths(doc))[rng.choice(paths)])
        elif action == "unknown" and isinstance(parent, dict):
            parent[rng.choice(UNKNOWN_KEYS)] = 1
        elif action == "dup" and isinstance(parent[key], list) and parent[key]:
            parent[key].append(copy.deepcopy(parent[key][0]))
        elif action == "scale" and isinstance(parent[key], int | float):
            if not isinstance(parent[key], bool):
                parent[key] = parent[key] * rng.choice([-1, 0, 0.5, 2, 1e3, 1e9])
        elif action == "deep":
            v: object = 1
            for _ in range(rng.choice([10, 100, 200])):  # deeper: GARBAGE's 600 levels
                v = [v]
            parent[key] = v
    return doc


def nudge(rng: random.Random, doc: dict) -> dict:
    """1-3 plausible edits that mostly still validate, so that `run` sees many odd but valid
    inputs: numbers scaled, dates moved, booleans flipped, names and kinds swapped."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [(p, v) for p, v in _paths(doc) if not isinstance(v, dict | list)]
        if not paths:
            break
        path, v = rng.choice(paths)
        parent, key = _parent(doc, path), path[-1]
        if isinstance(v, bool):
            parent[key] = not v
        elif isinstance(v, int | float):
            x = v * rng.choice([0, 0.01, 0.1, 0.5, 0.9, 1.1, 2, 3, 10, 100])
            parent[key] = type(v)(x) if isinstance(v, int) else x
        elif isinstance(v, dt.date):
            parent[key] = v + dt.timedelta(days=rng.choice([-400, -60, -1, 1, 30, 90, 365]))
        elif isinstance(v, str):
            same = [x for p, x in _paths(doc) if isinstance(x, str) and p[-1] == key]
            parent[key] = rng.choice(
                same
                + [
                    "fifo",
                    "mfu-aware",
                    "internal-first",
                    "revenue-max",
                    "small-h100",
                    "small-gb200",
                ]
            )
    return doc


def edit(rng: random.Random, doc: dict, swaps: list | None = None) -> dict:
    """Half the cases nudged (plausible, mostly valid), half mutated (odd, mostly invalid)."""
    return nudge(rng, doc) if rng.random() < 0.5 else mutate(rng, doc, swaps)


GARBAGE = [
    "x = [",
    "[[pools]\nname = 1",
    "a = 1\na = 2",
    "= 3",
    "[horizon]\nstart = 2026-02-30",
    "\x00\x01binary",
    "name = '''unterminated",
    "a = " + "[" * 600 + "]" * 600,
    "a = " + "{b = " * 600 + "1" + "}" * 600,
    "\ufeffname = 'bom'",
    "[a]\n[a]",
]


def _text(rng: random.Random, doc: dict) -> str | bytes:
    """The document as TOML, sometimes truncated or with garbage, sometimes not UTF-8."""
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError, RecursionError):  # a value TOML cannot hold, or too deep
        text = ""
    r = rng.random()
    if r < 0.08:
        return text[: rng.randint(0, len(text))] + rng.choice(GARBAGE)
    if r < 0.10:
        return text.encode()[: rng.randint(0, 50)] + b"\xff\xfe" + text.encode()[50:]
    return text


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# -- running a command and judging it -------------------------------------------------------


class Judge:
    """Runs commands in this process and collects what went wrong, with the case's files."""

    def __init__(self, capsys, keep: Path, bases_dir: Path):
        self.capsys, self.keep, self.bases_dir = capsys, keep, bases_dir
        self.problems: list[str] = []

    def sim(self, kind: str, case: str, *args, files: tuple = ()) -> tuple[int, str, str]:
        args = [str(a) for a in args]
        self.capsys.readouterr()
        t0 = time.perf_counter()
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # escaped main: a traceback for the user
            code = None
            import traceback

            err = traceback.format_exc()
            self._bad(kind, case, args, f"escaped main: {type(exc).__name__}: {exc}\n{err}", files)
            return -1, "", err
        out, err = self.capsys.readouterr()
        cmd = args[0] if args[0] != "--max-input-mb" else args[2]
        COUNTS[f"{kind} {cmd} exit={code}"] += 1
        WALL[kind] += time.perf_counter() - t0
        if code not in OK_CODES:
            self._bad(kind, case, args, f"exit code {code}\n{err[-3000:]}", files)
        elif "Traceback" in err or "internal error" in err:
            self._bad(kind, case, args, f"traceback\n{err[-3000:]}", files)
        elif "invariant" in err:
            COUNTS["invariant violations"] += 1
            self._bad(kind, case, args, f"invariant violated\n{err[-3000:]}", files)
        return code, out, err

    def fail(self, kind: str, case: str, what: str, files: tuple = ()) -> None:
        self._bad(kind, case, [], what, files)

    def _bad(self, kind, case, args, what, files) -> None:
        COUNTS["failures"] += 1
        dest = self.keep / f"{kind}-{case}"
        dest.mkdir(parents=True, exist_ok=True)
        for f in files:
            f = Path(f)
            if f.is_file() and f.suffix == ".toml":  # paths into the kept copies, so it reruns
                text = f.read_text(errors="replace").replace(f"{f.parent}/", "")
                text = text.replace(str(self.bases_dir), str(self.keep / "bases"))
                (dest / f.name).write_text(text)
            elif f.is_file():
                shutil.copy(f, dest / f.name)
        head, _, rest = what.partition("\n")
        self.problems.append(
            f"[{kind} case {case}] sim {' '.join(args)[:300]}: {head}\n{rest[-1200:]}"
        )


# -- base files -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Working files of every kind (absolute paths), and a run folder to damage."""
    from sim.runner import run
    from sim.trace_file import write_trace
    from sim.traces import poisson_trace

    tmp = tmp_path_factory.mktemp("fuzz-bases")
    trace = write_trace(tmp / "trace.parquet", poisson_trace(50, 2.0, 5.0, (1, 8), seed=1))
    workload = load_data("small-workload.toml")
    job = workload["training"][0]
    stream = {k: copy.deepcopy(v) for k, v in job.items() if k not in ("submit", "tokens", "name")}
    stream.update(
        name="exp",
        job_class="experiment",
        start=dt.date(2026, 1, 5),
        arrivals_per_day=0.5,
        replicas={"dist": "lognormal", "median": 2.0, "sigma": 0.5, "max": 8.0},
        duration_days={"dist": "exponential", "mean": 2.0},
    )
    workload["streams"] = [stream]
    workload["serving"] = [
        {
            "name": "api",
            "model": {"params": 8e9, "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8},
            "pools": ["small-gb200", "small-h100"],
            "demand_tokens_per_day": [[dt.date(2026, 3, 1), 5e9], [dt.date(2026, 5, 1), 5e10]],
            "price_usd_per_million_tokens": 2.0,
        }
    ]
    workload["traces"] = [
        {"name": "tr", "file": str(trace), "start": dt.date(2026, 2, 1), "pools": ["small-h100"]}
    ]
    scenario = load_data("small-scenario.toml")
    scenario["sites"][0]["topology"] = str(DATA / "small.toml")
    wpath = _write(tmp / "workload.toml", tomli_w.dumps(workload))
    scenario["workloads"] = [str(wpath)]
    scenario["failures"] = {"enabled": True, "scale": 3.0}
    spath = _write(tmp / "scenario.toml", tomli_w.dumps(scenario))
    run_dir, _ = run(spath, out=tmp / "out")
    sweep = {
        "name": "fz",
        "scenario": str(spath),
        "seeds": [1],
        "axes": [
            {"path": "policy.kind", "values": ["fifo", "mfu-aware"]},
            {"path": "prices.power_usd_per_mwh", "range": {"start": 50, "stop": 90, "step": 40}},
        ],
    }
    with (ROOT / "examples/mfu/llama31-405b-h100-dgxc.toml").open("rb") as fh:
        import tomllib

        mfu = tomllib.load(fh)
    return {
        "tmp": tmp,
        "scenario": scenario,
        "workload": workload,
        "topology": load_data("small.toml"),
        "sweep": sweep,
        "mfu": mfu,
        "run_dir": run_dir,
        "scenario_path": spath,
        "trace": trace,
    }


@pytest.fixture(scope="module")
def report():
    yield
    write_report()


def write_report() -> None:
    """The counts so far (after each kind, so that a long run stopped early keeps them)."""
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(
            json.dumps(
                {
                    "examples": EXAMPLES,
                    "seed": SEED,
                    "cases": {k: _cases(k) for k in WEIGHTS},
                    "wall_s": {k: round(v, 1) for k, v in WALL.items()},
                    "counts": dict(sorted(COUNTS.items())),
                },
                indent=2,
            )
        )


def _scenario_running(j: Judge, kind: str, case: str, spath: Path, work: Path, files) -> None:
    """Validate; if valid, run (invariants checked by the run), then check and diff it."""
    code, _, _ = j.sim(kind, case, "validate", spath, files=files)
    if code != 0:
        return
    out = work / "out"
    code, _, err = j.sim(kind, case, "run", spath, "--out", out, "--no-progress", files=files)
    if code not in (0, 1):
        j.fail(kind, case, f"validate said ok, then run exited {code}: {err[-2000:]}", files)
        return
    runs = [p.parent for p in out.rglob("manifest.json")]
    if not runs:
        j.fail(kind, case, "run exited 0/1 but wrote no run folder", files)
        return
    if random.Random(case).random() < 0.25:  # reading it back: a quarter of the runs
        j.sim(kind, case, "check", runs[0], files=files)
        code, _, err = j.sim(kind, case, "diff", runs[0], runs[0], files=files)
        if code != 0:
            j.fail(kind, case, f"a run differs from itself: {err[-500:]}", files)


# -- the kinds ------------------------------------------------------------------------------


def _scenario_case(j, rng, b, work, case):
    doc = edit(rng, b["scenario"], swaps=[str(b["scenario_path"])])
    spath = _write(work / "scenario.toml", _text(rng, doc))
    _scenario_running(j, "scenario", case, spath, work, (spath,))


def _workload_case(j, rng, b, work, case):
    doc = edit(rng, b["workload"], swaps=[str(b["trace"])])
    wpath = _write(work / "workload.toml", _text(rng, doc))
    sdoc = copy.deepcopy(b["scenario"])
    sdoc["workloads"] = [str(wpath)]
    spath = _write(work / "scenario.toml", tomli_w.dumps(sdoc))
    j.sim("workload", case, "validate", wpath, files=(wpath,))
    _scenario_running(j, "workload", case, spath, work, (spath, wpath))


def _topology_case(j, rng, b, work, case):
    doc = edit(rng, b["topology"])
    tpath = _write(work / "topology.toml", _text(rng, doc))
    files = (tpath,)
    j.sim("topology", case, "validate", tpath, files=files)
    j.sim("topology", case, "topology", "show", tpath, "--json", files=files)
    sdoc = copy.deepcopy(b["scenario"])
    sdoc["sites"][0]["topology"] = str(tpath)
    spath = _write(work / "scenario.toml", tomli_w.dumps(sdoc))
    _scenario_running(j, "topology", case, spath, work, (spath, tpath))


def _sweep_case(j, rng, b, work, case):
    from sim import sweep as sw
    from sim.errors import InputError

    doc = edit(rng, b["sweep"], swaps=[str(b["scenario_path"]), "policy", "failures.scale"])
    path = _write(work / "sweep.toml", _text(rng, doc))
    files = (path,)
    j.sim("sweep", case, "validate", path, files=files)
    code, _, _ = j.sim("sweep", case, "sweep", path, "--dry-run", "--out", work / "o", files=files)
    if code != 0:
        return
    try:
        plan = sw.expand(path, work / "o")
    except InputError as err:
        j.fail("sweep", case, f"--dry-run was ok, then expand failed: {err}", files)
        return
    if len(plan.tasks()) <= 4:  # run it (threads: the runs are pure functions)
        with ThreadPoolExecutor(max_workers=1) as ex:
            df = sw.run_sweep(plan, ex, 1)
        COUNTS["sweep runs"] += len(df)
        bad = df[df.status != "ok"]
        for r in bad.itertuples():
            j.fail("sweep", case, f"a validated point failed to run: {r.error}", files)


def _mfu_case(j, rng, b, work, case):
    doc = edit(rng, b["mfu"])
    path = _write(work / "job.toml", _text(rng, doc))
    j.sim("mfu", case, "mfu", path, "--json", files=(path,))
    if rng.random() < 0.1:
        j.sim(
            "mfu", case, "mfu", path, "--sweep", "--top", rng.choice([1, 3, 0, -1]), files=(path,)
        )


CSV_LAYOUTS = {
    "elasticflow": ["job_id", "submission_time", "duration", "num_gpu"],
    "alibaba-gpu-2023": [
        "name",
        "cpu_milli",
        "memory_mib",
        "num_gpu",
        "gpu_milli",
        "gpu_spec",
        "qos",
        "pod_phase",
        "creation_time",
        "deletion_time",
        "scheduled_time",
    ],
    "helios": ["job_id", "gpu_num", "submit_time", "start_time", "end_time", "duration"],
    "csv": ["id", "t0", "dur", "g", "model"],
}
CELLS = [
    "0",
    "1",
    "8",
    "3600",
    "-5",
    "1e20",
    "1e308",
    "nan",
    "inf",
    "",
    "abc",
    "2.5",
    "2023-03-01 00:18:22+08:00",
    "2020-06-09 18:41:01",
    "2020-13-40 99:99:99",
    "\U0001f680",
    "=SUM(A1)",
    '"quoted, comma"',
    "x" * 140_000,
]


def _trace_csv_case(j, rng, b, work, case):
    fmt = rng.choice(sorted(CSV_LAYOUTS))
    cols = list(CSV_LAYOUTS[fmt])
    if rng.random() < 0.2 and len(cols) > 1:
        cols.remove(rng.choice(cols))
    lines = [",".join(cols)]
    for _ in range(rng.randint(0, 30)):
        lines.append(
            ",".join(
                rng.choice(CELLS[:-1]) if rng.random() < 0.3 else str(rng.randint(0, 9999))
                for _ in cols
            )
        )
    if rng.random() < 0.05:
        lines.append(CELLS[-1])
    text = "\n".join(lines) + "\n"
    src = work / "src.csv"
    if rng.random() < 0.05:
        _write(src, text.encode() + b"\xff\xfe,\x00\n")
    else:
        _write(src, text)
    args = ["trace", "import", src, "--format", fmt, "--out", work / "t.parquet"]
    if fmt == "csv":
        keys = ["submit=t0", "gpus=g", "duration=dur", "job_id=id", "gpu_model=model"]
        if rng.random() < 0.3:
            keys = rng.sample(keys + ["start=t0", "end=dur", "bogus=x", "job_id=nope", "=="], 4)
        for k in keys:
            args += ["--map", k]
        if rng.random() < 0.3:
            args += ["--time-unit", rng.choice(["s", "ms", "h", "min"])]
    if rng.random() < 0.3:
        args.append("--skip-bad")
    _trace_import_and_replay(j, rng, b, work, case, "trace-csv", args, src)


def _philly_job(rng):
    def stamp():
        return rng.choice(
            [
                "2017-10-03 14:00:00",
                "2017-10-03 15:30:00",
                None,
                "None",
                "garbage",
                5,
                "2017-10-02 00:00:00",
            ]
        )

    job = {
        "jobid": rng.choice(["a", 1, None, "\U0001f680"]),
        "submitted_time": stamp(),
        "attempts": [
            {
                "start_time": stamp(),
                "end_time": stamp(),
                "detail": rng.choice(
                    [[{"ip": "m1", "gpus": ["g0", "g1"]}], [], "x", [{"gpus": "no"}], [1]]
                ),
            }
            for _ in range(rng.randint(0, 3))
        ],
    }
    if rng.random() < 0.1:
        del job[rng.choice(list(job))]
    if rng.random() < 0.05:
        job = rng.choice([[], "job", 3, None])
    return job


def _trace_json_case(j, rng, b, work, case):
    jobs = [_philly_job(rng) for _ in range(rng.randint(0, 20))]
    src = work / "src.json"
    r = rng.random()
    if r < 0.05:
        _write(src, "[" * 20_000 + "]" * 20_000)
    elif r < 0.1:
        _write(src, json.dumps({"jobs": jobs}))
    elif r < 0.15:
        _write(src, json.dumps(jobs)[: rng.randint(0, 200)])
    else:
        _write(src, json.dumps(jobs))
    args = ["trace", "import", src, "--format", "philly", "--out", work / "t.parquet"]
    if rng.random() < 0.3:
        args.append("--skip-bad")
    _trace_import_and_replay(j, rng, b, work, case, "trace-json", args, src)


def _trace_import_and_replay(j, rng, b, work, case, kind, args, src):
    from sim.errors import InputError
    from sim.trace_file import read_trace

    code, _, _ = j.sim(kind, case, *args, files=(src,))
    if code != 0:
        return
    try:
        read_trace(work / "t.parquet")
    except InputError as err:
        j.fail(kind, case, f"import wrote a trace that does not read back: {err}", (src,))
        return
    if rng.random() < 0.3:  # replay it
        w = copy.deepcopy(b["workload"])
        w["traces"] = [
            {
                "name": "tr",
                "file": str(work / "t.parquet"),
                "start": dt.date(2026, 1, 2),
                "pools": ["small-h100"],
            }
        ]
        wpath = _write(work / "workload.toml", tomli_w.dumps(w))
        sdoc = copy.deepcopy(b["scenario"])
        sdoc["workloads"] = [str(wpath)]
        spath = _write(work / "scenario.toml", tomli_w.dumps(sdoc))
        _scenario_running(j, kind, case, spath, work, (src, spath, wpath))


def _run_folder_case(j, rng, b, work, case):
    d = work / "copy" / "seed=7"
    shutil.copytree(b["run_dir"], d)
    files = sorted(p for p in d.iterdir() if p.is_file())
    for _ in range(rng.randint(1, 2)):
        f = rng.choice(files)
        how = rng.choice(["truncate", "garble", "delete", "empty", "json-list", "json-number"])
        if not f.exists():
            continue
        if how == "truncate":
            f.write_bytes(f.read_bytes()[: rng.randint(0, max(1, f.stat().st_size // 2))])
        elif how == "garble":
            data = bytearray(f.read_bytes())
            for _ in range(20):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            f.write_bytes(bytes(data))
        elif how == "delete":
            f.unlink()
        elif how == "empty":
            f.write_bytes(b"")
        elif f.suffix == ".json":
            f.write_text("[1, 2]" if how == "json-list" else "42")
    j.sim("run-folder", case, "check", d)
    j.sim("run-folder", case, "diff", b["run_dir"], d)
    if rng.random() < 0.08:
        j.sim("run-folder", case, "report", d, "--out", work / "report")


def _command_line_case(j, rng, b, work, case):
    s = b["scenario_path"]
    odd = rng.choice(
        ["-1", "0", "1e9", "", "x", "99999999999999999999", "/dev/null", str(work), "3/2", "=="]
    )
    afile = _write(work / "afile", "x")
    outs = [work / "o", afile / "sub", "/dev/null", work]
    templates = [
        ["run", s, "--seed", odd, "--out", work / "o"],
        ["run", rng.choice([work, "/dev/null", "missing.toml", s]), "--out", rng.choice(outs)],
        [
            "compare",
            s,
            "--policies",
            rng.choice(["fifo", "fifo,nope", ",,", "fifo,mfu-aware"]),
            "--seeds",
            rng.choice(["0", "1", "-3"]),
            "--out",
            work / "c",
        ],
        ["explain", s, "--job", rng.choice(["llama-8b", "nope", "exp", ""])],
        ["schema", rng.choice(["scenario", "topology", "workload", "sweep", "mfu", "nope"])],
        [
            "topology",
            "show",
            rng.choice([s, DATA / "small.toml", work]),
            "--at",
            rng.choice(["2026-13-01", "2026-03-01", "x", "9999-01-01"]),
        ],
        ["sweep", rng.choice([s, work / "none.toml"]), "--dry-run", "--shard", odd],
        ["check", rng.choice([work, b["run_dir"], "/dev/null", afile])],
        [
            "diff",
            b["run_dir"],
            rng.choice([work, b["run_dir"], afile]),
            "--rel",
            rng.choice(["-1", "0", "x", "1e-3"]),
        ],
        [
            "trace",
            "import",
            rng.choice([afile, work, "/dev/null"]),
            "--format",
            rng.choice(["csv", "philly", "nope"]),
            "--out",
            rng.choice(outs),
        ],
        ["--max-input-mb", rng.choice(["0", "-1", "0.000001", "x", "1"]), "validate", s],
        ["mfu", rng.choice([s, work, DATA / "small.toml"])],
        [rng.choice(["nope", "", "--version", "--help", "run"])],
    ]
    args = rng.choice(templates)
    if args[0] == "explain" and rng.random() < 0.5:
        args += ["--run", rng.choice([b["run_dir"], work, afile])]
    j.sim("command-line", case, *args)


KINDS = {
    "scenario": _scenario_case,
    "workload": _workload_case,
    "topology": _topology_case,
    "sweep": _sweep_case,
    "mfu": _mfu_case,
    "trace-csv": _trace_csv_case,
    "trace-json": _trace_json_case,
    "run-folder": _run_folder_case,
    "command-line": _command_line_case,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_fuzz(kind, bases, report, capsys, tmp_path):
    keep = Path(os.environ.get("FUZZ_FAILURES", tmp_path / "failures"))
    j = Judge(capsys, keep, bases["tmp"])
    n = _cases(kind)
    for i in range(n):
        rng = random.Random(f"{SEED}-{kind}-{i}")
        work = tmp_path / f"case{i}"
        work.mkdir()
        COUNTS[f"{kind} cases"] += 1
        try:
            KINDS[kind](j, rng, bases, work, f"{SEED}-{i}")
        except Exception as exc:  # the harness or a library call outside main
            import traceback

            j.fail(
                kind,
                f"{SEED}-{i}",
                f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-2000:]}",
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if len(j.problems) >= 10:
            break
    write_report()
    if j.problems:  # the failing cases' files name the bases: keep those too
        shutil.copytree(
            bases["tmp"], keep / "bases", dirs_exist_ok=True, ignore=shutil.ignore_patterns("out")
        )
    assert not j.problems, "\n\n".join(j.problems[:10])
