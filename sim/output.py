"""Atomic run folders: tables as Parquet, the resolved scenario and a manifest, or nothing.

Everything is written into a temporary sibling folder first, then renamed into place, so a run
that is killed leaves either the previous complete folder or the new complete one (or none).

Temporaries are named after their owner (`.<name>.tmp-<host>-<pid>-<random>`): a run removes
only temporaries whose owner process on this host is dead, never another live run's; the final
swap is serialised by a lock on the parent folder. An existing folder is replaced only if it is
a run folder (a `manifest.json` written here), so a run never removes a folder it did not make.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import InputError

_OWNED = re.compile(r"\.(?:tmp|old)-(?P<host>.+)-(?P<pid>\d+)-[^-]*$")


def _owner_tag() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale(out_dir: Path) -> None:
    """Remove temporaries of `out_dir` left by runs on this host that were killed mid-write."""
    host = socket.gethostname()
    for p in out_dir.parent.glob(f".{out_dir.name}.*"):
        m = _OWNED.search(p.name[len(out_dir.name) + 1 :])
        if m and m["host"] == host and not _alive(int(m["pid"])):
            shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder (flock on its descriptor: no lock file is left behind)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_run_folder(path: Path) -> bool:
    """A folder written by `write_run`: its manifest.json is an object with row counts."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and isinstance(manifest.get("rows"), dict)


def _out_error(path: Path, exc: OSError) -> InputError:
    why = exc.strerror or str(exc)
    return InputError.single("--out", f"cannot write the run folder here: {why}", str(path))


def write_run(
    out_dir: Path,
    tables: Iterable[tuple[str, pa.Table]],
    scenario: dict,
    manifest: dict,
) -> dict:
    """Write `out_dir` atomically; returns the manifest as written (with row counts; the
    runner puts the KPIs in it first, so a folder is complete with them or absent). Raises
    InputError if `out_dir` cannot be written or is a folder no run wrote."""
    out_dir = Path(out_dir)
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out_dir.parent):  # another run may be swapping its folder in
            if out_dir.exists() and not is_run_folder(out_dir):
                raise InputError.single(
                    "--out",
                    f"{out_dir} exists and is not a run folder (no manifest.json written by "
                    "sim); refusing to replace it",
                    str(out_dir),
                )
            remove_stale(out_dir)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-{_owner_tag()}-", dir=out_dir.parent)
        )
    except OSError as exc:
        raise _out_error(out_dir, exc) from None
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private; a run folder is for everyone who may read it
        rows, digests = {}, {}
        for name, table in tables:
            pq.write_table(table, tmp / f"{name}.parquet", compression="zstd")
            rows[name] = table.num_rows
            digests[name] = file_sha256(tmp / f"{name}.parquet")
        (tmp / "scenario.json").write_text(json.dumps(scenario, indent=2, default=str) + "\n")
        manifest = {**manifest, "rows": rows, "sha256": digests}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        with _locked(out_dir.parent):
            if out_dir.exists():
                if not is_run_folder(out_dir):
                    raise InputError.single(
                        "--out", f"{out_dir} is not a run folder; refusing to replace it"
                    )
                old = Path(
                    tempfile.mkdtemp(
                        prefix=f".{out_dir.name}.old-{_owner_tag()}-", dir=out_dir.parent
                    )
                )
                os.replace(out_dir, old)
                os.replace(tmp, out_dir)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _out_error(out_dir, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_object(path: Path) -> dict:
    """A run folder's JSON file (manifest.json, scenario.json) as a dict; a missing, damaged or
    non-object file is an InputError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError
        raise InputError.single("", f"cannot read run file: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise InputError.single(
            "", f"a run file holds a JSON object, not {type(data).__name__}", file=path
        )
    return data


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df):
    """A copy of a DataFrame for CSV output with text cells that a spreadsheet would run as a
    formula prefixed with `'` (numbers are left alone; Parquet keeps the text as it is)."""
    import pandas as pd

    out = df.copy()
    for col in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col])):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v
            )
    return out


def write_csv(df, path: str | Path) -> None:
    """A DataFrame as CSV for spreadsheets: formula-like text neutralised (`csv_safe`) and every
    text cell quoted, so that a carriage return inside a label cannot split a row."""
    import csv

    csv_safe(df).to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex (read in 1 MB pieces)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_run_folder(run_dir: Path) -> None:
    """Every table a run folder's manifest lists is there, readable, with its row count and
    the bytes the run wrote (their SHA-256, for folders that record it); else an InputError
    naming the file. A damaged page inside a table is caught, not only a damaged footer."""
    run_dir = Path(run_dir)
    manifest = read_object(run_dir / "manifest.json")
    rows, digests = manifest.get("rows", {}), manifest.get("sha256", {})
    digests = digests if isinstance(digests, dict) else {}
    for table, n in rows.items() if isinstance(rows, dict) else ():
        path = run_dir / f"{table}.parquet"
        want = digests.get(table)
        try:
            if want is not None and file_sha256(path) != want:
                raise InputError.single(
                    "", "its bytes differ from those the run wrote: the folder is damaged", file=path
                )
        except OSError as exc:
            raise InputError.single("", f"damaged or missing table: {exc}", file=path) from None
        try:
            found = pq.read_metadata(path).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise InputError.single("", f"damaged or missing table: {exc}", file=path) from None
        if found != n:
            raise InputError.single(
                "", f"has {found:,} rows, its manifest says {n:,}: the folder is damaged", file=path
            )
