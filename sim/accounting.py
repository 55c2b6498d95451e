"""GPUs by pool and state, and the exact GPU-hour integral of each day: pure, no SimPy.

Every change of a domain's state goes through `Accounting.move` (or `change`, which finds the
states before and after from the cluster; `domain`, a failure or a repair, does move's four
updates inline, a million times a run): the counts stay exact without recounting, and the
day's GPU-hours follow the identity  int_a^b N dt = N(b) (b - a) - sum_i dN_i (t_i - a),  so each
change costs two scalar updates. Times count from the day's start a: the terms stay the size
of a day's GPU-hours, not of GPUs times the hours since the run began, so the sums lose no
precision late in a long horizon.
"""

from __future__ import annotations

import numpy as np

from sim.cluster import SHARED, Cluster
from sim.policies.base import KINDS

# State index of a domain's GPUs: an owner's kind (its code, see KIND_CODE), or one of these.
STATES = ("lease", "training", "serving", "idle", "down", "offline")
N_STATES = len(STATES)
KIND_CODE = {k: i for i, k in enumerate(KINDS)}  # lease 0, training 1, serving 2
IDLE, DOWN, OFFLINE = 3, 4, 5
_FEW = 16  # changes of up to this many domains are booked one by one (numpy costs more)


class Owners:
    """Owner ids, handed out in order, and each owner's kind code (an array: what the state of
    a domain is, and what policies see)."""

    def __init__(self) -> None:
        self.kind = np.full(1024, -1, np.int8)
        self.codes: list[int] = []  # the same codes as a list: the cheap read of one
        self.next_id = 0

    def new(self, kind: str) -> int:
        oid = self.next_id
        self.next_id += 1
        if oid >= self.kind.size:
            self.kind = np.concatenate([self.kind, np.full(oid, -1, np.int8)])
        code = self.kind[oid] = KIND_CODE[kind]
        self.codes.append(code)
        return oid

    def kind_of(self, owner: int) -> int:
        """State index of an owner's GPUs (IDLE for no owner)."""
        return self.codes[owner] if owner >= 0 else IDLE


