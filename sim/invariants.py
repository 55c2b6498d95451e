"""Invariants of a run's tables, checked on every run before its folder is written.

Pure functions over the in-memory tables (pyarrow Tables by name, as the recorder yields them).
Each rule names the table, and where it has them the day and the pool, of every row that
breaks it:

- `pools`: per pool and day, owner GPU-hours (lease + training + serving) + idle + down =
  online (to float rounding), and the same for the GPU counts at 00:00; nothing negative.
- `leases`: 0 <= delivered <= contracted GPU-hours; shortfall, GPUs and revenue not negative.
- `serving`: 0 <= served tokens <= demand; GPUs and revenue not negative.
- `jobs`, `segments`: hours, tokens, FLOPs not negative; MFU and ETTR within [0, 1];
  a segment does not end before it starts.
- `ledger`: lease and token revenue add up to the `leases` and `serving` tables' revenue;
  every account is on the chart and the income statement adds up to the ledger.
- every float column: no infinity; no NaN in pools, leases, serving and ledger (in jobs and
  segments NaN means "not applicable", e.g. the MFU of a replayed trace job).

`sim run --no-check` skips the checks (to inspect the tables of a run that breaks them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sim.errors import InvariantError, Violation  # there so that `sim` catches it unloaded
from sim.finance.chart import ACCOUNTS
from sim.finance.statement import lines as statement_lines

# Float rounding: sums of a day's exact interval integrals agree to ~1e-12 relative; anything
# beyond this is a bookkeeping error, not rounding.
REL_TOL = 1e-9
ABS_TOL = 1e-6
# A fraction (MFU, ETTR) is a ratio of two sums; for a job that ran seconds, both are tiny and
# their rounding shows in the ninth digit (an ETTR of 1.0000000016 was seen).
FRACTION_TOL = 1e-6
MAX_LISTED = 20  # violations listed per run; the rest are counted


def _col(t: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 (nulls as NaN)."""
    return t[name].cast(pa.float64()).to_numpy(zero_copy_only=False)


def _text(t: pa.Table, name: str) -> list:
    col = t[name]
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_timestamp(col.type):
        col = pc.strftime(col, format="%Y-%m-%d")
    return col.to_pylist()


def _tol(scale: np.ndarray) -> np.ndarray:
    return ABS_TOL + REL_TOL * np.abs(scale)


class _Found:
    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.total = 0

    def add(self, table: str, rule: str, where: Iterable[str], detail: Iterable[str]) -> None:
        for w, d in zip(where, detail, strict=True):
            self.total += 1
            if len(self.items) < MAX_LISTED:
                self.items.append(Violation(table, rule, w, d))


def _where_pool(t: pa.Table, rows: np.ndarray) -> list[str]:
    days, pools = _text(t, "date"), _text(t, "pool")
    return [f"day {days[i]}, pool {pools[i]}" for i in rows]


def _where_row(t: pa.Table, rows: np.ndarray, label: str | None) -> list[str]:
    names = _text(t, label) if label else None
    return [f"row {i + 1}" + (f" ({names[i]})" if names else "") for i in rows]


def _not_negative(f: _Found, table: str, t: pa.Table, cols: Iterable[str], where) -> None:
    for c in cols:
        if c not in t.column_names:
            continue
        v = _col(t, c)
        rows = np.flatnonzero(v < -ABS_TOL)
        f.add(table, f"{c} is negative", where(t, rows), (f"{c} = {v[i]:.6g}" for i in rows))


def _within_unit(f: _Found, table: str, t: pa.Table, cols: Iterable[str], where) -> None:
    for c in cols:
        if c not in t.column_names:
            continue
        v = _col(t, c)
        rows = np.flatnonzero((v < -FRACTION_TOL) | (v > 1 + FRACTION_TOL))
        f.add(table, f"{c} is outside [0, 1]", where(t, rows), (f"{c} = {v[i]:.6g}" for i in rows))


