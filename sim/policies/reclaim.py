"""Reclaim "when compute gets tight": a rule any policy can carry (`reclaim_when_tight` in its
params), not only `internal-first`.

Tightness is the backlog of internal training that has waited longer than `queued_days`:
    backlog GPU-days = sum over such requests of (largest size) x (days waited - queued_days).
When it reaches `gpu_days`, the rule gives a lessor notice on the held, reclaimable lease that is
cheapest to take back per GPU (the contract revenue forgone between the notice's end and the
lease's end), in a pool the backlog can use, unless the GPUs free in those pools plus those
already under notice there cover the backlog's GPUs (then reclaiming would not help). The rule
is evaluated at each scheduling pass. The mechanism ends the lease at the later of the notice period and the
minimum term, so the rule never cuts a minimum term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import Field

from sim.assumptions import Assumed
from sim.policies.base import ClusterView, Decision, GiveNotice, LeaseInfo, Policy, Request
from sim.spec.base import Strict
from sim.spec.risk import within

H_PER_DAY = 24.0


class ReclaimWhenTight(Strict):
    """The rule's trigger and thresholds (policy parameters)."""

    # waiting beyond this counts (may carry an `assumed` tag with its range)
    queued_days: Annotated[Assumed, within(0.0, 3650.0)] = 30.0
    # backlog that triggers a notice, GPU-days
    gpu_days: Annotated[Assumed, within(1.0, 1e12)] = 1.0e6
    min_priority: int = 0  # only training at or above this priority counts
    notices_per_pass: int = Field(default=1, ge=1, le=1000)


def backlog(
    view: ClusterView,
    pending: Sequence[Request],
    rule: ReclaimWhenTight,
    queued_h: Mapping[int, float] | None = None,
):
    """(GPU-days waited beyond `queued_days`, GPUs wanted, pools they may use) of the pending
    internal training that counts. A request has waited since `queued_h[owner]` (when it joined
    the queue this time), else since it was submitted."""
    gpu_days, wanted, pools = 0.0, 0, set()
    since = queued_h or {}
    for r in pending:
        if r.kind != "training" or r.priority < rule.min_priority:
            continue
        over = (view.now_h - since.get(r.owner_id, r.submitted_h)) / H_PER_DAY - rule.queued_days
        if over <= 0:
            continue
        gpu_days += max(r.sizes) * over
        wanted += max(r.sizes)
        pools.update(r.pools)
    return gpu_days, wanted, pools


def return_cost_usd_per_gpu(lease: LeaseInfo) -> float:
    """Contract revenue per GPU given up by a notice now: from when it would end to its end."""
    return lease.usd_per_gpu_hour * max(0.0, lease.ends_h - lease.ends_if_notice_now_h)


def notices(
    view: ClusterView,
    pending: Sequence[Request],
    rule: ReclaimWhenTight,
    queued_h: Mapping[int, float] | None = None,
) -> list[GiveNotice]:
    """The rule's lessor notices for this pass (none below the threshold)."""
    gpu_days, wanted, pools = backlog(view, pending, rule, queued_h)
    if gpu_days < rule.gpu_days:
        return []
    # GPUs free now or already on their way back in those pools reduce what is needed
    need = wanted - sum(view.free_gpus(p) for p in sorted(pools))
    for x in view.leases.values():
        if x.notice_given:
            need -= sum(g for p, g in x.pools_held.items() if p in pools)
    out: list[GiveNotice] = []
    candidates = sorted(
        (
            x
            for x in view.leases.values()
            if x.pools_held
            and x.may_reclaim
            and not x.notice_given
            and any(p in pools for p in x.pools_held)
        ),
        key=lambda x: (return_cost_usd_per_gpu(x), x.ends_if_notice_now_h, x.owner_id),
    )
    for lease in candidates:
        if need <= 0 or len(out) >= rule.notices_per_pass:
            break
        out.append(GiveNotice(lease.owner_id))
        need -= sum(g for p, g in lease.pools_held.items() if p in pools)
    return out


class WithReclaim:
    """A policy with the reclaim rule added: its own decisions, then the rule's notices on
    leases it did not already give notice on. It remembers when each pending request joined the
    queue (a job requeued after a failure keeps its submission time for its place in line, but
    its wait starts again)."""

    # the engine runs a scheduling pass each simulated day for a policy that asks, so that a
    # backlog crossing its threshold is seen even when nothing else happens
    daily_pass = True

    def __init__(self, inner: Policy, rule: ReclaimWhenTight):
        self.inner, self.rule = inner, rule
        self.params = getattr(inner, "params", None)
        self.queued_h: dict[int, float] = {}

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        self.queued_h = {r.owner_id: self.queued_h.get(r.owner_id, view.now_h) for r in pending}
        out = list(self.inner.decide(view, pending))
        noticed = {d.owner_id for d in out if isinstance(d, GiveNotice)}
        started = {d.owner_id for d in out if not isinstance(d, GiveNotice)}
        still = [r for r in pending if r.owner_id not in started]
        found = notices(view, still, self.rule, self.queued_h)
        out += [n for n in found if n.owner_id not in noticed]
        return out
