"""Importers for public GPU-cluster job traces: each reads one source layout and returns the
normalised trace table of `sim.trace_file` (job_id, submit_s, duration_s, gpus, gpu_model).

Formats (the column layouts are those the trace owners publish; see docs/traces.md):

| format | source | a job is |
|---|---|---|
| `elasticflow` (`itp`) | Microsoft ITP traces of ElasticFlow (ASPLOS '23), CSV `job_id, submission_time, duration, num_gpu[, ...]` | a row |
| `alibaba-gpu-2023` (`alibaba`) | Alibaba cluster-trace-gpu-v2023 `openb_pod_list_*.csv` (`name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time`) | a pod with num_gpu >= 1 |
| `philly` | Microsoft Philly `cluster_job_log` (JSON list: `jobid, submitted_time, attempts[{start_time, end_time, detail[{ip, gpus}]}], ...`) | a job with a complete attempt |
| `helios` (`acme`) | SenseTime Helios `cluster_log.csv` and Shanghai AI Lab Acme `trace_seren.csv` / `trace_kalos.csv` (`job_id, ..., gpu_num, ..., submit_time, start_time, end_time, duration, ...`) | a row with gpu_num >= 1 |
| `csv` | any CSV, with a column mapping | a row |

A malformed row (a number that does not parse, a negative count, an end before its start, a
missing column) is a `Problem` naming its row (1 = the first data row) and the reason; the
import fails with all of them unless `skip_bad` is set. Rows that are well formed but are no
GPU job (CPU-only, never ran, zero duration) are skipped and counted by reason.

Times: a trace with relative times in seconds (ElasticFlow, Alibaba) keeps its own origin; a
trace with calendar timestamps (Philly, Helios, Acme, a mapped CSV with dates) is measured from
00:00 of the day of its first submission (UTC when the timestamps carry an offset, else as
written), so that time of day survives the import.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from sim.errors import InputError, Problem
from sim.limits import DEFAULT_MAX_TRACE_MB, MAX_LINE_BYTES, check_input_file
from sim.trace_file import SCHEMA

MAX_PROBLEMS = 50  # problems listed before the rest are summarised in one line
MAX_GPUS = 10_000_000  # GPUs of one job: the bound a workload file puts on a tranche

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0}


@dataclass
class Imported:
    """An imported trace: the normalised table, rows read, and rows skipped by reason."""

    table: pa.Table
    rows: int
    skipped: Counter = field(default_factory=Counter)
    bad: int = 0  # malformed rows dropped (only with skip_bad)

    def summary(self) -> str:
        parts = [f"{self.rows:,} rows read, {self.table.num_rows:,} jobs"]
        if self.skipped:
            parts.append(
                "skipped: " + ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items()))
            )
        if self.bad:
            parts.append(f"{self.bad:,} malformed rows dropped")
        return "; ".join(parts)


class _Bad(ValueError):
    """A malformed row: the column and the reason."""

    def __init__(self, column: str, reason: str, value=None):
        super().__init__(reason)
        self.column, self.reason, self.value = column, reason, value


class _Skip(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A well-formed row that is no GPU job; the reason is counted."""


# -- field parsers -------------------------------------------------------------------------
def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip().lower() in ("", "nan", "none", "null"))


def _number(row: dict, col: str, *, required: bool = True) -> float | None:
    if col not in row:
        raise _Bad(col, "column is missing")
    v = row[col]
    if _blank(v):
        if required:
            raise _Bad(col, "is empty", v)
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise _Bad(col, "is not a number", v) from None
    if not math.isfinite(x):
        raise _Bad(col, "is not a finite number", v)
    return x


def _count(row: dict, col: str) -> int:
    x = _number(row, col)
    if x < 0 or x != round(x):
        raise _Bad(col, "must be a whole number >= 0", row[col])
    if x > MAX_GPUS:
        raise _Bad(col, f"must be at most {MAX_GPUS:,} GPUs", row[col])
    return int(x)


