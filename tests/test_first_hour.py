"""A new user's first hour (issue 18): the README's two lines in CI, the getting-started
commands as written (on the smoke scenario), `sim check` on a sweep, `sim validate` and
`sim schema` for every kind of file, progress lines for logs, and the summary's wording."""

import json
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from sim import sweep as sw
from sim.cli import main
from sim.cli.run import ProgressLog
from sim.cli.validate import KINDS
from sim.diff import DEFAULT_REL, Item
from sim.report import format_summary, policy_label, summarize

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def sim(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return ex.value.code, out.out, out.err


def scenario_with_expect(tmp: Path, extra: str = "") -> Path:
    """The small test scenario, with absolute paths and an [expect] table."""
    text = (DATA / "small-scenario.toml").read_text()
    text = text.replace('"small-workload.toml"', json.dumps(str(DATA / "small-workload.toml")))
    text = text.replace('"small.toml"', json.dumps(str(DATA / "small.toml")))
    f = tmp / "scenario.toml"
    f.write_text(text + extra + '\n[expect]\n"mfu.all_training" = { min = 0.1 }\n')
    return f


def sweep_file(tmp: Path, scenario: Path, values: str = '["fifo", "mfu-aware"]') -> Path:
    f = tmp / "sweep.toml"
    f.write_text(
        f'name = "s"\nscenario = {json.dumps(str(scenario))}\nseeds = [1, 2]\n'
        f'[[axes]]\npath = "policy.kind"\nvalues = {values}\n'
    )
    return f


# -- CI ----------------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command_and_fails_when_no_test_ran(tmp_path):
    readme = (ROOT / "README.md").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    line1, line2 = readme[0], readme[1]
    assert "sim run runs/memphis.toml" in line1 and "pytest" in line2
    assert line2 in ci and line1 not in ci  # CI runs the test command, verbatim, and only it
    assert "set -euo pipefail" in ci  # so any non-zero exit fails CI, pytest's included
    # pytest exits non-zero (5) when it collects no test: such a CI run fails
    (tmp_path / "test_nothing.py").write_text("")
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 5, res.stdout
    # Chromium from the distribution's packages, installed only when missing
    assert any("apt-get install -y chromium" in c for c in ci)
    assert any("[ ! -x /usr/bin/chromium ]" in c for c in ci)


# -- getting started, as written ---------------------------------------------------------------


def doc_commands(doc: str) -> list[str]:
    """The `sim ...` lines of a doc's bash blocks, comments dropped."""
    text = (ROOT / "docs" / doc).read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            cmd = line.split("#", 1)[0].strip()
            if cmd.startswith("sim "):
                lines.append(cmd)
    return lines


def smoke(cmd: str, out: Path) -> list[str]:
    """A getting-started command on the smoke scenario, its outputs under `out`."""
    cmd = cmd.replace("runs/memphis.toml", "runs/memphis-smoke.toml")
    cmd = cmd.replace("runs/out/memphis/", f"{out}/memphis-smoke/")
    cmd = cmd.replace("runs/out/", f"{out}/")
    args = shlex.split(cmd)[1:]
    if args[0] in ("run", "sweep") and "--out" not in args:
        args += ["--out", str(out)]
    return [
        a if not a.startswith("runs/") and not a.startswith("examples/") else str(ROOT / a)
        for a in args
    ]


def test_getting_started_commands_run_on_the_smoke_scenario(tmp_path, capsys, monkeypatch):
    cmds = doc_commands("getting-started.md")
    assert [c.split()[1] for c in cmds] == [
        "validate",
        "run",
        "report",
        "validate",
        "sweep",
        "report",
        "check",
        "explain",
        "mfu",
    ]
    monkeypatch.chdir(tmp_path)  # nothing is written beside the repository's files
    for cmd in cmds:
        args = smoke(cmd, tmp_path)
        if args[0] == "sweep" or "runs/out/sweep-smoke" in cmd:
            continue  # the sweep and its outputs: the slow test below
        code, out, err = sim(capsys, *args)
        assert code == 0, (cmd, out, err)
    assert (tmp_path / "memphis-smoke" / "seed=1" / "report" / "index.html").is_file()
    # the pandas lines of "Reading the results", on the smoke run
    text = (ROOT / "docs" / "getting-started.md").read_text()
    block = re.search(r"## Reading the results\n```python\n(.*?)```", text, re.S).group(1)
    block = block.replace("runs/out/memphis/", f"{tmp_path}/memphis-smoke/")
    lines = [line for line in block.splitlines() if "sweep-smoke" not in line]
    scope: dict = {}
    exec("\n".join(lines), scope)  # noqa: S102 - the doc's own code
    assert len(scope["seg"]) > 0 and len(scope["jobs"]) > 0


@pytest.mark.slow
def test_getting_started_sweep_commands_on_one_seed(tmp_path, capsys):
    """The sweep lines of getting-started, on sweep-smoke cut to one seed (6 runs)."""
    text = (ROOT / "runs" / "sweep-smoke.toml").read_text()
    text = text.replace(
        'scenario = "memphis-smoke.toml"', f'scenario = "{ROOT / "runs" / "memphis-smoke.toml"}"'
    )
    text = re.sub(r"seeds = .*", "seeds = [1]", text)
    (tmp_path / "sweep-smoke.toml").write_text(text)
    for cmd in doc_commands("getting-started.md"):
        if "sweep-smoke" in cmd and not cmd.startswith("sim validate"):
            args = smoke(
                cmd.replace("runs/sweep-smoke.toml", str(tmp_path / "sweep-smoke.toml")), tmp_path
            )
            code, out, err = sim(capsys, *args)
            # check: the smoke references hold for its own policy and failure rate only
            assert code == (1 if args[0] == "check" else 0), (cmd, out, err)
    assert (tmp_path / "sweep-smoke" / "report" / "index.html").is_file()


# -- sim check on a sweep ------------------------------------------------------------------------


def test_check_checks_every_run_of_a_sweep(tmp_path, capsys):
    plan = sw.expand(sweep_file(tmp_path, scenario_with_expect(tmp_path)), tmp_path / "out")
    with ThreadPoolExecutor(2) as ex:
        sw.run_sweep(plan, ex, 2)
    code, out, err = sim(capsys, "check", plan.out_dir)
    assert code == 0, (out, err)
    assert "4 runs in" in out and "4 checks, 4 passed" in out
    strict = tmp_path / "strict.toml"
    strict.write_text('[expect]\n"mfu.all_training" = { min = 0.99 }\n')
    code, out, _ = sim(capsys, "check", plan.out_dir, "--expect", strict)
    assert code == 1 and "4 failed" in out


# -- sim validate and sim schema ----------------------------------------------------------------


def test_validate_takes_each_kind_of_file_as_what_it_is(tmp_path, capsys):
    scenario = scenario_with_expect(tmp_path)
    sweep = sweep_file(tmp_path, scenario)
    before = sorted(p.name for p in tmp_path.iterdir())
    files = {
        "scenario": scenario,
        "topology": DATA / "small.toml",
        "workload": DATA / "small-workload.toml",
        "sweep": sweep,
        "mfu": ROOT / "examples" / "mfu" / "llama31-405b-h100-dgxc.toml",
        "serve": ROOT / "examples" / "serve" / "llama3-70b-h100-fp8.toml",
        "the smoke sweep": ROOT / "runs" / "sweep-smoke.toml",
    }
    code, out, err = sim(capsys, "validate", *files.values())
    assert code == 0, err
    said = dict(zip(files, out.splitlines(), strict=True))
    assert "scenario 'small'" in said["scenario"]
    assert "topology 'small'" in said["topology"]
    assert said["workload"].endswith("workload: 1 training, 1 leases")
    assert "sweep 's': 2 scenarios x 2 seeds = 4 runs" in said["sweep"]
    assert "mfu: 405B-parameter model" in said["mfu"]
    assert "serve: 71B-parameter model on H100 at fp8" in said["serve"]
    assert "sweep 'sweep-smoke': 6 scenarios x 4 seeds" in said["the smoke sweep"]
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    # a sweep file's problems are a sweep file's, with the axis value that causes them
    code, _, err = sim(capsys, "validate", sweep_file(tmp_path, scenario, '["fifo", "nope"]'))
    assert code == 2 and "axes[0].values[1]" in err and "required key" not in err
    code, _, err = sim(capsys, "validate", tmp_path)
    assert code == 2 and "is a directory" in err


@pytest.mark.parametrize("kind", KINDS)
def test_schema_covers_every_kind(kind, capsys):
    code, out, _ = sim(capsys, "schema", kind)
    schema = json.loads(out)
    assert code == 0 and schema["type"] == "object" and schema["properties"]


# -- progress, summary and diff wording ----------------------------------------------------------


def test_progress_lines_for_a_log_every_few_seconds():
    import datetime as dt

    now = [0.0]
    lines: list[str] = []
    log = ProgressLog(dt.date(2026, 1, 1), dt.date(2026, 11, 28), 5.0, lambda: now[0], lines.append)
    for t, f in ((1.0, 0.01), (4.9, 0.05), (6.0, 0.25), (8.0, 0.3), (12.0, 0.5), (20.0, 1.0)):
        now[0] = t
        log(f)
    # a line at 6 s and 12 s (every 5 s at most); 331 days in the horizon
    assert lines == [
        f"simulated {dt.date(2026, 1, 1) + dt.timedelta(days=int(0.25 * 331))} (25% of the "
        f"horizon), 6 s elapsed, ETA {6 * 0.75 / 0.25:,.0f} s",
        f"simulated {dt.date(2026, 1, 1) + dt.timedelta(days=int(0.5 * 331))} (50% of the "
        f"horizon), 12 s elapsed, ETA {12 * 0.5 / 0.5:,.0f} s",
    ]


def test_a_run_for_a_log_reads_its_scenario_once(tmp_path, capsys, monkeypatch):
    # not on a terminal, `sim run` dates its progress lines from the scenario it simulates
    import sim.cli.run as cli_run
    import sim.runner as runner

    reads = []
    real = runner.prepare

    def counted(path, tables=None):
        reads.append(path)
        return real(path, tables)

    monkeypatch.setattr(runner, "prepare", counted)
    monkeypatch.setattr(cli_run, "prepare", counted)
    code, _, _ = sim(capsys, "run", DATA / "small-scenario.toml", "--out", tmp_path)
    assert code == 0 and len(reads) == 1


def test_summary_says_what_events_counts_and_joins_pools(tmp_path, capsys):
    code, out, _ = sim(capsys, "run", DATA / "small-scenario.toml", "--out", tmp_path)
    assert code == 0
    run_dir = tmp_path / "small" / "seed=7"
    rows = len(pd.read_parquet(run_dir / "events.parquet"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert f"{manifest['events']:,} simulation events (SimPy steps)" in out
    assert f"events.parquet: {rows:,} rows, one per recorded state change" in out
    s = summarize(run_dir)
    s["mfu_by_pool"] = {"c1-h100,c1-h200": 0.5}
    assert "  pools c1-h100 + c1-h200: 50.0%" in format_summary(s)


def test_policies_are_named_with_their_switches(tmp_path):
    from sim.compare import compare

    assert policy_label({"kind": "fifo", "params": {"backfill": True}}) == "fifo+backfill"
    assert policy_label({"kind": "fifo", "params": {"backfill": False}}) == "fifo"
    scenario = scenario_with_expect(tmp_path, "").read_text()
    f = tmp_path / "backfill.toml"
    f.write_text(scenario.replace('kind = "fifo"', 'kind = "fifo"\nparams = { backfill = true }'))
    with ThreadPoolExecutor(1) as ex:
        table = compare(f, ["fifo", "internal-first"], [1], tmp_path / "out", ex)
    assert table.policy.tolist() == ["fifo+backfill", "internal-first"]


def test_diff_ignores_changes_below_its_default_tolerance_unless_asked():
    a = 0.0095  # a price per GPU-hour, moving in its fourth digit
    tiny = Item("r", "kpi", "revenue.usd_per_gpu_hour.c2-gb300", a, a * (1 + 1e-5), DEFAULT_REL)
    assert not tiny.moved
    assert Item("r", "kpi", tiny.name, a, a * (1 + 1e-5), 0.0).moved  # --rel 0
    assert Item("r", "kpi", tiny.name, a, a * 1.01, DEFAULT_REL).moved  # 1% is news
