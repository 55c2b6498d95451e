"""Cluster state: whole-domain allocation with invariants, and compact placement."""

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cluster import FREE, AllocationError, Cluster
from sim.topology import load_topology
from tests.conftest import DATA


@pytest.fixture
def cluster(small_topology):
    c = Cluster(small_topology)
    c.bring_online(dt.date(2026, 7, 1))
    return c


def test_capacity_arrives_with_phases(small_topology):
    c = Cluster(small_topology)
    assert c.bring_online(dt.date(2025, 1, 1)).size == 0
    assert c.bring_online(dt.date(2026, 1, 1)).tolist() == list(range(8))  # phase h100-a
    assert c.counts("small-h100").online == 64
    with pytest.raises(AllocationError, match="not online"):
        c.allocate(1, np.array([8]))  # phase h100-b is not online yet


def test_allocate_release_and_counts(cluster):
    cluster.allocate(7, np.array([0, 1, 2]))
    c = cluster.counts("small-h100")
    assert (c.online, c.allocated, c.idle, c.down) == (128, 24, 104, 0)
    with pytest.raises(AllocationError, match="already owned by \\[7\\]"):
        cluster.allocate(8, np.array([2, 3]))
    with pytest.raises(AllocationError, match="listed twice"):
        cluster.allocate(8, np.array([4, 4]))
    with pytest.raises(AllocationError, match="does not own"):
        cluster.release(8, np.array([0]))
    assert cluster.release(7).tolist() == [0, 1, 2]
    assert (cluster.owner == FREE).all()


def test_failure_takes_capacity_down_and_names_the_owner(cluster):
    cluster.allocate(3, np.array([5]))
    assert cluster.fail(5) == 3
    assert cluster.fail(6) == FREE
    c = cluster.counts("small-h100")
    assert (c.allocated, c.idle, c.down) == (0, 14 * 8, 16)
    with pytest.raises(AllocationError, match="down"):
        cluster.allocate(4, np.array([6]))
    cluster.repair(6)
    cluster.allocate(4, np.array([6]))
    cluster.check()


def test_pick_compact_prefers_the_smallest_tier(cluster, small_topology):
    t = small_topology
    cluster.allocate(1, np.array([0]))  # leaf group 0 now has one free domain
    two = cluster.pick_compact("small-h100", 2)
    assert t.tier_of(two) == "leaf" and 0 not in two
    one = cluster.pick_compact("small-h100", 1)
    assert one.tolist() == [1]  # best fit: the fullest group that fits
    eight = cluster.pick_compact("small-h100", 8)
    assert t.tier_of(eight) == "spine"  # the untouched pod 1 (domains 8-15)
    assert eight.tolist() == list(range(8, 16))
    assert t.tier_of(cluster.pick_compact("small-h100", 15)) == "core"
    assert cluster.pick_compact("small-h100", 16) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alloc", "release", "fail", "repair"]),
            st.integers(0, 5),
            st.integers(1, 6),
        ),
        max_size=40,
    )
)
def test_random_operations_never_break_invariants(ops):
    small_topology = load_topology([DATA / "small.toml"])
    c = Cluster(small_topology)
    c.bring_online(dt.date(2026, 7, 1))
    total = {p.name: p.gpus for p in small_topology.pools}
    for op, owner, n in ops:
        if op == "alloc":
            d = c.pick_compact("small-h100", n)
            if d is not None:
                c.allocate(owner, d)
        elif op == "release":
            c.release(owner)
        elif op == "fail":
            up = np.flatnonzero(c.online & ~c.down)
            if up.size:
                c.fail(int(up[(owner * 7 + n) % up.size]))
        else:
            down = np.flatnonzero(c.down)
            if down.size:
                c.repair(int(down[0]))
        c.check()
        for name, gpus in total.items():
            k = c.counts(name)
            assert k.allocated + k.idle + k.down == k.online <= gpus


def test_many_domains_taken_and_given_back_keep_the_index_exact():
    """A big job's start and end change the free-capacity index in bulk (a share of a pool)
    or rebuild that pool (most of it), a failed domain among them staying at no GPU free: the
    index equals a recount after each (`check`)."""
    topo = load_topology([Path(__file__).parents[1] / "topologies" / "colossus1.toml"])
    c = Cluster(topo)
    c.bring_online(dt.date(2030, 1, 1))
    pool = max(topo.pools, key=lambda p: p.domains)
    free = c.free(pool.name)
    few, most = free[:: pool.domains // 100][:100], free[: pool.domains * 3 // 4]
    c.fail(int(most[-1]))
    c.check()
    rest = most[np.isin(most, few, invert=True)]  # the failed one among them (a lease's take)
    for owner, domains in ((1, few), (2, rest)):
        c.allocate(owner, domains, allow_down=owner == 2)
        c.check()
    assert c.free_count(pool.name) == pool.domains - len(few) - len(rest)
    for owner in (1, 2):
        c.release(owner)
        c.check()
    assert c.free_count(pool.name) == pool.domains - 1  # all free again but the failed one
