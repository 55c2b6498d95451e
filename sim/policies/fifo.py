"""`fifo`: first come, first served, no preemption.

Requests start in submission order (ties by owner id). The head of the queue blocks those behind
it unless `backfill` is set, in which case a later request may start when the head cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import ClusterView, Decision, PlacementParams, Request, place, take


class FifoParams(PlacementParams):
    backfill: bool = False


class Fifo:
    Params = FifoParams

    def __init__(self, params: FifoParams | None = None):
        self.params = params or FifoParams()

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        out: list[Decision] = []
        for req in sorted(pending, key=lambda r: (r.submitted_h, r.owner_id)):
            pick = place(scratch, req, placement=self.params.placement)
            if pick is None:
                if self.params.backfill:
                    continue
                break
            out.append(take(scratch, req, pick))
        return out
