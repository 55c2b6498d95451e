"""Sweeps under odd input and kills: emoji, formula-like labels, a killed parent (issue 19
items 8, 10 emoji, 12)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from sim import sweep as sw
from tests.conftest import ROOT
from tests.fuzzkit import scenario_doc, write_toml

EMOJI = "GPU \U0001f680 sweep \u00e9\u4e2d \x7f"


def _sweep(tmp_path: Path, body: str, **scenario) -> Path:
    base = write_toml(tmp_path / "base.toml", scenario_doc(**scenario))
    p = tmp_path / "sw.toml"
    p.write_text(f'name = "sw"\nscenario = "{base}"\nseeds = [1]\n' + body)
    return p


def test_a_scenario_with_an_emoji_can_be_swept(tmp_path):
    # issue 19 item 10: surrogate escapes in the generated TOML, and the error blamed `axes`
    path = _sweep(
        tmp_path,
        '[[axes]]\npath = "policy.kind"\nvalues = ["fifo", "mfu-aware"]\n'
        'labels = ["\U0001f680 fifo", "\u00e9 mfu"]\n',
        description=EMOJI,
    )
    plan = sw.expand(path, tmp_path / "out")
    assert len(plan.points) == 2
    for p in plan.points:
        with p.file.open("rb") as fh:
            assert tomllib.load(fh)["description"] == EMOJI


def test_to_toml_round_trips_every_string(tmp_path):
    strings = [EMOJI, '"quoted" \\ back', "tab\tnew\nline", "\x00\x1f\x7f", "\U0010ffff"]
    doc = {"s": strings, "t": {"k \U0001f680": strings[0]}}
    assert tomllib.loads(sw.to_toml(doc)) == doc


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    # issue 19 item 12: axis labels such as =HYPERLINK(...) went verbatim into summary.csv
    values = ", ".join('"fifo"' for _ in FORMULAS)
    labels = ", ".join(_toml_str(f) for f in FORMULAS)
    path = _sweep(
        tmp_path,
        f'[[axes]]\nname = "pol"\npath = "policy.kind"\nvalues = [{values}]\nlabels = [{labels}]\n',
    )
    plan = sw.expand(path, tmp_path / "out")
    sw.write_summary(plan)
    with (plan.out_dir / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    cells = [r["axis.pol"] for r in rows]
    assert cells == ["'" + f for f in FORMULAS]
    # the Parquet summary keeps the labels as they are; numbers are never touched
    import pandas as pd

    df = pd.read_parquet(plan.out_dir / "summary.parquet")
    assert list(df["axis.pol"]) == FORMULAS
    assert all(not r["seed"].startswith("'") for r in rows)


def _toml_str(s: str) -> str:
    import json

    return json.dumps(s)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_sweep_workers_die_with_a_killed_parent(tmp_path):
    # issue 19 item 8: SIGKILL of `sim sweep` orphaned its workers (~260 MB each, for minutes)
    body = "seeds = { start = 1, count = 40 }\n"
    base = write_toml(
        tmp_path / "base.toml",
        scenario_doc(horizon={"start": "2026-01-01", "end": "2029-01-01"}, failures={}),
    )
    text = (tmp_path / "base.toml").read_text()
    for d in ("2026-01-01", "2029-01-01"):
        text = text.replace(f'"{d}"', d)
    base.write_text(text)
    path = tmp_path / "sw.toml"
    path.write_text(f'name = "sw"\nscenario = "{base}"\n' + body)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", str(path), "--workers", "2", "--no-progress"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = _descendants(proc.pid)
    assert len(workers) >= 2, "the sweep started no workers"
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:  # clean up before failing
        os.kill(p, signal.SIGKILL)
    assert left == []


def test_a_sweep_without_seeds_is_bad_input(tmp_path):
    # found by tests/test_fuzz_all.py: `seeds = []` passed, then the summary raised KeyError
    from sim.errors import InputError

    path = _sweep(tmp_path, "")
    path.write_text(path.read_text().replace("seeds = [1]", "seeds = []"))
    with pytest.raises(InputError, match="seeds: give at least one seed"):
        sw.expand(path, tmp_path / "out")


@pytest.mark.parametrize(
    "rng",
    [
        "{ start = -inf, stop = 90, step = 40 }",
        "{ start = 0, stop = nan, num = 3 }",
        "{ start = 0, stop = 1e9, step = 1 }",
    ],
)
def test_a_range_with_no_finite_values_is_bad_input(tmp_path, rng):
    # found by tests/test_fuzz_all.py: start = -inf raised OverflowError in `sim sweep --dry-run`
    from sim.errors import InputError

    path = _sweep(tmp_path, f'[[axes]]\npath = "prices.power_usd_per_mwh"\nrange = {rng}\n')
    with pytest.raises(InputError, match="axes"):
        sw.expand(path, tmp_path / "out")
