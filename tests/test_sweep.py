"""Sweeps: expansion and validation up front, engines with identical results, resuming,
failures recorded, the hive-partitioned dataset, shards."""

import datetime as dt
import json
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest

from sim import sweep as sw
from sim.cli import main
from sim.errors import InputError
from sim.spec.sweep import Range

DATA = Path(__file__).resolve().parent / "data"
SMALL = DATA / "small-scenario.toml"


def write_sweep(tmp_path: Path, body: str, name: str = "small") -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'name = "{name}"\nscenario = "{SMALL}"\n' + body)
    return p


# 2 policies x 2 power prices x 2 seeds = 8 runs of ~0.1 s
GOOD = """
seeds = [1, 2]
[[axes]]
path = "policy.kind"
values = ["fifo", "mfu-aware"]
[[axes]]
path = "prices.power_usd_per_mwh"
range = { start = 50, stop = 90, step = 40 }
"""


@pytest.fixture
def plan(tmp_path):
    return sw.expand(write_sweep(tmp_path, GOOD), tmp_path / "out")


def without_wall(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=["wall_s"]).reset_index(drop=True)


class Counting(ThreadPoolExecutor):
    """An executor (threads: runs are pure functions) that counts what it was given."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.submitted = []

    def submit(self, fn, *args, **kw):
        self.submitted.append(args[0])
        return super().submit(fn, *args, **kw)


def test_expand_is_the_cartesian_product_with_every_seed(plan):
    assert len(plan.points) == 2 * 2
    assert [t.seed for t in plan.tasks()] == [1, 2] * 4
    assert plan.points[1].labels == {"axis.policy.kind": "fifo", "axis.power_usd_per_mwh": 90.0}
    assert plan.points[2].overrides == {"policy.kind": "mfu-aware", "prices.power_usd_per_mwh": 50}
    # each point is a complete scenario file that `sim run` accepts as it is
    data = tomllib.loads(plan.points[3].file.read_text())
    assert data["policy"]["kind"] == "mfu-aware" and data["prices"]["power_usd_per_mwh"] == 90
    assert json.loads((plan.out_dir / "sweep.json").read_text())["seeds"] == [1, 2]


def test_every_bad_axis_is_reported_at_once(tmp_path):
    bad = write_sweep(
        tmp_path,
        """
seeds = [1]
[[axes]]
path = "sites[3].phase_online.x"
values = [2026-01-01]
[[axes]]
path = "policy.kind"
values = ["fifo", "no-such-policy"]
[[axes]]
path = "horizon.end"
values = [2025-01-01, "not a date"]
[[axes]]
path = "prices.power_usd_per_mwh"
values = [-1]
""",
    )
    with pytest.raises(InputError) as err:
        sw.expand(bad, tmp_path / "out")
    where = [p.path for p in err.value.problems]
    assert where == [
        "axes[0].path",
        "axes[1].values[1]",
        "axes[2].values[0]",
        "axes[2].values[1]",
        "axes[3].values[0]",
    ]
    assert "no index 3" in err.value.problems[0].message
    assert not (tmp_path / "out" / "small" / "sweep.json").exists()  # nothing planned, nothing run


def test_structural_problems_name_their_path(tmp_path):
    bad = write_sweep(
        tmp_path,
        """
