"""`fifo`: first come, first served, no preemption.

Requests start in submission order (ties by owner id). The head of the queue blocks those behind
it unless `backfill` is set, in which case a later request may start when the head cannot.

A pass does work in proportion to what changed. A request of one pool (or single-pool) that does
not fit shows that every request of the same shape (pools, sizes, replica unit, flags) does not
fit either, in this pass and in later ones until the allocation state changes: a pass only takes
capacity, and within one pool placing on less free capacity never succeeds where more failed
(each pick fails only when too few GPUs or domains are free; no limits apply here). So a pass
skips the shapes that failed since the state's last change (`ClusterView.mark`): a blocked head
on an unchanged cluster costs one lookup, and backfill tries each shape once. (Requests spread
over several pools are always tried: the greedy split over pools is not monotone when a
replica unit does not divide a domain.)
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.policies.base import (
    ClusterView,
    Decision,
    PlacementParams,
    Request,
    place,
    start_of,
    take,
)


class FifoParams(PlacementParams):
    backfill: bool = False


def shape(req: Request) -> tuple | None:
    """What decides where (and whether) a request fits, besides the state: two requests of the
    same shape fit or fail alike. None for a request that may span pools (see the module)."""
    if not req.single_pool and len(req.pools) > 1:
        return None
    return (req.pools, req.sizes, req.unit_gpus, req.single_pool, req.takes_down, req.packs)


class Fifo:
    Params = FifoParams
    idle_without_pending = True  # no request, no decision: the engine skips such passes

    def __init__(self, params: FifoParams | None = None):
        self.params = params or FifoParams()
        self._mark: tuple | None = None  # the state the shapes in `_failed` failed on
        self._failed: set[tuple] = set()

    def __getstate__(self) -> dict:
        """Pickled (or deep-copied) without the memo: state marks are unique in one process
        only, so a copy in another must not trust them."""
        return {"params": self.params}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["params"])

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        if not pending:
            return []
        mark = view.mark()
        failed = self._failed if mark == self._mark else set()
        backfill, placement = self.params.backfill, self.params.placement
        scratch = None  # a private copy, made once a start must be reserved for later ones
        out: list[Decision] = []
        queue = pending if len(pending) == 1 else sorted(pending, key=_submission)
        for i, req in enumerate(queue):
            if failed and shape(req) in failed:
                if backfill:
                    continue
                break
            if scratch is None:
                pick = view.place(req, placement)
            else:
                pick = place(scratch, req, placement=placement)
            if pick is None:
                if (key := shape(req)) is not None:
                    failed.add(key)
                if backfill:
                    continue
                break
            if i + 1 == len(queue):  # the last: nothing after it could take the same GPUs
                out.append(start_of(req, pick))
            else:
                if scratch is None:
                    scratch = view.scratch()
                out.append(take(scratch, req, pick))
        # the failures hold on the state this pass saw while it starts nothing
        if out:
            self._mark, self._failed = None, set()
        else:
            self._mark, self._failed = mark, failed
        return out


def _submission(req: Request) -> tuple[float, int]:
    """The queue's order: submission time, then owner id."""
    return req.submitted_h, req.owner_id
