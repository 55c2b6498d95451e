"""The narrow interface between the engine and allocation policies.

A policy sees a read-only `ClusterView` and the pending `Request`s and returns `Decision`s; the
mechanism (the engine) checks each decision against the live state and applies it, or refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from sim.cluster import Cluster
from sim.topology import PoolInfo, Topology

OwnerKind = Literal["lease", "training", "serving"]


@dataclass(frozen=True)
class Request:
    """Someone waiting for capacity. `sizes` are the GPU counts it accepts, largest first."""

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


@dataclass(frozen=True)
class Start:
    """Give `domains` to a pending request's owner."""

    owner_id: int
    domains: tuple[int, ...]


@dataclass(frozen=True)
class Preempt:
    """Take all capacity back from a running training job; it returns to the queue."""

    owner_id: int


Decision = Start | Preempt


class ClusterView:
    """Read-only view of the cluster for policies, with a scratch copy to plan several starts."""

    def __init__(self, cluster: Cluster, now_h: float, running: dict[int, Request]):
        self._cluster = cluster
        self.now_h = now_h
        self.running = dict(running)

    @property
    def topology(self) -> Topology:
        return self._cluster.topo

    def pool(self, name: str) -> PoolInfo:
        return self._cluster.topo.pool(name)

    def free_gpus(self, pool: str) -> int:
        return self._cluster.gpus(self._cluster.free(pool))

    def owned_by(self, owner_id: int) -> np.ndarray:
        return self._cluster.owned_by(owner_id).copy()

    def scratch(self) -> Cluster:
        """A private copy of the allocation state that a policy may allocate on freely."""
        c = Cluster.__new__(Cluster)
        c.topo = self._cluster.topo
        c.online = self._cluster.online.copy()
        c.owner = self._cluster.owner.copy()
        c.down = self._cluster.down.copy()
        c._gpus = self._cluster._gpus
        return c


class Policy(Protocol):
    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]: ...


def place(scratch: Cluster, req: Request, pools: Sequence[str] | None = None) -> np.ndarray | None:
    """Domains for the largest size of `req` that fits: one pool if possible, compactly.

    Tries each size, largest first: each allowed pool alone (in `pools` order), then, unless
    the request is single-pool, the pools together, each contributing whole replica units.
    """
    order = list(pools if pools is not None else req.pools)
    for size in req.sizes:
        for name in order:
            d = _domains_for(scratch, name, size, req.unit_gpus)
            if d is not None:
                return d
        if req.single_pool or len(order) < 2:
            continue
        picked, left = [], size
        for name in order:
            per_domain = scratch.topo.pool(name).gpus_per_domain
            free_gpus = scratch.free(name).size * per_domain
            take = min(left, (free_gpus // req.unit_gpus) * req.unit_gpus)
            d = _domains_for(scratch, name, take, req.unit_gpus) if take else None
            if d is not None:
                picked.append(d)
                left -= take
            if left <= 0:
                return np.concatenate(picked)
    return None


def _domains_for(scratch: Cluster, pool: str, gpus: int, unit: int) -> np.ndarray | None:
    """Compact domains of one pool holding `gpus` GPUs as whole units of `unit` GPUs."""
    per_domain = scratch.topo.pool(pool).gpus_per_domain
    if unit > per_domain:
        need = -(-gpus // per_domain)
    else:
        units_per_domain = per_domain // unit
        need = -(-(gpus // unit) // units_per_domain)
    return scratch.pick_compact(pool, need)
