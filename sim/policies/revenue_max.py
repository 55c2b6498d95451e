"""`revenue-max`: greedy by marginal dollars per GPU-hour.

Each request is valued per GPU-hour: a lease at its contract price, serving at the token revenue
its GPUs earn, internal training at a shadow price (a parameter: what the lab would pay for
the compute elsewhere). Pending requests start in order of value (then priority, submission);
one that cannot start does not block others. When training worth more than a held,
reclaimable lease cannot start, the policy gives notice on the cheapest such leases in the
training's pools.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sim.policies.base import (
    ClusterView,
    Decision,
    PlacementParams,
    Request,
    place,
    reclaim_notices,
    take,
)


class RevenueMaxParams(PlacementParams):
    # assumed: ~$8 per GPU-hour, a bare-metal Blackwell price that a lab would pay elsewhere.
    training_usd_per_gpu_hour: float = Field(default=8.0, ge=0, le=1e4)
    reclaim: bool = True
    # reclaim a tranche only if the blocked training needs at least this fraction of it
    reclaim_min_fraction: float = Field(default=0.25, ge=0, le=1)


class RevenueMax:
    Params = RevenueMaxParams

    def __init__(self, params: RevenueMaxParams | None = None):
        self.params = params or RevenueMaxParams()

    def value(self, req: Request) -> float:
        if req.kind == "training":
            return self.params.training_usd_per_gpu_hour
        return req.usd_per_gpu_hour

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        out: list[Decision] = []
        shortfall: dict[str, int] = {}
        order = sorted(
            pending, key=lambda r: (-self.value(r), -r.priority, r.submitted_h, r.owner_id)
        )
        for req in order:
            pick = place(scratch, req, placement=self.params.placement)
            if pick is not None:
                out.append(take(scratch, req, pick))
            elif req.kind == "training":
                for pool in req.pools:
                    shortfall[pool] = max(shortfall.get(pool, 0), min(req.sizes))
        if self.params.reclaim and shortfall:
            out.extend(
                reclaim_notices(
                    view,
                    shortfall,
                    self.params.training_usd_per_gpu_hour,
                    self.params.reclaim_min_fraction,
                )
            )
        return out
