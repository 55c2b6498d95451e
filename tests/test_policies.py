"""Contract tests every registered policy passes: no over-allocation, determinism, fit."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import policies
from sim.cluster import Cluster
from sim.policies import ClusterView, Request, Start
from sim.topology import load_topology
from tests.conftest import DATA

TOPO = load_topology([DATA / "small.toml"])
POOLS = [p.name for p in TOPO.pools]


def cluster_with(taken: list[int]) -> Cluster:
    c = Cluster(TOPO)
    c.bring_online(dt.date(2026, 12, 31))
    for i, d in enumerate(taken):
        if c.owner[d] < 0:
            c.allocate(1000 + i, np.array([d]))
    return c


requests = st.lists(
    st.builds(
        lambda i, kind, prio, t, pools, size, unit, single: Request(
            i, kind, f"r{i}", kind, prio, t, tuple(pools), (size * unit, unit), unit, single
        ),
        st.integers(0, 50),
        st.sampled_from(["lease", "training", "serving"]),
        st.integers(0, 3),
        st.floats(0, 100),
        st.lists(st.sampled_from(POOLS), min_size=1, max_size=2, unique=True),
        st.integers(1, 12),
        st.sampled_from([1, 8, 16]),
        st.booleans(),
    ),
    max_size=8,
    unique_by=lambda r: r.owner_id,
)


@pytest.mark.parametrize("kind", sorted(policies.REGISTRY))
@settings(max_examples=60, deadline=None)
@given(pending=requests, taken=st.lists(st.integers(0, TOPO.domains - 1), max_size=10))
def test_policy_contract(kind, pending, taken):
    cluster = cluster_with(taken)
    policy = policies.make(kind)
    view = ClusterView(cluster, 0.0, {})
    decisions = policy.decide(view, pending)
    # Deterministic: the same view and queue give the same decisions.
    assert list(policies.make(kind).decide(ClusterView(cluster, 0.0, {}), pending)) == list(
        decisions
    )
    # The view was not changed by the policy.
    assert (cluster.owner == cluster_with(taken).owner).all()
    by_id = {r.owner_id: r for r in pending}
    started = set()
    for d in decisions:
        assert isinstance(d, Start)
        req = by_id[d.owner_id]
        assert d.owner_id not in started
        started.add(d.owner_id)
        domains = np.array(d.domains)
        # Never over-allocate: the mechanism's checks (free, online, healthy, distinct) pass.
        cluster.allocate(d.owner_id, domains)
        # Nothing started that does not fit: allowed pools, whole units, at least the smallest size.
        pools = {TOPO.pools[i].name for i in np.unique(TOPO.domain_pool[domains])}
        assert pools <= set(req.pools)
        if req.single_pool:
            assert len(pools) == 1
        usable = sum(
            cluster.gpus(domains[TOPO.domain_pool[domains] == TOPO.pool(p).index])
            // req.unit_gpus
            * req.unit_gpus
            for p in pools
        )
        assert usable >= min(req.sizes)
    cluster.check()


def test_fifo_head_blocks_unless_backfill():
    cluster = cluster_with([])
    big = Request(1, "training", "big", "pretrain", 0, 0.0, ("small-h100",), (10_000,), 8)
    small = Request(2, "training", "small", "pretrain", 0, 1.0, ("small-h100",), (8,), 8)
    view = ClusterView(cluster, 0.0, {})
    assert policies.make("fifo").decide(view, [big, small]) == []
    assert [
        d.owner_id for d in policies.make("fifo", {"backfill": True}).decide(view, [big, small])
    ] == [2]


def test_mfu_aware_keeps_training_on_one_type_and_leases_on_the_slower():
    cluster = cluster_with([])
    train = Request(
        1, "training", "t", "pretrain", 0, 0.0, ("small-h100", "small-gb200"), (144,), 72
    )
    lease = Request(2, "lease", "l", "lease", 0, 0.0, ("small-gb200", "small-h100"), (64,), 1)
    out = policies.make("mfu-aware").decide(ClusterView(cluster, 0.0, {}), [train, lease])
    placed = {
        d.owner_id: {TOPO.pools[i].name for i in TOPO.domain_pool[list(d.domains)]} for d in out
    }
    assert placed == {1: {"small-gb200"}, 2: {"small-h100"}}


def test_unknown_policy_params_are_input_errors():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        policies.make("fifo", {"backfil": True})


def running_state() -> tuple[Cluster, dict[int, Request], dict[int, policies.LeaseInfo]]:
    """A training job running below its full size (2 of the 8 nodes it would take) and a held,
    reclaimable lease of 8 H100 nodes, on small.toml with every phase online (16 H100 nodes,
    2 GB200 racks)."""
    c = cluster_with([])
    h100 = c.free("small-h100")
    job = Request(500, "training", "grow", "pretrain", 30, 0.0, ("small-h100",), (64, 32, 16), 8)
    c.allocate(500, h100[:2])
    c.allocate(600, h100[2:10])
    lease = policies.LeaseInfo(
        owner_id=600,
        contract="cheap",
        tenant="T",
        gpus=64,
        pools=("small-h100",),
        pools_held={"small-h100": 64},
        usd_per_gpu_hour=2.0,
        may_reclaim=True,
        notice_given=False,
        ends_h=1e5,
        ends_if_notice_now_h=90 * 24.0,
    )
    lease_req = Request(600, "lease", "cheap", "lease", 0, 0.0, ("small-h100",), (64,), 1)
    return c, {500: job, 600: lease_req}, {600: lease}


# a high-priority training request that does not fit next to the lease: a reason to reclaim
HUNGRY = Request(700, "training", "hungry", "pretrain", 50, 1.0, ("small-h100",), (128,), 8)


@pytest.mark.parametrize("kind", sorted(policies.REGISTRY))
@settings(max_examples=40, deadline=None)
@given(pending=requests)
def test_policy_contract_with_running_jobs_and_held_leases(kind, pending):
    cluster, running, leases = running_state()
    pending = [r for r in pending if r.owner_id not in running] + [HUNGRY]
    view = ClusterView(cluster, 0.0, running, leases)
    decisions = list(policies.make(kind).decide(view, pending))
    again = ClusterView(cluster, 0.0, running, leases)
    assert list(policies.make(kind).decide(again, pending)) == decisions  # deterministic
    by_id = {r.owner_id: r for r in pending}
    seen = set()
    for d in decisions:
        assert (type(d), d.owner_id) not in seen
        seen.add((type(d), d.owner_id))
        if isinstance(d, Start):
            assert d.owner_id in by_id
            cluster.allocate(d.owner_id, np.array(d.domains))  # free, online, healthy, distinct
        elif isinstance(d, policies.Preempt):
            assert running[d.owner_id].kind == "training"  # only running jobs are preempted
        else:
            assert isinstance(d, policies.GiveNotice)
            info = leases[d.owner_id]  # only held, reclaimable leases not under notice
            assert info.may_reclaim and info.pools_held and not info.notice_given
    cluster.check()


def test_internal_first_grows_a_job_running_below_its_size():
    cluster, running, leases = running_state()
    out = policies.make("internal-first").decide(ClusterView(cluster, 0.0, running, leases), [])
    assert out == [policies.Preempt(500)]  # 6 free nodes + its 2: it can restart at 64 GPUs


def test_internal_first_and_revenue_max_reclaim_for_a_hungry_job():
    cluster, running, leases = running_state()
    cluster.release(500)  # the small job has finished: 8 nodes free, 128 GPUs wanted
    del running[500]
    for kind in ("internal-first", "revenue-max"):  # revenue-max: $8/GPU-h of training > $2
        out = policies.make(kind).decide(ClusterView(cluster, 0.0, running, leases), [HUNGRY])
        assert out == [policies.GiveNotice(600)], kind
