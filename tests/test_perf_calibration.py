"""The calibration report is regenerated here, so it cannot drift, and its targets hold."""

from __future__ import annotations

from pathlib import Path

from sim.perf.calibration import mape, report, training_rows

DOC = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


def test_report_is_up_to_date():
    assert DOC.read_text() == report(), "run: python scripts/calibration_report.py"


def test_training_rows_within_targets():
    rows = training_rows()
    assert len(rows) == 19
    assert mape(rows) <= 0.10
    worst = max(rows, key=lambda r: abs(r.error))
    assert abs(worst.error) <= 0.20, worst


def test_calibration_csvs_keep_their_source_notes():
    for name in ("training.csv", "inference.csv"):
        text = (DOC.parents[1] / "calibration" / name).read_text()
        assert text.startswith("# ")
