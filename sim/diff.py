"""Compare two runs (or two folders of runs) KPI by KPI and table by table.

Every KPI of `sim.report.kpis`, and for every Parquet table its row count and the sum of each
numeric column that is not an id (`*_id`); timestamps and categories are not summed. A value
moved when its relative difference `|b - a| / max(|a|, |b|)` is above the tolerance.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sim.expect import load_runs
from sim.records import TABLES

Kind = Literal["kpi", "rows", "sum", "run"]
# 0.1%: a change smaller than that is noise to a planner (a sum of many floats reordered, a
# price per GPU-hour moving in its fourth digit); `--rel 0` flags every change, as a
# reproducibility check wants (the same inputs and seed give identical tables).
DEFAULT_REL = 1e-3


@dataclass(frozen=True)
class Item:
    """One compared value: a KPI, a table's row count or a column's sum (`None`: absent)."""

    run: str
    kind: Kind
    name: str  # KPI name, `table`, or `table.column`
    a: float | None
    b: float | None
    tol: float

    @property
    def rel(self) -> float | None:
        """Relative difference, 0 for equal values (NaN equals NaN); None if one is absent."""
        a, b = self.a, self.b
        if a is None or b is None:
            return None
        if a == b or (math.isnan(a) and math.isnan(b)):
            return 0.0
        if math.isnan(a) or math.isnan(b):
            return math.inf
        return abs(b - a) / max(abs(a), abs(b))

    @property
    def moved(self) -> bool:
        rel = self.rel
        return rel is None or rel > self.tol

    def __str__(self) -> str:
        def fmt(x):
            return "absent" if x is None else f"{x:.6g}"

        rel = self.rel
        change = "" if rel is None else f" ({_signed(self.a, self.b)}, |rel| {rel:.3g})"
        return f"{self.kind} {self.name} [{self.run}]: {fmt(self.a)} -> {fmt(self.b)}{change}"


def _signed(a: float | None, b: float | None) -> str:
    if a is None or b is None or not a:
        return "from 0" if a == 0 else "n/a"
    return f"{(b - a) / abs(a):+.3%}"


def numeric_columns(schema: pa.Schema) -> list[str]:
    """Columns to sum: integers and floats that are not ids (`*_id`, `id`)."""
    return [
        f.name
        for f in schema
        if (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))
        and not (f.name == "id" or f.name.endswith("_id"))
    ]


def table_stats(run_dir: Path) -> dict[str, tuple[int, dict[str, float]]]:
    """Per Parquet table in a run folder: row count and sums of its numeric columns."""
    out = {}
    for path in sorted(run_dir.glob("*.parquet")):
        pf = pq.ParquetFile(path)
        cols = numeric_columns(pf.schema_arrow)
        table = pf.read(columns=cols)
        sums = {}
        for c in cols:
            s = pc.sum(table[c]).as_py()
            sums[c] = float(s) if s is not None else 0.0
        out[path.stem] = (pf.metadata.num_rows, sums)
    return out


def _order(names: set[str]) -> list[str]:
    known = [t for t in TABLES if t in names]
    return known + sorted(names - set(known))


@dataclass
class Tolerance:
    """Relative tolerance: a default, and `(pattern, rel)` overrides matched (fnmatch) against
    KPI names and `table.column` names, the last match winning."""

    default: float = DEFAULT_REL
    rules: list[tuple[str, float]] = field(default_factory=list)

    def __call__(self, name: str) -> float:
        tol = self.default
        for pattern, rel in self.rules:
            if fnmatch.fnmatchcase(name, pattern):
                tol = rel
        return tol


def diff_pair(run: str, a, b, tol: Tolerance) -> list[Item]:
    """Every compared value of two runs (`RunInfo`s), moved or not."""
    items = []
    for name in sorted(set(a.kpis) | set(b.kpis)):
        items.append(Item(run, "kpi", name, a.kpis.get(name), b.kpis.get(name), tol(name)))
    sa, sb = table_stats(a.dir), table_stats(b.dir)
    for table in _order(set(sa) | set(sb)):
        ra, ca = sa.get(table, (None, {}))
        rb, cb = sb.get(table, (None, {}))
        items.append(Item(run, "rows", table, ra, rb, tol(f"{table}.rows")))
        for col in (
            [c for c in ca if c in cb]
            + [c for c in cb if c not in ca]
            + [c for c in ca if c not in cb]
        ):
            name = f"{table}.{col}"
            items.append(Item(run, "sum", name, ca.get(col), cb.get(col), tol(name)))
    return items


@dataclass
class DiffReport:
    """The comparison of two runs or folders of runs."""

    a: str
    b: str
    items: list[Item]
    notes: list[str]  # differences that are not results: scenario hash, versions

    @property
    def moved(self) -> list[Item]:
        return [i for i in self.items if i.moved]

    def moved_names(self, kind: Kind | None = None) -> set[str]:
        return {i.name for i in self.moved if kind is None or i.kind == kind}

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "changed": bool(self.moved),
            "compared": len(self.items),
            "moved": [{**asdict(i), "rel": i.rel} for i in self.moved],
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        if not self.moved:
            return [f"no change beyond tolerance ({len(self.items)} values compared)"]
        return [
            f"{len(self.moved)} of {len(self.items)} values moved beyond tolerance:",
            *(f"  {i}" for i in self.moved),
        ]


def diff(a: str | Path, b: str | Path, tol: Tolerance | None = None) -> DiffReport:
    """Compare run folders `a` and `b`, or the runs below them paired by relative folder
    (a sweep's `<scenario-id>/seed=<n>`); a run on one side only counts as moved."""
    tol = tol or Tolerance()
    runs_a, runs_b = load_runs(a), load_runs(b)
    if len(runs_a) == 1 and len(runs_b) == 1:
        ra, rb = runs_a[0], runs_b[0]
        pairs = {ra.label if ra.label == rb.label else f"{ra.label} vs {rb.label}": (ra, rb)}
        only = []
    else:
        by_a = {r.label: r for r in runs_a}
        by_b = {r.label: r for r in runs_b}
        pairs = {k: (by_a[k], by_b[k]) for k in by_a if k in by_b}
        only = [Item(k, "run", k, 1.0, None, 0.0) for k in by_a if k not in by_b]
        only += [Item(k, "run", k, None, 1.0, 0.0) for k in by_b if k not in by_a]
    items: list[Item] = list(only)
    notes: list[str] = []
    for label, (ra, rb) in pairs.items():
        items += diff_pair(label, ra, rb, tol)
        ma, mb = ra.manifest, rb.manifest
        for key in ("scenario", "scenario_hash", "seed", "policy", "horizon"):
            if ma.get(key) != mb.get(key):
                notes.append(f"[{label}] {key}: {ma.get(key)} -> {mb.get(key)}")
        va, vb = ma.get("versions", {}), mb.get("versions", {})
        for key in sorted(set(va) | set(vb)):
            if va.get(key) != vb.get(key):
                notes.append(f"[{label}] version of {key}: {va.get(key)} -> {vb.get(key)}")
    return DiffReport(str(a), str(b), items, notes)
