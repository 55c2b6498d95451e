"""Free capacity of each pool, kept incrementally beside the cluster's per-domain arrays.

Per domain, the GPUs a job could take there now (its *free* GPUs): all of an online, healthy,
unowned domain; the rest of a shared one; 0 otherwise (`Cluster.free_gpus` states the rule over
the arrays; `Cluster.check` verifies that this index agrees with it). Per pool, the domains by
that number (`by_free[k]`: sorted domain ids with exactly k GPUs free, k >= 1; `by_free[G]` are
the free whole domains), the free whole domains per leaf group and per pod, and the pool's free
GPUs in all. Placement queries that scanned numpy arrays every event (the fullest leaf group
that fits, the best-fitting shared domain) become a few lookups in Python lists: pure Python,
because on arrays of tens of domains a numpy call (1-5 us) costs more than the work.

Copies (a policy's scratch, every pass) share each pool's structures until one side changes
that pool (copy on write), so a pass that plans nothing copies nothing.
"""

from __future__ import annotations

import weakref
from bisect import bisect_left, insort

import numpy as np
from sortedcontainers import SortedList

from sim.topology import Topology


class PoolFree:
    """The free capacity of one pool (see the module). Domain ids are global."""

    __slots__ = ("first", "n", "size", "per_group", "per_pod", "free", "by_free", "group", "pod")

    def __init__(self, first: int, n: int, size: int, per_group: int, per_pod: int) -> None:
        self.first, self.n, self.size = first, n, size  # first domain, domains, GPUs per domain
        self.per_group, self.per_pod = per_group, per_pod  # domains per leaf group, per pod
        self.free = [0] * n  # free GPUs of each domain, by local index
        # sorted domain ids; [0] stays empty. The free whole domains, [size], number in the
        # thousands: a SortedList (O(log n) changes; a plain list's insort moves them all).
        # The others hold shared domains, a few each: plain sorted lists.
        self.by_free: list = [[] for _ in range(size)] + [SortedList()]
        self.group = [0] * -(-n // per_group)  # free whole domains per leaf group
        self.pod = [0] * -(-n // per_pod)  # free whole domains per pod

    def clone(self) -> PoolFree:
        c = object.__new__(PoolFree)
        c.first, c.n, c.size = self.first, self.n, self.size
        c.per_group, c.per_pod = self.per_group, self.per_pod
        c.free, c.group, c.pod = self.free[:], self.group[:], self.pod[:]
        c.by_free = [b[:] for b in self.by_free[:-1]] + [self.by_free[-1].copy()]
        return c

    def set(self, d: int, new: int) -> None:
        """Domain `d` now has `new` GPUs free."""
        i = d - self.first
        old = self.free[i]
        if old == new:
            return
        self.free[i] = new
        size = self.size
        if old == size:
            self.by_free[size].remove(d)
        elif old:
            b = self.by_free[old]
            del b[bisect_left(b, d)]
        if new == size:
            self.by_free[size].add(d)
        elif new:
            insort(self.by_free[new], d)
        whole = (new == self.size) - (old == self.size)
        if whole:
            self.group[i // self.per_group] += whole
            self.pod[i // self.per_pod] += whole

    def reset(self, free: np.ndarray) -> None:
        """Every domain's free GPUs at once (`free` by local index): a bulk change (a phase
        online, a lease of thousands of domains) rebuilt in one vectorised sweep."""
        free = np.asarray(free, np.int64)
        self.free = free.tolist()
        order = np.argsort(free, kind="stable") + self.first  # by free GPUs, then index
        ends = np.cumsum(np.bincount(free, minlength=self.size + 1)).tolist()
        self.by_free = [[]] + [order[ends[k - 1] : ends[k]].tolist() for k in range(1, self.size)]
        self.by_free.append(SortedList(order[ends[self.size - 1] :].tolist()))
        whole = np.flatnonzero(free == self.size)
        self.group = np.bincount(whole // self.per_group, minlength=len(self.group)).tolist()
        self.pod = np.bincount(whole // self.per_pod, minlength=len(self.pod)).tolist()

    @property
    def whole_free(self) -> int:
        """Free whole domains."""
        return len(self.by_free[self.size])

    def total(self) -> int:
        """Free GPUs in all."""
        return sum(k * len(b) for k, b in enumerate(self.by_free))

    def first_free_in(self, lo: int, hi: int) -> int | None:
        """The first free whole domain among local indices [lo, hi), or None."""
        whole = self.by_free[self.size]
        i = whole.bisect_left(self.first + lo)
        if i < len(whole):
            d = whole[i]
            if d < self.first + hi:
                return d
        return None

    def free_in(self, lo: int, hi: int, n: int) -> list[int]:
        """The first `n` free whole domains among local indices [lo, hi), in index order."""
        whole = self.by_free[self.size]
        i = whole.bisect_left(self.first + lo)
        j = min(whole.bisect_left(self.first + hi), i + n)
        return whole[i:j]


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
        fields = ("free", "by_free", "group", "pod")
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
        """Domain `d` now has `new` GPUs free."""
        p = self.pool_of[d]
        if not self.owned[p]:
            self._own(p)
        self.pools[p].set(d, new)
