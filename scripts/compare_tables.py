"""Compare every Parquet table of two run folders cell for cell (pyarrow ``Table.equals``).

Usage: ``python scripts/compare_tables.py A B [--rtol R] [--allow-added COLUMN ...]`` where A
and B are run folders (``.../seed=<n>``) or folders that hold them; exits 1 on any difference,
0 if all are equal. ``--rtol R``: float columns may differ by a relative R (e.g. 1e-12, for a
change that only reorders floating-point sums); every other column must be equal. A column named by ``--allow-added`` may exist in B only (a change that adds a column):
the tables are then compared without it, and it is listed. Used to prove that a refactoring
leaves a run's results unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def _tables(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet"))}


def _same(x: pa.ChunkedArray, y: pa.ChunkedArray, rtol: float = 0.0) -> bool:
    """Equal cell for cell, NaN equal to NaN (Arrow's `equals` says NaN != NaN, so a float
    column with a NaN would never equal itself) and null to null; with `rtol`, floats may
    differ by that relative amount."""
    if x.equals(y):
        return True
    if x.type != y.type or len(x) != len(y) or not pa.types.is_floating(x.type):
        return False
    if not pc.is_null(x).equals(pc.is_null(y)):
        return False
    a = pc.fill_null(x, 0.0).to_numpy()
    b = pc.fill_null(y, 0.0).to_numpy()
    if rtol:
        return bool(np.allclose(a, b, rtol=rtol, atol=0.0, equal_nan=True))
    return bool(np.array_equal(a, b, equal_nan=True))


def _tables_same(x: pa.Table, y: pa.Table) -> bool:
    return (
        x.schema == y.schema
        and x.num_rows == y.num_rows
        and all(_same(x[c], y[c]) for c in x.column_names)
    )


def compare(
    a: Path, b: Path, added: frozenset[str] = frozenset(), rtol: float = 0.0
) -> list[str]:
    """The differences between the Parquet tables under ``a`` and ``b``, one line each;
    columns in ``added`` may be in ``b`` only; float columns may differ by `rtol`."""
    ta, tb = _tables(a), _tables(b)
    problems = [f"only in {a}: {n}" for n in sorted(ta.keys() - tb.keys())]
    problems += [f"only in {b}: {n}" for n in sorted(tb.keys() - ta.keys())]
    for name in sorted(ta.keys() & tb.keys()):
        x, y = pq.read_table(ta[name]), pq.read_table(tb[name])
        extra = [c for c in y.column_names if c in added and c not in x.column_names]
        if extra:
            y = y.drop_columns(extra)
            y = y.replace_schema_metadata(x.schema.metadata)
        if x.equals(y) or _tables_same(x, y):
            more = f"; added in B: {', '.join(extra)}" if extra else ""
            print(f"equal  {name} ({x.num_rows} rows, {x.num_columns} columns{more})")
            continue
        if x.schema != y.schema:
            only_a = [c for c in x.column_names if c not in y.column_names]
            only_b = [c for c in y.column_names if c not in x.column_names]
            changed = [
                c
                for c in x.column_names
                if c in y.column_names and x.schema.field(c) != y.schema.field(c)
            ]
            problems.append(
                f"{name}: schemas differ: only in A {only_a}, only in B {only_b}, types {changed}"
            )
        elif x.num_rows != y.num_rows:
            problems.append(f"{name}: {x.num_rows} vs {y.num_rows} rows")
        else:
            cols = [c for c in x.column_names if not _same(x[c], y[c], rtol)]
            if not cols:
                print(f"close  {name} ({x.num_rows} rows; floats within rtol {rtol:g})")
                continue
            problems.append(f"{name}: columns differ: {', '.join(cols)}")
    if not ta and not tb:
        problems.append(f"no Parquet tables under {a} or {b}")
    return problems


def main(argv: list[str]) -> int:
    rtol = 0.0
    if "--rtol" in argv:
        i = argv.index("--rtol")
        rtol = float(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    paths = [x for x in argv if not x.startswith("--")]
    added = (
        frozenset(argv[argv.index("--allow-added") + 1 :])
        if "--allow-added" in argv
        else frozenset()
    )
    paths = paths[:2] if "--allow-added" in argv else paths
    if len(paths) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    problems = compare(Path(paths[0]), Path(paths[1]), added, rtol)
    for p in problems:
        print(f"DIFF   {p}")
    if problems:
        print(f"{len(problems)} difference(s)")
    else:
        print("identical" if not rtol else f"equal, floats within rtol {rtol:g}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
