"""The narrow interface between the engine and allocation policies.

A policy sees a read-only `ClusterView` and the pending `Request`s and returns `Decision`s; the
mechanism (the engine) checks each decision against the live state and applies it, or refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from sim.spec.base import Strict
from sim.topology import PoolInfo, Topology

if TYPE_CHECKING:  # numpy is imported where used: `sim validate` makes a policy, runs none
    import numpy as np

    from sim.cluster import Cluster

OwnerKind = Literal["lease", "training", "serving"]
KINDS: tuple[OwnerKind, ...] = ("lease", "training", "serving")  # codes 0, 1, 2


class Request(NamedTuple):
    """Someone waiting for capacity. `sizes` are the GPU counts it accepts, largest first.
    Immutable (a policy cannot change what it was asked; `replace` makes a changed copy). A
    named tuple, not a frozen dataclass: one is made per job, ~3x faster."""

    owner_id: int
    kind: OwnerKind
    name: str
    job_class: str
    priority: int
    submitted_h: float
    pools: tuple[str, ...]  # allowed pools, in the requester's order of preference
    sizes: tuple[int, ...]
    unit_gpus: int = 1  # GPUs per model replica: a pool contributes whole units only
    single_pool: bool = False  # must every GPU come from one pool
    usd_per_gpu_hour: float = 0.0  # what it earns (leases, serving); 0 for internal training
    takes_down: bool = False  # a lease takes its racks as they are, failed ones included
    packs: bool = False  # takes GPUs inside domains, one or several, not whole ones (trace jobs)

    def replace(self, **changes) -> Request:
        """A copy with `changes` (a request itself never changes)."""
        return self._replace(**changes)


class Start(NamedTuple):
    """Give `domains` to a pending request's owner: whole, or (`parts`, one per domain) that
    many GPUs of each, for a request that packs. (Named tuples, as `Request`: one per job.)"""

    owner_id: int
    domains: tuple[int, ...]
    parts: tuple[int, ...] = ()


class PlacementParams(Strict):
    """What every policy's parameters include: where a job smaller than a domain goes."""

    placement: Literal["consolidate", "spread"] = "consolidate"


class Pick(NamedTuple):
    """Where a request would go: whole `domains` (an array of their ids), or `parts` GPUs of
    each (then `domains` is a tuple, one id per part: no array is needed); `gpus` in all."""

    domains: np.ndarray | tuple[int, ...]
    parts: tuple[int, ...]
    gpus: int


@dataclass(frozen=True)
class Preempt:
    """Take all capacity back from a running training job; it returns to the queue."""

    owner_id: int


@dataclass(frozen=True)
class GiveNotice:
    """The lessor gives notice on a lease tranche; its capacity returns when the notice ends."""

    owner_id: int


Decision = Start | Preempt | GiveNotice


@dataclass(frozen=True)
class LeaseInfo:
    """A lease tranche that is held or waiting, as policies see it."""

    owner_id: int
    contract: str
    tenant: str
    gpus: int
    pools: tuple[str, ...]
    pools_held: dict[str, int]  # empty while waiting
    usd_per_gpu_hour: float
    may_reclaim: bool
    notice_given: bool
    ends_h: float
    ends_if_notice_now_h: float


class ClusterView:
    """Read-only view of the cluster for policies, with a scratch copy to plan several starts.
    `leases` may be given as a function: it is then called once, when a policy first reads
    them (most passes of most policies never do)."""

    def __init__(
        self,
        cluster: Cluster,
        now_h: float,
        running: dict[int, Request],
        leases: dict[int, LeaseInfo] | Callable[[], dict[int, LeaseInfo]] | None = None,
        owner_kind: np.ndarray | None = None,
    ):
        self._cluster = cluster
        self.now_h = now_h
        self.running = MappingProxyType(running)  # read-only, no copy per pass
        self._leases = leases if callable(leases) else dict(leases or {})
        self._owner_kind = owner_kind

    @property
    def leases(self) -> dict[int, LeaseInfo]:
        if callable(self._leases):
            self._leases = dict(self._leases() or {})
        return self._leases

    def mark(self) -> tuple[int, int]:
        """A token of the allocation state (`Cluster.mark`): equal tokens, same state."""
        return self._cluster.mark()

    @property
    def topology(self) -> Topology:
        return self._cluster.topo

    def pool(self, name: str) -> PoolInfo:
        return self._cluster.topo.pool(name)

    def free_gpus(self, pool: str) -> int:
        return self._cluster.gpus(self._cluster.free(pool))

    def online_gpus(self, pool: str) -> int:
        return self._cluster.counts(pool).online

    def gpus_by_kind(self) -> dict[str, int]:
        """GPUs held campus-wide by each owner kind (lease, training, serving)."""
        import numpy as np

        c = self._cluster
        owned = c.owner >= 0
        if self._owner_kind is None:
            kinds = {oid: KINDS.index(r.kind) for oid, r in self.running.items()}
            code = np.array([kinds.get(int(o), -1) for o in c.owner[owned]], np.int64)
        else:
            code = self._owner_kind[c.owner[owned]].astype(np.int64)
        gpus = np.bincount(
            code[code >= 0], weights=c.gpus_per_domain[owned][code >= 0], minlength=3
        )
        return {k: int(gpus[i]) for i, k in enumerate(KINDS)}

    def online_total(self) -> int:
        return self._cluster.online_gpus()

    def gpus_by_pool(self, owner_id: int) -> dict[str, int]:
        """GPUs an owner holds in each pool (whole domains or parts)."""
        return self._cluster.held_by_pool(owner_id)

    def free_gpus_by_domain(self, pool: str) -> np.ndarray:
        """Free GPUs of each domain of a pool (see `Cluster.free_gpus`)."""
        return self._cluster.free_gpus(pool)

    def owned_by(self, owner_id: int) -> np.ndarray:
        return self._cluster.owned_by(owner_id).copy()

    def scratch(self) -> Cluster:
        """A private copy of the allocation state that a policy may allocate on freely."""
        return self._cluster.copy()

    def place(self, req: Request, placement: str = "consolidate") -> Pick | None:
        """`place` on the live state, read-only (placement only reads): where `req` would go
        now, for a policy that has reserved nothing yet (no scratch copy needed)."""
        return place(self._cluster, req, placement=placement)


