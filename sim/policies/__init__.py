"""Allocation policies: one file each, selected by `kind` from this explicit registry."""

from __future__ import annotations

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
    """Build the policy `kind` with its typed parameters (validated by its Params model)."""
    cls = REGISTRY[kind]
    return cls(cls.Params.model_validate(params or {}))


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
