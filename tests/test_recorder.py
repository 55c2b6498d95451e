"""The recorder turns the instants rows give (hours from the run's start) into UTC timestamps a
column at a time: the same microseconds as the per-value rule t0 + round(h * 3.6e9)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sim.recorder import Recorder

T0_US = 1_767_225_600_000_000  # 2026-01-01 00:00 UTC in microseconds since the epoch


def _events(hours: list) -> pa.Array:
    rec = Recorder()
    rec.clock(T0_US)
    write = rec.writer("events", ("at", "kind", "owner_id", "subject", "gpus", "detail"))
    for h in hours:
        write(h, "start", 1, "job", 8, "")
    return dict(rec.tables())["events"].column("at").combine_chunks()


def test_instants_are_the_per_value_rule_a_column_at_a_time():
    rng = np.random.default_rng(7)
    # ties of the rounding (0.5, 1.5 and 2.5 microseconds: the products are exact) round half
    # to even, as Python's `round` does (to 0, 2, 2); the rest spread over a 30-year horizon
    ties = [(k + 0.5) / 3.6e9 for k in range(3)]
    assert [round(h * 3.6e9) for h in ties] == [0, 2, 2]
    hours = [0.0, 1.0 / 3.0, 24.0 * 365 * 30, *ties, *rng.uniform(0, 3e5, 1000).tolist()]
    got = _events(hours).cast(pa.int64()).to_pylist()
    assert got == [T0_US + round(h * 3.6e9) for h in hours]


def test_a_missing_instant_is_null_and_the_others_keep_their_place():
    got = _events([2.0, None, 0.5]).cast(pa.int64()).to_pylist()
    assert got == [T0_US + 2 * 3_600_000_000, None, T0_US + 1_800_000_000]


def test_instants_without_a_clock_are_refused():
    rec = Recorder()
    rec.writer("events", ("at", "kind", "owner_id", "subject", "gpus", "detail"))(
        1.0, "start", 1, "job", 8, ""
    )
    with pytest.raises(RuntimeError, match="no clock"):
        dict(rec.tables())
