"""Free capacity of each pool, kept incrementally beside the cluster's per-domain arrays.

Per domain, the GPUs a job could take there now (its *free* GPUs): all of an online, healthy,
unowned domain; the rest of a shared one; 0 otherwise (`Cluster.free_gpus` states the rule over
the arrays; `Cluster.check` verifies that this index agrees with it). Per pool: which domains
are free whole (a bytearray by local index, searched with `bytearray.find`, a memchr in C), the
shared domains by their free GPUs (`by_free[k]`: sorted domain ids with exactly k GPUs free,
0 < k < G), the free whole domains per leaf group and per pod, and the pool's free GPUs in all.
Placement queries that scanned numpy arrays every event (the fullest leaf group that fits, the
best-fitting shared domain) become a few lookups in Python lists; a failure or a repair of a
free domain is a byte and two counts.

Copies (a policy's scratch, every pass) share each pool's structures until one side changes
that pool (copy on write), so a pass that plans nothing copies nothing.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, insort

import numpy as np

from sim.topology import Topology

_FIND_AT_MOST = 8  # domains found one `find` at a time; more take one numpy scan


class PoolFree:
    """The free capacity of one pool (see the module), changed through `FreeIndex.set`. Domain
    ids are global."""

    __slots__ = (
        "first", "n", "size", "per_group", "per_pod", "free", "whole", "whole_free", "by_free",
        "group", "pod",
    )  # fmt: skip

    def __init__(self, first: int, n: int, size: int, per_group: int, per_pod: int) -> None:
        self.first, self.n, self.size = first, n, size  # first domain, domains, GPUs per domain
        self.per_group, self.per_pod = per_group, per_pod  # domains per leaf group, per pod
        self.free = [0] * n  # free GPUs of each domain, by local index
        self.whole = bytearray(n)  # 1 where the domain is free whole, by local index
        self.whole_free = 0  # free whole domains
        # the shared domains, a few per count: plain sorted lists ([0] stays empty)
        self.by_free: list[list[int]] = [[] for _ in range(size)]
        self.group = [0] * -(-n // per_group)  # free whole domains per leaf group
        self.pod = [0] * -(-n // per_pod)  # free whole domains per pod

    def clone(self) -> PoolFree:
        c = object.__new__(PoolFree)
        c.first, c.n, c.size = self.first, self.n, self.size
        c.per_group, c.per_pod = self.per_group, self.per_pod
        c.free, c.group, c.pod = self.free[:], self.group[:], self.pod[:]
        c.whole, c.whole_free = self.whole[:], self.whole_free
        c.by_free = [b[:] for b in self.by_free]
        return c

    def set_whole(self, local: np.ndarray, free: bool) -> None:
        """Domains (distinct local indices) that go from no GPU free to all free (`free`), or
        back: `FreeIndex.set` for many whole domains at once (a big job's start or end, a phase
        online), the counts per leaf group and pod moved by one bincount each."""
        old, new, step = (0, self.size, 1) if free else (self.size, 0, -1)
        have = self.free
        for i in local.tolist():
            if have[i] != old:
                raise ValueError(f"domain {self.first + i} has {have[i]} GPUs free, not {old}")
            have[i] = new
        np.frombuffer(self.whole, np.uint8)[local] = free
        self.whole_free += step * len(local)
        for counts, per in ((self.group, self.per_group), (self.pod, self.per_pod)):
            moved = np.bincount(local // per)
            for k in np.flatnonzero(moved).tolist():
                counts[k] += step * int(moved[k])

    def reset(self, free: np.ndarray) -> None:
        """Every domain's free GPUs at once (`free` by local index), rebuilt in one vectorised
        sweep: a change of a large share of the pool (a phase online, a pool-wide lease), and
        the check's independent recount (`FreeIndex.of`)."""
        free = np.asarray(free, np.int64)
        self.free = free.tolist()
        is_whole = free == self.size
        self.whole = bytearray(is_whole.tobytes())  # (numpy's bools are the bytes 0 and 1)
        self.whole_free = int(np.count_nonzero(is_whole))
        order = np.argsort(free, kind="stable") + self.first  # by free GPUs, then index
        ends = np.cumsum(np.bincount(free, minlength=self.size + 1)).tolist()
        self.by_free = [[]] + [order[ends[k - 1] : ends[k]].tolist() for k in range(1, self.size)]
        local = np.flatnonzero(is_whole)
        self.group = np.bincount(local // self.per_group, minlength=len(self.group)).tolist()
        self.pod = np.bincount(local // self.per_pod, minlength=len(self.pod)).tolist()

    def total(self) -> int:
        """Free GPUs in all."""
        return self.size * self.whole_free + sum(k * len(b) for k, b in enumerate(self.by_free))

    def whole_ids(self) -> np.ndarray:
        """The free whole domains, in index order."""
        return np.flatnonzero(np.frombuffer(self.whole, np.uint8)) + self.first

    def with_free(self, k: int):
        """The domains with exactly `k` GPUs free (k = all: the free whole ones), in index
        order."""
        if k < self.size:
            return self.by_free[k]
        return self._wholes()

    def _wholes(self):
        find, first = self.whole.find, self.first  # (a generator: callers often stop early)
        i = find(1)
        while i >= 0:
            yield first + i
            i = find(1, i + 1)

    def first_free_in(self, lo: int, hi: int) -> int | None:
        """The first free whole domain among local indices [lo, hi), or None."""
        i = self.whole.find(1, lo, hi)
        return None if i < 0 else self.first + i

    def free_in(self, lo: int, hi: int, n: int) -> list[int]:
        """The first `n` free whole domains among local indices [lo, hi), in index order."""
        if n > _FIND_AT_MOST:  # many: one numpy scan of the range's bytes
            hi = min(hi, self.n)  # (the last group or pod may be short)
            view = np.frombuffer(self.whole, np.uint8, max(hi - lo, 0), lo)
            return (np.flatnonzero(view)[:n] + (self.first + lo)).tolist()
        out, find, first = [], self.whole.find, self.first
        i = find(1, lo, hi)
        while i >= 0 and len(out) < n:
            out.append(first + i)
            i = find(1, i + 1, hi)
        return out


class FreeIndex:
    """The `PoolFree` of every pool, copy on write (see the module)."""

    __slots__ = ("pools", "pool_of", "owned", "group", "__weakref__")

    def __init__(self, topo: Topology) -> None:
        self.pools = [
            PoolFree(
                p.first_domain,
                p.domains,
                p.gpus_per_domain,
                p.fabric.domains_per_leaf_group,
                p.fabric.domains_per_leaf_group * p.fabric.leaf_groups_per_pod,
            )
            for p in topo.pools
        ]
        self.pool_of: list[int] = topo.domain_pool.tolist()  # pool index of each domain
        self.owned = [True] * len(self.pools)  # structures not shared with a copy
        self.group: list[weakref.ref] | None = None  # the indexes that may share them

    @classmethod
    def of(cls, topo: Topology, free: np.ndarray) -> FreeIndex:
        """The index of per-domain free GPUs `free`, built in one sweep per pool (`reset`, not
        the incremental `set`): the check's independent recount."""
        index = cls(topo)
        for pf in index.pools:
            pf.reset(free[pf.first : pf.first + pf.n])
        return index

    def same_as(self, other: FreeIndex) -> bool:
        """Do both hold the same free GPUs, buckets and counts in every pool?"""
        fields = ("free", "whole", "whole_free", "by_free", "group", "pod")
        return all(
            getattr(a, f) == getattr(b, f)
            for a, b in zip(self.pools, other.pools, strict=True)
            for f in fields
        )

    def copy(self) -> FreeIndex:
        """A copy that shares every pool's structures until either side changes them."""
        c = object.__new__(FreeIndex)
        c.pools, c.pool_of = list(self.pools), self.pool_of
        c.owned = [False] * len(self.pools)
        self.owned = [False] * len(self.pools)
        if self.group is None:
            self.group = [weakref.ref(self)]
        c.group = self.group  # one list for all that share (copies of copies too)
        self.group.append(weakref.ref(c))
        return c

    def _own(self, pool: int) -> None:
        """Before a change of `pool`: clone its structures if another index of its group is
        alive (once the others are gone, everything is this one's again)."""
        group = self.group
        group[:] = [r for r in group if r() is not None]
        if any(r() is not self for r in group):
            self.pools[pool] = self.pools[pool].clone()
            self.owned[pool] = True
        else:
            self.owned = [True] * len(self.pools)
            self.group = None

    def set_whole(self, pool: int, domains: np.ndarray, free: bool) -> None:
        """Whole domains of pool `pool`, all free now (`free`) or all taken, none shared (see
        `PoolFree.set_whole`)."""
        if not self.owned[pool]:
            self._own(pool)
        pf = self.pools[pool]
        pf.set_whole(domains - pf.first, free)

    def reset(self, pool: int, free: np.ndarray) -> None:
        """Pool `pool`'s free GPUs per domain at once (see `PoolFree.reset`)."""
        if not self.owned[pool]:
            self._own(pool)
        self.pools[pool].reset(free)

    def free_of(self, d: int) -> int:
        """Free GPUs of domain `d`."""
        pf = self.pools[self.pool_of[d]]
        return pf.free[d - pf.first]

    def size_of(self, d: int) -> int:
        """GPUs of domain `d`."""
        return self.pools[self.pool_of[d]].size

    def set(self, d: int, new: int) -> None:
        """Domain `d` now has `new` GPUs free: its pool's structures follow (the one setter of
        a domain, a single call: every failure and repair, and every allocation and release
        but those of many whole domains at once, `set_whole`, come through here)."""
        p = self.pool_of[d]
        if not self.owned[p]:
            self._own(p)
        pf = self.pools[p]
        i = d - pf.first
        old = pf.free[i]
        if old == new:
            return
        pf.free[i] = new
        size = pf.size
        if old == size:
            pf.whole[i] = 0
            pf.whole_free -= 1
            pf.group[i // pf.per_group] -= 1
            pf.pod[i // pf.per_pod] -= 1
        elif old:
            b = pf.by_free[old]
            del b[bisect_left(b, d)]
        if new == size:
            pf.whole[i] = 1
            pf.whole_free += 1
            pf.group[i // pf.per_group] += 1
            pf.pod[i // pf.per_pod] += 1
        elif new:
            insort(pf.by_free[new], d)
