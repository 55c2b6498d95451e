"""docs/hypotheses.md's figures are the output of the command it names (regenerated, not typed)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_worked_example_is_current():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "hypotheses_doc.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
