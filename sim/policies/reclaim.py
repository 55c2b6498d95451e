"""Reclaim "when compute gets tight": a rule any policy can carry (`reclaim_when_tight` in its
params), not only `internal-first`.

Tightness is the backlog of internal training that has waited longer than `queued_days`:
    backlog GPU-days = sum over such requests of (largest size) x (days waited - queued_days).
When it reaches `gpu_days`, the rule gives a lessor notice on the held, reclaimable lease that is
cheapest to take back per GPU (the contract revenue forgone between the notice's end and the
lease's end), in a pool the backlog can use, unless GPUs already under lessor notice there cover
the backlog's GPUs. The mechanism ends the lease at the later of the notice period and the
minimum term, so the rule never cuts a minimum term.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from sim.policies.base import ClusterView, Decision, GiveNotice, LeaseInfo, Policy, Request
from sim.spec.base import Strict

H_PER_DAY = 24.0


class ReclaimWhenTight(Strict):
    """The rule's trigger and thresholds (policy parameters)."""

    queued_days: float = Field(default=30.0, ge=0, le=3650)  # waiting beyond this counts
    gpu_days: float = Field(default=1.0e6, gt=0, le=1e12)  # backlog that triggers a notice
    min_priority: int = 0  # only training at or above this priority counts
    notices_per_pass: int = Field(default=1, ge=1, le=1000)


def backlog(view: ClusterView, pending: Sequence[Request], rule: ReclaimWhenTight):
    """(GPU-days waited beyond `queued_days`, GPUs wanted by pool) of pending internal training."""
    gpu_days, wanted = 0.0, {}
    for r in pending:
        if r.kind != "training" or r.priority < rule.min_priority:
            continue
        over = (view.now_h - r.submitted_h) / H_PER_DAY - rule.queued_days
        if over <= 0:
            continue
        gpu_days += max(r.sizes) * over
        for p in r.pools:
            wanted[p] = wanted.get(p, 0) + max(r.sizes)
    return gpu_days, wanted


def return_cost_usd_per_gpu(lease: LeaseInfo) -> float:
    """Contract revenue per GPU given up by a notice now: from when it would end to its end."""
    return lease.usd_per_gpu_hour * max(0.0, lease.ends_h - lease.ends_if_notice_now_h)


def notices(
    view: ClusterView, pending: Sequence[Request], rule: ReclaimWhenTight
) -> list[GiveNotice]:
    """The rule's lessor notices for this pass (none below the threshold)."""
    gpu_days, wanted = backlog(view, pending, rule)
    if gpu_days < rule.gpu_days:
        return []
    coming = 0  # GPUs already on their way back in the backlog's pools
    for x in view.leases.values():
        if x.notice_given:
            coming += sum(g for p, g in x.pools_held.items() if p in wanted)
    need = max(wanted.values()) - coming
    out: list[GiveNotice] = []
    candidates = sorted(
        (
            x
            for x in view.leases.values()
            if x.pools_held
            and x.may_reclaim
            and not x.notice_given
            and any(p in wanted for p in x.pools_held)
        ),
        key=lambda x: (return_cost_usd_per_gpu(x), x.ends_if_notice_now_h, x.owner_id),
    )
    for lease in candidates:
        if need <= 0 or len(out) >= rule.notices_per_pass:
            break
        out.append(GiveNotice(lease.owner_id))
        need -= sum(g for p, g in lease.pools_held.items() if p in wanted)
    return out


class WithReclaim:
    """A policy with the reclaim rule added: its own decisions, then the rule's notices on
    leases it did not already give notice on."""

    def __init__(self, inner: Policy, rule: ReclaimWhenTight):
        self.inner, self.rule = inner, rule
        self.params = getattr(inner, "params", None)

    def decide(self, view: ClusterView, pending: Sequence[Request]) -> Sequence[Decision]:
        out = list(self.inner.decide(view, pending))
        noticed = {d.owner_id for d in out if isinstance(d, GiveNotice)}
        started = {d.owner_id for d in out if not isinstance(d, GiveNotice)}
        still = [r for r in pending if r.owner_id not in started]
        out += [n for n in notices(view, still, self.rule) if n.owner_id not in noticed]
        return out
