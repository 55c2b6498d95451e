"""`mfu-aware`: keep training fast, put leases and serving where training would lose most.

- Training runs on one pool only (one GPU type), packed into the fewest fabric tiers, on the
  allowed pool with the highest dense peak per GPU first.
- Leases and serving take the allowed pools with the lowest peak first, and may span pools:
  inference needs little chip-to-chip synchronisation (FACTS.md: Colossus 1 was leased out).
- Higher `priority` first, then submission order; a request that cannot start does not block
  others. No preemption.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import ClusterView, Decision, PlacementParams, Request, place, take


class MfuAwareParams(PlacementParams):
    pass


class MfuAware:
    Params = MfuAwareParams

    def __init__(self, params: MfuAwareParams | None = None):
        self.params = params or MfuAwareParams()

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        out: list[Decision] = []
        where = self.params.placement

        def peak(name: str) -> float:
            return view.pool(name).gpu.bf16_dense_tflops

        for req in sorted(pending, key=lambda r: (-r.priority, r.submitted_h, r.owner_id)):
            if req.kind == "training":
                pools = sorted(req.pools, key=lambda p: (-peak(p), req.pools.index(p)))
                pick = place(scratch, req.replace(single_pool=True), pools, placement=where)
            else:
                pools = sorted(req.pools, key=lambda p: (peak(p), req.pools.index(p)))
                pick = place(scratch, req, pools, placement=where)
            if pick is not None:
                out.append(take(scratch, req, pick))
        return out
