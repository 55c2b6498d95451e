"""Allocation policies: one file each, selected by `kind` from this explicit registry."""

from __future__ import annotations

from sim.policies.base import ClusterView, Decision, Policy, Preempt, Request, Start, place
from sim.policies.fifo import Fifo
from sim.policies.mfu_aware import MfuAware

REGISTRY: dict[str, type] = {
    "fifo": Fifo,
    "mfu-aware": MfuAware,
}


def make(kind: str, params: dict | None = None) -> Policy:
    """Build the policy `kind` with its typed parameters (validated by its Params model)."""
    cls = REGISTRY[kind]
    return cls(cls.Params.model_validate(params or {}))


__all__ = [
    "REGISTRY",
    "ClusterView",
    "Decision",
    "Policy",
    "Preempt",
    "Request",
    "Start",
    "make",
    "place",
]