def _instant(row: dict, col: str, *, required: bool = True) -> dt.datetime | None:
    """A calendar timestamp: ISO 8601 with or without an offset ('2020-06-09 18:41:01',
    '2023-03-01 00:18:22+08:00'); an offset converts it to naive UTC."""
    if col not in row:
        raise _Bad(col, "column is missing")
    v = row[col]
    if _blank(v):
        if required:
            raise _Bad(col, "is empty", v)
        return None
    try:
        t = dt.datetime.fromisoformat(str(v).strip())
    except ValueError:
        raise _Bad(col, "is not a date and time (YYYY-MM-DD HH:MM:SS[+HH:MM])", v) from None
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


# -- one function per format: a source row -> (job_id, submit, duration_s, gpus, gpu_model) ----
# `submit` is seconds (float) or a datetime; datetimes are rebased after all rows are read.


def _elasticflow(row: dict, _opts: dict):
    gpus = _count(row, "num_gpu")
    submit = _number(row, "submission_time")
    duration = _number(row, "duration")
    if submit < 0:
        raise _Bad("submission_time", "must be >= 0", row["submission_time"])
    if duration < 0:
        raise _Bad("duration", "must be >= 0", row["duration"])
    if gpus == 0:
        raise _Skip("without GPUs")
    if duration == 0:
        raise _Skip("of zero duration")
    return str(row.get("job_id", "")), submit, duration, gpus, ""


def _alibaba(row: dict, _opts: dict):
    gpus = _count(row, "num_gpu")
    created = _number(row, "creation_time")
    deleted = _number(row, "deletion_time", required=False)
    scheduled = _number(row, "scheduled_time", required=False)
    if created < 0:
        raise _Bad("creation_time", "must be >= 0", row["creation_time"])
    if scheduled is not None and scheduled < created:
        raise _Bad(
            "scheduled_time", f"is before creation_time ({created:g})", row["scheduled_time"]
        )
    if deleted is not None and deleted < (created if scheduled is None else scheduled):
        raise _Bad(
            "deletion_time", "is before the pod was created or scheduled", row["deletion_time"]
        )
    if gpus == 0:
        raise _Skip("CPU-only pods")
    if scheduled is None:
        raise _Skip("never scheduled")
    if deleted is None:
        raise _Skip("without a deletion_time")
    if deleted == scheduled:
        raise _Skip("of zero duration")
    spec = "" if _blank(row.get("gpu_spec")) else str(row["gpu_spec"])
    # a GPU-sharing pod (gpu_milli < 1000) still needs a GPU: it holds one here
    return str(row.get("name", "")), created, deleted - scheduled, gpus, spec


def _helios(row: dict, _opts: dict):
    gpus = _count(row, "gpu_num")
    submit = _instant(row, "submit_time")
    duration = _number(row, "duration", required=False)
    if duration is None:  # the owners compute it as end_time - start_time
        start, end = _instant(row, "start_time"), _instant(row, "end_time")
        duration = (end - start).total_seconds()
    if duration < 0:
        raise _Bad("duration", "must be >= 0", row["duration"])
    if gpus == 0:
        raise _Skip("CPU-only jobs")
    if duration == 0:
        raise _Skip("of zero duration")
    return str(row.get("job_id", "")), submit, duration, gpus, ""


