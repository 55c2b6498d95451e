"""Start-up (issue 15): each command loads only what it uses. `sim --help` needs click alone;
`sim validate` parses and checks with pydantic, and builds no arrays, graphs or tables; `sim run`
simulates and writes tables without the report, plot, calibration or cluster stack.

Checked on the modules a fresh interpreter has loaded when the command ends, not on a clock,
so that the tests hold on any machine (the measured times: docs/benchmarks.md, Start-up).
"""

import json
import subprocess
import sys

import pytest

from tests.conftest import DATA, ROOT

# Loaded for a run only (tens to hundreds of ms each to import): the engine, its arrays and its
# tables; networkx when the fabric graph is built, rich.progress for a bar on a terminal.
RUN_STACK = {"numpy", "pandas", "pyarrow", "simpy", "networkx", "rich"}
# Loaded for reports, sweeps on a cluster, calibration fits and queries only.
REPORT_STACK = {"matplotlib", "plotly", "dask", "distributed", "duckdb", "scipy", "SALib"}

# Runs `sim ARGS` as the console script does (sim.cli.main), then prints the exit code and the
# top-level packages loaded, as the last line of stdout.
PROBE = """
import json, sys
from sim.cli import main
code = None  # main() always exits
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, sorted({m.partition(".")[0] for m in sys.modules})]))
"""


def loaded(*args) -> set[str]:
    """Top-level packages a fresh `sim ARGS` process has loaded when it ends; it must exit 0."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )
    code, modules = json.loads(proc.stdout.splitlines()[-1])
    assert code == 0, proc.stderr
    return set(modules)


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_loads_click_only(args):
    assert loaded(*args) & (RUN_STACK | REPORT_STACK | {"pydantic"}) == set()


@pytest.mark.parametrize(
    "file",
    [
        "runs/memphis.toml",
        "topologies/colossus1.toml",
        "workloads/memphis-leases.toml",
        "runs/sweep-smoke.toml",
        "examples/mfu/llama31-405b-h100-dgxc.toml",
        "examples/serve/deepseek-r1-h200-fp8.toml",
    ],
)
def test_validate_loads_no_run_or_report_stack(file):  # one file of each kind
    assert loaded("validate", file) & (RUN_STACK | REPORT_STACK) == set()


def test_run_loads_no_report_stack_graph_or_progress_bar(tmp_path):
    got = loaded("run", DATA / "small-scenario.toml", "--out", tmp_path, "--no-progress")
    assert got & (REPORT_STACK | {"networkx", "rich"}) == set()
    assert {"numpy", "simpy", "pyarrow"} <= got  # the probe sees what a run does load