[[axes]]
path = "policy..kind"
values = []
[[axes]]
path = "prices.power_usd_per_mwh"
values = [1]
range = { start = 1, stop = 2, step = 1 }
""",
    )
    with pytest.raises(InputError) as err:
        sw.expand(bad, tmp_path / "out")
    assert {p.path for p in err.value.problems} >= {"axes[0].path", "axes[0].values", "axes[1]"}


def test_cli_bad_sweep_exits_2(tmp_path, capsys):
    bad = write_sweep(tmp_path, '[[axes]]\npath = "policy.kind"\nvalues = ["nope"]\n')
    with pytest.raises(SystemExit) as ex:
        main(["sweep", str(bad), "--out", str(tmp_path / "out")])
    assert ex.value.code == 2
    assert "axes[0].values[0]" in capsys.readouterr().err


def test_ranges_include_their_stop():
    assert Range(start=50, stop=90, step=20).values() == [50, 70, 90]
    assert Range(start=0.5, stop=1.0, num=3).values() == [0.5, 0.75, 1.0]
    d = Range(start=dt.date(2026, 1, 1), stop=dt.date(2026, 1, 31), step=15).values()
    assert d == [dt.date(2026, 1, 1), dt.date(2026, 1, 16), dt.date(2026, 1, 31)]


def test_set_path_and_toml_round_trip():
    base = {"sites": [{"topology": "a.toml"}, {"topology": "b.toml"}], "policy": {"kind": "fifo"}}
    out = sw.set_path(base, "sites[1].phase_online.c2-x", dt.date(2026, 6, 1))
    assert out["sites"][1]["phase_online"] == {"c2-x": dt.date(2026, 6, 1)}
    assert "phase_online" not in base["sites"][1]  # the base is not changed
    assert sw.set_path(base, "policy", {"kind": "mfu-aware"})["policy"] == {"kind": "mfu-aware"}
    with pytest.raises(ValueError, match="no index 2"):
        sw.set_path(base, "sites[2].topology", "c.toml")
    with pytest.raises(ValueError, match="not a table"):
        sw.set_path(base, "policy.kind.x", 1)
    text = sw.to_toml({"name": 'a "b"', "x": 1.5, **out, "p": {"q": [1, 2], "r": {"s": True}}})
    assert tomllib.loads(text)["sites"][1]["phase_online"]["c2-x"] == dt.date(2026, 6, 1)
    assert tomllib.loads(text)["name"] == 'a "b"'


def test_local_and_dask_engines_give_identical_results(plan, tmp_path):
    pytest.importorskip("distributed")
    with sw.local_engine(2) as (ex, n):
        local = sw.run_sweep(plan, ex, n)
    assert (local.status == "ok").all(), local.error.tolist()
    plan_d = sw.expand(plan.file, tmp_path / "out-dask")
    with sw.dask_engine(workers=2) as (ex, n):
        dask = sw.run_sweep(plan_d, ex, n)
    pd.testing.assert_frame_equal(without_wall(local), without_wall(dask))
    for table in ("jobs", "segments", "pools"):
        a = sw.read_table(plan.out_dir, table).sort_values(["scenario", "seed"], kind="stable")
        b = sw.read_table(plan_d.out_dir, table).sort_values(["scenario", "seed"], kind="stable")
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_a_killed_sweep_reruns_only_what_is_missing(plan):
    with Counting() as ex:
        first = sw.run_sweep(plan, ex, 2)
    assert len(ex.submitted) == 8 and (first.status == "ok").all()
    # A kill mid-way: two runs never wrote their done marker (one had moved its tables already).
    for scenario, seed in (("s01", 2), ("s03", 1)):
        (sw.meta_dir(plan.out_dir, scenario, seed) / "result.json").unlink()
    with Counting() as ex:
        again = sw.run_sweep(plan, ex, 2)
    assert sorted((t.scenario_id, t.seed) for t in ex.submitted) == [("s01", 2), ("s03", 1)]
    pd.testing.assert_frame_equal(without_wall(first), without_wall(again))
    with Counting() as ex:
        sw.run_sweep(plan, ex, 2)
    assert ex.submitted == []


def test_a_changed_point_is_recomputed(plan, tmp_path):
    with Counting() as ex:
        sw.run_sweep(plan, ex, 2)
    changed = plan.file.read_text().replace("step = 40", "step = 20")  # 50, 70, 90
    plan.file.write_text(changed)
    plan2 = sw.expand(plan.file, tmp_path / "out")
    with Counting() as ex:
        sw.run_sweep(plan2, ex, 2)
    # s00 (fifo, 50) is the same scenario; the other ids now name different scenarios
    assert ("s00", 1) not in {(t.scenario_id, t.seed) for t in ex.submitted}
    assert len(ex.submitted) == 2 * (6 - 1)


def test_a_failing_run_is_recorded_and_does_not_stop_the_others(plan, monkeypatch):
    import sim.runner

    real = sim.runner.run

    def flaky(path, seed=None, out=None, **kw):
        if seed == 2 and path.endswith("s02.toml"):
            raise RuntimeError("boom <b>")
        return real(path, seed, out, **kw)

    monkeypatch.setattr(sim.runner, "run", flaky)
    seen = []
    with Counting() as ex:
        df = sw.run_sweep(plan, ex, 2, progress=lambda p: seen.append((p.done, p.failed)))
    bad = df[df.status == "failed"]
    assert list(zip(bad.scenario, bad.seed, strict=True)) == [("s02", 2)]
    assert bad.error.iloc[0] == "RuntimeError: boom <b>"
    assert (df.status == "ok").sum() == 7
    assert seen[-1] == (7, 1)
    monkeypatch.setattr(sim.runner, "run", real)
    with Counting() as ex:  # a re-run retries the failed run only
        df = sw.run_sweep(plan, ex, 2)
    assert [(t.scenario_id, t.seed) for t in ex.submitted] == [("s02", 2)]
    assert (df.status == "ok").all()


def test_the_dataset_reads_with_no_glue(plan):
    with Counting() as ex:
        sw.run_sweep(plan, ex, 2)
    root = plan.out_dir
    assert (root / "jobs" / "scenario=s00" / "seed=1" / "part.parquet").is_file()
    jobs = pd.read_parquet(root / "jobs")
    assert set(jobs.scenario.astype(str)) == {"s00", "s01", "s02", "s03"}
    assert set(jobs.seed.astype(int)) == {1, 2}
    ds = pads.dataset(root / "segments", partitioning="hive")
    assert {"scenario", "seed", "mfu"} <= set(ds.schema.names)
    # every row carries its point's axis values: no join with the summary needed
    axes = plan.axis_columns()
    assert axes and set(axes) <= set(jobs.columns)
    by_point = {p.id: p.labels for p in plan.points}
    for sid, g in jobs.groupby(jobs.scenario.astype(str)):
        for a in axes:
            assert set(g[a]) == {by_point[sid][a]}
    summary = pd.read_parquet(root / "summary.parquet")
    assert len(summary) == 8 and "mfu.all_training" in summary
    assert len(pd.read_csv(root / "summary.csv")) == 8
    duckdb = pytest.importorskip("duckdb")
    n = duckdb.sql(
        f"select count(distinct scenario) from read_parquet('{root}/jobs/*/*/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()[0][0]
    assert n == 4


def test_shards_split_the_runs_and_any_rerun_merges(plan):
    a, b = plan.tasks((0, 3)), plan.tasks((1, 3))
    c = plan.tasks((2, 3))
    assert sorted(a + b + c, key=lambda t: (t.scenario_id, t.seed)) == plan.tasks()
    for part in ((0, 2), (1, 2)):
        with Counting() as ex:
            sw.run_sweep(plan, ex, 2, shard=part)
        assert len(ex.submitted) == 4
    with Counting() as ex:
        df = sw.run_sweep(plan, ex, 2)
    assert ex.submitted == [] and (df.status == "ok").all()


def test_cli_sweep_runs_and_resumes(tmp_path, capsys):
    f = write_sweep(tmp_path, GOOD)
    with pytest.raises(SystemExit) as ex:
        main(["sweep", str(f), "--out", str(tmp_path / "o"), "--workers", "2", "--no-progress"])
    assert ex.value.code == 0
    err = capsys.readouterr().err
    assert "8 runs: 0 already done, 8 to run" in err and "eta" in err
    with pytest.raises(SystemExit) as ex:
        main(["sweep", str(f), "--out", str(tmp_path / "o"), "--no-progress"])
    assert "8 already done, 0 to run" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_smoke_runs():
    root = Path(__file__).resolve().parent.parent
    plan = sw.expand(root / "runs" / "sweep-smoke.toml")
    with sw.local_engine() as (ex, n):
        df = sw.run_sweep(plan, ex, n)
    assert (df.status == "ok").all()