class Policy(Protocol):
    """Decides on a view. A policy may also set the class attribute `idle_without_pending =
    True` when it decides nothing while nothing is pending: the engine then runs no pass."""

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]: ...


def place(
    scratch: Cluster,
    req: Request,
    pools: Sequence[str] | None = None,
    limits: Mapping[str, int] | None = None,
    placement: str = "consolidate",
) -> Pick | None:
    """Where the largest size of `req` that fits would go: one pool if possible, compactly.

    Tries each size, largest first: each allowed pool alone (in `pools` order), then, unless
    the request is single-pool, the pools together, each contributing whole replica units.
    A request that packs takes GPUs inside domains (`Cluster.pick_parts`, by `placement`):
    inside one if it fits, else spanning the fewest partly free ones; a multiple of a domain's
    GPUs takes whole domains when they are free. `limits` caps the GPUs taken from a
    pool (a policy's budget).
    """
    order = req.pools if pools is None else list(pools)
    cap = limits or _NO_LIMITS
    pool_info, packs = scratch.topo.pool, req.packs
    for size in req.sizes:
        for name in order:
            if limits and size > cap.get(name, size):
                continue
            per_domain = pool_info(name).gpus_per_domain
            if packs and size % per_domain:
                parts = scratch.pick_parts(name, size, placement)
                if parts is not None:
                    return _parts(parts, size)
                continue
            d = _domains_for(scratch, name, size, req.unit_gpus, req.takes_down, per_domain)
            # (whole domains of this pool: its domains' GPUs each)
            if d is not None and (gpus := len(d) * per_domain) <= cap.get(name, gpus):
                return Pick(d, (), gpus)
            if packs:  # whole domains' worth, but not whole domains free: span partly free
                parts = scratch.pick_parts(name, size, placement)
                if parts is not None:
                    return _parts(parts, size)
        if req.single_pool or len(order) < 2:
            continue
        if _free_units(scratch, order, cap, req.unit_gpus, req.takes_down) < size:
            continue
        picked, left = [], size
        for name in order:
            per_domain = scratch.topo.pool(name).gpus_per_domain
            free_gpus = min(
                scratch.free_count(name, req.takes_down) * per_domain, cap.get(name, 1 << 62)
            )
            free_gpus = free_gpus // per_domain * per_domain
            take = min(left, (free_gpus // req.unit_gpus) * req.unit_gpus)
            d = _domains_for(scratch, name, take, req.unit_gpus, req.takes_down) if take else None
            if d is not None:
                picked.append(d)
                left -= take
            if left <= 0:
                import numpy as np

                return _whole(scratch, np.concatenate(picked))
    return None


_NO_LIMITS: Mapping[str, int] = MappingProxyType({})


def _parts(parts: dict[int, int], gpus: int) -> Pick:
    """The pick of `parts` ({domain: GPUs}), `gpus` in all."""
    return Pick(tuple(parts), tuple(parts.values()), gpus)


def _whole(scratch: Cluster, domains: np.ndarray) -> Pick:
    return Pick(domains, (), scratch.gpus(domains))


def take(scratch: Cluster, req: Request, pick: Pick) -> Start:
    """Allocate `pick` to `req` on the policy's scratch copy and return the decision to start
    it (so later decisions of the same pass do not take the same GPUs)."""
    if pick.parts:
        scratch.allocate_parts(req.owner_id, dict(zip(pick.domains, pick.parts, strict=True)))
    else:
        scratch.allocate(req.owner_id, pick.domains, req.takes_down)
    return start_of(req, pick)


def start_of(req: Request, pick: Pick) -> Start:
    """The decision to start `req` on `pick`, without reserving it on a scratch (for the last
    decision of a pass: nothing after it could take the same GPUs)."""
    domains = tuple(pick.domains) if pick.parts else tuple(pick.domains.tolist())
    return Start(req.owner_id, domains, pick.parts)


def _free_units(
    scratch: Cluster, pools: Sequence[str], cap: Mapping[str, int], unit: int, down: bool
) -> int:
    """GPUs in whole replica units that the free domains of `pools` could give (within caps)."""
    total = 0
    for name in pools:
        per_domain = scratch.topo.pool(name).gpus_per_domain
        free = min(scratch.free_count(name, down) * per_domain, cap.get(name, 1 << 62))
        total += free // per_domain * per_domain // unit * unit
    return total


def _domains_for(
    scratch: Cluster, pool: str, gpus: int, unit: int, down: bool = False, per_domain: int = 0
) -> np.ndarray | None:
    """Compact domains of one pool holding `gpus` GPUs as whole units of `unit` GPUs
    (`per_domain`: the pool's GPUs per domain, if the caller has it)."""
    per_domain = per_domain or scratch.topo.pool(pool).gpus_per_domain
    if unit > per_domain:
        need = -(-gpus // per_domain)
    else:
        units_per_domain = per_domain // unit
        need = -(-(gpus // unit) // units_per_domain)
    return scratch.pick_compact(pool, need, down)  # (None if fewer are free)


def usable_gpus(
    topo: Topology, req: Request, domains: np.ndarray, parts: Sequence[int] = ()
) -> int:
    """GPUs a request can use on these domains (whole, or `parts` GPUs of each): whole replica
    units per pool, up to its largest size (what the mechanism grants)."""
    import numpy as np

    if parts:
        return usable_of(req, (sum(parts),))
    pools = topo.pools
    if len(domains) <= 16:  # a few: counted in Python, faster than numpy on tiny arrays
        per: dict[int, int] = {}
        for i in topo.domain_pool[domains].tolist():
            per[i] = per.get(i, 0) + pools[i].gpus_per_domain
        return usable_of(req, per.values())
    counts = np.bincount(topo.domain_pool[domains])
    per_pool = (int(counts[i]) * pools[i].gpus_per_domain for i in np.flatnonzero(counts))
    return usable_of(req, per_pool)


def usable_of(req: Request, gpus: Iterable[int]) -> int:
    """GPUs a request can use of `gpus` (per pool; parts count as one): whole replica units of
    each, up to its largest size (the rule of `usable_gpus`)."""
    unit = req.unit_gpus
    if unit == 1:  # (every GPU is a whole unit: the common case, without the rounding)
        return min(sum(gpus), max(req.sizes))
    return min(sum(g // unit * unit for g in gpus), max(req.sizes))


def grow_preemptions(view: ClusterView, scratch: Cluster) -> list[Preempt]:
    """Running training jobs that could restart at a larger size on `scratch`'s free capacity
    plus their own: preempt them so the next pass restarts them larger."""
    out = []
    for oid, req in sorted(view.running.items()):
        if req.kind != "training" or len(req.sizes) < 2 or req.packs:
            continue
        own = view.owned_by(oid)
        now = usable_gpus(scratch.topo, req, own)
        if now >= max(req.sizes):
            continue
        trial = scratch.copy()
        trial.release(oid, own)
        bigger = place(trial, req)
        if bigger is not None and usable_gpus(trial.topo, req, bigger.domains) > now:
            out.append(Preempt(oid))
            scratch.release(oid, own)
            scratch.allocate(oid, bigger.domains)  # reserve it so later decisions do not take it
    return out


def reclaim_notices(
    view: ClusterView,
    shortfall: Mapping[str, int],
    max_usd_per_gpu_hour: float = float("inf"),
    min_fraction: float = 0.0,
) -> list[GiveNotice]:
    """Notices on held, reclaimable leases in the pools where training is short of GPUs, cheapest
    per GPU-hour first, until the shortfall (less GPUs already under notice) is covered. A
    tranche is only reclaimed if the shortfall in its pools is at least `min_fraction` of it."""
    need = dict(shortfall)
    for lease in view.leases.values():
        if lease.notice_given:
            for pool, gpus in lease.pools_held.items():
                if pool in need:
                    need[pool] -= gpus
    out = []
    candidates = sorted(
        (
            x
            for x in view.leases.values()
            if x.pools_held
            and x.may_reclaim
            and not x.notice_given
            and x.usd_per_gpu_hour < max_usd_per_gpu_hour
        ),
        key=lambda x: (x.usd_per_gpu_hour, x.ends_if_notice_now_h, x.owner_id),
    )
    for lease in candidates:
        useful = {p: g for p, g in lease.pools_held.items() if need.get(p, 0) > 0}
        wanted = sum(min(need[p], g) for p, g in useful.items())
        if not useful or wanted < min_fraction * sum(lease.pools_held.values()):
            continue
        out.append(GiveNotice(lease.owner_id))
        for p, g in useful.items():
            need[p] -= g
    return out
