"""The cluster's free-capacity index (sim/freeindex.py) and its copy on write, as invariants:
after any sequence of changes the index equals a recount from the per-domain arrays, each pick
is the one its rule names when stated by brute force over the arrays, and a copy and its
original never see each other's changes."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cluster import FREE, SHARED, AllocationError, Cluster
from sim.topology import load_topology
from tests.conftest import DATA

TOPO = load_topology([DATA / "small.toml"])  # h100: 16 nodes, 2 per leaf group, 4 groups a pod
POOL = "small-h100"
FIRST = TOPO.pool(POOL).first_domain
N = TOPO.pool(POOL).domains


def fresh() -> Cluster:
    c = Cluster(TOPO)
    c.bring_online(dt.date(2026, 1, 1))  # phase h100-a: the first 8 nodes only
    return c


def apply(c: Cluster, op: tuple) -> None:
    """One change; a change the cluster refuses leaves it as it was."""
    kind, o, d, g = op
    d += FIRST
    try:
        if kind == "part":
            c.allocate_part(o, d, g)
        elif kind == "span":
            c.allocate_parts(o, {d: g, FIRST + (d - FIRST + 1) % N: 8})
        elif kind == "whole":
            c.allocate(o, np.array([d, FIRST + (d - FIRST + 1) % N][: 1 + g % 2]))
        elif kind == "release":
            c.release_parts(o) if c.holds_parts(o) else c.release(o)
        elif kind == "fail":
            c.fail(d)
        elif kind == "repair":
            c.repair(d)
        elif kind == "online":
            c.bring_online(dt.date(2027, 1, 1))
    except AllocationError:
        pass


def state(c: Cluster) -> tuple:
    return (
        c.online.tolist(),
        c.owner.tolist(),
        c.down.tolist(),
        c.used.tolist(),
        c.parts,
        c.sharers,
        c.whole,
        c.free_gpus(POOL).tolist(),
    )


CHANGES = st.tuples(
    st.sampled_from(["part", "span", "whole", "release", "fail", "repair", "online"]),
    st.integers(0, 5),  # owner
    st.integers(0, N - 1),  # domain in the pool
    st.integers(1, 8),  # GPUs
)
STEPS = st.lists(st.tuples(st.sampled_from(["change", "copy", "drop"]), st.integers(0, 9), CHANGES))


@settings(max_examples=120, deadline=None)
@given(steps=STEPS)
def test_copies_and_originals_never_see_each_others_changes(steps):
    """Changes applied to a cluster and its copies (and copies of copies, some dropped while
    others live on) leave each exactly as the same changes leave a cluster never copied, every
    index equals a recount (`Cluster.check`), and the original keeps its arrays."""
    live = [(fresh(), [])]  # (cluster, the changes it has seen)
    original = live[0][0]
    arrays = [original.online, original.owner, original.down, original.used]
    for what, k, change in steps:
        c, seen = live[k % len(live)]
        if what == "copy":
            live.append((c.copy(), list(seen)))
        elif what == "drop" and len(live) > 1:
            del live[1 + k % (len(live) - 1)]
        else:
            apply(c, change)
            seen.append(change)
        for c, seen in live:
            replica = fresh()
            for ch in seen:
                apply(replica, ch)
            assert state(c) == state(replica)
            c.check()
    # the original's arrays are the same objects throughout (other modules may hold them)
    assert all(
        a is b
        for a, b in zip(
            arrays, [original.online, original.owner, original.down, original.used], strict=True
        )
    )


def _free_domains(c: Cluster) -> list[int]:
    return [d for d in range(FIRST, FIRST + N) if c.free_gpus(POOL)[d - FIRST] == 8]


def brute_compact(c: Cluster, n: int) -> list[int] | None:
    """`pick_compact` by its rule: the fullest leaf group that holds `n`, else the fullest pod,
    else pods most-free first; lowest ids on ties."""
    free = _free_domains(c)
    if n <= 0 or len(free) < n:
        return None
    for key in (TOPO.domain_group, TOPO.domain_pod):
        count = {int(key[d]): sum(int(key[x]) == int(key[d]) for x in free) for d in free}
        fits = [(m, g) for g, m in count.items() if m >= n]
        if fits:
            best = min(fits)[1]
            return [d for d in free if int(key[d]) == best][:n]
    pods = {int(TOPO.domain_pod[d]) for d in free}
    count = {p: sum(int(TOPO.domain_pod[d]) == p for d in free) for p in pods}
    order = sorted(pods, key=lambda p: (-count[p], p))
    chosen = [d for p in order for d in free if int(TOPO.domain_pod[d]) == p][:n]
    return sorted(chosen)


def brute_part(c: Cluster, g: int, placement: str) -> int | None:
    """`pick_part` by its rule over the arrays."""
    free = c.free_gpus(POOL)
    shared = [d for d in range(FIRST, FIRST + N) if c.owner[d] == SHARED and free[d - FIRST] >= g]
    whole = brute_compact(c, 1)
    if placement == "consolidate" and shared:
        return min(shared, key=lambda d: (free[d - FIRST], d))
    if whole is not None:
        return whole[0]
    if shared:
        return min(shared, key=lambda d: (-free[d - FIRST], d))
    return None


def brute_parts(c: Cluster, g: int, placement: str) -> dict[int, int] | None:
    """`pick_parts` by its rule: one domain if one has room, else the most-free domains, the
    last holding the rest (best fit for consolidate, the next most-free for spread)."""
    if g < 8 and (d := brute_part(c, g, placement)) is not None:
        return {d: g}
    free = {d: int(c.free_gpus(POOL)[d - FIRST]) for d in range(FIRST, FIRST + N)}
    if sum(free.values()) < g:
        return None
    order = sorted((d for d in free if free[d]), key=lambda d: (-free[d], d))
    out, got = {}, 0
    for i, d in enumerate(order):
        if got + free[d] >= g:
            if not out:
                return None
            rest = order[i:]
            if placement == "spread":
                last = rest[0]
            else:
                last = min((x for x in rest if free[x] >= g - got), key=lambda x: (free[x], x))
            out[last] = g - got
            return out
        out[d] = free[d]
        got += free[d]
    return None


@settings(max_examples=150, deadline=None)
@given(changes=st.lists(CHANGES, max_size=40))
@pytest.mark.parametrize("placement", ["consolidate", "spread"])
def test_picks_are_what_their_rules_say_over_the_arrays(placement, changes):
    c = fresh()
    for ch in changes:
        apply(c, ch)
    for n in range(1, N + 2):
        got = c.pick_compact(POOL, n)
        assert (None if got is None else got.tolist()) == brute_compact(c, n)
    for g in range(1, 9):
        assert c.pick_part(POOL, g, placement) == brute_part(c, g, placement)
    for g in range(1, 8 * N + 2):
        assert c.pick_parts(POOL, g, placement) == brute_parts(c, g, placement)
    for d in range(FIRST, FIRST + N):  # a spare: its leaf group's first free, else pod's, pool's
        free = _free_domains(c)
        near = [
            [x for x in free if int(key[x]) == int(key[d])]
            for key in (TOPO.domain_group, TOPO.domain_pod)
        ]
        want = near[0] or near[1] or free
        assert c.spare_near(d) == (want[0] if want else None)


def test_free_counts_follow_each_change_by_arithmetic():
    """8 nodes online of 8 GPUs: 64 free; a 3-GPU part leaves 61 and 7 whole nodes, a failure
    of a whole free node 53 and 6; a repair and the release give them back."""
    c = fresh()
    pf = c.index.pools[TOPO.pool(POOL).index]
    assert (pf.total(), pf.whole_free) == (8 * 8, 8)
    c.allocate_part(1, FIRST, 3)
    assert (pf.total(), pf.whole_free, pf.by_free[8 - 3]) == (64 - 3, 7, [FIRST])
    c.fail(FIRST + 1)
    assert (pf.total(), pf.whole_free) == (64 - 3 - 8, 6)
    assert pf.group == [0, 2, 2, 2, 0, 0, 0, 0]  # 2 nodes per leaf group; nodes 8-15 offline
    c.repair(FIRST + 1)
    c.release_parts(1)
    assert (pf.total(), pf.whole_free, c.owner[FIRST]) == (64, 8, FREE)


def test_a_pool_past_the_first_answers_in_global_ids():
    """A pool whose domains start at 100 (4 GPUs each, 3 per leaf group, 6 per pod): its
    searches take local ranges and answer global ids, changes by domain and a rebuild from
    the per-domain counts agree, and a clone is independent."""
    from types import SimpleNamespace as NS

    from sim.freeindex import FreeIndex, PoolFree

    fabric = NS(domains_per_leaf_group=3, leaf_groups_per_pod=2)
    pools = [
        NS(first_domain=f, domains=n, gpus_per_domain=4, fabric=fabric)
        for f, n in ((0, 100), (100, 12))
    ]
    index = FreeIndex(NS(pools=pools, domain_pool=np.repeat([0, 1], [100, 12])))
    pf = index.pools[1]
    for d in (101, 102, 104, 107, 111):
        index.set(d, 4)  # free whole
    index.set(105, 1)  # shared, 1 GPU free
    assert pf.first_free_in(0, 12) == 101 and pf.first_free_in(3, 6) == 104
    assert pf.first_free_in(8, 11) is None  # locals 8-10: domains 108-110, none free
    assert pf.free_in(0, 12, 3) == [101, 102, 104] and pf.free_in(4, 12, 9) == [104, 107, 111]
    assert pf.whole_ids().tolist() == [101, 102, 104, 107, 111]
    assert list(pf.with_free(4)) == [101, 102, 104, 107, 111] and pf.with_free(1) == [105]
    assert (pf.whole_free, pf.total()) == (5, 5 * 4 + 1)
    assert (pf.group, pf.pod) == ([2, 1, 1, 1], [3, 2])
    rebuilt = PoolFree(100, 12, 4, 3, 6)
    rebuilt.reset(np.array(pf.free))
    assert [getattr(rebuilt, f) for f in PoolFree.__slots__] == [
        getattr(pf, f) for f in PoolFree.__slots__
    ]
    other = index.copy()  # shares the pool until it changes it: then a clone of its own
    other.set(101, 0)
    clone = other.pools[1]
    assert (pf.first_free_in(0, 3), clone.first_free_in(0, 3)) == (101, 102)
    assert (pf.whole_free, clone.whole_free, pf.group[0], clone.group[0]) == (5, 4, 2, 1)


def test_many_whole_domains_change_at_once_as_one_by_one():
    """`set_whole` (a big job's start or end) leaves the pool as one `set` per domain would,
    and as a rebuild from the per-domain counts; a copy sharing the pool does not see it; it
    refuses a domain not in the state it leaves (taking a domain that is not free whole,
    freeing one that has a GPU free)."""
    from types import SimpleNamespace as NS

    from sim.freeindex import FreeIndex, PoolFree

    def index(free):  # pool 1: domains 50-79, 8 GPUs each, 4 per leaf group, 8 per pod
        fabric = NS(domains_per_leaf_group=4, leaf_groups_per_pod=2)
        pools = [
            NS(first_domain=f, domains=n, gpus_per_domain=8, fabric=fabric)
            for f, n in ((0, 50), (50, 30))
        ]
        ix = FreeIndex(NS(pools=pools, domain_pool=np.repeat([0, 1], [50, 30])))
        for i, g in enumerate(free):
            ix.set(50 + i, g)
        return ix

    def fields(pf):
        return [getattr(pf, f) for f in PoolFree.__slots__]

    free = [8] * 12 + [3] * 2 + [0] * 8 + [8] * 8  # free whole, shared, taken, free whole
    taken = np.array([0, 1, 2, 5, 9, 22, 27, 29])  # local indices, all free whole
    bulk, single = index(free), index(free)
    before = bulk.copy()
    bulk.set_whole(1, taken + 50, free=False)
    for i in taken.tolist():
        single.set(50 + i, 0)
    rebuilt = PoolFree(50, 30, 8, 4, 8)
    rebuilt.reset(np.array([0 if i in taken else g for i, g in enumerate(free)]))
    assert fields(bulk.pools[1]) == fields(single.pools[1]) == fields(rebuilt)
    assert fields(before.pools[1]) == fields(index(free).pools[1])  # the copy: as it was
    pf = bulk.pools[1]
    assert pf.whole_free == 20 - len(taken)
    bulk.set_whole(1, np.arange(64, 72), free=True)  # the eight taken ones come free
    assert pf.free[14:22] == [8] * 8 and pf.whole_free == 20 - len(taken) + 8
    with pytest.raises(ValueError, match="domain 62 has 3 GPUs free, not 8"):
        bulk.set_whole(1, np.array([62]), free=False)  # shared: not free whole
    with pytest.raises(ValueError, match="domain 63 has 3 GPUs free, not 0"):
        bulk.set_whole(1, np.array([63]), free=True)


def test_free_whole_gpus_are_the_free_domains_gpus():
    c = fresh()
    c.allocate(1, np.array([FIRST, FIRST + 1]))
    c.fail(FIRST + 2)
    c.allocate_part(2, FIRST + 3, 3)
    # 8 nodes online: 2 held, 1 down, 1 shared; 4 free whole nodes of 8 GPUs
    assert c.free_whole_gpus(POOL) == (8 - 2 - 1 - 1) * 8 == c.gpus(c.free(POOL))
