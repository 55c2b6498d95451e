"""Allocation state of the campus, one entry per NVLink domain.

A domain is either held whole by one owner, or shared: a job smaller than a domain takes some of
its GPUs (`allocate_part`), and others may take the rest (packing). `owner` holds the whole
owner, FREE or SHARED; `used` the GPUs that parts hold; `parts` and `sharers` who holds what.
No SimPy here: the engine calls these methods at event times. Every change is checked; a
violated invariant raises `AllocationError` (a bug in a policy or the engine, never bad input).
"""

from __future__ import annotations

import array
import datetime as dt
import itertools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.errors import SimError
from sim.freeindex import FreeIndex
from sim.topology import Topology

FREE = -1
SHARED = -2  # owner of a domain whose GPUs parts hold (see `parts`, `sharers`)
_UIDS = itertools.count()  # a process-wide id per cluster and copy, for `Cluster.mark`
_FEW = 16  # up to this many domains, checks and picks in Python (numpy costs more on tiny arrays)
_BULK = 64  # changes of more whole domains go to the free-capacity index in bulk
_REBUILD_PER = 4  # ... and rebuild a pool's if a quarter of its domains change (measured)
PLACEMENTS = ("consolidate", "spread")  # where a part goes: fullest fitting domain, or emptiest


class AllocationError(SimError):
    """The mechanism refused a change that would break an invariant."""


@dataclass(frozen=True)
class PoolCounts:
    """GPUs of one pool by state. online = allocated + idle + down (down includes owned-and-down)."""

    online: int
    allocated: int
    idle: int
    down: int


