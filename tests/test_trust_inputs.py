"""Bad input is an error with its file, dotted path and value, exit 2, never a traceback; what
validates also runs (issue 19 items 4, 5, 6, 10, 11; issue 18 item 9)."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from tests.conftest import ROOT
from tests.fuzzkit import clean_error, load_data, scenario_doc, scenario_with, sim, write_toml

WORKLOAD = load_data("small-workload.toml")


def _workload(**tables) -> dict:
    w = copy.deepcopy(WORKLOAD)
    w.update(copy.deepcopy(tables))
    return w


def _stream(**kw) -> dict:
    job = copy.deepcopy(WORKLOAD["training"][0])
    for k in ("submit", "tokens"):
        job.pop(k)
    job.update(
        name="s",
        job_class="exp",
        start=WORKLOAD["training"][0]["submit"],
        arrivals_per_day=1.0,
        replicas={"dist": "fixed", "value": 1.0},
        duration_days={"dist": "fixed", "value": 1.0},
    )
    job.update(kw)
    return job


def _serving(**kw) -> dict:
    s = {
        "name": "api",
        "model": {"params": 8e9, "layers": 32, "hidden": 4096, "heads": 32, "kv_heads": 8},
        "pools": ["small-gb200", "small-h100"],
        "demand_tokens_per_day": [["2026-03-01", 5e10]],
        "price_usd_per_million_tokens": 2.0,
    }
    s.update(kw)
    return s


def _both(capsys, path, *needles):
    """`sim validate` and `sim run` both reject the file cleanly, naming the needles."""
    clean_error(*sim(capsys, "validate", path)[::2], *needles)
    clean_error(*sim(capsys, "run", path, "--out", path.parent / "out")[::2], *needles)


# -- item 4: validate said OK, then `sim run` crashed ------------------------------------------


def test_a_pool_listed_twice_is_bad_input(tmp_path, capsys):
    job = copy.deepcopy(WORKLOAD["training"][0])
    job["pools"] = ["small-h100", "small-h100"]
    path = scenario_with(tmp_path, _workload(training=[job]))
    _both(capsys, path, "training[0].pools[1]", "listed twice")


def test_a_tranche_smaller_than_one_gpu_is_bad_input(tmp_path, capsys):
    lease = copy.deepcopy(WORKLOAD["leases"][0])
    lease["tranches"] = [{"pools": ["small-gb200"], "mw": 0.0001}]
    path = scenario_with(tmp_path, _workload(leases=[lease]))
    _both(capsys, path, "leases[0].tranches[0].mw", "less than one GPU")


def test_a_tranche_on_pools_without_gpus_is_bad_input(tmp_path, capsys):
    # found by the 10,000-case fuzz run: ValueError while pricing the tranche
    topo = load_data("small.toml")
    topo["phases"][2]["pool"] = "small-h100"  # no phase puts GPUs in small-gb200 any more
    site = {"topology": str(write_toml(tmp_path / "topology.toml", topo))}
    lease = copy.deepcopy(WORKLOAD["leases"][0])
    lease["tranches"] = [{"pools": ["small-gb200"], "gpus": 72}]
    path = scenario_with(tmp_path, _workload(leases=[lease]), sites=[site])
    _both(capsys, path, "leases[0].tranches[0].pools", "no phase of the scenario puts GPUs")


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("tp", 2**63, "integers must lie within"),  # an OverflowError writing the tables
        ("dp", 2**40, "one job holds at most 2,147,483,648"),  # 8 * 2**40 GPUs: the same
    ],
)
def test_a_layout_beyond_any_campus_is_bad_input(tmp_path, capsys, key, value, needle):
    job = copy.deepcopy(WORKLOAD["training"][0])
    job["parallelism"][key] = value
    path = scenario_with(tmp_path, _workload(training=[job]))
    _both(capsys, path, "training[0].parallelism", needle)


def test_a_served_model_with_fewer_hidden_units_than_heads_is_bad_input(tmp_path, capsys):
    # found by the 10,000-case fuzz run: hidden 1 over 32 heads, a head of width 0 (division
    # by zero sizing the KV cache)
    s = _serving(model={"params": 8e9, "layers": 32, "hidden": 1, "heads": 32, "kv_heads": 8})
    path = scenario_with(tmp_path, _workload(serving=[s]))
    _both(capsys, path, "serving[0].model", "must divide hidden")


@pytest.mark.parametrize("demand", [float("inf"), 1e300, -1.0, float("nan")])
def test_serving_demand_must_be_finite_and_not_negative(tmp_path, capsys, demand):
    # items 4 (inf: OverflowError) and 5 (negative: -$302M in serving.parquet; NaN columns)
    s = _serving(demand_tokens_per_day=[["2026-03-01", demand]])
    path = scenario_with(tmp_path, _workload(serving=[s]))
    _both(capsys, path, "serving[0].demand_tokens_per_day")


@pytest.mark.parametrize("key", ["duration_days", "replicas"])
def test_a_stream_draw_of_1e308_is_bad_input(tmp_path, capsys, key):
    s = _stream(**{key: {"dist": "fixed", "value": 1e308}})
    path = scenario_with(tmp_path, _workload(streams=[s]))
    _both(capsys, path, f"streams[0].{key}")


def test_a_negative_seed_is_bad_input(tmp_path, capsys):
    path = scenario_with(tmp_path, failures={"enabled": True})
    clean_error(*sim(capsys, "run", path, "--seed", -1, "--out", tmp_path / "o")[::2], "--seed")


# -- item 6: tracebacks on bad input ----------------------------------------------------------


def test_a_file_nested_500_deep_is_bad_input(tmp_path, capsys):
    for text in ("a = " + "[" * 500 + "]" * 500, "a = " + "{b = " * 500 + "1" + "}" * 500):
        path = tmp_path / "deep.toml"
        path.write_text(text)
        clean_error(*sim(capsys, "validate", path)[::2], "nested")


def test_a_symlink_loop_is_bad_input(tmp_path, capsys):
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    path = write_toml(tmp_path / "s.toml", scenario_doc(workloads=[str(loop)]))
    clean_error(*sim(capsys, "validate", path)[::2], "workloads[0]")
    clean_error(*sim(capsys, "validate", loop)[::2], "loop.toml")


def test_sim_run_on_a_directory_says_it_is_a_directory(tmp_path, capsys):
    # issue 18 item 9: `sim run runs` said "file not found"
    clean_error(*sim(capsys, "run", tmp_path)[::2], "is a directory")
    clean_error(*sim(capsys, "validate", tmp_path)[::2], "is a directory")


def test_compare_with_zero_seeds_is_bad_input(tmp_path, capsys):
    path = scenario_with(tmp_path)
    clean_error(*sim(capsys, "compare", path, "--policies", "fifo", "--seeds", 0)[::2], "--seeds")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from sim.runner import run

    tmp = tmp_path_factory.mktemp("run")
    out, _ = run(scenario_with(tmp), out=tmp / "out")
    return out


def _copy_run(run_dir, tmp_path):
    import shutil

    dest = tmp_path / "copy" / "seed=7"
    shutil.copytree(run_dir, dest)
    return dest


@pytest.mark.parametrize("damage", ["truncated-parquet", "manifest-list", "manifest-garbage"])
def test_reading_commands_on_a_damaged_run_folder_are_clean(tmp_path, capsys, run_dir, damage):
    d = _copy_run(run_dir, tmp_path)
    if damage == "truncated-parquet":
        p = d / "pools.parquet"
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "manifest-list":
        (d / "manifest.json").write_text("[1, 2]")
    else:
        (d / "manifest.json").write_text("{not json")
    for args in (["check", d], ["report", d], ["diff", run_dir, d]):
        code, _, err = sim(capsys, *args)
        clean_error(code, err, str(d.name))


def test_a_changed_byte_inside_a_table_fails_check(tmp_path, capsys, run_dir):
    # the footer and the row count stay right: only the recorded SHA-256 of the bytes tells
    d = _copy_run(run_dir, tmp_path)
    p = d / "jobs.parquet"
    data = bytearray(p.read_bytes())
    data[len(data) // 3] ^= 0xFF
    p.write_bytes(bytes(data))
    code, _, err = sim(capsys, "check", d)
    clean_error(code, err, "jobs.parquet", "bytes differ")


def test_ctrl_c_during_start_up_exits_130_without_a_traceback():
    # The child runs `python -m sim validate` and says "up" once the package's first lines
    # have run (before that, SIGINT is the interpreter's and runpy's business, not ours);
    # loading the commands and validating take ~2 s, and Ctrl-C lands at several points.
    boot = (
        f"import os, runpy, sys; sys.argv = ['-m', 'validate', {str(ROOT / 'runs/memphis-smoke.toml')!r}]; "
        "import sim; os.write(1, b'up\\n'); "
        "runpy.run_module('sim', run_name='__main__')"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for delay_s in (0.0, 0.2, 0.5, 1.0, 1.5):
        proc = subprocess.Popen(
            [sys.executable, "-c", boot],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline() == "up\n"
        time.sleep(delay_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        if proc.returncode == -signal.SIGINT:  # it had finished: SIGINT hit the interpreter's
            assert out.startswith("ok: "), (out, err)  # own shutdown (handlers restored)
            continue
        assert proc.returncode in (0, 130), (delay_s, proc.returncode, err)


# -- item 10: silently accepted nonsense ------------------------------------------------------


def test_failure_rates_for_an_unknown_gpu_type_are_bad_input(tmp_path, capsys):
    path = scenario_with(tmp_path, failures={"rates": {"H1OO": {"gpu_per_hour": 1e-5}}})
    _both(capsys, path, "failures.rates.H1OO", "unknown GPU type", "H100")


def test_repair_min_above_max_is_bad_input(tmp_path, capsys):
    path = scenario_with(tmp_path, failures={"repair": {"min_h": 10.0, "max_h": 5.0}})
    _both(capsys, path, "failures.repair.min_h")


def test_min_dp_above_dp_is_bad_input(tmp_path, capsys):
    job = copy.deepcopy(WORKLOAD["training"][0])
    job["min_dp"] = job["parallelism"]["dp"] + 1
    path = scenario_with(tmp_path, _workload(training=[job]))
    _both(capsys, path, "training[0].min_dp")


def test_the_same_workload_file_twice_is_bad_input(tmp_path, capsys):
    w = str(write_toml(tmp_path / "w.toml", WORKLOAD))
    path = write_toml(tmp_path / "s.toml", scenario_doc(workloads=[w, w]))
    _both(capsys, path, "workloads[1]", "already named by workloads[0]")


@pytest.mark.parametrize("end", ["9999-01-01", "2301-01-01"])
def test_a_horizon_beyond_the_supported_years_is_bad_input(tmp_path, capsys, end):
    path = scenario_with(tmp_path, horizon={"start": "2026-01-01", "end": end})
    text = path.read_text().replace(f'"{end}"', end).replace('"2026-01-01"', "2026-01-01")
    path.write_text(text)
    _both(capsys, path, "horizon.end", "2200")


def test_a_run_with_very_many_jobs_warns_first(tmp_path, capsys):
    s = _stream(arrivals_per_day=10_000.0, end="2026-02-01")
    path = scenario_with(tmp_path, _workload(streams=[s]))
    code, out, err = sim(capsys, "validate", path)
    assert code == 0, err
    # 2026-01-02 to 2026-02-01 is 30 days of 10,000 arrivals, plus the workload's training job
    assert f"warning: this run will create about {30 * 10_000 + 1:,} jobs" in err, err


# -- item 11: input size --------------------------------------------------------------------


def test_an_input_file_above_the_size_limit_is_refused_and_the_flag_raises_it(tmp_path, capsys):
    path = scenario_with(tmp_path)
    big = path.read_text() + "\n" + "# padding\n" * 120_000  # ~1.2 MB of comments
    path.write_text(big)
    clean_error(*sim(capsys, "--max-input-mb", 1, "validate", path)[::2], "MB", "--max-input-mb")
    assert sim(capsys, "--max-input-mb", 2, "validate", path)[0] == 0


# -- issue 18 item 9: wording ---------------------------------------------------------------


def test_a_bad_date_says_yyyy_mm_dd(tmp_path, capsys):
    path = scenario_with(tmp_path, horizon={"start": "2026-13-45", "end": "next year"})
    code, _, err = sim(capsys, "validate", path)
    clean_error(code, err, "horizon.start", "horizon.end", "YYYY-MM-DD")
    assert "invalid character" not in err and "month value" not in err, err


def test_a_misspelled_key_gets_did_you_mean(tmp_path, capsys):
    doc = scenario_doc()
    doc["horizon"]["strat"] = doc["horizon"].pop("start")
    doc["failures"]["enabeld"] = True
    path = write_toml(tmp_path / "s.toml", doc)
    code, _, err = sim(capsys, "validate", path)
    clean_error(code, err, "horizon.strat", "did you mean 'start'", "did you mean 'enabled'")


# -- trace import (items 6 and 11) ------------------------------------------------------------


def _import(capsys, tmp_path, src, fmt, *extra):
    return sim(
        capsys, "trace", "import", src, "--format", fmt, "--out", tmp_path / "t.parquet", *extra
    )


CSV_HEAD = "job_id,submission_time,duration,num_gpu\n"


def test_trace_import_of_a_non_utf8_file_is_bad_input(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_bytes(CSV_HEAD.encode() + b"j\xff\xfe1,0,10,1\n")
    clean_error(*_import(capsys, tmp_path, src, "elasticflow")[::2], "UTF-8")
    src.write_bytes(b'[{"jobid": "\xff"}]')
    clean_error(*_import(capsys, tmp_path, src, "philly")[::2], "UTF-8")


def test_trace_import_of_a_huge_field_or_line_is_bad_input(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text(CSV_HEAD + "j1,0,10,1\n" + "x" * 200_000 + ",0,10,1\n")
    clean_error(*_import(capsys, tmp_path, src, "elasticflow")[::2], "row 2")
    src.write_text(CSV_HEAD + "j1,0,10,1\n" + "y" * 3_000_000 + "\n")
    clean_error(*_import(capsys, tmp_path, src, "elasticflow")[::2], "row 2", "longer")


def test_trace_import_of_deeply_nested_json_is_bad_input(tmp_path, capsys):
    src = tmp_path / "t.json"
    src.write_text("[" * 50_000 + "]" * 50_000)
    clean_error(*_import(capsys, tmp_path, src, "philly")[::2], "nested")


def test_trace_import_of_a_gpu_count_beyond_int64_is_a_row_problem(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text(CSV_HEAD + "j1,0,10,1e20\n")
    clean_error(*_import(capsys, tmp_path, src, "elasticflow")[::2], "row 1.num_gpu")


def test_trace_import_with_a_mapped_column_that_is_missing_is_bad_input(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text(CSV_HEAD + "j1,0,10,1\n")
    maps = ["submit=submission_time", "gpus=num_gpu", "duration=duration", "job_id=nope"]
    args = [a for m in maps for a in ("--map", m)]
    clean_error(*_import(capsys, tmp_path, src, "csv", *args)[::2], "nope")


def test_trace_import_above_the_size_limit_is_refused(tmp_path, capsys):
    src = tmp_path / "t.csv"
    src.write_text(CSV_HEAD + "j1,0,10,1\n" * 120_000)  # ~1.2 MB
    code, _, err = _import(capsys, tmp_path, src, "elasticflow", "--max-input-mb", 1)
    clean_error(code, err, "--max-input-mb")
    code, _, err = _import(capsys, tmp_path, src, "elasticflow", "--max-input-mb", 2)
    assert code == 0, err
    assert pq.read_metadata(tmp_path / "t.parquet").num_rows == 120_000


def test_compare_with_no_policy_is_bad_input(tmp_path, capsys):
    # found by tests/test_fuzz_all.py: `--policies ,,` escaped with a ValueError
    path = scenario_with(tmp_path)
    clean_error(*sim(capsys, "compare", path, "--policies", ",,")[::2], "--policies")


def test_a_bug_is_one_line_not_a_traceback(capsys, monkeypatch):
    import sim.cli.validate as v

    def boom(path):
        raise TypeError("a bug")

    monkeypatch.setattr(v, "describe", boom)
    code, _, err = sim(capsys, "validate", "x.toml")
    assert code == 1 and "Traceback" not in err
    assert "internal error (a bug in colossus-sim" in err and "TypeError: a bug" in err


def test_trace_import_of_a_time_that_overflows_its_unit_is_a_row_problem(tmp_path, capsys):
    # found by tests/test_fuzz_all.py: 1e308 h is inf seconds; the import wrote a trace that
    # `read_trace` then refused
    src = tmp_path / "t.csv"
    src.write_text("id,t0,dur,g\nj1,0,1e308,1\n")
    maps = ["submit=t0", "gpus=g", "duration=dur"]
    args = [a for m in maps for a in ("--map", m)] + ["--time-unit", "h"]
    clean_error(*_import(capsys, tmp_path, src, "csv", *args)[::2], "row 1.dur", "too large")
