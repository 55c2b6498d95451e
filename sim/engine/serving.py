"""Internal serving: each fleet a daily process that sizes itself to the day's demand (grows by
a request, shrinks by releasing domains), serves min(demand, the capacity it holds) and books the
token revenue. A failed domain leaves the fleet; the next day's sizing replaces it.
"""

from __future__ import annotations

import math

import numpy as np

from sim import economics, perf
from sim.engine.context import H_PER_DAY, Context, Lifecycle
from sim.policies import Request
from sim.spec.workload import Serving as ServingSpec


class Serving(Lifecycle):
    """The lifecycle of serving fleets (kind "serving")."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, s: ServingSpec) -> None:
        oid = self.ctx.register("serving", self)
        self.ctx.env.process(self._run(s, oid))

    def on_failure(self, owner: int, domain: int, pool, at_h: float) -> None:
        c = self.ctx.cluster
        one = np.array([domain])
        self.ctx.change(one, lambda: c.release(owner, one), at_h)

    def _run(self, s: ServingSpec, oid: int):
        """Each day: size the fleet to demand and serve what the capacity held allows."""
        ctx, topo, cluster = self.ctx, self.ctx.topo, self.ctx.cluster
        m = s.model
        model = perf.ServedModel(m.params, m.layers, m.hidden, m.heads, m.kv_heads, m.active_params)
        # output tokens/s per GPU of each allowed pool's GPU type, from the perf model
        rate = np.zeros(len(topo.pools))
        for name in s.pools:
            p = topo.pool(name)
            rate[p.index] = perf.tokens_per_s_per_gpu(
                model, p.gpu.name, s.precision, s.prompt_tokens, s.output_tokens, "server"
            )
        first_rate = rate[topo.pool(s.pools[0]).index]
        days = np.array(
            [np.datetime64(d, "D").astype(np.int64) for d, _ in s.demand_tokens_per_day]
        )
        values = np.array([v for _, v in s.demand_tokens_per_day])
        first_day = np.datetime64(ctx.start, "D").astype(np.int64)
        while ctx.now < ctx.horizon_h:
            demand = float(np.interp(first_day + ctx.now // H_PER_DAY, days, values))
            target = demand / 86400.0 / s.utilization  # tokens/s to hold, with headroom
            owned = cluster.owned_by(oid)
            per_domain = cluster.gpus_per_domain[owned] * rate[topo.domain_pool[owned]]
            capacity = float(per_domain.sum())
            if capacity < target and oid not in ctx.pending:
                gpus = math.ceil((target - capacity) / first_rate)
                value = economics.token_revenue_usd(
                    first_rate * 3600.0 * s.utilization, s.price_usd_per_million_tokens
                )
                ctx.submit(
                    Request(
                        owner_id=oid,
                        kind="serving",
                        name=s.name,
                        job_class="serving",
                        priority=s.priority,
                        submitted_h=ctx.now,
                        pools=tuple(s.pools),
                        sizes=(gpus,),
                        unit_gpus=1,
                        usd_per_gpu_hour=value,
                    )
                )
            elif capacity > target:
                surplus = np.cumsum(per_domain[::-1]) <= capacity - target
                if surplus.any():
                    ctx.release(oid, owned[::-1][surplus])
                    ctx.schedule()
            served = min(demand, capacity * 86400.0)
            held = cluster.gpus(owned)
            revenue = economics.token_revenue_usd(served, s.price_usd_per_million_tokens)
            if held:
                ctx.book_split(cluster.gpus_by_pool(owned), s.name, "token_revenue", revenue)
            ctx.rec.add(
                "serving",
                date=ctx.ts(ctx.now),
                name=s.name,
                gpus=held,
                tokens_per_s_per_gpu=capacity / held if held else first_rate,
                demand_tokens=demand,
                served_tokens=served,
                revenue_usd=revenue,
            )
            yield ctx.env.timeout(H_PER_DAY)