class Accounting:
    """GPUs now by (pool, state), and the GPU-hours of the current day so far.

    The counts and the day's integral are flat Python lists indexed pool * N_STATES + state:
    a change updates four scalars, and a Python list's are several times cheaper than a numpy
    array's (the failures of a run make millions of changes); arrays are built once a day.
    """

    def __init__(self, cluster: Cluster, owners: Owners) -> None:
        self.cluster, self.owners = cluster, owners
        self.pool_of = cluster.topo.domain_pool
        # per-domain pool and GPUs as Python lists: cheap scalar reads (millions of changes)
        self._pool: list[int] = self.pool_of.tolist()
        self._gpus = cluster.gpus_of
        self._codes = owners.codes  # kind code by owner id (the list grows, it is never replaced)
        self._shape = (len(cluster.topo.pools), N_STATES)
        self._now: list[float] = self.recount().ravel().tolist()
        self._int: list[float] = [0.0] * len(self._now)
        self.day_start_gpus = self.gpus_now
        self.day_start_h = 0.0
        self.day_failures = [0] * self._shape[0]

    @property
    def gpus_now(self) -> np.ndarray:
        """GPUs now per (pool, state), as an array (a copy)."""
        return np.array(self._now).reshape(self._shape)

    # -- states ------------------------------------------------------------------------------
    def states(self, domains: np.ndarray | slice) -> np.ndarray:
        """State index (see STATES) of each of `domains`."""
        c = self.cluster
        owner = c.owner[domains]
        state = np.where(owner >= 0, self.owners.kind[np.maximum(owner, 0)], IDLE)
        state = np.where(c.down[domains], DOWN, state)
        return np.where(c.online[domains], state, OFFLINE)

    def state(self, d: int) -> int:
        """State index of one domain."""
        c = self.cluster
        if c.index.free_of(d) == c.index.size_of(d):  # all its GPUs free: online, healthy, unowned
            return IDLE
        if not c.is_online[d]:
            return OFFLINE
        if c.is_down[d]:
            return DOWN
        return self.owners.kind_of(c.owner_of[d])

    def recount(self) -> np.ndarray:
        """GPUs per (pool, state), counted from the per-domain arrays (the check of the counts)."""
        n = len(self.cluster.topo.pools)
        key = self.pool_of.astype(np.int64) * N_STATES + self.states(slice(None))
        c = self.cluster
        out = np.bincount(key, weights=c.gpus_per_domain, minlength=n * N_STATES)
        out = out.reshape(n, N_STATES)
        for d, holders in c.sharers.items():  # a shared domain counts idle above; its parts
            if c.online[d] and not c.down[d]:  # are their owners' (a down one is all down)
                for o, g in holders.items():
                    out[self.pool_of[d], IDLE] -= g
                    out[self.pool_of[d], self.owners.kind_of(o)] += g
        return out

    # -- changes -----------------------------------------------------------------------------
    def move(self, pool: int, gpus: int, before: int, after: int, at: float) -> None:
        """`gpus` of a pool change state at time `at`: counts and the day's integral follow."""
        if after != before:
            b, a = pool * N_STATES + before, pool * N_STATES + after
            now, integral, x = self._now, self._int, gpus * (at - self.day_start_h)
            now[b] -= gpus
            now[a] += gpus
            integral[b] += x
            integral[a] -= x

    def change_one(self, d: int, apply, at: float) -> None:
        """Apply a change to one domain, keeping the counts by state and the day's integral."""
        before = self.state(d)
        apply()
        self.move(self._pool[d], self._gpus[d], before, self.state(d), at)

    def change(self, domains: np.ndarray, apply, at: float) -> None:
        """Apply a change to `domains` at `at`, keeping the counts and the integral exact."""
        if len(domains) == 1:
            self.change_one(int(domains[0]), apply, at)
            return
        gpus_of = self.cluster.gpus_per_domain
        if len(domains) <= 8:  # a few domains: scalar updates beat the ufunc.at machinery
            ds = [int(d) for d in domains]
            before = [self.state(d) for d in ds]
            apply()
            for d, b in zip(ds, before, strict=True):
                self.move(self.pool_of.item(d), gpus_of.item(d), b, self.state(d), at)
            return
        key = self.pool_of[domains].astype(np.int64) * N_STATES
        before = key + self.states(domains)
        apply()
        after = key + self.states(domains)
        moved = before != after
        if not moved.any():
            return
        size, gpus = len(self._now), gpus_of[domains][moved].astype(np.float64)
        before, after = before[moved], after[moved]
        flow = np.bincount(after, gpus, size) - np.bincount(before, gpus, size)
        for i in np.flatnonzero(flow).tolist():
            x = float(flow[i])  # whole GPUs: exact
            self._now[i] += x
            self._int[i] -= x * (at - self.day_start_h)

    def whole(self, domains, owner: int, taken: bool, at: float) -> None:
        """Whole domains `owner` took (`taken`: each was idle, i.e. free, online and healthy, as
        `Cluster.allocate` checks) or gave back (each healthy one becomes idle; a down one stays
        down and moves nothing): what `change` would find, without reading the states before
        and after. `domains`: a list or an array; many move one sum per pool."""
        kind = self._codes[owner]  # (an owner's domains: owner >= 0)
        before, after = (IDLE, kind) if taken else (kind, IDLE)
        if len(domains) <= _FEW:  # a few (a spare, a small job): scalar updates
            gpus_of, pool_of, down = self._gpus, self._pool, self.cluster.is_down
            for d in domains.tolist() if isinstance(domains, np.ndarray) else domains:
                if taken or not down[d]:
                    self.move(pool_of[d], gpus_of[d], before, after, at)
            return
        d = np.asarray(domains, np.int64)
        if not taken:
            d = d[~self.cluster.down[d]]
        per_pool = np.bincount(
            self.pool_of[d], self.cluster.gpus_per_domain[d], minlength=self._shape[0]
        )
        for p in np.flatnonzero(per_pool).tolist():
            self.move(p, int(per_pool[p]), before, after, at)  # whole GPUs: exact

    def owner_parts(self, owner: int, parts: dict[int, int], taken: bool, at: float) -> None:
        """`owner`'s parts {domain: GPUs} are taken (healthy domains: idle -> its kind) or
        given back (the reverse; a down domain's stay down and move nothing), as `whole`."""
        kind, pool_of, down = self._codes[owner], self._pool, self.cluster.is_down
        before, after = (IDLE, kind) if taken else (kind, IDLE)
        for d, g in parts.items():
            if taken or not down[d]:
                self.move(pool_of[d], g, before, after, at)

    def domain(self, d: int, at: float, down: bool, owner: int | None = None) -> None:
        """Domain `d` fails (`down`: online and healthy until now, all its GPUs go down) or is
        repaired (its GPUs return to their holders' states, the rest idle). `owner`: its owner,
        if the caller has it (`Cluster.fail` and `repair` return it)."""
        if owner is None:
            owner = self.cluster.owner_of[d]
        if owner == SHARED:
            self._shared_domain(d, at, down)
            return
        # the common case (a million times a run): all its GPUs move between its holder's state
        # and DOWN; `move`'s four updates inline, a repair as a failure's move of -gpus
        row = self._pool[d] * N_STATES
        held, failed = row + (self._codes[owner] if owner >= 0 else IDLE), row + DOWN
        gpus = self._gpus[d] if down else -self._gpus[d]
        x, now, integral = gpus * (at - self.day_start_h), self._now, self._int
        now[held] -= gpus
        now[failed] += gpus
        integral[held] += x
        integral[failed] -= x

    def _shared_domain(self, d: int, at: float, down: bool) -> None:
        """`domain` of a shared domain: its parts' owners' GPUs, and the rest idle."""
        holders, kind_of = self.cluster.sharers[d], self.owners.kind_of
        held = [(kind_of(o), g) for o, g in holders.items()]
        held.append((IDLE, self._gpus[d] - sum(holders.values())))
        for kind, g in held:
            before, after = (kind, DOWN) if down else (DOWN, kind)
            self.move(self._pool[d], g, before, after, at)

    # -- days --------------------------------------------------------------------------------
    def day_hours(self, now: float) -> np.ndarray:
        """GPU-hours per (pool, state) from the day's start to `now`."""
        integral = np.array(self._int).reshape(self._shape)
        return self.gpus_now * (now - self.day_start_h) + integral

    def start_day(self, now: float) -> None:
        """Begin a new day at `now`: snapshot the counts, reset the integral and failures."""
        self.day_failures = [0] * self._shape[0]
        self._int = [0.0] * len(self._now)
        self.day_start_gpus = self.gpus_now
        self.day_start_h = now


def short_gpus(contracted: int, held: int, down: int) -> int:
    """Contracted GPUs a lease tranche does not get while `down` of its `held` GPUs are failed:
    it is owed min(contracted, held) and gets min(contracted, healthy held). Whole domains
    are held, so a 1-GPU tranche on a 72-GPU domain is short 1 GPU, not 72. (Comparisons, not
    min and max: twice a failure of a lease without a spare.)"""
    healthy = held - down if held > down else 0
    return (contracted if contracted < held else held) - (
        contracted if contracted < healthy else healthy
    )
