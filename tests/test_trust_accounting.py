"""GPU-hours conserved under every failure, lease delivery in contracted GPUs (issue 19 items
2 and 3), and the invariants checked on long and failure-heavy runs."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from sim import invariants
from sim.runner import run
from tests.conftest import ROOT
from tests.fuzzkit import scenario_with
from tests.test_trust_inputs import WORKLOAD, _serving

YEAR = {"start": "2026-01-01", "end": "2027-01-01"}


def _dated(path):
    """tomli_w writes the fuzzkit's date strings quoted; make them TOML dates."""
    for p in (path, path.with_name(path.stem + "-workload.toml")):
        if p.exists():
            text = p.read_text()
            for d in ("2026-01-01", "2026-03-01", "2027-01-01", "2056-01-01"):
                text = text.replace(f'"{d}"', d)
            p.write_text(text)
    return path


def _lease(**kw):
    lease = {
        "name": "L",
        "tenant": "T",
        "start": "2026-03-01",
        "end": "2027-01-01",
        "price_usd_per_month": 1e6,
        "tranches": [{"pools": ["small-gb200"], "gpus": 72}],
    }
    lease.update(kw)
    return lease


def test_a_failed_domain_held_by_a_lease_is_counted_once(tmp_path):
    # issue 19 item 2: on 2026-04-24 lease 1,728 + serving 1,440 + down 537.9 GPU-hours against
    # 3,456 online: idle -249.9
    path = _dated(
        scenario_with(
            tmp_path,
            {"leases": [_lease()], "serving": [_serving()]},
            seed=1,
            horizon=YEAR,
            failures={"enabled": True, "scale": 5.0},
        )
    )
    run_dir, _ = run(path, out=tmp_path / "out", invariants=False)
    pools = pq.read_table(run_dir / "pools.parquet")
    assert invariants.violations({"pools": pools}) is None
    assert min(pools["gpu_hours_idle"].to_pylist()) >= 0.0


def test_a_one_gpu_tranche_is_short_at_most_its_own_gpu(tmp_path):
    # issue 19 item 3: delivered -342,515 GPU-hours, delivered_fraction -39.1
    lease = _lease(price_usd_per_month=None, price_usd_per_gpu_hour=2.0)
    lease.pop("price_usd_per_month")
    lease["tranches"] = [{"pools": ["small-gb200"], "gpus": 1}]
    path = _dated(
        scenario_with(
            tmp_path,
            {"leases": [lease]},
            seed=3,
            horizon=YEAR,
            failures={"enabled": True, "repair": {"median_h": 2000.0, "max_h": 5000.0}},
        )
    )
    run_dir, _ = run(path, out=tmp_path / "out", invariants=False)
    leases = pq.read_table(run_dir / "leases.parquet").to_pylist()[0]
    assert invariants.violations({"leases": pq.read_table(run_dir / "leases.parquet")}) is None
    # 1 GPU contracted from 2026-03-01 to 2027-01-01: 306 days x 24 h x 1 GPU
    assert leases["gpu_hours_contracted"] == 306 * 24 * 1
    assert 0 <= leases["gpu_hours_short"] <= 306 * 24 * 1
    assert leases["gpu_hours_delivered"] == pytest.approx(306 * 24 - leases["gpu_hours_short"])


def _thirty_years(tmp_path):
    return _dated(
        scenario_with(
            tmp_path,
            {**WORKLOAD, "leases": [_lease(end="2056-01-01")], "serving": [_serving()]},
            seed=2,
            horizon={"start": "2026-01-01", "end": "2056-01-01"},
            failures={"enabled": True, "scale": 2.0},
        )
    )


def test_a_30_year_horizon_completes_with_every_invariant_checked(tmp_path):
    # the small workload's training job, a lease and internal serving for 30 years with
    # failures on (~10 s): 10,957 days x 2 pools in `pools`
    run_dir, manifest = run(_thirty_years(tmp_path), out=tmp_path / "out")
    days = (dt.date(2056, 1, 1) - dt.date(2026, 1, 1)).days
    assert manifest["rows"]["pools"] == days * 2
    tables = {n: pq.read_table(run_dir / f"{n}.parquet") for n in manifest["rows"]}
    assert invariants.violations(tables) is None


@pytest.mark.slow
def test_the_10x_failure_scenario_completes_with_every_invariant_checked(tmp_path):
    # runs/memphis-failures-10x.toml: ~5M domain failures, about 4 minutes
    run_dir, manifest = run(ROOT / "runs/memphis-failures-10x.toml", out=tmp_path)
    tables = {n: pq.read_table(run_dir / f"{n}.parquet") for n in manifest["rows"]}
    assert invariants.violations(tables) is None


def test_a_shortfall_is_counted_in_contracted_gpus():
    from sim.accounting import short_gpus

    # owed min(contracted, held), delivered min(contracted, healthy held)
    assert short_gpus(1, 72, 72) == 1 - 0  # 1 GPU on a failed 72-GPU rack: 1 short, not 72
    assert short_gpus(100, 144, 72) == 100 - 72  # one of two racks down
    assert short_gpus(72, 144, 72) == 72 - 72  # the other rack still covers the contract
    assert short_gpus(72, 72, 0) == 0


def test_bulk_changes_book_what_the_states_before_and_after_give():
    # Context.allocate/release book whole domains by one sum per pool (Accounting.whole); the
    # generic Accounting.change reads every domain's state before and after. The same changes
    # by both routes: the same GPUs by state and the same day's GPU-hours.
    import numpy as np

    from sim.engine import Engine
    from sim.recorder import Recorder
    from sim.runner import prepare

    prep = prepare(ROOT / "runs/memphis.toml", {"workloads": [], "failures": {"enabled": False}})
    fast, generic = (Engine.from_prepared(prep, seed=1, recorder=Recorder()).ctx for _ in "ab")
    for ctx in (fast, generic):
        c = ctx.cluster
        # 5,000 domains over two pools: many of each, so the bulk paths run
        domains = np.concatenate([c.free("c1-h100")[:3000], c.free("c1-h200")[:2000]])
        owner = ctx.owners.new("training")
        ctx.env.run(until=3.0)
        if ctx is fast:
            ctx.allocate(owner, domains)
        else:
            ctx.change(domains, lambda c=c, o=owner, d=domains: c.allocate(o, d))
        ctx.env.run(until=5.0)
        for d in domains[::100].tolist():  # 50 held domains fail: their GPUs are down
            c.fail(d)
            ctx.acct.domain(d, 5.0, True)
        ctx.env.run(until=7.0)
        if ctx is fast:
            ctx.release(owner)  # the 50 failed ones stay down, the rest turn idle
        else:
            ctx.change(domains, lambda c=c, o=owner, d=domains: c.release(o, d))
        assert np.array_equal(ctx.acct.gpus_now, ctx.acct.recount())
    assert np.array_equal(fast.acct.gpus_now, generic.acct.gpus_now)
    assert np.array_equal(fast.acct.day_hours(9.0), generic.acct.day_hours(9.0))
    # the down GPUs: 50 H100 nodes of 8 GPUs (3,000 H100 and 2,000 H200 domains, every 100th)
    down = fast.acct.gpus_now[:, 4]
    assert down[0] == 30 * 8 and down[1] == 20 * 8
