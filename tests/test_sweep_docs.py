"""The generated scenario reference (docs/scenario-reference.md) matches the input models."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_scenario_reference_is_current():
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "scenario_reference.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert res.returncode == 0, res.stderr + "regenerate: python scripts/scenario_reference.py"
