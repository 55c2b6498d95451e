"""`internal-first`: internal training comes first, and takes leased capacity back when short.

- Training requests start before anything else (priority, then submission order), each at the
  largest size it accepts that fits now.
- When a training job cannot start at its full size, the policy gives notice on held,
  reclaimable lease tranches in that job's pools, cheapest per GPU-hour first, enough to cover
  the shortfall; the capacity returns to the pool when each notice ends (90 days by default,
  never before the lease's minimum term).
- A training job running below its full size is preempted (and restarts larger in the next
  pass) as soon as free capacity allows a larger size.
- Leases and serving then take what is left, in priority and submission order.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sim.policies.base import (
    ClusterView,
    Decision,
    PlacementParams,
    Request,
    grow_preemptions,
    place,
    reclaim_notices,
    take,
    usable_gpus,
)


class InternalFirstParams(PlacementParams):
    reclaim: bool = True  # give notice on leases when training is short of capacity
    grow: bool = True  # restart jobs running below full size when capacity frees up
    # only training at or above this priority reclaims leased capacity (pre-training in the
    # default scenario; not every experiment)
    reclaim_min_priority: int = 20
    # reclaim a tranche only if the shortfall is at least this fraction of it
    reclaim_min_fraction: float = Field(default=0.25, ge=0, le=1)


class InternalFirst:
    Params = InternalFirstParams

    def __init__(self, params: InternalFirstParams | None = None):
        self.params = params or InternalFirstParams()

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        out: list[Decision] = []
        order = sorted(
            pending, key=lambda r: (r.kind != "training", -r.priority, r.submitted_h, r.owner_id)
        )
        shortfall: dict[str, int] = {}
        for req in order:
            pick = place(scratch, req, placement=self.params.placement)
            got = 0 if pick is None else usable_gpus(scratch.topo, req, pick.domains, pick.parts)
            if pick is not None:
                out.append(take(scratch, req, pick))
            reclaims = req.priority >= self.params.reclaim_min_priority
            if req.kind == "training" and reclaims and got < max(req.sizes):
                for pool in req.pools:  # any of its pools would do; count it against each
                    shortfall[pool] = max(shortfall.get(pool, 0), max(req.sizes) - got)
        if self.params.grow:
            growing = grow_preemptions(view, scratch)
            out.extend(growing)
            for p in growing:  # a job that can grow from free capacity needs no reclaim
                for pool in view.running[p.owner_id].pools:
                    shortfall.pop(pool, None)
        if self.params.reclaim and shortfall:
            for oid, req in view.running.items():  # running jobs below full size are short too
                if (
                    req.kind == "training"
                    and len(req.sizes) > 1
                    and req.priority >= self.params.reclaim_min_priority
                ):
                    got = usable_gpus(scratch.topo, req, scratch.owned_by(oid))
                    for pool in req.pools:
                        if got < max(req.sizes):
                            shortfall[pool] = max(shortfall.get(pool, 0), max(req.sizes) - got)
            out.extend(
                reclaim_notices(view, shortfall, min_fraction=self.params.reclaim_min_fraction)
            )
        return out
