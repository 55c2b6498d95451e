"""The scheduling pass: the policy decides on a read-only view, the mechanism checks each
decision against the live state and applies it, or refuses it with a `SimError` (a policy is
never trusted).

The pass runs last at its instant (see `Context.schedule`), at most once per instant; pending
requests are shown sorted by owner id and decisions are applied in the order returned. A policy
whose class sets `idle_without_pending = True` decides nothing when nothing is pending: no pass
is run then.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.engine.context import Context
from sim.errors import SimError
from sim.policies import ClusterView, GiveNotice, LeaseInfo, Policy, Preempt, Start
from sim.policies.base import usable_of


def _owner_id(req) -> int:
    return req.owner_id


class Mechanism:
    """Runs the pass for a context with a policy; `lease_infos` gives the leases policies see."""

    def __init__(
        self, ctx: Context, policy: Policy, lease_infos: Callable[[], dict[int, LeaseInfo]]
    ) -> None:
        self.ctx, self.policy, self.lease_infos = ctx, policy, lease_infos
        self.passes = 0
        ctx.on_pass(self.run_pass, getattr(policy, "idle_without_pending", False))

    def view(self) -> ClusterView:
        ctx = self.ctx
        return ClusterView(ctx.cluster, ctx.env.now, ctx.running, self.lease_infos, ctx.owners.kind)

    def run_pass(self) -> None:
        self.passes += 1
        pending = list(self.ctx.pending.values())
        if len(pending) > 1:
            pending.sort(key=_owner_id)
        for decision in self.policy.decide(self.view(), pending):
            if isinstance(decision, Start):
                self.start(decision)
            elif isinstance(decision, Preempt):
                self.preempt(decision)
            elif isinstance(decision, GiveNotice):
                self.notice(decision)
            else:
                raise SimError(f"policy returned an unknown decision {decision!r}")

    def start(self, d: Start) -> None:
        ctx, oid, parts = self.ctx, d.owner_id, d.parts
        req = ctx.pending.get(oid)
        if req is None:
            raise SimError(f"policy started owner {oid}, which is not pending")
        domains = d.domains
        if parts:  # (the domains as the decision gives them: nothing needs an array)
            gpus = self._check_parts(req, d)
        else:
            domains = np.asarray(domains, np.int64)
        by_pool = ctx.cluster.gpus_by_pool(domains, parts)
        pools = by_pool.keys()
        if not pools <= set(req.pools):
            raise SimError(f"policy placed {req.name} on pools {sorted(pools)} outside {req.pools}")
        if req.single_pool and len(pools) > 1:
            raise SimError(f"policy spread single-pool request {req.name} over {sorted(pools)}")
        usable = usable_of(req, (gpus,) if parts else by_pool.values())
        if usable < min(req.sizes):
            raise SimError(f"policy gave {req.name} {usable} usable GPUs, below {min(req.sizes)}")
        # the cluster checks free, online, healthy (a lease takes failed racks too)
        if parts:  # (one part per domain, checked: no strict zip)
            ctx.allocate_parts(oid, dict(zip(domains, parts)))  # noqa: B905
        else:
            ctx.allocate(oid, domains, req.takes_down)
        del ctx.pending[oid]
        ctx.running[oid] = req
        ctx.handlers[oid].on_start(oid, domains, parts, by_pool)

    def _check_parts(self, req, d: Start) -> int:
        """A start on parts of domains: only for a request that packs, one part per distinct
        domain, at most its largest size in all (the cluster checks each domain has them free).
        Returns the GPUs of the parts in all."""
        if not req.packs:
            raise SimError(f"policy gave {req.name} part of a domain; it takes whole domains")
        n = len(d.domains)
        if n != len(d.parts) or (n > 1 and len(set(d.domains)) != n):
            raise SimError(
                f"policy gave {req.name} {len(d.parts)} parts of {len(d.domains)} domains, "
                "not one part per distinct domain"
            )
        gpus = sum(d.parts)
        if gpus > max(req.sizes):
            raise SimError(f"policy gave {req.name} {gpus} GPUs, above {max(req.sizes)}")
        return gpus

    def preempt(self, d: Preempt) -> None:
        handler = self.ctx.handlers.get(d.owner_id)
        if handler is None or d.owner_id not in self.ctx.running:
            raise SimError(f"policy preempted owner {d.owner_id}, which is not a running job")
        handler.on_preempt(d.owner_id)

    def notice(self, d: GiveNotice) -> None:
        handler = self.ctx.handlers.get(d.owner_id)
        if handler is None:
            raise SimError(f"policy gave notice on owner {d.owner_id}, which is not a live lease")
        handler.on_notice(d.owner_id)
