"""Compare every Parquet table of two run folders cell for cell (pyarrow ``Table.equals``).

Usage: ``python scripts/compare_tables.py A B`` where A and B are run folders
(``.../seed=<n>``) or folders that hold them; exits 1 on any difference, 0 if all are equal.
Used to prove that a refactoring leaves a run's results unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq


def _tables(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet"))}


def compare(a: Path, b: Path) -> list[str]:
    """The differences between the Parquet tables under ``a`` and ``b``, one line each."""
    ta, tb = _tables(a), _tables(b)
    problems = [f"only in {a}: {n}" for n in sorted(ta.keys() - tb.keys())]
    problems += [f"only in {b}: {n}" for n in sorted(tb.keys() - ta.keys())]
    for name in sorted(ta.keys() & tb.keys()):
        x, y = pq.read_table(ta[name]), pq.read_table(tb[name])
        if x.equals(y):
            print(f"equal  {name} ({x.num_rows} rows, {x.num_columns} columns)")
            continue
        if x.schema != y.schema:
            problems.append(f"{name}: schemas differ: {x.schema} vs {y.schema}")
        elif x.num_rows != y.num_rows:
            problems.append(f"{name}: {x.num_rows} vs {y.num_rows} rows")
        else:
            cols = [c for c in x.column_names if not x[c].equals(y[c])]
            problems.append(f"{name}: columns differ: {', '.join(cols)}")
    if not ta and not tb:
        problems.append(f"no Parquet tables under {a} or {b}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    problems = compare(Path(argv[0]), Path(argv[1]))
    for p in problems:
        print(f"DIFF   {p}")
    print("identical" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
