"""The project's own CI check: the default scenario's smoke variant meets its [expect] table.

`runs/memphis-smoke.toml` carries references for its KPIs; when a change moves one beyond its
tolerance this test fails and prints the failed checks with the values seen.
"""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

from tests.conftest import ROOT


def test_smoke_scenario_meets_its_expectations(tmp_path):
    summary, junit = tmp_path / "summary.json", tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim",
            "run",
            "runs/memphis-smoke.toml",
            "--out",
            str(tmp_path / "out"),
            "--summary-json",
            str(summary),
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(summary.read_text())
    assert data["ok"] is True
    assert data["counts"]["checks"] >= 10 and data["counts"]["failed"] == 0
    assert data["runs"][0]["scenario"] == "memphis-smoke"
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests")) == data["counts"]["checks"]
