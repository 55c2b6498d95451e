"""Invariants over random small campuses and workloads (Hypothesis): conserved capacity, one
owner per domain (checked daily by the engine), jobs that start before they end and end once,
tokens within targets, money that adds up, and the same tables for the same seed."""

import datetime as dt
import os

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.runner import run

START = dt.date(2026, 1, 1)

MODEL = {
    "params": 1.2e9,
    "layers": 16,
    "hidden": 2048,
    "heads": 16,
    "kv_heads": 8,
    "ffn_hidden": 8192,
    "vocab": 32000,
    "seq_len": 2048,
}


@st.composite
def campus(draw):
    pools, phases = [], []
    for i in range(draw(st.integers(1, 2))):
        gpu = draw(st.sampled_from(["H100", "GB200"]))
        per = 8 if gpu == "H100" else 72
        pools.append(
            {
                "name": f"p{i}",
                "gpu": gpu,
                "fabric": {
                    "kind": "rail-optimized",
                    "rails": 8 if per == 8 else 4,
                    "domains_per_leaf_group": draw(
                        st.integers(1, 4 if per == 8 else 3)
                    ),  # radix 128
                    "leaf_groups_per_pod": draw(st.integers(1, 3)),
                },
            }
        )
        for k in range(draw(st.integers(1, 2))):
            phases.append(
                {
                    "name": f"p{i}-ph{k}",
                    "pool": f"p{i}",
                    "gpus": per * draw(st.integers(2, 24)),
                    "online": START + dt.timedelta(days=draw(st.integers(0, 20))),
                }
            )
    topology = {
        "site": {"name": "s", "cooling": "air", "pue": 1.3},
        "pools": pools,
        "phases": phases,
    }
    names = [p["name"] for p in pools]
    training = [
        {
            "name": f"job{j}",
            "submit": START + dt.timedelta(days=draw(st.integers(0, 15))),
            "tokens": draw(st.floats(1e9, 3e11)),
            "pools": draw(st.permutations(names)),
            "priority": draw(st.integers(0, 30)),
            "model": MODEL,
            "training": {
                "global_batch": 64,
                "micro_batch": 1,
                "precision": "bf16",
                "recompute": "none",
            },
            "parallelism": {
                "tp": draw(st.sampled_from([1, 8])),
                "pp": 1,
                "dp": draw(st.sampled_from([1, 2, 4, 8])),
                "cp": 1,
            },
        }
        for j in range(draw(st.integers(0, 3)))
    ]
    leases = [
        {
            "name": f"lease{j}",
            "tenant": f"T{j}",
            "start": START + dt.timedelta(days=draw(st.integers(0, 10))),
            "end": START + dt.timedelta(days=draw(st.integers(15, 50))),
            "price_usd_per_gpu_hour": draw(st.floats(0.5, 10)),
            "min_term_days": draw(st.integers(0, 20)),
            "notice_days": draw(st.integers(0, 20)),
            "tranches": [
                {"pools": [draw(st.sampled_from(names))], "gpus": draw(st.integers(1, 200))}
            ],
        }
        for j in range(draw(st.integers(0, 2)))
    ]
    streams = []
    if draw(st.booleans()):
        streams.append(
            {
                "name": "exp",
                "job_class": "experiment",
                "start": START,
                "arrivals_per_day": draw(st.floats(0.5, 4)),
                "replicas": {"dist": "lognormal", "median": 2, "sigma": 0.5, "min": 1, "max": 8},
                "duration_days": {"dist": "exponential", "mean": 1.0, "max": 5},
                "pools": names,
                "model": MODEL,
                "training": {
                    "global_batch": 64,
                    "micro_batch": 1,
                    "precision": "bf16",
                    "recompute": "none",
                },
                "parallelism": {"tp": 8, "pp": 1, "dp": 1, "cp": 1},
            }
        )
    workload = {"training": training, "leases": leases, "streams": streams}
    scenario = {
        "name": "prop",
        "seed": draw(st.integers(0, 1000)),
        "workloads": ["w.toml"],
        "horizon": {"start": START, "end": START + dt.timedelta(days=draw(st.integers(20, 60)))},
        "sites": [{"topology": "t.toml"}],
        "policy": draw(
            st.sampled_from(
                [
                    {"kind": "fifo"},
                    {"kind": "fifo", "params": {"backfill": True}},
                    {"kind": "mfu-aware"},
                    {"kind": "internal-first"},
                    {"kind": "revenue-max"},
                    {"kind": "static-partition"},
                    {"kind": "fifo", "params": {"placement": "spread"}},
                ]
            )
        ),
        "failures": {"scale": draw(st.sampled_from([0.0, 1.0, 200.0]))},
    }
    return topology, workload, scenario


def _write(folder, topology, workload, scenario):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.toml").write_text(tomli_w.dumps(topology))
    (folder / "w.toml").write_text(tomli_w.dumps(workload))
    (folder / "s.toml").write_text(tomli_w.dumps(scenario))
    return folder / "s.toml"


@settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=campus())
def test_invariants_hold_on_random_campuses(tmp_path_factory, case):
    folder = tmp_path_factory.mktemp("prop")
    path = _write(folder, *case)
    run_dir, _ = run(path, out=folder / "out", check=True)  # checks ownership and counts daily
    t = {
        n: pd.read_parquet(run_dir / f"{n}.parquet")
        for n in ("pools", "jobs", "segments", "leases", "ledger", "events")
    }
    pools = t["pools"]
    parts = [
        "gpu_hours_lease",
        "gpu_hours_training",
        "gpu_hours_serving",
        "gpu_hours_idle",
        "gpu_hours_down",
    ]
    assert np.allclose(pools[parts].sum(axis=1), pools.gpu_hours_online, atol=1e-6)
    snap = ["gpus_lease", "gpus_training", "gpus_serving", "gpus_idle", "gpus_down"]
    assert (pools[snap].sum(axis=1) == pools.gpus_online).all()
    jobs = t["jobs"]
    started = jobs[jobs.first_start_at.notna()]
    assert (started.first_start_at >= started.submit_at).all()
    done = jobs[jobs.end_at.notna()]
    assert (done.end_at >= done.first_start_at).all()
    assert ((jobs.state == "finished") == jobs.end_at.notna()).all()
    assert (jobs.tokens_trained <= jobs.tokens_target * (1 + 1e-12)).all()
    finishes = t["events"][t["events"].kind == "finish"].owner_id.value_counts()
    assert (finishes <= 1).all()
    seg = t["segments"]
    assert (seg.end_at >= seg.start_at).all() and seg.mfu.between(0, 1).all()
    att = seg[[c for c in seg.columns if c.startswith("att_")]].prod(axis=1)
    assert np.allclose(att, seg.mfu, rtol=1e-9)
    ledger, leases = t["ledger"], t["leases"]
    booked = ledger[ledger.account == "lease_revenue"].amount_usd.sum()
    assert booked == pytest.approx(leases.revenue_usd.sum(), rel=1e-9, abs=1e-6)
    assert (leases.gpu_hours_delivered <= leases.gpu_hours_contracted + 1e-6).all()
    # the same seed gives the same tables
    again, _ = run(path, out=folder / "again")
    for f in sorted(run_dir.glob("*.parquet")):
        assert pq.read_table(f).equals(pq.read_table(again / f.name)), f.name
