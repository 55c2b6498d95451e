"""Expectations: the [expect] table, its evaluation, `sim run` / `sim check` exit codes and files."""

import json
import math
import textwrap
import xml.etree.ElementTree as ET

import pytest

from sim.cli import main
from sim.errors import InputError
from sim.expect import check_runs, evaluate, find_runs, spread
from sim.spec.base import validate
from sim.spec.expect import Expectation, ExpectFile
from tests.conftest import DATA

# KPIs of the small scenario (tests/data/small-scenario.toml) that do not depend on the seed.
LEASE = "lease.tenant-a.0.delivered_fraction"


def scenario(tmp_path, expect: str = "", name: str = "small") -> str:
    """The small scenario with an [expect] table, written in tmp_path with absolute paths."""
    path = tmp_path / f"{name}.toml"
    text = f"""
        name = "{name}"
        seed = 7
        workloads = ["{DATA / "small-workload.toml"}"]
        [horizon]
        start = 2026-01-01
        end = 2026-06-01
        [[sites]]
        topology = "{DATA / "small.toml"}"
        [failures]
        enabled = false  # these checks are about expectations, not failure draws
        """
    path.write_text(textwrap.dedent(text) + textwrap.dedent(expect))
    return str(path)


def sim(capsys, *args) -> tuple[int, str, str]:
    """Run the `sim` command in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def problems(data) -> list[str]:
    with pytest.raises(InputError) as exc:
        validate(ExpectFile, {"expect": data}, file="x.toml")
    return [str(p) for p in exc.value.problems]


# --- the format ---------------------------------------------------------------------------


def test_strict_format_names_each_mistake_with_its_dotted_path():
    found = problems(
        {
            "mfu.pool.a": {"min": 0.5, "max": 0.3},
            "revenue.lease_usd": {"ref": 1.0},
            "b": {"rel": 0.1},
            "c": {"min": 0.1, "maxi": 2},
            "d": 3,
            "e": {},
            "f": {"ref": 1.0, "rel": -1},
        }
    )
    text = "\n".join(found)
    assert len(found) == 7, text
    assert "expect.mfu.pool.a: min (0.5) is above max (0.3)" in text
    assert "expect.revenue.lease_usd: ref needs a tolerance" in text
    assert "expect.b: rel and abs are tolerances around ref" in text
    assert "expect.c.maxi: unknown key" in text
    assert "expect.d: expected a table of checks" in text
    assert "expect.e: give min, max, ref" in text
    assert "expect.f.rel" in text


def test_unquoted_dotted_keys_are_flattened_to_kpi_names(tmp_path):
    from sim.spec.scenario import load_scenario

    path = scenario(
        tmp_path,
        """
        [expect]
        mfu.pool.small-h100 = { min = 0.1 }
        "revenue.lease_usd" = { ref = 2e6, rel = 0.01 }
        lease.tenant-a.0.delivered_fraction = { min = 0.99 }
        """,
    )
    sc, _ = load_scenario(path)
    assert set(sc.expect) == {"mfu.pool.small-h100", "revenue.lease_usd", LEASE}


# --- evaluation ---------------------------------------------------------------------------


def test_bounds_tolerances_missing_kpis_and_nan():
    exp = {
        "a": Expectation(min=1, max=2),
        "b": Expectation(ref=100, rel=0.01),
        "c": Expectation(ref=100, abs=5),
        "mfu.pool.c2-gb201": Expectation(min=0.1),
        "d": Expectation(max=1),
    }
    kpis = {"a": 2.5, "b": 101.0, "c": 106.0, "mfu.pool.c2-gb200": 0.4, "d": math.nan}
    by = {c.kpi: c for c in evaluate(exp, {"r": kpis})}
    assert by["a"].failed and by["a"].value == 2.5 and "above max 2" in by["a"].message
    assert by["b"].status == "pass"  # 1% of 100 is 1: 101 is on the edge
    assert by["c"].failed and "+6" in by["c"].message
    missing = by["mfu.pool.c2-gb201"]
    assert missing.failed and missing.value is None
    assert "no KPI 'mfu.pool.c2-gb201'" in missing.message
    assert "mfu.pool.c2-gb200" in missing.message  # the close match is named
    assert by["d"].failed and "NaN" in by["d"].message


def test_spread_across_seeds():
    exp = {"x": Expectation(spread_max=0.05), "y": Expectation(min=0, spread_max=0.05)}
    runs = {"s=1": {"x": 1.0, "y": 1.0}, "s=2": {"x": 1.02, "y": 1.5}}
    checks = evaluate(exp, runs)
    spreads = {c.kpi: c for c in checks if c.run == "spread over seeds"}
    assert spreads["x"].status == "pass"
    assert spreads["y"].failed and spreads["y"].value == pytest.approx(0.4)
    assert sum(c.kpi == "y" and c.run != "spread over seeds" for c in checks) == 2
    one = evaluate(exp, {"s=1": {"x": 1.0, "y": 1.0}})
    assert [c.status for c in one if c.run == "spread over seeds"] == ["skip", "skip"]
    assert spread([0.0, 0.0]) == 0 and spread([-1.0, 1.0]) == math.inf


# --- the commands -------------------------------------------------------------------------


def test_passing_expectations_exit_0_and_write_summary_and_junit(tmp_path, capsys):
    path = scenario(
        tmp_path,
        f"""
        [expect]
        "{LEASE}" = {{ min = 0.99 }}
        "jobs.pretrain.finished" = {{ ref = 1, abs = 0 }}
        "mfu.all_training" = {{ min = 0.05, max = 0.95 }}
        """,
    )
    summary, junit = tmp_path / "ci/summary.json", tmp_path / "ci/junit.xml"
    code, out, _ = sim(
        capsys, "run", path, "--out", tmp_path / "out", "--summary-json", summary, "--junit", junit
    )
    assert code == 0, out
    assert "expectations: 3 checks, 3 passed, 0 failed" in out
    assert "\x1b[" not in out  # no colour when not a terminal
    data = json.loads(summary.read_text())
    assert data["ok"] is True and data["exit_code"] == 0
    assert data["counts"] == {"checks": 3, "passed": 3, "failed": 0, "skipped": 0}
    (run,) = data["runs"]
    assert run["scenario"] == "small" and run["seed"] == 7 and len(run["scenario_hash"]) == 16
    assert "pydantic" in run["versions"] and run["kpis"][LEASE] == 1.0
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "0"


def test_failing_expectation_exits_1_with_the_value_and_check_agrees(tmp_path, capsys):
    path = scenario(
        tmp_path,
        f"""
        [expect]
        "{LEASE}" = {{ min = 0.99 }}
        "jobs.pretrain.tokens_trained" = {{ min = 3e10 }}
        "mfu.pool.small-h101" = {{ min = 0.1 }}
        """,
    )
    junit = tmp_path / "junit.xml"
    code, out, _ = sim(capsys, "run", path, "--out", tmp_path / "out", "--junit", junit)
    assert code == 1
    lines = [x for x in out.splitlines() if x.strip().startswith("FAIL")]
    assert len(lines) == 2, out
    assert "jobs.pretrain.tokens_trained" in lines[0] and "2e+10" in lines[0]
    assert "below min 3e+10" in lines[0]
    assert "no KPI 'mfu.pool.small-h101'" in lines[1] and "mfu.pool.small-h100" in lines[1]
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 2 and "2e+10" in failures[0].get("message")

    # `sim check` on the run folder evaluates the same expectations to the same outcome.
    run_dir = tmp_path / "out/small/seed=7"
    code2, out2, _ = sim(capsys, "check", run_dir, "--junit", tmp_path / "junit2.xml")
    assert code2 == 1
    assert [x for x in out2.splitlines() if x.strip().startswith("FAIL")] == lines
    assert (tmp_path / "junit2.xml").read_text() == junit.read_text()

    # ... and against edited expectations, still without simulating.
    fixed = scenario(tmp_path, f'[expect]\n"{LEASE}" = {{ min = 0.99 }}\n', name="fixed")
    code3, out3, _ = sim(capsys, "check", run_dir, "--expect", fixed)
    assert code3 == 0, out3


def test_json_output_carries_the_checks(tmp_path, capsys):
    path = scenario(tmp_path, '[expect]\n"mfu.all_training" = { max = 0.01 }\n')
    code, out, err = sim(capsys, "run", path, "--out", tmp_path / "out", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["checks"][0]["status"] == "fail"
    assert "FAIL mfu.all_training" in err


def test_invalid_expectations_exit_2_with_the_path_and_write_an_error_report(tmp_path, capsys):
    path = scenario(tmp_path, '[expect]\n"mfu.all_training" = { min = 0.9, max = 0.1 }\n')
    summary, junit = tmp_path / "s.json", tmp_path / "j.xml"
    code, out, err = sim(
        capsys, "run", path, "--out", tmp_path / "out", "--summary-json", summary, "--junit", junit
    )
    assert code == 2 and "Traceback" not in err
    assert "expect.mfu.all_training: min (0.9) is above max (0.1)" in err
    assert json.loads(summary.read_text())["exit_code"] == 2
    assert ET.parse(junit).getroot().get("errors") == "1"
    code, _, err = sim(capsys, "check", tmp_path / "nowhere")
    assert code == 2 and "no such run folder" in err


def test_check_a_folder_of_runs_per_run_and_across_seeds(tmp_path, capsys):
    path = scenario(
        tmp_path,
        f"""
        [expect]
        "{LEASE}" = {{ min = 0.99, spread_max = 0 }}
        "jobs.pretrain.tokens_trained" = {{ spread_max = 0.01 }}
        """,
    )
    for seed in (1, 2):
        assert sim(capsys, "run", path, "--seed", seed, "--out", tmp_path / "sweep")[0] == 0
    (tmp_path / "sweep/.small.tmp").mkdir()  # a run being written is not a run
    (tmp_path / "sweep/.small.tmp/manifest.json").write_text("{}")
    assert [p.name for p in find_runs(tmp_path / "sweep")] == ["seed=1", "seed=2"]
    report = check_runs(tmp_path / "sweep")
    assert report.ok and len(report.runs) == 2
    assert sorted((c.run, c.kpi) for c in report.checks) == [
        ("small/seed=1", LEASE),
        ("small/seed=2", LEASE),
        ("spread over seeds", "jobs.pretrain.tokens_trained"),
        ("spread over seeds", LEASE),
    ]
    code, out, _ = sim(capsys, "check", tmp_path / "sweep")
    assert code == 0 and "2 runs" in out
