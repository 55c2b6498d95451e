"""Limits on what the simulator reads, in one place: input file size, the years a horizon may
span, and the job count above which a run warns that it will be long (docs/reliability.md)."""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
from pathlib import Path

from sim.errors import InputError

# Input files larger than this are refused before they are read. TOML files (scenario,
# topology, workload, sweep, mfu): the largest shipped one is a few kB, and parsing takes ~10x
# the file's size in memory. Trace sources: the largest public job traces we import (Alibaba,
# Philly, Helios) are a few hundred MB, read row by row. `sim --max-input-mb N` (or the
# SIM_MAX_INPUT_MB environment variable; `sim trace import --max-input-mb N`) sets one limit
# for both.
DEFAULT_MAX_INPUT_MB = 64.0
DEFAULT_MAX_TRACE_MB = 1024.0
_max_input_mb: float | None = None

# A trace CSV line longer than this is malformed (a job row is well under 1 kB); lines are read
# in pieces of this size, so a file with no line breaks never loads whole into memory.
MAX_LINE_BYTES = 1 << 20

# Horizons: pandas timestamps end in 2262 and contracts and phases are dated in this century;
# a run spans at most 100 years (the 30-year horizon is tested).
EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(2200, 1, 1)
MAX_HORIZON_YEARS = 100

# Integers in input files: within +-2**53, where every integer is exact as a float too (a
# count of GPUs, tokens or seconds beyond it is a typo, and would overflow the tables'
# 64-bit columns once multiplied). TOML itself stops at 64-bit integers.
MAX_INT = 2**53

# GPUs of one job (tp x pp x dp x cp): 2**31, ~4,000x the 550k GPUs Colossus 2 grows towards
# (FACTS.md); a layout above it is a typo, and its counts would overflow the tables' columns.
MAX_JOB_GPUS = 2**31

# A run expected to create more jobs than this prints a warning before it starts (10,000
# arrivals a day for a month is ~300,000 jobs and several minutes).
WARN_JOBS = 100_000


def set_max_input_mb(mb: float | None) -> None:
    global _max_input_mb
    _max_input_mb = mb


def max_input_mb(default: float = DEFAULT_MAX_INPUT_MB) -> float:
    if _max_input_mb is not None:
        return _max_input_mb
    try:
        return float(os.environ.get("SIM_MAX_INPUT_MB", default))
    except ValueError:
        return default


def check_input_file(
    path: str | Path, flag: str = "sim --max-input-mb", default_mb: float = DEFAULT_MAX_INPUT_MB
) -> Path:
    """`path` if it is a readable regular file within the size limit, else an InputError that
    says what it is instead (missing, a directory, a symlink loop, too large)."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError.single("", "file not found", file=p) from None
    except OSError as exc:
        why = "a symlink loop" if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror}"
        raise InputError.single("", why, file=p) from None
    except ValueError as exc:  # a NUL byte in the name
        raise InputError.single("", f"not a usable file name: {exc}", file=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError.single("", "is a directory; give a file", file=p)
    if not stat.S_ISREG(st.st_mode):
        raise InputError.single("", "is not a regular file", file=p)
    limit = max_input_mb(default_mb)
    if st.st_size > limit * 1e6:
        raise InputError.single(
            "",
            f"the file is {st.st_size / 1e6:,.1f} MB, above the input limit of {limit:g} MB "
            f"({flag} raises it)",
            file=p,
        )
    return p


class LongRunWarning(UserWarning):
    """A run that will take long (many jobs); the CLI prints it as `warning: ...`."""


def expected_jobs(start: dt.date, end: dt.date, workloads, traces: dict) -> float:
    """Jobs a run will create: training jobs, stream arrivals (rate x days within the horizon)
    and replayed trace jobs. `workloads` are WorkloadFile objects, `traces` TraceJobs by key."""
    n = 0.0
    for w in workloads:
        n += len(w.training)
        for s in w.streams:
            first, last = max(s.start, start), min(s.end or end, end)
            n += s.arrivals_per_day * max(0, (last - first).days)
    for (i, j), jobs in traces.items():
        limit = workloads[i].traces[j].limit
        n += len(jobs) if limit is None else min(limit, len(jobs))
    return n


def warn_if_long(start: dt.date, end: dt.date, workloads, traces: dict) -> None:
    import warnings

    n = expected_jobs(start, end, workloads, traces)
    if n > WARN_JOBS:
        warnings.warn(
            f"this run will create about {n:,.0f} jobs (above {WARN_JOBS:,}); expect minutes "
            "to hours (streams' arrivals_per_day x days, traces' rows)",
            LongRunWarning,
            stacklevel=2,
        )
