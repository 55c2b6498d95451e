"""Allocation policies: one file each, selected by `kind` from this explicit registry."""

from __future__ import annotations

from pydantic import create_model

from sim.policies.base import (
    ClusterView,
    Decision,
    GiveNotice,
    LeaseInfo,
    Pick,
    PlacementParams,
    Policy,
    Preempt,
    Request,
    Start,
    place,
    take,
)
from sim.policies.fifo import Fifo
from sim.policies.internal_first import InternalFirst
from sim.policies.mfu_aware import MfuAware
from sim.policies.reclaim import ReclaimWhenTight, WithReclaim
from sim.policies.revenue_max import RevenueMax
from sim.policies.static_partition import StaticPartition

REGISTRY: dict[str, type] = {
    "fifo": Fifo,
    "internal-first": InternalFirst,
    "mfu-aware": MfuAware,
    "revenue-max": RevenueMax,
    "static-partition": StaticPartition,
}


def make(kind: str, params: dict | None = None) -> Policy:
    """Build the policy `kind` with its typed parameters (validated by its Params model). Any
    policy may carry the `reclaim_when_tight` rule (sim/policies/reclaim.py) in its params."""
    cls = REGISTRY[kind]
    own = dict(params or {})
    if "reclaim_when_tight" not in own:
        return cls(cls.Params.model_validate(own))
    # validated together, so that errors carry their own dotted paths
    both = create_model(
        f"{cls.Params.__name__}WithReclaim",
        __base__=cls.Params,
        reclaim_when_tight=(ReclaimWhenTight, ...),
    ).model_validate(own)
    own.pop("reclaim_when_tight")
    return WithReclaim(cls(cls.Params.model_validate(own)), both.reclaim_when_tight)


__all__ = [
    "REGISTRY",
    "ClusterView",
    "GiveNotice",
    "LeaseInfo",
    "Decision",
    "Policy",
    "Preempt",
    "Request",
    "Start",
    "make",
    "Pick",
    "PlacementParams",
    "place",
    "take",
]