class Cluster:
    """Per-domain arrays: online, owner (an owner id, FREE, or SHARED), down (failed), `used`
    (GPUs held by parts), and the parts: `parts[owner] = {domain: gpus}` and its mirror
    `sharers[domain] = {owner: gpus}`. The inner dicts are replaced, never changed in place,
    so that `copy` (a policy's scratch, every pass) need not copy them.

    Beside the arrays, `index` (a `FreeIndex`) keeps each pool's free capacity incrementally,
    so that placement and the checks of a change are a few list lookups, not numpy scans;
    `version` counts changes (a policy may skip a pass on a state it has seen, see `mark`).

    `online`, `owner`, `down` and `used` are numpy views of Python buffers, `is_online`,
    `owner_of`, `is_down` and `used_of`: the same memory, read and written through numpy when
    vectorised and through the buffers one domain at a time (millions of times a run; a
    bytearray's index costs a fraction of numpy's `item`)."""

    def __init__(self, topo: Topology):
        self.topo = topo
        n = topo.domains
        self._state(
            bytearray(n), array.array("i", [FREE]) * n, bytearray(n), array.array("q", [0]) * n
        )
        self.gpus_per_domain = np.array([p.gpus_per_domain for p in topo.pools], np.int64)[
            topo.domain_pool
        ]
        self.gpus_of: list[int] = self.gpus_per_domain.tolist()  # the same, for scalar reads
        self.parts: dict[int, dict[int, int]] = {}
        self.sharers: dict[int, dict[int, int]] = {}
        self.whole: dict[int, int] = {}  # owner -> how many domains it holds whole
        self.index = FreeIndex(topo)
        self.uid, self.version = next(_UIDS), 0
        self.sharing: list[weakref.ref] = []  # the cluster that shares this one's state
        self.original = True  # not a copy (see `copy`)

    # -- capacity ----------------------------------------------------------------------------
    def bring_online(self, at: dt.date) -> np.ndarray:
        """Mark every domain whose phase is online by `at`; return the newly online ones."""
        self._own()
        new = ~self.online & (self.topo.domain_online <= np.datetime64(at, "D"))
        self.online |= new
        out = np.flatnonzero(new)
        self._refresh_many(out)
        self.version += 1
        return out

    def pool_domains(self, pool: str) -> slice:
        p = self.topo.pool(pool)
        return slice(p.first_domain, p.first_domain + p.domains)

    def free(self, pool: str, include_down: bool = False) -> np.ndarray:
        """Domains of a pool that are online, healthy (unless `include_down`) and unowned."""
        if not include_down:
            return self.index.pools[self.topo.pool(pool).index].whole_ids()
        sl = self.pool_domains(pool)
        ok = self.online[sl] & (self.owner[sl] == FREE)
        if not include_down:
            ok &= ~self.down[sl]
        return np.flatnonzero(ok) + sl.start

    def free_whole_gpus(self, pool: str) -> int:
        """GPUs of a pool's free domains (online, healthy, unowned), from the index's count."""
        p = self.topo.pool(pool)
        return self.index.pools[p.index].whole_free * p.gpus_per_domain

    def free_count(self, pool: str, include_down: bool = False) -> int:
        """How many domains of a pool are free (see `free`)."""
        if not include_down:
            return self.index.pools[self.topo.pool(pool).index].whole_free
        sl = self.pool_domains(pool)
        ok = self.online[sl] & (self.owner[sl] == FREE)
        if not include_down:
            ok &= ~self.down[sl]
        return int(np.count_nonzero(ok))

    def owned_by(self, owner: int) -> np.ndarray:
        """The domains `owner` holds whole, in index order."""
        return np.flatnonzero(self.owner == owner)

    def gpus(self, domains: np.ndarray) -> int:
        """GPUs of `domains` in all."""
        if len(domains) <= _FEW:  # a few: summed in Python, faster than numpy on tiny arrays
            gpus_of = self.gpus_of
            return sum(gpus_of[d] for d in np.asarray(domains).tolist())
        return int(self.gpus_per_domain[domains].sum())

    def gpus_by_pool(self, domains, parts: Sequence[int] = ()) -> dict[str, int]:
        """GPUs of `domains` (whole, or `parts` GPUs of each) per pool name, in pool order (the
        one rule; policies and the engine import it)."""
        pools = self.topo.pools
        if parts or len(domains) <= _FEW:  # a few: counted in Python, faster than numpy
            of, gpus_of = self.index.pool_of, self.gpus_of
            per: dict[int, int] = {}
            if parts:
                for d, g in zip(domains, parts, strict=True):
                    p = of[d]
                    per[p] = per.get(p, 0) + g
            else:
                for d in domains.tolist() if isinstance(domains, np.ndarray) else domains:
                    p = of[d]
                    per[p] = per.get(p, 0) + gpus_of[d]
            if len(per) == 1:  # (one pool, the common case: nothing to sort)
                [(p, gpus)] = per.items()
                return {pools[p].name: gpus}
            return {pools[i].name: per[i] for i in sorted(per)}
        pool_of = self.topo.domain_pool[domains]
        counts = np.bincount(pool_of)  # a bincount: np.unique sorts (slower on the hot path)
        return {
            pools[int(i)].name: int(counts[i]) * pools[int(i)].gpus_per_domain
            for i in np.flatnonzero(counts)
        }

    def online_gpus(self) -> int:
        """GPUs online campus-wide."""
        return int(self.gpus_per_domain[self.online].sum())

    def copy(self) -> Cluster:
        """A private copy of the allocation state (shares the topology and constant arrays):
        what a policy plans several starts on. Copy on write: both share the state until one
        changes it while the other lives, and then the copy takes a private state, whichever
        changes: the original's arrays stay the same objects (other modules read them), and a
        policy's scratch, dropped when its pass ends, costs the live cluster nothing."""
        self._own()  # at most one copy shares the state at a time
        c = object.__new__(Cluster)
        c.__dict__.update(self.__dict__)
        c.uid, c.original = next(_UIDS), False
        c.sharing = [weakref.ref(self)]
        self.sharing = [weakref.ref(c)]
        return c

    def _own(self) -> None:
        """Before a change: if a live copy (or original) shares the state, part them."""
        if not self.sharing:
            return
        other = self.sharing[0]()
        self.sharing = []
        if other is None:
            return
        other.sharing = []
        (other if self.original else self).take_private_state()

    def _state(self, online: bytearray, owner: array.array, down: bytearray, used: array.array):
        """Hold these buffers as the per-domain state, with their numpy views (see the class)."""
        self.is_online, self.owner_of, self.is_down, self.used_of = online, owner, down, used
        self.online = np.frombuffer(online, bool)
        self.owner = np.frombuffer(owner, np.intc)  # (array "i" is a C int)
        self.down = np.frombuffer(down, bool)
        self.used = np.frombuffer(used, np.int64)  # (array "q" is a C long long)

    def take_private_state(self) -> None:
        """Copy the shared state (arrays, records, index) to this cluster's own."""
        self._state(self.is_online[:], self.owner_of[:], self.is_down[:], self.used_of[:])
        # the inner dicts are never changed in place (a change replaces them): shared
        self.parts, self.sharers = dict(self.parts), dict(self.sharers)
        self.whole = dict(self.whole)
        self.index = self.index.copy()

    def mark(self) -> tuple[int, int]:
        """An opaque token of the allocation state: equal tokens mean no change in between (a
        policy that found nothing to start may skip a pass on the same state)."""
        return self.uid, self.version

    def _refresh_many(self, domains: np.ndarray, held: bool = False) -> None:
        """`_refresh` for many online domains held whole now (`held`) or free now, none shared:
        a healthy one has all its GPUs taken or all free, a failed one none. Few: one by one;
        many: in bulk per pool, or that pool rebuilt where a large share of it changes."""
        if len(domains) <= _BULK:
            one = (lambda d: self.index.set(d, 0)) if held else self._refresh
            for d in domains.tolist():
                one(d)
            return
        healthy = domains[~self.down[domains]]
        pool_of = self.topo.domain_pool[healthy]
        counts = np.bincount(pool_of)
        for p in np.flatnonzero(counts).tolist():
            pool = self.topo.pools[p]
            if counts[p] * _REBUILD_PER < pool.domains:
                ds = healthy if counts[p] == len(healthy) else healthy[pool_of == p]
                self.index.set_whole(p, ds, not held)
            else:
                self.index.reset(p, self.free_gpus(pool.name))

    def _refresh(self, d: int) -> None:
        """Recompute domain `d`'s free GPUs in the index (the rule of `free_gpus`, for one)."""
        if not self.is_online[d] or self.is_down[d]:
            free = 0
        else:
            owner, g = self.owner_of[d], self.gpus_of[d]
            free = g if owner == FREE else g - self.used_of[d] if owner == SHARED else 0
        self.index.set(d, free)

    def counts(self, pool: str) -> PoolCounts:
        sl = self.pool_domains(pool)
        g, owner = self.gpus_per_domain[sl], self.owner[sl]
        on, down = self.online[sl], self.down[sl]
        held = np.where(owner >= 0, g, np.where(owner == SHARED, self.used[sl], 0))
        up = on & ~down
        return PoolCounts(
            online=int(g[on].sum()),
            allocated=int(held[up].sum()),
            idle=int((g - held)[up].sum()),
            down=int(g[on & down].sum()),
        )

    def free_gpus(self, pool: str) -> np.ndarray:
        """Free GPUs of each domain of a pool (online and healthy ones: all of a free domain,
        the rest of a shared one; 0 otherwise), in domain order."""
        sl = self.pool_domains(pool)
        g, owner = self.gpus_per_domain[sl], self.owner[sl]
        up = self.online[sl] & ~self.down[sl]
        return np.where(
            up & (owner == FREE), g, np.where(up & (owner == SHARED), g - self.used[sl], 0)
        )

    def holds_parts(self, owner: int) -> bool:
        return owner in self.parts

    def held_by_pool(self, owner: int) -> dict[str, int]:
        """GPUs an owner holds per pool, whole domains or parts."""
        held = self.parts.get(owner)
        if held is None:
            return self.gpus_by_pool(self.owned_by(owner))
        return self.gpus_by_pool(tuple(held), tuple(held.values()))

    def fragmented_gpus(self) -> np.ndarray:
        """Per pool, the idle healthy GPUs of shared domains: usable only by jobs smaller than a
        domain (what packing strands)."""
        out = np.zeros(len(self.topo.pools), np.int64)
        for d in self.sharers:
            if self.online[d] and not self.down[d]:
                out[self.topo.domain_pool[d]] += self.gpus_per_domain[d] - self.used[d]
        return out

    # -- changes -----------------------------------------------------------------------------
    def allocate(self, owner: int, domains: np.ndarray, allow_down: bool = False) -> None:
        """Give `domains` to `owner`: each must be distinct, online, free and (unless
        `allow_down`: a lease takes its racks as they are, failed ones included) healthy."""
        if self.sharing:
            self._own()
        d = np.asarray(domains, np.int64)
        ds = d.tolist() if d.size <= _FEW else None  # few: checked on the index
        if allow_down or ds is None or not self._takes_whole(owner, ds):
            self._check_whole(owner, d, allow_down)
        if ds is None:
            self.owner[d] = owner
            self._refresh_many(d, held=True)
        else:
            owner_of, index = self.owner_of, self.index
            for x in ds:
                owner_of[x] = owner
                index.set(x, 0)
        self.whole[owner] = self.whole.get(owner, 0) + d.size
        self.version += 1

    def _takes_whole(self, owner: int, ds: list[int]) -> bool:
        """The common case of `allocate`, checked on the index: distinct domains, each online,
        healthy and free (all its GPUs free), for an owner that holds no parts."""
        if owner < 0 or not ds or owner in self.parts or len(set(ds)) != len(ds):
            return False
        free_of, gpus_of, n = self.index.free_of, self.gpus_of, len(self.gpus_of)
        for d in ds:  # noqa: SIM110 (a loop: a generator costs more for the one or two of most jobs)
            if not (0 <= d < n and free_of(d) == gpus_of[d]):
                return False
        return True

    def _check_whole(self, owner: int, d: np.ndarray, allow_down: bool) -> None:
        """Every rule of `allocate`, on the arrays: raises the first one `d` breaks."""
        if owner < 0:
            raise AllocationError(f"owner id must be >= 0, got {owner}")
        if d.size == 0:
            raise AllocationError("allocate of no domains")
        if d.min() < 0 or d.max() >= self.owner.size:
            raise AllocationError(f"owner {owner}: domain index out of range")
        if d.size > 1 and np.bincount(d).max() > 1:  # (a bincount: np.unique sorts, slower)
            raise AllocationError(f"owner {owner}: a domain is listed twice")
        if not self.online[d].all():
            raise AllocationError(f"owner {owner}: domains not online: {d[~self.online[d]][:5]}")
        if not allow_down and self.down[d].any():
            raise AllocationError(f"owner {owner}: domains are down: {d[self.down[d]][:5]}")
        taken = self.owner[d] != FREE
        if taken.any():
            raise AllocationError(
                f"owner {owner}: domains already owned by {sorted(set(self.owner[d][taken].tolist()))}"
            )
        if owner in self.parts:
            raise AllocationError(
                f"owner {owner} holds part of a domain; it cannot hold whole ones"
            )

    def replace(self, owner: int, old: int, new: int | None = None) -> int | None:
        """Swap one of `owner`'s domains for a free, online, healthy one (a spare): `new`, or by
        default the nearest (`spare_near`). Returns the spare, or None if the pool has none."""
        owner_of = self.owner_of
        if owner_of[old] != owner:
            raise AllocationError(f"owner {owner} replaces domain {old}, which it does not own")
        if new is None:
            new = self.spare_near(old)  # (free whole by the index: no check)
            if new is None:
                return None
        elif self.index.free_of(new) != self.gpus_of[new]:  # all free: online, healthy, unowned
            raise AllocationError(f"owner {owner}: spare {new} is not free, online and healthy")
        if self.sharing:
            self._own()
            owner_of = self.owner_of
        owner_of[old] = FREE
        owner_of[new] = owner
        if not self.is_down[old]:  # a failed domain has no free GPUs either way
            self._refresh(old)
        self.index.set(new, 0)
        self.version += 1
        return new

    def release(self, owner: int, domains=None):
        """Return `owner`'s domains (all of them by default; else a list or an array) to the
        free pool; returns them (`owned_by`'s array by default)."""
        if self.sharing:
            self._own()
        d = self.owned_by(owner) if domains is None else domains
        if len(d) <= _FEW:  # a few: checked and changed in Python (a serving rack that fails)
            ds = d.tolist() if isinstance(d, np.ndarray) else d
            owner_of = self.owner_of
            for x in ds:
                if owner_of[x] != owner:
                    raise AllocationError(f"owner {owner} releases domains it does not own")
            is_down = self.is_down
            for x in ds:
                owner_of[x] = FREE
                if not is_down[x]:  # a failed domain has no free GPUs either way
                    self._refresh(x)
        else:
            d = np.asarray(d, np.int64)
            if domains is not None and (self.owner[d] != owner).any():  # (owned_by's are)
                raise AllocationError(f"owner {owner} releases domains it does not own")
            self.owner[d] = FREE  # (distinct: callers pass owned_by's result or part of it)
            self._refresh_many(d)
        left = self.whole.get(owner, 0) - len(d)
        if left > 0:
            self.whole[owner] = left
        else:
            self.whole.pop(owner, None)
        self.version += 1
        return d

    def allocate_part(self, owner: int, domain: int, gpus: int) -> None:
        """Give `owner` `gpus` GPUs of one online healthy domain that is free or shared, fewer
        than the domain holds (see `allocate_parts`)."""
        self.allocate_parts(owner, {int(domain): gpus})

    def allocate_parts(self, owner: int, parts: dict[int, int]) -> None:
        """Give `owner` GPUs of one or more online healthy domains that are free or shared
        (`parts` = {domain: GPUs}): a job that packs, inside one domain or spanning several.
        A part alone is smaller than its domain; a part of a spanning job may be all of it. An
        owner holds parts or whole domains, never both, and takes its parts at once."""
        if self.sharing:
            self._own()
        if not self._takes_parts(owner, parts):
            self._check_parts(owner, parts)
        held, index, owner_of, used_of = {}, self.index, self.owner_of, self.used_of
        sharers = self.sharers
        for d, gpus in parts.items():
            d, gpus = int(d), int(gpus)
            owner_of[d] = SHARED
            used_of[d] += gpus
            index.set(d, index.free_of(d) - gpus)
            held[d] = gpus
            others = sharers.get(d)
            if others is None:
                sharers[d] = {owner: gpus}
            else:  # a new dict, this part last
                mine = others.copy()
                mine[owner] = gpus
                sharers[d] = mine
        self.parts[owner] = held
        self.version += 1

    def _takes_parts(self, owner: int, parts: dict[int, int]) -> bool:
        """The common case of `allocate_parts`, checked on the index: each domain has the GPUs
        free (so it is online, healthy and not held whole); a part alone is not all of it."""
        if owner < 0 or not parts or owner in self.parts or owner in self.whole:
            return False
        index, n, alone = self.index, len(self.gpus_of), len(parts) == 1
        for d, gpus in parts.items():
            if not (0 <= d < n and 0 < gpus <= index.free_of(d)):
                return False
            if alone and gpus == index.size_of(d):
                return False
        return True

    def _check_parts(self, owner: int, parts: dict[int, int]) -> None:
        """Every rule of `allocate_parts`, on the arrays: raises the first one broken."""
        if owner < 0:
            raise AllocationError(f"owner id must be >= 0, got {owner}")
        if not parts:
            raise AllocationError(f"owner {owner}: a part allocation of no domains")
        if owner in self.parts or owner in self.whole:
            raise AllocationError(f"owner {owner} already holds capacity")
        alone = len(parts) == 1
        for d, gpus in parts.items():
            if not 0 <= d < self.owner.size:
                raise AllocationError(f"owner {owner}: domain index out of range")
            size = int(self.gpus_per_domain[d])
            if not 0 < gpus <= size or (alone and gpus == size):
                raise AllocationError(
                    f"owner {owner}: a part of {gpus} GPUs of a {size}-GPU domain"
                )
            if not self.online[d] or self.down[d]:
                raise AllocationError(f"owner {owner}: domain {d} is not online and healthy")
            if self.owner[d] >= 0:
                raise AllocationError(f"owner {owner}: domain {d} is held whole by {self.owner[d]}")
            if self.used[d] + gpus > size:
                raise AllocationError(
                    f"owner {owner}: domain {d} has {size - self.used[d]} GPUs free, not {gpus}"
                )

    def release_parts(self, owner: int) -> dict[int, int]:
        """Return all of `owner`'s parts; a domain no part holds any more is free again."""
        if self.sharing:
            self._own()
        held = self.parts.pop(owner, None)
        if held is None:
            raise AllocationError(f"owner {owner} releases parts it does not hold")
        used_of, owner_of = self.used_of, self.owner_of
        for d, g in held.items():
            used_of[d] -= g
            mine = self.sharers[d].copy()  # a new dict, the others' parts in their order
            del mine[owner]
            if mine:
                self.sharers[d] = mine
            else:
                del self.sharers[d]
                owner_of[d] = FREE
            self._refresh(d)
        self.version += 1
        return held

    def fail(self, domain: int) -> int:
        """Take a domain down; return its owner (FREE if none, SHARED if parts hold it). It stays
        held until released. (Millions of calls in a long run: scalar reads, no numpy calls.)"""
        if self.sharing:
            self._own()
        is_down = self.is_down
        if is_down[domain] or not self.is_online[domain]:
            raise AllocationError(f"domain {domain} cannot fail: offline or already down")
        is_down[domain] = 1
        owner = self.owner_of[domain]
        if owner < 0:  # a domain held whole has no free GPUs already
            self.index.set(domain, 0)
        self.version += 1
        return owner

    def repair(self, domain: int) -> int:
        """Bring a failed domain back up; return its owner (as `fail`)."""
        if self.sharing:
            self._own()
        is_down = self.is_down
        if not is_down[domain]:
            raise AllocationError(f"domain {domain} is not down")
        is_down[domain] = 0
        owner = self.owner_of[domain]
        if owner == FREE:
            self.index.set(domain, self.gpus_of[domain])
        elif owner == SHARED:
            self.index.set(domain, self.gpus_of[domain] - self.used_of[domain])
        self.version += 1
        return owner

    # -- placement ---------------------------------------------------------------------------
    def spare_near(self, domain: int) -> int | None:
        """A free healthy online domain to replace `domain`: in its leaf group if possible, else
        its pod, else its pool (lowest index first). Groups and pods are contiguous ranges: the
        index counts their free whole domains and finds the first in its bytes."""
        pf = self.index.pools[self.index.pool_of[domain]]
        if not pf.whole_free:
            return None
        local = domain - pf.first
        group, pod = local // pf.per_group, local // pf.per_pod
        if pf.group[group]:
            return pf.first_free_in(group * pf.per_group, (group + 1) * pf.per_group)
        if pf.pod[pod]:
            return pf.first_free_in(pod * pf.per_pod, (pod + 1) * pf.per_pod)
        return pf.first_free_in(0, pf.n)

    def pick_compact(
        self, pool: str, domains: int, include_down: bool = False
    ) -> np.ndarray | None:
        """Choose `domains` free domains of a pool spanning as few fabric tiers as possible.

        Best fit: the fullest leaf group that holds them all, else the fullest pod that does,
        else whole pods, most-free first. Ties go to the lowest index. None if too few are free.
        """
        if include_down:  # failed domains count as free: vectorised over the arrays
            return self._pick_compact_arrays(pool, domains, include_down)
        chosen = self._compact(self.index.pools[self.topo.pool(pool).index], domains)
        return None if chosen is None else np.array(chosen, np.int64)

    @staticmethod
    def _compact(pf, domains: int) -> list[int] | None:
        """`pick_compact` on the index's free counts per leaf group and pod: their sorted ids."""
        if domains <= 0 or pf.whole_free < domains:
            return None
        for counts, span in ((pf.group, pf.per_group), (pf.pod, pf.per_pod)):
            # the fullest that fits: the fewest free that are enough; lowest id on ties
            if span - domains < 8:  # few counts to try: a scan in C for each
                c = next((k for k in range(domains, span + 1) if k in counts), None)
            else:  # one pass over the groups or pods
                c = min([c for c in counts if c >= domains], default=None)
            if c is not None:
                best = counts.index(c)
                return pf.free_in(best * span, (best + 1) * span, domains)
        chosen: list[int] = []
        pod, span = pf.pod, pf.per_pod
        # whole pods, most free first; a stable sort keeps the lowest id first on ties
        for i in sorted(range(len(pod)), key=[-c for c in pod].__getitem__):
            if pod[i]:
                chosen += pf.free_in(i * span, (i + 1) * span, domains - len(chosen))
            if len(chosen) == domains:
                break
        return sorted(chosen)

    def _pick_compact_arrays(
        self, pool: str, domains: int, include_down: bool
    ) -> np.ndarray | None:
        """`pick_compact` counting failed domains as free (a lease takes them as they are),
        vectorised over the per-domain arrays."""
        free = self.free(pool, include_down)
        if domains <= 0 or free.size < domains:
            return None
        for key in (self.topo.domain_group, self.topo.domain_pod):
            ids = key[free]
            base = int(ids[0]) if ids[0] <= ids[-1] else 0
            counts = np.bincount(ids - base)
            fits = np.flatnonzero(counts >= domains)
            if fits.size:
                best = fits[np.argmin(counts[fits])] + base  # fullest that fits; lowest id on ties
                return free[ids == best][:domains]
        pods = self.topo.domain_pod[free]
        counts = np.bincount(pods - pods.min())
        rank = np.empty(counts.size, np.int64)
        rank[np.lexsort((np.arange(counts.size), -counts))] = np.arange(counts.size)
        chosen = free[np.argsort(rank[pods - pods.min()], kind="stable")]
        return np.sort(chosen[:domains])

    def pick_part(self, pool: str, gpus: int, placement: str = "consolidate") -> int | None:
        """A domain of a pool with `gpus` GPUs free for a part, or None. `consolidate`: the
        fitting shared domain with the fewest free GPUs (best fit, fewest partly used domains),
        else a free domain placed compactly; `spread`: a free domain first, else the fitting
        shared domain with the most free GPUs. Ties go to the lowest index."""
        if placement not in PLACEMENTS:
            raise AllocationError(f"unknown placement {placement!r}; known: {PLACEMENTS}")
        return self._part(self.index.pools[self.topo.pool(pool).index], gpus, placement)

    def _part(self, pf, gpus: int, placement: str) -> int | None:
        """`pick_part` on a pool's free index `pf`, for a known placement."""
        by_free = pf.by_free
        shared = range(max(gpus, 1), pf.size)  # free counts of shared domains that fit
        if placement == "consolidate":
            for k in shared:
                if by_free[k]:
                    return by_free[k][0]
        whole = self._compact(pf, 1)  # (`pick_compact` of one domain)
        if whole is not None:
            return whole[0]
        for k in reversed(shared):  # spread, and no free domain left
            if by_free[k]:
                return by_free[k][0]
        return None

    def pick_parts(
        self, pool: str, gpus: int, placement: str = "consolidate"
    ) -> dict[int, int] | None:
        """Where a job that packs takes `gpus` GPUs of a pool ({domain: GPUs}), or None if
        fewer are free. The fewest domains that hold it: one (`pick_part`) if any has room,
        else the domains with the most free GPUs, most first (ties: lowest index), the last
        one holding the remainder: for `consolidate` the fitting domain with the fewest free
        GPUs (best fit), for `spread` the next most-free one. Never waits for a whole domain
        while the pool has the GPUs free. A job of exactly one domain's GPUs that a free domain
        holds takes it whole (`pick_compact`; policies try whole domains first): None here."""
        if placement not in PLACEMENTS:
            raise AllocationError(f"unknown placement {placement!r}; known: {PLACEMENTS}")
        pf = self.index.pools[self.topo.pool(pool).index]
        if gpus <= 0:
            return None
        if gpus < pf.size:
            d = self._part(pf, gpus, placement)
            if d is not None:
                return {d: gpus}
        if pf.total() < gpus:
            return None
        out: dict[int, int] = {}
        got, with_free = 0, pf.with_free
        for k in range(pf.size, 0, -1):  # most free GPUs first, lowest index on ties
            for d in with_free(k):
                if got + k >= gpus:  # `d` would hold the rest: it, or a better fit, is last
                    if not out:
                        return None
                    left = gpus - got
                    if placement == "spread":
                        out[d] = left
                        return out
                    for j in range(left, pf.size + 1):  # the fewest free GPUs that fit
                        for e in with_free(j):
                            if e not in out:
                                out[e] = left
                                return out
                out[d] = k
                got += k
        return None  # unreachable: the pool has `gpus` free

    # -- invariants --------------------------------------------------------------------------
    def check(self) -> None:
        """Invariants that hold after every change; raises AllocationError if one does not."""
        if (self.owner[~self.online] != FREE).any():
            raise AllocationError("a domain that is not online is owned")
        if (self.down & ~self.online).any():
            raise AllocationError("a domain that is not online is down")
        if (self.used[self.owner != SHARED] != 0).any():
            raise AllocationError("GPUs of a domain that is not shared are held by parts")
        if (self.used > self.gpus_per_domain).any():
            raise AllocationError("a domain's parts hold more GPUs than it has")
        shared = set(np.flatnonzero(self.owner == SHARED).tolist())
        if shared != set(self.sharers):
            raise AllocationError("shared domains and their sharers disagree")
        for d, holders in self.sharers.items():
            if sum(holders.values()) != self.used[d]:
                raise AllocationError(
                    f"domain {d}: parts add up to {sum(holders.values())}, not {self.used[d]}"
                )
            for o, g in holders.items():
                if self.parts.get(o, {}).get(d) != g:
                    raise AllocationError(f"domain {d}: owner {o}'s part is not recorded")
        owners, counts = np.unique(self.owner[self.owner >= 0], return_counts=True)
        if dict(zip(owners.tolist(), counts.tolist(), strict=True)) != self.whole:
            raise AllocationError("domains held whole disagree with the owners' counts")
        if sum(len(h) for h in self.parts.values()) != sum(len(h) for h in self.sharers.values()):
            raise AllocationError("parts and sharers disagree")
        free = np.concatenate([self.free_gpus(p.name) for p in self.topo.pools])
        if not self.index.same_as(FreeIndex.of(self.topo, free)):
            raise AllocationError("the free-capacity index disagrees with a recount")
        for p in self.topo.pools:
            c = self.counts(p.name)
            if c.allocated + c.idle + c.down != c.online or c.online > p.gpus:
                raise AllocationError(f"pool {p.name}: counts do not add up: {c}")
