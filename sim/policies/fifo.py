"""`fifo`: first come, first served, no preemption.

Requests start in submission order (ties by owner id). The head of the queue blocks those behind
it unless `backfill` is set, in which case a later request may start when the head cannot.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import ClusterView, Decision, Request, Start, place
from sim.spec.base import Strict


class FifoParams(Strict):
    backfill: bool = False


class Fifo:
    Params = FifoParams

    def __init__(self, params: FifoParams | None = None):
        self.params = params or FifoParams()

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        scratch = view.scratch()
        out: list[Decision] = []
        for req in sorted(pending, key=lambda r: (r.submitted_h, r.owner_id)):
            domains = place(scratch, req)
            if domains is None:
                if self.params.backfill:
                    continue
                break
            scratch.allocate(req.owner_id, domains, req.takes_down)
            out.append(Start(req.owner_id, tuple(domains.tolist())))
        return out
