"""Serving calibration: enough cited rows, a reproducible fit, and its out-of-sample error."""

from __future__ import annotations

import pytest

from sim.perf.inference_calibration import fit, loso_of_table, mape, rows
from sim.perf.inference_fit import FITTED, NAMES

RESERVED = ("inferencemax", "inferencex", "semianalysis", "deepseek-r1 mlperf", "v6.")


def test_rows_cover_sources_models_and_gpus():
    rs = rows()
    assert len(rs) >= 20
    assert len({r.source for r in rs}) >= 4
    assert any(r.is_moe for r in rs) and any(not r.is_moe for r in rs)
    assert {"H100", "H200", "GB200"} <= {r.gpu for r in rs}
    for r in rs:  # nothing from the reserved validation sets
        assert not any(x in f"{r.source} {r.table}".lower() for x in RESERVED), r
        assert r.gpu != "GB300" or not r.source.startswith("mlperf"), r


def test_stored_constants_are_the_fit_of_the_table():
    refit = fit()
    for k in NAMES:
        assert getattr(refit, k) == pytest.approx(getattr(FITTED, k), rel=1e-3), k


def test_leave_one_source_out_error_is_within_15_percent():
    held = [e for _, es in loso_of_table("source").values() for e in es]
    assert len(held) == len(rows())
    assert mape(held) <= 0.15
