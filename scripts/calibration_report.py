"""Regenerate docs/calibration.md: every calibration row, the model's value and the error.

Usage: python scripts/calibration_report.py [--check]   (--check: exit 1 if the file is stale)
"""

from __future__ import annotations

import sys
from pathlib import Path

from sim.perf.calibration import report

OUT = Path(__file__).resolve().parents[1] / "docs" / "calibration.md"


def main(argv: list[str]) -> int:
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