# Tables whose every number is a count, an amount or a GPU-hour total: NaN there is an error.
# Elsewhere (jobs, segments) NaN means "not applicable" (the MFU of a replayed trace job).
NO_NAN = ("pools", "leases", "serving", "ledger")


def _finite(f: _Found, table: str, t: pa.Table, where) -> None:
    for field in t.schema:
        if not pa.types.is_floating(field.type):
            continue
        col = t[field.name]
        v = col.to_numpy(zero_copy_only=False).astype(float)
        valid = ~np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        bad = np.isinf(v) if table not in NO_NAN else ~np.isfinite(v)
        rows = np.flatnonzero(valid & bad)
        f.add(
            table,
            f"{field.name} is not a finite number",
            where(t, rows),
            (f"{field.name} = {v[i]}" for i in rows),
        )


OWNERS = ("lease", "training", "serving")


def _pools(f: _Found, t: pa.Table) -> None:
    online = _col(t, "gpu_hours_online")
    parts = sum(_col(t, f"gpu_hours_{k}") for k in (*OWNERS, "idle", "down"))
    rows = np.flatnonzero(np.abs(parts - online) > _tol(online))
    f.add(
        "pools",
        "owner GPU-hours + idle + down != online",
        _where_pool(t, rows),
        (
            ", ".join(f"{k} {_col(t, f'gpu_hours_{k}')[i]:.6g}" for k in (*OWNERS, "idle", "down"))
            + f" = {parts[i]:.6g} against online {online[i]:.6g}"
            for i in rows
        ),
    )
    gpus = _col(t, "gpus_online")
    held = sum(_col(t, f"gpus_{k}") for k in (*OWNERS, "idle", "down"))
    rows = np.flatnonzero(held != gpus)
    f.add(
        "pools",
        "owner GPUs + idle + down != online at 00:00",
        _where_pool(t, rows),
        (f"{held[i]:.0f} against {gpus[i]:.0f}" for i in rows),
    )
    cols = [c for c in t.column_names if c.startswith(("gpu_hours_", "gpus_"))]
    _not_negative(f, "pools", t, [*cols, "failures", "it_mw", "facility_mw"], _where_pool)


def _leases(f: _Found, t: pa.Table) -> None:
    def where(t, rows):
        return _where_row(t, rows, "contract")

    delivered, contracted = _col(t, "gpu_hours_delivered"), _col(t, "gpu_hours_contracted")
    rows = np.flatnonzero(delivered > contracted + _tol(contracted))
    f.add(
        "leases",
        "delivered GPU-hours above contracted",
        where(t, rows),
        (f"delivered {delivered[i]:.6g} > contracted {contracted[i]:.6g}" for i in rows),
    )
    cols = (
        "gpus_contracted",
        "gpus_held",
        "gpu_hours_contracted",
        "gpu_hours_delivered",
        "gpu_hours_short",
        "facility_mw_held",
        "usd_per_hour",
        "revenue_usd",
    )
    _not_negative(f, "leases", t, cols, where)


def _serving(f: _Found, t: pa.Table) -> None:
    def where(t, rows):
        days, names = _text(t, "date"), _text(t, "name")
        return [f"day {days[i]}, model {names[i]}" for i in rows]

    served, demand = _col(t, "served_tokens"), _col(t, "demand_tokens")
    rows = np.flatnonzero(served > demand + _tol(demand))
    f.add(
        "serving",
        "served tokens above demand",
        where(t, rows),
        (f"served {served[i]:.6g} > demand {demand[i]:.6g}" for i in rows),
    )
    cols = (
        "gpus",
        "tokens_per_s_per_gpu",
        "demand_tokens",
        "served_tokens",
        "revenue_usd",
        "input_tokens",
        "input_revenue_usd",
        "output_revenue_usd",
    )
    _not_negative(f, "serving", t, cols, where)