def _mapped(row: dict, opts: dict):
    m, unit = opts["map"], opts.get("time_unit", "s")
    scale = TIME_UNITS[unit]

    def when(key: str):
        col = m[key]
        if col not in row:
            raise _Bad(col, "column is missing")
        try:
            return _number(row, col) * scale
        except _Bad as e:
            if e.reason != "is not a number":
                raise
            return _instant(row, col)

    gpus = _count(row, m["gpus"])
    submit = when("submit")
    if "duration" in m:
        duration = _number(row, m["duration"]) * scale
    else:
        start, end = when("start"), when("end")
        if type(start) is not type(end):
            raise _Bad(m["end"], f"is not the same kind of time as {m['start']}", row[m["end"]])
        duration = (end - start).total_seconds() if isinstance(end, dt.datetime) else end - start
    if isinstance(submit, float) and not math.isfinite(submit):  # finite, but not in --time-unit
        raise _Bad(m["submit"], f"is too large in {unit}", row[m["submit"]])
    if not math.isfinite(duration):
        raise _Bad(m.get("duration", m.get("end")), f"is too large in {unit}", duration)
    if isinstance(submit, float) and submit < 0:
        raise _Bad(m["submit"], "must be >= 0", row[m["submit"]])
    if duration < 0:
        raise _Bad(m.get("duration", m.get("end")), "gives a negative duration", duration)
    if gpus == 0:
        raise _Skip("without GPUs")
    if duration == 0:
        raise _Skip("of zero duration")
    job_id = str(row[m["job_id"]]) if "job_id" in m else ""
    model = str(row.get(m["gpu_model"], "")) if "gpu_model" in m else ""
    return job_id, submit, duration, gpus, "" if _blank(model) else model


def _philly_job(job, _opts: dict):
    """A Philly job: submitted at `submitted_time`, running for the sum of its complete
    attempts (the time it held GPUs), on the most GPUs any attempt held."""
    if not isinstance(job, dict):
        raise _Bad("", "is not a JSON object", job)
    if "jobid" not in job:
        raise _Bad("jobid", "key is missing")
    submit = _instant(job, "submitted_time")
    attempts = job.get("attempts")
    if not isinstance(attempts, list):
        raise _Bad("attempts", "is not a list", attempts)
    duration, gpus, complete = 0.0, 0, 0
    for i, a in enumerate(attempts):
        if not isinstance(a, dict):
            raise _Bad(f"attempts[{i}]", "is not a JSON object", a)
        try:
            start = _instant(a, "start_time", required=False)
            end = _instant(a, "end_time", required=False)
        except _Bad as e:
            raise _Bad(f"attempts[{i}].{e.column}", e.reason, e.value) from None
        if start is None or end is None:  # the owners: a logging gap, or still running
            continue
        if end < start:
            raise _Bad(f"attempts[{i}].end_time", f"is before its start_time ({start})", end)
        detail = a.get("detail", [])
        if not isinstance(detail, list) or not all(
            isinstance(d, dict) and isinstance(d.get("gpus", []), list) for d in detail
        ):
            raise _Bad(f"attempts[{i}].detail", "is not a list of {ip, gpus[]} objects", detail)
        duration += (end - start).total_seconds()
        gpus = max(gpus, sum(len(d.get("gpus", [])) for d in detail))
        complete += 1
    if not complete:
        raise _Skip("without a complete attempt")
    if gpus == 0:
        raise _Skip("without GPUs")
    if duration == 0:
        raise _Skip("of zero duration")
    return str(job["jobid"]), submit, duration, gpus, ""


@dataclass(frozen=True)
class Format:
    name: str
    doc: str
    kind: str  # "csv" or "json"
    parse: Callable[[dict, dict], tuple]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "elasticflow",
            "Microsoft ITP / ElasticFlow CSV: job_id, submission_time, duration, num_gpu",
            "csv",
            _elasticflow,
        ),
        Format(
            "alibaba-gpu-2023",
            "Alibaba cluster-trace-gpu-v2023 openb_pod_list CSV",
            "csv",
            _alibaba,
        ),
        Format("philly", "Microsoft Philly cluster_job_log (JSON)", "json", _philly_job),
        Format(
            "helios",
            "SenseTime Helios cluster_log.csv / Acme trace_seren, trace_kalos",
            "csv",
            _helios,
        ),
        Format(
            "csv", "any CSV with --map submit=,duration= (or start=,end=),gpus=", "csv", _mapped
        ),
    )
}
ALIASES = {"itp": "elasticflow", "alibaba": "alibaba-gpu-2023", "acme": "helios"}
MAP_KEYS = ("job_id", "submit", "duration", "start", "end", "gpus", "gpu_model")


