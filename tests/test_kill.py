"""Nothing lost: a run killed at any moment leaves a complete run folder or none, and a re-run
with the same seed reproduces identical tables."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from sim.runner import run
from tests.conftest import ROOT


@pytest.fixture
def scenario(tmp_path):
    """The smoke scenario with failures off (~1 s): long enough to be killed mid-run or
    mid-write, short enough for the default test run."""
    text = (ROOT / "runs/memphis-smoke.toml").read_text().replace('"../', f'"{ROOT}/')
    text = text.split("[expect]")[0] + "\n[failures]\nenabled = false\n"
    path = tmp_path / "memphis-smoke.toml"
    path.write_text(text)
    return path


def _complete_or_absent(run_dir):
    if not run_dir.exists():
        return "absent"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for table, rows in manifest["rows"].items():
        assert pq.read_metadata(run_dir / f"{table}.parquet").num_rows == rows
    return "complete"


# The killed run: Ctrl-C as at a terminal, whatever the disposition it inherited (a job started
# in the background by a shell ignores SIGINT); it reports its progress in a file and, once past
# `hold` (below 1: mid-simulation), waits there for the kill, so that the kill lands mid-run
# however fast the run and however busy the machine.
KILLED_RUN = """
import signal, sys, time
from pathlib import Path
from sim.runner import run
signal.signal(signal.SIGINT, signal.default_int_handler)
mark, hold, held = Path(sys.argv[3]), float(sys.argv[4]), []
def progress(f):
    mark.write_text(repr(f))
    if hold <= f < 1.0 and not held:
        held.append(f)
        time.sleep(60)
run(sys.argv[1], out=sys.argv[2], progress=progress)
"""


def _reached(mark) -> float:
    try:
        return float(mark.read_text() or 0.0)
    except (FileNotFoundError, ValueError):  # not written yet, or caught mid-write
        return 0.0


def _kill_when(scenario, out, mark, sig, at_fraction: float) -> float:
    """Start a run, kill it with `sig` once it has simulated `at_fraction` of its horizon (as
    its progress callback reports), and return the fraction it had reached at the kill."""
    mark.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(scenario), str(out), str(mark), str(at_fraction)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline, reached = time.monotonic() + 120, 0.0
    while proc.poll() is None and reached < at_fraction and time.monotonic() < deadline:
        time.sleep(0.005)
        # the most seen so far: a read may catch the file mid-write (empty, read as 0)
        reached = max(reached, _reached(mark))
    ended_by_itself = proc.poll() is not None
    if not ended_by_itself:
        os.kill(proc.pid, sig)
    _, err = proc.communicate()
    # a run that ended on its own before the kill must have ended well (say why it did not)
    assert not ended_by_itself or proc.returncode == 0, (proc.returncode, err.decode()[-2000:])
    return reached


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_killed_run_leaves_a_complete_folder_or_none(tmp_path, scenario, sig):
    reference, _ = run(scenario, out=tmp_path / "reference")
    out, mark = tmp_path / "killed", tmp_path / "progress"
    run_dir = out / "memphis-smoke" / "seed=1"
    # killed mid-simulation, with no folder yet: none is left
    reached = _kill_when(scenario, out, mark, sig, 0.3)
    assert 0.3 <= reached < 1.0, f"the kill did not land mid-run (progress {reached})"
    assert _complete_or_absent(run_dir) == "absent"
    # a complete folder, then a run killed mid-simulation: the previous folder stays whole
    run(scenario, out=out)
    reached = _kill_when(scenario, out, mark, sig, 0.5)
    assert 0.5 <= reached < 1.0, f"the kill did not land mid-run (progress {reached})"
    assert _complete_or_absent(run_dir) == "complete"
    # killed once the simulation is done, while (or after) it writes: complete or absent
    shutil.rmtree(run_dir)
    _kill_when(scenario, out, mark, sig, 1.0)
    assert _complete_or_absent(run_dir) in ("complete", "absent")
    # never a half-written Parquet where a reader looks; stale temporaries are hidden
    assert not [p for p in (out / "memphis-smoke").glob("seed=1*") if p.name != "seed=1"]
    # re-running with the same seed gives the reference tables and clears what a kill left
    run_dir, _ = run(scenario, out=out)
    assert not [p for p in run_dir.parent.iterdir() if p.name != "seed=1"]
    for f in sorted(reference.glob("*.parquet")):
        assert pq.read_table(f).equals(pq.read_table(run_dir / f.name)), f.name