def _jobs(f: _Found, t: pa.Table) -> None:
    def where(t, rows):
        return _where_row(t, rows, "name")

    cols = (
        "gpus_requested",
        "tokens_target",
        "tokens_trained",
        "running_hours",
        "waiting_hours",
        "gpu_hours",
        "model_flops",
        "segments",
        "interruptions",
        "failures",
    )
    _not_negative(f, "jobs", t, cols, where)
    _within_unit(f, "jobs", t, ("ettr", "mfu", "mfu_with_wait"), where)


def _segments(f: _Found, t: pa.Table) -> None:
    def where(t, rows):
        return _where_row(t, rows, "name")

    start = t["start_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    end = t["end_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(end < start)
    f.add("segments", "ends before it starts", where(t, rows), ("" for _ in rows))
    cols = ("gpus", "gpus_used", "dp", "tokens", "model_flops", "peak_flop", "failures")
    _not_negative(f, "segments", t, cols, where)
    _within_unit(f, "segments", t, ("mfu", "mfu_bf16"), where)


def _ledger(f: _Found, tables: Mapping[str, pa.Table]) -> None:
    ledger = tables["ledger"]
    amount = _col(ledger, "amount_usd")
    account = np.asarray(_text(ledger, "account"), dtype=object)
    # a lease's revenue is its fees less the SLA credits booked against them
    for accts, table, col in (
        (("lease_revenue", "sla_credit"), "leases", "revenue_usd"),
        (("token_revenue",), "serving", "revenue_usd"),
    ):
        if table not in tables:
            continue
        acct = accts[0]
        booked = float(amount[np.isin(account, accts)].sum()) if len(amount) else 0.0
        rows = float(np.nansum(_col(tables[table], col)))
        if abs(booked - rows) > ABS_TOL + REL_TOL * max(abs(booked), abs(rows)) + 1e-6:
            f.add(
                "ledger",
                f"{acct} does not add up to {table}.{col}",
                ["whole run"],
                [f"ledger {booked:,.2f} USD against {table} {rows:,.2f} USD"],
            )


def _statement(f: _Found, ledger: pa.Table) -> None:
    """Ledger = statement: every account is on the chart, and the statement built from the
    ledger gives back its total (operating result - capex = all bookings, to the cent)."""
    amount = _col(ledger, "amount_usd")
    account = np.asarray(_text(ledger, "account"), dtype=object)
    unknown = sorted(set(account) - set(ACCOUNTS))
    if unknown:
        f.add("ledger", "accounts outside the chart of accounts", ["whole run"], unknown)
        return
    by_account = {a: float(amount[account == a].sum()) for a in set(account)}
    st = statement_lines(by_account)
    booked = float(amount.sum()) if len(amount) else 0.0
    stated = st["operating_result_usd"] - st["capex_usd"]
    if abs(booked - stated) > 0.01 + REL_TOL * abs(booked):
        f.add(
            "ledger",
            "the income statement does not add up to the ledger",
            ["whole run"],
            [f"ledger {booked:,.2f} USD against statement {stated:,.2f} USD"],
        )


def _any_row(t: pa.Table, rows: np.ndarray) -> list[str]:
    return [f"row {i + 1}" for i in rows]


CHECKS = {
    "pools": _pools,
    "leases": _leases,
    "serving": _serving,
    "jobs": _jobs,
    "segments": _segments,
}


def violations(tables: Mapping[str, pa.Table]) -> InvariantError | None:
    """Every broken invariant of a run's tables (None if all hold)."""
    f = _Found()
    for name, t in tables.items():
        if name in CHECKS and t.num_rows:
            CHECKS[name](f, t)
        _finite(f, name, t, _where_pool if name == "pools" else _any_row)
    if "ledger" in tables:
        _ledger(f, tables)
        _statement(f, tables["ledger"])
    return InvariantError(f.items, f.total) if f.total else None


def check(tables: Mapping[str, pa.Table]) -> None:
    """Raise InvariantError naming every broken invariant (table, day, pool) of the tables."""
    err = violations(tables)
    if err is not None:
        raise err
