"""Column buffers for the output tables: rows in, typed pyarrow Tables out."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from sim.records import TABLES, schema


class Recorder:
    """Appends rows to per-column lists; `tables()` builds each table with its declared schema."""

    def __init__(self) -> None:
        self._cols = {t: {c.name: [] for c in cols} for t, cols in TABLES.items()}

    def add(self, table: str, **row) -> None:
        cols = self._cols[table]
        if row.keys() != cols.keys():
            missing, extra = cols.keys() - row.keys(), row.keys() - cols.keys()
            raise KeyError(f"{table} row: missing {sorted(missing)}, unknown {sorted(extra)}")
        for name, value in row.items():
            cols[name].append(value)

    def rows(self, table: str) -> int:
        return len(next(iter(self._cols[table].values())))

    def tables(self) -> Iterator[tuple[str, pa.Table]]:
        for table, cols in self._cols.items():
            sch = schema(table)
            arrays = [pa.array(cols[f.name], type=_plain(f.type)) for f in sch]
            arrays = [
                a.dictionary_encode() if pa.types.is_dictionary(f.type) else a
                for a, f in zip(arrays, sch, strict=True)
            ]
            yield table, pa.Table.from_arrays(arrays, schema=sch)


def _plain(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t
