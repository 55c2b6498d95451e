"""`fifo` remembers the request shapes that failed on an unchanged state (sim/policies/fifo.py):
over any sequence of passes, submissions, releases, failures and repairs it decides exactly what
a FIFO without memory decides, and a pass on a state it has seen places nothing again."""

import contextlib
import datetime as dt
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cluster import AllocationError, Cluster
from sim.policies import ClusterView, Request
from sim.policies.fifo import Fifo, FifoParams
from sim.topology import load_topology
from tests.conftest import DATA

TOPO = load_topology([DATA / "small.toml"])
POOLS = ("small-h100", "small-gb200")


def request(oid: int, gpus: int, pools: tuple[str, ...], packs: bool) -> Request:
    return Request(
        owner_id=oid,
        kind="training",
        name=f"r{oid}",
        job_class="",
        priority=0,
        submitted_h=float(oid // 2),  # pairs share a submission time: ties by owner id
        pools=pools,
        sizes=(gpus,),
        single_pool=packs,
        packs=packs,
    )


def apply(c: Cluster, d) -> None:
    if d.parts:
        c.allocate_parts(d.owner_id, dict(zip(d.domains, d.parts, strict=True)))
    else:
        c.allocate(d.owner_id, np.array(d.domains))


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["submit", "submit", "pass", "release", "fail", "repair"]),
        st.sampled_from([1, 2, 3, 8, 16, 24, 64]),
        st.sampled_from([POOLS[:1], POOLS[1:], POOLS]),
        st.booleans(),
        st.integers(0, 31),
    ),
    max_size=50,
)


@settings(max_examples=150, deadline=None)
@given(events=EVENTS)
@pytest.mark.parametrize("backfill", [False, True])
def test_fifo_with_memory_decides_as_fifo_without(backfill, events):
    c = Cluster(TOPO)
    c.bring_online(dt.date(2026, 1, 1))
    params = FifoParams(backfill=backfill)
    policy = Fifo(params)
    pending: dict[int, Request] = {}
    running: list[int] = []
    for i, (what, gpus, pools, packs, k) in enumerate(events):
        if what == "submit":
            pending[i] = request(i, gpus, pools, packs)
        elif what == "pass":
            queue = sorted(pending.values(), key=lambda r: r.owner_id)
            got = list(policy.decide(ClusterView(c, 0.0, {}), queue))
            assert got == list(Fifo(params).decide(ClusterView(c, 0.0, {}), queue))
            for d in got:
                apply(c, d)
                running.append(pending.pop(d.owner_id).owner_id)
        elif what == "release" and running:
            o = running.pop(k % len(running))
            c.release_parts(o) if c.holds_parts(o) else c.release(o)
        elif what in ("fail", "repair"):
            with contextlib.suppress(AllocationError):
                (c.fail if what == "fail" else c.repair)(k % TOPO.domains)
        c.check()


def test_a_blocked_head_on_an_unchanged_state_is_not_placed_again(small_topology, monkeypatch):
    c = Cluster(small_topology)
    c.bring_online(dt.date(2026, 1, 1))
    policy = Fifo()
    big = request(1, 8 * 64, POOLS[:1], False)  # more than the pool holds
    assert policy.decide(ClusterView(c, 0.0, {}), [big]) == []
    calls = []
    monkeypatch.setattr("sim.policies.base.place", lambda *a, **k: calls.append(a))  # (the view's)
    assert policy.decide(ClusterView(c, 0.0, {}), [big]) == [] and calls == []
    c.fail(0)  # any change: the head is tried again
    assert policy.decide(ClusterView(c, 0.0, {}), [big]) == [] and len(calls) == 1
    assert pickle.loads(pickle.dumps(policy))._mark is None  # a copy trusts no old mark
