"""The invariants every run's tables must satisfy (sim/invariants.py): each rule catches a
perturbed table and names its table, day and pool; real runs pass; a violation fails the run."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from sim import invariants, runner
from sim.engine import Engine
from sim.invariants import InvariantError
from sim.recorder import Recorder
from tests.fuzzkit import scenario_with, sim


def _tables(path) -> dict[str, pa.Table]:
    prep = runner.prepare(path)
    rec = Recorder()
    Engine.from_prepared(prep, seed=prep.scenario.seed, recorder=rec).run(None)
    return dict(rec.tables())


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """The small scenario with internal serving added (it has a job, a lease and a stream)."""
    from tests.test_trust_inputs import WORKLOAD, _serving

    tmp = tmp_path_factory.mktemp("inv")
    return _tables(scenario_with(tmp, {**WORKLOAD, "serving": [_serving()]}))


def _set(tables, table, col, row, value):
    t = tables[table]
    v = t[col].to_pylist()
    v[row] = value
    i = t.column_names.index(col)
    return {
        **tables,
        table: t.set_column(i, t.schema.field(i), pa.array(v, t.schema.field(i).type)),
    }


def _day_pool(t: pa.Table, row: int) -> tuple[str, str]:
    day = t["date"][row].as_py().date().isoformat()
    pool = t["pool"].cast(pa.string())[row].as_py()
    return day, pool


def test_the_small_scenario_satisfies_every_invariant(tables):
    assert invariants.violations(tables) is None


def test_gpu_hours_not_adding_up_names_the_day_and_pool(tables):
    row = 40
    t = tables["pools"]
    bad = _set(
        tables, "pools", "gpu_hours_training", row, t["gpu_hours_training"][row].as_py() + 1.0
    )
    err = invariants.violations(bad)
    day, pool = _day_pool(t, row)
    assert err.total == 1
    assert str(err.violations[0]).startswith(f"pools: day {day}, pool {pool}: owner GPU-hours")


def test_negative_idle_is_caught_even_when_the_sum_holds(tables):
    # issue 19 item 2's symptom: idle = online - owners - down went negative
    row = 41
    t = tables["pools"]
    idle, lease = t["gpu_hours_idle"][row].as_py(), t["gpu_hours_lease"][row].as_py()
    bad = _set(tables, "pools", "gpu_hours_idle", row, -250.0)
    bad = _set(bad, "pools", "gpu_hours_lease", row, lease + idle + 250.0)
    err = invariants.violations(bad)
    day, pool = _day_pool(t, row)
    assert [v.rule for v in err.violations] == ["gpu_hours_idle is negative"]
    assert err.violations[0].where == f"day {day}, pool {pool}"


def test_gpu_counts_at_midnight_must_add_up(tables):
    bad = _set(tables, "pools", "gpus_idle", 3, tables["pools"]["gpus_idle"][3].as_py() + 8)
    assert "owner GPUs + idle + down != online" in str(invariants.violations(bad))


def test_delivered_above_contracted_and_negative_delivery(tables):
    contracted = tables["leases"]["gpu_hours_contracted"][0].as_py()
    err = invariants.violations(_set(tables, "leases", "gpu_hours_delivered", 0, contracted * 1.01))
    assert "leases: row 1 (tenant-a): delivered GPU-hours above contracted" in str(err)
    err = invariants.violations(_set(tables, "leases", "gpu_hours_delivered", 0, -342_515.0))
    assert "gpu_hours_delivered is negative" in str(err)


def test_served_above_demand(tables):
    t = tables["serving"]
    row = int(np.argmax(t["demand_tokens"].to_numpy()))
    demand = t["demand_tokens"][row].as_py()
    err = invariants.violations(_set(tables, "serving", "served_tokens", row, demand * 2))
    assert "serving: day" in str(err) and "served tokens above demand" in str(err)


def test_nan_and_negative_money_and_mfu_above_one(tables):
    err = invariants.violations(_set(tables, "serving", "revenue_usd", 0, float("nan")))
    assert "revenue_usd is not a finite number" in str(err)
    err = invariants.violations(_set(tables, "jobs", "mfu", 0, 1.5))
    assert "jobs: row 1 (llama-8b): mfu is outside [0, 1]" in str(err)


def test_ledger_revenue_must_match_the_leases_table(tables):
    t = tables["leases"]
    err = invariants.violations(
        _set(tables, "leases", "revenue_usd", 0, t["revenue_usd"][0].as_py() + 1e3)
    )
    assert "ledger: whole run: lease_revenue does not add up to leases.revenue_usd" in str(err)


def test_a_run_that_breaks_an_invariant_fails_and_writes_nothing(tmp_path, capsys, monkeypatch):
    path = scenario_with(tmp_path)
    real = Recorder.tables

    def real_tables(p):
        return _tables(p).items()

    def broken(self):
        for name, t in real(self):
            if name == "pools":
                i = t.column_names.index("gpu_hours_idle")
                v = t["gpu_hours_idle"].to_pylist()
                v[5] = -1.0
                t = t.set_column(i, t.schema.field(i), pa.array(v, pa.float64()))
            yield name, t

    monkeypatch.setattr(Recorder, "tables", broken)
    pools = dict(real_tables(path))["pools"]
    day, pool = _day_pool(pools, 5)
    with pytest.raises(InvariantError, match=f"pools: day {day}, pool {pool}"):
        runner.run(path, out=tmp_path / "out")
    assert not (tmp_path / "out" / "small" / "seed=7").exists()
    code, _, err = sim(capsys, "run", path, "--out", tmp_path / "out")
    assert code == 1 and "Traceback" not in err and "gpu_hours_idle is negative" in err, err
    code, _, err = sim(capsys, "run", path, "--out", tmp_path / "out", "--no-check")
    assert code == 0, err
    assert (tmp_path / "out" / "small" / "seed=7" / "pools.parquet").is_file()


def test_errors_survive_pickling_across_processes():
    # a sweep's or compare's worker raises; the parent must see the same problems, not the
    # characters of their text
    import pickle

    from sim.errors import InputError, Problem
    from sim.invariants import Violation

    err = pickle.loads(pickle.dumps(InvariantError([Violation("pools", "r", "w", "d")], 3)))
    assert [str(v) for v in err.violations] == ["pools: w: r (d)"] and err.total == 3
    err = pickle.loads(pickle.dumps(InputError([Problem("a.b", "bad", 1, "f.toml")])))
    assert [str(p) for p in err.problems] == ["f.toml: a.b: bad (got 1)"]


def test_a_fraction_may_exceed_one_by_rounding_only(tables):
    # found by the fuzz harness: a job that ran 0.5 s had ETTR 1.0000000016
    assert invariants.violations(_set(tables, "jobs", "ettr", 0, 1 + 1.6e-9)) is None
    assert invariants.violations(_set(tables, "jobs", "ettr", 0, 1 + 1e-3)) is not None


def test_a_ledger_account_outside_the_chart_breaks_ledger_equals_statement(tables):
    t = tables["ledger"]
    names = t["account"].to_pylist()
    names[0] = "mystery_fee"  # booked, but on no statement line
    bad = dict(
        tables, ledger=t.set_column(t.schema.get_field_index("account"), "account", pa.array(names))
    )
    err = invariants.violations(bad)
    assert "ledger: whole run: accounts outside the chart of accounts" in str(err)
    assert invariants.violations(tables) is None  # the run as simulated: ledger = statement
