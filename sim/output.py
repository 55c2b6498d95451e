"""Atomic run folders: tables as Parquet, the resolved scenario and a manifest, or nothing.

Everything is written into a temporary sibling folder first, then renamed into place, so a run
that is killed leaves either the previous complete folder or the new complete one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def write_run(
    out_dir: Path, tables: Iterable[tuple[str, pa.Table]], scenario: dict, manifest: dict
) -> dict:
    """Write `out_dir` atomically; returns the manifest as written (with row counts)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.*"):  # left by a run killed mid-write
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a run folder is for everyone who may read it
    try:
        rows = {}
        for name, table in tables:
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            rows[name] = table.num_rows
        (tmp / "scenario.json").write_text(json.dumps(scenario, indent=2, default=str) + "\n")
        manifest = {**manifest, "rows": rows}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def replace_json(path: Path, data: dict) -> None:
    """Rewrite one JSON file atomically (temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(data, indent=2, default=str) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
