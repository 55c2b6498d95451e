"""The normalised job-trace format the engine replays: one Parquet row per job.

Columns: `job_id` (string), `submit_s` (seconds from the trace's start), `duration_s` (seconds
the job ran), `gpus` (GPUs it held), optional `gpu_model` (as the source names it). Importers
(`sim trace import`) write it; `read_trace` checks it and reports bad rows by number.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import InputError, Problem

SCHEMA = pa.schema(
    [
        pa.field("job_id", pa.string()),
        pa.field("submit_s", pa.float64()),
        pa.field("duration_s", pa.float64()),
        pa.field("gpus", pa.int64()),
        pa.field("gpu_model", pa.string()),
    ]
)


@dataclass(frozen=True)
class TraceJobs:
    """A trace's jobs, sorted by submit time (ties by row order)."""

    job_id: np.ndarray
    submit_s: np.ndarray
    duration_s: np.ndarray
    gpus: np.ndarray

    def __len__(self) -> int:
        return len(self.job_id)


def read_trace(path: str | Path) -> TraceJobs:
    """Load and check a normalised trace; every bad row is a Problem naming its row number."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError.single("", f"not a readable Parquet trace: {exc}", file=path) from None
    missing = [
        c for c in ("job_id", "submit_s", "duration_s", "gpus") if c not in table.column_names
    ]
    if missing:
        raise InputError.single(
            "", f"missing columns {missing}; a trace has {SCHEMA.names}", file=path
        )
    try:
        job_id = np.asarray(table["job_id"].cast(pa.string()).to_pylist(), dtype=object)
        submit = table["submit_s"].cast(pa.float64()).to_numpy(zero_copy_only=False)
        duration = table["duration_s"].cast(pa.float64()).to_numpy(zero_copy_only=False)
        gpus = table["gpus"].cast(pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowException as exc:
        raise InputError.single("", f"column of the wrong type: {exc}", file=path) from None
    problems = []
    for name, values, ok in (
        ("submit_s", submit, np.isfinite(submit) & (submit >= 0)),
        ("duration_s", duration, np.isfinite(duration) & (duration > 0)),
        ("gpus", gpus, np.isfinite(gpus) & (gpus >= 1) & (gpus == np.round(gpus))),
    ):
        for row in np.flatnonzero(~ok)[:20]:
            problems.append(
                Problem(
                    f"row {row + 1}.{name}",
                    "must be a finite number "
                    + (
                        "> 0"
                        if name == "duration_s"
                        else ">= 0"
                        if name == "submit_s"
                        else "and a whole number >= 1"
                    ),
                    values[row],
                    str(path),
                )
            )
    if problems:
        raise InputError(problems)
    order = np.argsort(submit, kind="stable")
    return TraceJobs(job_id[order], submit[order], duration[order], gpus[order].astype(np.int64))


def write_trace(path: str | Path, table: pa.Table) -> Path:
    """Write a normalised trace atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = (
        table.cast(SCHEMA)
        if table.schema.names == SCHEMA.names
        else table.select(SCHEMA.names).cast(SCHEMA)
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