def _check_map(mapping: dict[str, str] | None, time_unit: str) -> dict:
    if not mapping:
        raise InputError.single(
            "--map",
            "the csv format needs a column mapping: submit=COL, gpus=COL and "
            "duration=COL (or start=COL, end=COL); job_id= and gpu_model= are optional",
        )
    problems = [
        Problem("--map", f"unknown key; keys are {', '.join(MAP_KEYS)}", k)
        for k in mapping
        if k not in MAP_KEYS
    ]
    for need in ("submit", "gpus"):
        if need not in mapping:
            problems.append(Problem("--map", f"{need}=COLUMN is required"))
    if "duration" not in mapping and not {"start", "end"} <= mapping.keys():
        problems.append(Problem("--map", "give duration=COLUMN, or start=COLUMN and end=COLUMN"))
    if time_unit not in TIME_UNITS:
        problems.append(
            Problem("--time-unit", f"must be one of {', '.join(TIME_UNITS)}", time_unit)
        )
    if problems:
        raise InputError(problems)
    return {"map": dict(mapping), "time_unit": time_unit}


class _Unreadable(Exception):  # noqa: N818 - carries the row where reading stopped
    def __init__(self, row: int, reason: str):
        super().__init__(reason)
        self.row, self.reason = row, reason


def _lines(f) -> Iterator[str]:
    """A text file's lines, each read in at most MAX_LINE_BYTES characters: a file without
    line breaks (or one huge line) is refused instead of loaded whole."""
    k = 0
    while True:
        line = f.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        k += 1
        if len(line) > MAX_LINE_BYTES:
            raise _Unreadable(k - 1, f"line {k} is longer than {MAX_LINE_BYTES:,} characters")
        yield line


