"""Row buffers for the output tables: rows in, typed pyarrow Tables out.

A row is one tuple appended to its table's current block: a block holds the rows of one layout
(which columns vary, in what order, and the constant value of the others), so that a writer of
rows that share many constant columns (a replayed job's segment has ~30 columns, most of them
NaN) appends one tuple, not one value per column, and keeps only its varying values in memory.
`tables()` turns the blocks into columns once, at the end, in row order.

Instants (the schema's timestamp columns) are given as hours from the run's start (`clock`)
and turned into UTC timestamps a column at a time as the table is built, not a call per row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from sim.records import TABLES, TS, schema


class Layout:
    """Which columns of a table a row gives (`names`, in order) and the constant rest."""

    __slots__ = ("names", "fixed")

    def __init__(self, table: str, names: tuple[str, ...], fixed: dict) -> None:
        cols = [c.name for c in TABLES[table]]
        given = [*names, *fixed]
        if sorted(given) != sorted(cols):
            missing, extra = set(cols) - set(given), set(given) - set(cols)
            twice = {n for n in given if given.count(n) > 1}
            raise KeyError(
                f"{table} row: missing {sorted(missing)}, unknown {sorted(extra)}"
                + (f", twice {sorted(twice)}" if twice else "")
            )
        self.names, self.fixed = names, fixed


class Recorder:
    """Appends rows to per-table blocks; `tables()` builds each table with its declared
    schema."""

    def __init__(self) -> None:
        self._blocks: dict[str, list[tuple[Layout, list[tuple]]]] = {t: [] for t in TABLES}
        self._writers: dict[tuple[str, tuple[str, ...]], Callable] = {}  # of `add`'s rows
        self._t0_us: int | None = None  # the instant rows count their hours from (`clock`)

    def clock(self, t0_us: int) -> None:
        """Rows give instants as hours from `t0_us` (microseconds since the epoch, UTC)."""
        self._t0_us = t0_us

    def add(self, table: str, **row) -> None:
        """One row, every column by name."""
        key = (table, tuple(row))
        write = self._writers.get(key)
        if write is None:
            write = self._writers[key] = self.writer(table, key[1])
        write(*row.values())

    def writer(self, table: str, names: tuple[str, ...], **fixed) -> Callable[..., None]:
        """A function that appends a row of `table` from the values of `names`, positionally,
        the other columns taking the constant values `fixed`: the fast way for many rows."""
        layout = Layout(table, tuple(names), fixed)
        blocks, n = self._blocks[table], len(names)

        def write(*values) -> None:
            if len(values) != n:
                raise TypeError(f"{table} row: {len(values)} values for {n} columns {names}")
            if blocks and blocks[-1][0] is layout:
                blocks[-1][1].append(values)
            else:
                blocks.append((layout, [values]))

        return write

    def rows(self, table: str) -> int:
        return sum(len(rows) for _, rows in self._blocks[table])

    def _columns(self, table: str) -> dict[str, list]:
        """The table's rows as one list per column, in row order."""
        out: dict[str, list] = {c.name: [] for c in TABLES[table]}
        for layout, rows in self._blocks[table]:
            for name, values in zip(layout.names, zip(*rows, strict=True), strict=True):
                out[name].extend(values)  # (a block's rows transposed at once)
            for name, value in layout.fixed.items():
                out[name].extend([value] * len(rows))
        return out

    def tables(self) -> Iterator[tuple[str, pa.Table]]:
        """Each table, built once: its rows are handed over to it (and dropped here) as it is
        built, so that the rows and the tables of a long run are not all in memory at once."""
        for table in self._blocks:
            sch, cols = schema(table), self._columns(table)
            self._blocks[table] = []
            arrays = [
                self._instants(cols[f.name])
                if f.type == TS
                else pa.array(cols[f.name], _plain(f.type))
                for f in sch
            ]
            arrays = [
                a.dictionary_encode() if pa.types.is_dictionary(f.type) else a
                for a, f in zip(arrays, sch, strict=True)
            ]
            yield table, pa.Table.from_arrays(arrays, schema=sch)

    def _instants(self, hours: list) -> pa.Array:
        """Hours from the start (None: null) as timestamps: t0 + round(h x 3.6e9) us, the same
        integers as Python's `round` per value (both round half to even, exactly)."""
        h = pa.array(hours, pa.float64())
        if h.null_count == len(h):
            return pa.nulls(len(h), TS)
        if self._t0_us is None:
            raise RuntimeError("rows gave instants, but the recorder has no clock")
        valid = h.is_valid().to_numpy(zero_copy_only=False)
        us = np.rint(np.where(valid, h.to_numpy(zero_copy_only=False), 0.0) * 3.6e9)
        return pa.array(self._t0_us + us.astype(np.int64), TS, mask=~valid)


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t
