"""Fit the performance constants, cross-validate them and regenerate docs/calibration.md and
sim/data/perf_fit.toml (the fitted constants and the prediction-interval quantiles).

Usage: python scripts/calibration_report.py [--check]   (--check: exit 1 if either is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.perf.calibration_report import report
from sim.perf.constants import FIT_PATH
from sim.perf.fit import cross_validate, fit_toml

OUT = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


def outputs() -> dict[Path, str]:
    cv = cross_validate()
    return {OUT: report(cv), FIT_PATH: fit_toml(cv)}


def main(argv: list[str]) -> int:
    files = outputs()
    if "--check" in argv:
        stale = [p for p, text in files.items() if (p.read_text() if p.is_file() else "") != text]
        for p in stale:
            print(f"{p} is stale; run python scripts/calibration_report.py", file=sys.stderr)
        return 1 if stale else 0
    for p, text in files.items():
        p.write_text(text)
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
