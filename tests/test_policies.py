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
