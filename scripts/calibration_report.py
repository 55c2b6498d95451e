"""Fit the training constants, cross-validate them and regenerate docs/calibration.md and
sim/data/perf_fit.toml (the fitted constants and the prediction-interval quantiles).

Usage: python scripts/calibration_report.py [--check] [--fit-inference]
  --check: exit 1 if either file is stale; --fit-inference: first refit the serving constants
  (sim/data/inference_fit.toml) by the procedure in sim/perf/inference_calibration.py.
"""

from __future__ import annotations

import os
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
    if "--fit-inference" in argv:
        from sim.perf import inference_calibration, inference_fit

        fitted = inference_calibration.refit()
        print(f"wrote {inference_fit.FIT_PATH}: {fitted}")
        # the constants are read at import: write the report from a fresh interpreter
        rest = [a for a in argv if a != "--fit-inference"]
        os.execv(sys.executable, [sys.executable, __file__, *rest])
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
