"""`revenue-max` and `static-partition` end to end on a small campus (invariants re-checked
every simulated day): revenue-max reclaims a cheap lease for training worth more, and
static-partition keeps every owner class within its share of the online GPUs."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.runner import run
from tests.test_mechanism import MODEL, small_scenario


def scenario(
    tmp_path, policy: str, lease_pool: str = "small-h100", lease_gpus: int = 32
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """small.toml from 2026-03-01 (64 H100, 144 GB200): a lease (32 H100 by default) at
    $2/GPU-h from the start (reclaimable, 10 days' notice) and, from day 2, a job that needs
    all 64 H100."""
    (tmp_path / "w.toml").write_text(
        '[[training]]\nname = "big"\njob_class = "pretrain"\nsubmit = 2026-03-02\n'
        'tokens = 1.0e12\npools = ["small-h100"]\npriority = 50\n'
        + MODEL.replace("dp = 4", "dp = 8")
        + f"""[[leases]]
name = "cheap"
tenant = "T"
start = 2026-03-01
end = 2027-01-01
price_usd_per_gpu_hour = 2.0
notice_days = 10
[[leases.tranches]]
pools = ["{lease_pool}"]
gpus = {lease_gpus}
"""
    )
    out, _ = run(small_scenario(tmp_path, "2026-05-01", policy), out=tmp_path / "out", check=True)
    return tuple(pd.read_parquet(out / f"{t}.parquet") for t in ("jobs", "leases", "pools"))


def test_revenue_max_reclaims_a_cheap_lease_for_training_worth_more(tmp_path):
    # training is valued at $8/GPU-h (the default shadow price) > the lease's $2/GPU-h
    jobs, leases, _ = scenario(tmp_path, 'kind = "revenue-max"')
    lease = leases.iloc[0]
    assert lease.notice_by == "lessor" and lease.end_reason == "notice-lessor"
    # notice on day 2 (the job's submission), 10 days' notice: the lease ends on day 12
    assert lease.notice_at == pd.Timestamp("2026-03-02", tz="UTC")
    assert lease.held_until == pd.Timestamp("2026-03-12", tz="UTC")
    big = jobs.set_index("name").loc["big"]
    assert big.first_start_at == lease.held_until  # it starts when the H100 come back
    assert big.gpus_requested == 64 and big.state == "finished"


def test_revenue_max_leaves_a_lease_worth_more_than_training(tmp_path):
    jobs, leases, _ = scenario(
        tmp_path, 'kind = "revenue-max"\nparams = { training_usd_per_gpu_hour = 1.0 }'
    )
    assert leases.iloc[0].notice_by == "" and leases.iloc[0].end_reason == "horizon"
    assert jobs.set_index("name").loc["big"].state == "waiting"


@pytest.mark.parametrize("training_share", [0.2, 0.4])
def test_static_partition_keeps_each_class_within_its_share(tmp_path, training_share):
    shares = {"lease": 0.4, "training": training_share, "serving": 0.1}
    jobs, leases, pools = scenario(
        tmp_path,
        'kind = "static-partition"\nparams = { shares = { '
        + ", ".join(f"{k} = {v}" for k, v in shares.items())
        + " } }",
        lease_pool="small-gb200",
        lease_gpus=72,
    )
    daily = pools.groupby("date")[["gpus_online", "gpus_lease", "gpus_training"]].sum()
    # whole domains may round a request up by less than one domain of its pool
    slack = {"lease": 72, "training": 8}  # a GB200 rack, an HGX node
    for kind in ("lease", "training"):
        assert (daily[f"gpus_{kind}"] <= shares[kind] * daily.gpus_online + slack[kind]).all()
    # online: 64 H100 + 144 GB200 = 208 GPUs; the lease (a 72-GPU rack) fits 0.4 x 208 = 83
    assert leases.iloc[0].gpus_held == 72
    big = jobs.set_index("name").loc["big"]
    # the job needs 64 GPUs: 0.4 x 208 = 83 holds it, 0.2 x 208 = 41 does not
    assert big.state == ("finished" if training_share == 0.4 else "waiting")
    assert leases.iloc[0].notice_by == ""  # static-partition never gives notice
