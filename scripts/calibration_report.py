"""Regenerate docs/calibration.md: every calibration row, the model's value and the error.

Usage: python scripts/calibration_report.py [--check] [--fit-inference]
  --check: exit 1 if the file is stale; --fit-inference: first refit the serving constants
  (sim/data/inference_fit.toml) by the procedure in sim/perf/inference_calibration.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sim.perf.calibration import report

OUT = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


def main(argv: list[str]) -> int:
    if "--fit-inference" in argv:
        from sim.perf import inference_calibration, inference_fit

        fitted = inference_calibration.refit()
        print(f"wrote {inference_fit.FIT_PATH}: {fitted}")
        # the constants are read at import: write the report from a fresh interpreter
        rest = [a for a in argv if a != "--fit-inference"]
        os.execv(sys.executable, [sys.executable, __file__, *rest])
    text = report()
    if "--check" in argv:
        current = OUT.read_text() if OUT.is_file() else ""
        if current != text:
            print(f"{OUT} is stale; run python scripts/calibration_report.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