def _csv_rows(path: Path, columns: Iterable[str] = ()) -> Iterator[dict]:
    """The CSV's rows as dicts, streamed; `columns` must be in the header (mapped columns)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(_lines(f))
        try:
            fields = reader.fieldnames
        except (csv.Error, UnicodeDecodeError, _Unreadable) as exc:
            raise _problem(path, 0, exc) from None
        if not fields:
            raise InputError.single("", "empty CSV file (no header row)", file=path)
        reader.fieldnames = [c.strip() for c in fields]
        missing = [c for c in columns if c not in reader.fieldnames]
        if missing:
            raise InputError.single(
                "--map",
                f"column {missing[0]!r} is not in the file; its columns are {reader.fieldnames}",
                missing[0],
            )
        n = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError, _Unreadable) as exc:
                raise _problem(path, n + 1, exc) from None
            n += 1
            yield row


def _problem(path: Path, row: int, exc: Exception) -> InputError:
    if isinstance(exc, UnicodeDecodeError):
        why = f"is not UTF-8 text (byte {exc.start} of a line: {exc.reason})"
    elif isinstance(exc, _Unreadable):
        row, why = exc.row, exc.reason
    else:  # csv.Error: a field over the csv module's 131,072-character limit, a stray quote
        why = f"malformed CSV: {exc}"
    return InputError.single(f"row {row}" if row else "header", why, file=path)


def _json_rows(path: Path) -> Iterable:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise InputError.single("", f"not valid JSON: {exc}", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError.single("", f"is not UTF-8 text (byte {exc.start})", file=path) from None
    except RecursionError:
        raise InputError.single("", "JSON nested too deeply", file=path) from None
    if not isinstance(data, list):
        raise InputError.single("", "expected a JSON list of jobs", type(data).__name__, path)
    return data


def import_trace(
    src: str | Path,
    fmt: str,
    mapping: dict[str, str] | None = None,
    time_unit: str = "s",
    skip_bad: bool = False,
) -> Imported:
    """Read a trace in format `fmt` (see FORMATS, ALIASES); return the normalised table.
    Raises InputError naming every malformed row (row 1 = the first job), unless `skip_bad`."""
    src = Path(src)
    name = ALIASES.get(fmt, fmt)
    if name not in FORMATS:
        known = sorted([*FORMATS, *ALIASES])
        raise InputError.single("--format", f"unknown format; known: {', '.join(known)}", fmt)
    f = FORMATS[name]
    opts = _check_map(mapping, time_unit) if name == "csv" else {}
    check_input_file(src, "--max-input-mb", DEFAULT_MAX_TRACE_MB)
    columns = [c for k, c in opts.get("map", {}).items()]
    rows = _json_rows(src) if f.kind == "json" else _csv_rows(src, columns)
    ids, submits, durations, gpus, models = [], [], [], [], []
    skipped: Counter = Counter()
    problems: list[Problem] = []
    bad = n = 0
    parse = f.parse
    for n, row in enumerate(rows, start=1):  # noqa: B007 - n is the count after the loop
        try:
            job_id, submit, duration, g, model = parse(row, opts)
        except _Skip as why:
            skipped[str(why)] += 1
            continue
        except _Bad as e:
            bad += 1
            if len(problems) < MAX_PROBLEMS:
                col = f".{e.column}" if e.column else ""
                value = () if e.value is None else (e.value,)
                problems.append(Problem(f"row {n}{col}", e.reason, *value, file=str(src)))
            continue
        ids.append(job_id or str(n))
        submits.append(submit)
        durations.append(duration)
        gpus.append(g)
        models.append(model)
    if bad and not skip_bad:
        if bad > len(problems):
            problems.append(
                Problem("", f"... {bad - len(problems):,} more malformed rows", file=str(src))
            )
        raise InputError(problems)
    submits = _rebase(submits)
    table = pa.table(
        {
            "job_id": pa.array(ids, pa.string()),
            "submit_s": pa.array(submits, pa.float64()),
            "duration_s": pa.array(durations, pa.float64()),
            "gpus": pa.array(gpus, pa.int64()),
            "gpu_model": pa.array(models, pa.string()),
        },
        schema=SCHEMA,
    )
    return Imported(table, n, skipped, bad)


def _rebase(submits: list) -> list[float]:
    """Calendar timestamps -> seconds from 00:00 of the first submission's day."""
    stamps = [s for s in submits if isinstance(s, dt.datetime)]
    if not stamps:
        return [float(s) for s in submits]
    if len(stamps) != len(submits):
        raise InputError.single("submit", "mixes calendar timestamps and numbers")
    first = min(stamps)
    origin = dt.datetime(first.year, first.month, first.day)
    return [(s - origin).total_seconds() for s in stamps]


def parse_map(items: Iterable[str]) -> dict[str, str]:
    """['submit=submission_time', 'gpus=num_gpu'] -> {'submit': 'submission_time', ...}."""
    out = {}
    for item in items:
        key, sep, col = item.partition("=")
        if not sep or not key.strip() or not col.strip():
            raise InputError.single("--map", "expected KEY=COLUMN", item)
        out[key.strip()] = col.strip()
    return out


def poisson_trace(
    n: int,
    arrivals_per_h: float,
    mean_duration_h: float,
    gpus: int | tuple[int, ...] = 1,
    seed: int = 0,
) -> pa.Table:
    """A synthetic trace for checks and benchmarks: `n` jobs with Poisson arrivals and
    exponential durations (whole microseconds, so replayed timestamps are exact), each asking
    for `gpus` GPUs (or a size drawn uniformly from a tuple)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    submit = np.cumsum(rng.exponential(3600.0 / arrivals_per_h, n))
    duration = rng.exponential(3600.0 * mean_duration_h, n)
    submit = np.round(submit, 6)
    duration = np.maximum(np.round(duration, 6), 1e-6)
    sizes = rng.choice(np.asarray(gpus), n) if isinstance(gpus, tuple) else np.full(n, gpus)
    return pa.table(
        {
            "job_id": pa.array([f"j{i}" for i in range(n)], pa.string()),
            "submit_s": submit,
            "duration_s": duration,
            "gpus": pa.array(sizes, pa.int64()),
            "gpu_model": pa.array([""] * n, pa.string()),
        },
        schema=SCHEMA,
    )
