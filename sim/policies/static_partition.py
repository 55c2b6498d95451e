"""`static-partition`: fixed shares of the campus per owner class, as many planners run today.

Leases, training and serving may each hold at most their share of the GPUs online campus-wide.
Within its class's budget a request starts in submission order (ties by owner id); one that does
not fit does not block others. No preemption, no notices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from sim.policies.base import ClusterView, Decision, PlacementParams, Request, place, take

OwnerClass = Literal["lease", "training", "serving"]


class StaticPartitionParams(PlacementParams):
    # assumed default split; a planner sets their own.
    shares: dict[OwnerClass, float] = Field(default={"lease": 0.5, "training": 0.4, "serving": 0.1})

    @model_validator(mode="after")
    def _shares_fit(self):
        if any(v < 0 for v in self.shares.values()) or sum(self.shares.values()) > 1 + 1e-9:
            raise ValueError(f"shares must be >= 0 and add up to at most 1, got {self.shares}")
        return self


class StaticPartition:
    Params = StaticPartitionParams

    def __init__(self, params: StaticPartitionParams | None = None):
        self.params = params or StaticPartitionParams()

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        online = view.online_total()
        budget = {
            k: int(self.params.shares.get(k, 0.0) * online) - used
            for k, used in view.gpus_by_kind().items()
        }
        out: list[Decision] = []
        for req in sorted(pending, key=lambda r: (r.submitted_h, r.owner_id)):
            if min(req.sizes) > budget[req.kind]:
                continue
            fits = [s for s in req.sizes if s <= budget[req.kind]]
            pick = place(scratch, req.replace(sizes=tuple(fits)), placement=self.params.placement)
            if pick is None or pick.gpus > budget[req.kind] + _slack(view, req):
                continue
            budget[req.kind] -= pick.gpus
            out.append(take(scratch, req, pick))
        return out


def _slack(view: ClusterView, req: Request) -> int:
    """Whole domains may round a request up by less than one domain per pool."""
    return sum(view.pool(p).gpus_per_domain for p in req.pools)
