"""Trace importers: each public format's sample (tests/data/traces, real column layouts) reads
into the normalised trace; malformed rows are rejected with their row number and the reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import InputError
from sim.trace_file import SCHEMA, read_trace, write_trace
from sim.traces import import_trace, parse_map

DATA = Path(__file__).parent / "data" / "traces"


def rows(result) -> list[tuple]:
    t = result.table
    return list(
        zip(
            t["job_id"].to_pylist(),
            t["submit_s"].to_pylist(),
            t["duration_s"].to_pylist(),
            t["gpus"].to_pylist(),
            t["gpu_model"].to_pylist(),
            strict=True,
        )
    )


def test_elasticflow_keeps_relative_times_and_skips_non_gpu_rows():
    r = import_trace(DATA / "elasticflow.csv", "elasticflow")
    assert r.table.schema == SCHEMA
    assert rows(r)[0] == ("6b2d9ccc-6279-403c-e1a2-cfe7810d5c57", 16566.0, 3890.0, 4, "")
    assert r.rows == 7 and r.table.num_rows == 5
    assert r.skipped == {"without GPUs": 1, "of zero duration": 1}
    # GPU-hours: 4 x 3890 + 600 + 8 x 7200 + 2 x 120 + 16 x 86400 GPU-seconds
    t = r.table
    gpus, durations = t["gpus"].to_pylist(), t["duration_s"].to_pylist()
    gpu_s = sum(g * d for g, d in zip(gpus, durations, strict=True))
    assert gpu_s == 4 * 3890 + 600 + 8 * 7200 + 2 * 120 + 16 * 86400


def test_itp_is_an_alias_of_elasticflow():
    assert rows(import_trace(DATA / "elasticflow.csv", "itp")) == rows(
        import_trace(DATA / "elasticflow.csv", "elasticflow")
    )


def test_alibaba_pods_run_from_scheduled_to_deleted():
    r = import_trace(DATA / "alibaba-openb_pod_list.csv", "alibaba")
    got = rows(r)
    assert got[0] == ("openb-pod-0017", 9437497.0, 10769854.0 - 9437497.0, 8, "")
    # submitted at creation, running from scheduling (5 s later) to deletion
    assert got[2] == ("openb-pod-0035", 9967058.0, 9968575.0 - 9967063.0, 1, "V100M16|V100M32")
    assert got[3][1:] == (10000000.0, 10036000.0 - 10000050.0, 4, "A10")
    assert r.skipped == {"CPU-only pods": 1, "never scheduled": 1}


def test_helios_is_measured_from_midnight_of_the_first_day():
    got = rows(import_trace(DATA / "helios-cluster_log.csv", "helios"))
    assert got[0] == ("1425511", 18 * 3600 + 41 * 60 + 1.0, 36848.0, 1, "")
    assert got[-1] == ("1425515", 86400 + 9 * 3600.0, 43200.0, 16, "")
    assert len(got) == 4  # the CPU-only job is skipped


def test_acme_times_with_an_offset_become_utc():
    seren = rows(import_trace(DATA / "acme-trace_seren.csv", "acme"))
    # 2023-03-01 00:18:22+08:00 = 2023-02-28 16:18:22 UTC; origin 2023-02-28 00:00 UTC
    assert seren[0] == ("5778432", 16 * 3600 + 18 * 60 + 22.0, 117.0, 8, "")
    assert seren[2][1:] == (86400.0, 86400.0, 32, "")  # 08:00+08:00 = 00:00 UTC the next day
    kalos = rows(import_trace(DATA / "acme-trace_kalos.csv", "acme"))
    assert kalos[0] == ("dlctk696s0jbvitv", 11 * 3600 + 58.0, 18.0, 64, "")


def test_philly_sums_complete_attempts_and_counts_their_gpus():
    r = import_trace(DATA / "philly-cluster_job_log.json", "philly")
    got = rows(r)
    # two attempts on 8 GPUs: 01:12:09-01:13:23 (74 s), 10-07 01:13:30-10-09 06:53:12
    second = 2 * 86400 + 5 * 3600 + 39 * 60 + 42.0
    assert got[0] == ("application_1506638472019_14199", 3600 + 11 * 60 + 39.0, 74 + second, 8, "")
    assert got[1][1:4] == (7140.0, 3600.0, 2)  # one GPU on each of two servers
    assert r.skipped == {"without a complete attempt": 2}  # no attempts; still running


def test_generic_csv_with_a_mapping_and_a_time_unit():
    m = parse_map(["submit=arrival_min", "start=start", "end=end", "gpus=gpus", "job_id=id"])
    got = rows(import_trace(DATA / "generic.csv", "csv", {**m, "gpu_model": "model"}, "min"))
    assert got == [("a", 0.0, 3600.0, 8, "H100"), ("b", 1800.0, 900.0, 2, "A100")]


@pytest.mark.parametrize(
    "name, fmt, expected",
    [
        (
            "elasticflow-bad.csv",
            "elasticflow",
            [
                "row 2.num_gpu: is not a number (got 'two')",
                "row 3.duration: must be >= 0 (got '-5')",
                "row 4.num_gpu: must be a whole number >= 0 (got '1.5')",
            ],
        ),
        (
            "alibaba-bad.csv",
            "alibaba-gpu-2023",
            [
                "row 1.deletion_time: is before the pod was created or scheduled (got '900')",
                "row 2.num_gpu: must be a whole number >= 0 (got '-1')",
            ],
        ),
        (
            "philly-bad.json",
            "philly",
            [
                "row 1.attempts[0].end_time: is before its start_time",
                "row 2.submitted_time: is not a date and time",
            ],
        ),
    ],
)
def test_malformed_rows_are_rejected_with_row_number_and_reason(name, fmt, expected):
    with pytest.raises(InputError) as err:
        import_trace(DATA / name, fmt)
    messages = [str(p) for p in err.value.problems]
    assert len(messages) == len(expected)
    for msg, want in zip(messages, expected, strict=True):
        assert want in msg and name in msg


def test_skip_bad_drops_and_counts_malformed_rows():
    r = import_trace(DATA / "elasticflow-bad.csv", "elasticflow", skip_bad=True)
    assert r.table["job_id"].to_pylist() == ["ok-1"] and r.bad == 3


def test_missing_columns_and_bad_mappings_are_input_errors(tmp_path):
    src = tmp_path / "x.csv"
    src.write_text("job_id,submission_time,num_gpu\nj,0,1\n")
    with pytest.raises(InputError, match="row 1.duration: column is missing"):
        import_trace(src, "elasticflow")
    with pytest.raises(InputError, match="unknown format"):
        import_trace(src, "slurm")
    with pytest.raises(InputError, match="give duration=COLUMN"):
        import_trace(src, "csv", {"submit": "submission_time", "gpus": "num_gpu"})


def test_imported_trace_round_trips_through_the_parquet_reader(tmp_path):
    r = import_trace(DATA / "helios-cluster_log.csv", "helios")
    jobs = read_trace(write_trace(tmp_path / "h.parquet", r.table))
    assert list(jobs.gpus) == [1, 4, 1, 16] and jobs.duration_s[0] == 36848.0


def test_cli_imports_and_reports_bad_rows_with_exit_2(tmp_path):
    out = tmp_path / "t.parquet"
    cmd = [sys.executable, "-m", "sim", "trace", "import"]
    ok = subprocess.run(
        [*cmd, str(DATA / "philly-cluster_job_log.json"), "--format", "philly", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "2 jobs" in ok.stdout and len(read_trace(out)) == 2
    bad = subprocess.run(
        [*cmd, str(DATA / "elasticflow-bad.csv"), "--format", "itp", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "row 2.num_gpu: is not a number" in bad.stderr
