"""Engine.run makes the collector's full passes rarer during a run by a fixed bound and
restores the thresholds after (see `sim.engine.FULL_GC_EVERY`)."""

from __future__ import annotations

import gc

import numpy as np

from sim.engine import FULL_GC_EVERY, Engine
from sim.recorder import Recorder
from sim.runner import prepare
from sim.trace_file import write_trace
from sim.traces import poisson_trace
from tests.test_replay import DATA


def _engine(tmp_path) -> Engine:
    write_trace(tmp_path / "trace.parquet", poisson_trace(50, 4.0, 1.0, gpus=(1, 8), seed=1))
    (tmp_path / "w.toml").write_text(
        '[[traces]]\nname = "t"\nfile = "trace.parquet"\nstart = 2026-01-01\npools = ["hgx"]\n'
    )
    (tmp_path / "s.toml").write_text(
        'name = "gc"\nseed = 1\nworkloads = ["w.toml"]\n'
        "[horizon]\nstart = 2026-01-01\nend = 2026-01-03\n"
        f'[[sites]]\ntopology = "{DATA / "hgx.toml"}"\nphase_gpus = {{ hgx = 64 }}\n'
        '[policy]\nkind = "fifo"\n[failures]\nenabled = false\n'
    )
    prep = prepare(tmp_path / "s.toml")
    return Engine.from_prepared(prep, seed=1, recorder=Recorder())


def test_a_run_bounds_full_passes_and_restores_the_thresholds(tmp_path):
    before = gc.get_threshold()
    try:
        # Python's default gen-2 threshold, and one already far above the bound (interleaved
        # restores of runs in threads may leave one): kept as it is, never multiplied
        for gen2 in (10, np.iinfo(np.int32).max):
            gc.set_threshold(before[0], before[1], gen2)
            during = []
            _engine(tmp_path).run(progress=lambda _f, seen=during: seen.append(gc.get_threshold()))
            *running, after = during  # (the last report comes once the run is over)
            assert set(running) == {(before[0], before[1], max(gen2, FULL_GC_EVERY))}
            assert after == gc.get_threshold() == (before[0], before[1], gen2)
    finally:
        gc.set_threshold(*before)
