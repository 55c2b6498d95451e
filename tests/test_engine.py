"""The engine against hand arithmetic: job end times, conserved GPU-hours, lease terms, seeds."""

import datetime as dt
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim import perf
from sim.jobrate import train_job
from sim.runner import prepare, run
from sim.topology import load_topology
from tests.conftest import DATA, ROOT

SMALL = DATA / "small-scenario.toml"


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out, manifest = run(SMALL, out=tmp_path_factory.mktemp("out"), check=True)
    return out


def table(run_dir, name):
    return pd.read_parquet(run_dir / f"{name}.parquet")


def test_run_folder_describes_itself(small_run):
    manifest = json.loads((small_run / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["events"] > 0
    assert set(manifest["rows"]) == {
        "jobs",
        "segments",
        "leases",
        "pools",
        "serving",
        "ledger",
        "events",
    }
    resolved = json.loads((small_run / "scenario.json").read_text())
    assert resolved["scenario"]["policy"] == {"kind": "fifo", "params": {}}
    assert resolved["scenario"]["prices"]["power_usd_per_mwh"] == 70.0  # defaults filled in
    for name, rows in manifest["rows"].items():
        assert pq.read_metadata(small_run / f"{name}.parquet").num_rows == rows


def test_job_ends_when_the_perf_model_says(small_run):
    prep = prepare(SMALL)
    shape = prep.workloads[0].training[0]
    topo = prep.topology
    span = topo.span(["small-h100"], 64)  # 8 nodes: one pod of the small fat tree
    placement = perf.Placement((("H100", 64),), "uniform", (("H100", span.bandwidth_gbit_per_s),))
    rate = perf.step(train_job(shape, 8), placement).tokens_per_s
    compute_h = shape.tokens / rate / 3600.0
    # plus a 10 s checkpoint write after every hour of compute (the defaults)
    expected_h = compute_h + math.floor(compute_h / 1.0) * 10 / 3600
    job = table(small_run, "jobs").iloc[0]
    assert job.state == "finished" and job.tokens_trained == shape.tokens
    took_h = (job.end_at - job.first_start_at).total_seconds() / 3600.0
    assert took_h == pytest.approx(expected_h, rel=1e-6)
    assert job.first_start_at == pd.Timestamp("2026-01-02", tz="UTC")  # submitted, capacity free
    assert job.gpu_hours == pytest.approx(64 * expected_h, rel=1e-6)


def test_segment_attribution_multiplies_back_to_mfu(small_run):
    seg = table(small_run, "segments")
    att = seg[[c for c in seg.columns if c.startswith("att_")]].prod(axis=1)
    assert np.allclose(att, seg.mfu, rtol=1e-9)
    assert np.allclose(seg.model_flops / seg.peak_flop, seg.mfu, rtol=1e-9)


def test_gpu_hours_are_conserved_in_every_pool(small_run):
    pools = table(small_run, "pools")
    parts = pools[
        [
            "gpu_hours_lease",
            "gpu_hours_training",
            "gpu_hours_serving",
            "gpu_hours_idle",
            "gpu_hours_down",
        ]
    ].sum(axis=1)
    assert np.allclose(parts, pools.gpu_hours_online, rtol=1e-12, atol=1e-6)
    # capacity x time: each phase's GPUs from its online date (or the start) to the horizon.
    topo = load_topology([DATA / "small.toml"])
    start, end = dt.date(2026, 1, 1), dt.date(2026, 6, 1)
    for pool, rows in pools.groupby("pool", observed=True):
        expected = sum(
            ph.gpus * 24 * (end - max(ph.online, start)).days
            for ph in topo.phases
            if ph.pool == pool and ph.online < end
        )
        assert rows.gpu_hours_online.sum() == pytest.approx(expected)
    # Training GPU-hours in the pools table are exactly the segments' GPUs x durations.
    seg = table(small_run, "segments")
    seg_h = (seg.gpus * (seg.end_at - seg.start_at).dt.total_seconds() / 3600).sum()
    assert pools.gpu_hours_training.sum() == pytest.approx(seg_h, rel=1e-9)


def test_lease_holds_exactly_its_gpus_for_exactly_its_term(small_run):
    lease = table(small_run, "leases").iloc[0]
    term_h = (dt.date(2026, 5, 1) - dt.date(2026, 3, 1)).days * 24
    assert lease.gpus_held == 72 and lease.end_reason == "term"
    assert lease.held_from == pd.Timestamp("2026-03-01", tz="UTC")
    assert lease.held_until == pd.Timestamp("2026-05-01", tz="UTC")
    assert lease.gpu_hours_delivered == lease.gpu_hours_contracted == 72 * term_h
    pools = table(small_run, "pools")
    assert pools.gpu_hours_lease.sum() == pytest.approx(72 * term_h)
    # $1M per month = $12M per 365-day year, accrued by the hour (sim/economics.py)
    assert lease.revenue_usd == pytest.approx(1.0e6 * 12 * term_h / 8760)
    ledger = table(small_run, "ledger")
    booked = ledger[ledger.account == "lease_revenue"]
    assert set(booked.counterparty) == {"A"} and set(booked.pool) == {"small-gb200"}
    assert booked.amount_usd.sum() == pytest.approx(lease.revenue_usd, rel=1e-12)


def test_same_seed_gives_identical_tables_in_separate_processes(tmp_path):
    code = (
        "import sys; from sim.runner import run; run(sys.argv[1], seed=int(sys.argv[2]), "
        "out=sys.argv[3])"
    )
    scenario = ROOT / "runs/memphis-smoke.toml"
    for name in ("a", "b"):
        subprocess.run(
            [sys.executable, "-c", code, str(scenario), "3", str(tmp_path / name)],
            check=True,
            cwd=ROOT,
        )
    a = tmp_path / "a" / "memphis-smoke" / "seed=3"
    b = tmp_path / "b" / "memphis-smoke" / "seed=3"
    for f in sorted(a.glob("*.parquet")):
        assert pq.read_table(f).equals(pq.read_table(b / f.name)), f.name


def test_a_killed_write_leaves_no_half_written_folder(tmp_path, monkeypatch):
    import sim.output as output

    good, _ = run(SMALL, out=tmp_path)
    before = sorted(p.name for p in good.iterdir())

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(output.pq, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        run(SMALL, out=tmp_path)
    assert sorted(p.name for p in good.iterdir()) == before  # the previous run is intact
    assert [p.name for p in good.parent.iterdir()] == [good.name]  # no temporary folder left
    shutil.rmtree(tmp_path)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out, _ = run(ROOT / "runs/memphis-smoke.toml", out=tmp_path_factory.mktemp("smoke"), check=True)
    return out


def test_blackwell_pretraining_is_in_the_published_range_and_the_c1_mix_far_below(smoke_run):
    seg = table(smoke_run, "segments")
    grok5 = seg[(seg.name == "grok5-pretrain") & (seg.pools.str.startswith("c2-gb200="))]
    mixed = seg[seg.name == "grok4-c1"]
    assert len(grok5) and len(mixed)
    # Colossus 1's mix: FACTS.md reports ~11%; the homogeneous Blackwell pool (its MFU set by
    # assumed MoE constants, so no band here) runs the same kind of job far better.
    mfu = mixed.model_flops.sum() / mixed.peak_flop.sum()
    assert 0.05 <= mfu <= 0.15
    assert grok5.model_flops.sum() / grok5.peak_flop.sum() > 2 * mfu
    row = mixed.iloc[0]
    assert row.gpu_types == "GB200=20000,H200=50000,H100=141200"  # dp 2,640 of 80-GPU replicas
    assert row.tier == "core"
    # The attribution names why: gradient reduction across the generations' core and waiting
    # for the slower generation cost what the homogeneous pool does not lose.
    assert row.att_dp_comm < 0.5 < grok5.iloc[0].att_dp_comm
    assert row.att_straggler < grok5.iloc[0].att_straggler
    assert row.att_fragmentation < 1.0  # 16 GB200 of 278 racks do not make a whole replica


def test_capacity_is_only_used_where_online_and_leases_wait_for_it(smoke_run):
    pools = table(smoke_run, "pools")
    # every pool fails once online, including one whose first phase lands mid-run (GB300)
    assert (pools[pools.gpus_online > 0].groupby("pool", observed=True).failures.sum() > 0).all()
    assert (
        pools.gpus_lease
        + pools.gpus_training
        + pools.gpus_serving
        + pools.gpus_idle
        + pools.gpus_down
        == pools.gpus_online
    ).all()
    gb300 = pools[pools.pool == "c2-gb300"]
    before = gb300[gb300.date < pd.Timestamp("2026-03-01", tz="UTC")]
    assert (before.gpus_online == 0).all() and (before.gpu_hours_training == 0).all()
    jobs = table(smoke_run, "jobs")
    c1 = jobs[jobs.name == "grok4-c1"].iloc[0]
    lease = table(smoke_run, "leases")
    anthropic = lease[(lease.contract == "anthropic") & (lease.tranche == 0)].iloc[0]
    # FIFO: Colossus 1 is handed to the tenant when the mixed job that holds it is done.
    assert anthropic.held_from >= max(c1.end_at, pd.Timestamp("2026-05-01", tz="UTC"))


def test_column_reference_is_generated_from_the_schemas():
    from sim.records import TABLES, columns_markdown

    assert (ROOT / "docs/columns.md").read_text() == columns_markdown() + "\n", (
        "docs/columns.md is stale: python -m sim.records > docs/columns.md"
    )
    for cols in TABLES.values():
        for c in cols:
            assert c.doc, c.name
            if c.name.endswith(("_h", "_hours", "_usd", "_mw", "_s")):
                assert c.unit, c.name


def test_every_table_matches_its_declared_schema(small_run):
    from sim.records import TABLES, schema

    for name in TABLES:
        assert pq.read_schema(small_run / f"{name}.parquet").remove_metadata().equals(schema(name))
