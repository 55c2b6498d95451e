"""Internal serving: each fleet a daily process that sizes itself to the day's demand (grows by
a request, shrinks by releasing domains), serves min(demand, the capacity it holds) and books the
token revenue of its output and prompt tokens. A failed domain leaves the fleet; the next day's
sizing replaces it.

A fleet's rate on each allowed pool is the perf model's output tokens/s per GPU of that pool's own
GPU type at the fleet's latency targets (`sim.perf.serving.serve_table`, as `sim serve`).
A shortfall is sized with each pool's own rate: the first allowed pool (in the fleet's order)
with free GPUs for its own count gets a single-pool request; when none has, one request over all
allowed pools asks for the largest count (the slowest pool's), and any surplus is released at
the next day's sizing.
"""

from __future__ import annotations

import math

import numpy as np

from sim import economics
from sim.engine.context import H_PER_DAY, Context, Lifecycle
from sim.errors import InputError
from sim.perf.serving import serve_table
from sim.policies import Request
from sim.spec.workload import Serving as ServingSpec


def revenue_usd(s: ServingSpec, output_tokens: float) -> tuple[float, float]:
    """(input, output) revenue of `output_tokens` served, with their P/O prompt tokens."""
    return economics.serving_revenue_usd(
        output_tokens,
        output_tokens * s.prompt_tokens / s.output_tokens,
        s.price_usd_per_million_tokens,
        s.price_usd_per_million_input_tokens,
        s.price_usd_per_million_cached_input_tokens,
        s.cached_input_fraction,
    )


class Serving(Lifecycle):
    """The lifecycle of serving fleets (kind "serving")."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, s: ServingSpec) -> None:
        rate = self._rates(s)
        oid = self.ctx.register("serving", self)
        self.ctx.env.process(self._run(s, oid, rate))

    def on_failure(self, owner: int, domain: int, pool, at_h: float) -> None:
        self.ctx.release(owner, [domain])  # down already: its GPUs stay down, nothing moves

    def _rates(self, s: ServingSpec) -> np.ndarray:
        """Output tokens/s per GPU of `s` on each allowed pool's own GPU type."""
        topo = self.ctx.topo
        rate = np.zeros(len(topo.pools))
        for name in s.pools:
            p = topo.pool(name)
            try:
                rate[p.index] = serve_table(s.model, s, p.gpu.name).tokens_per_s_per_gpu
            except InputError as err:
                msg = "; ".join(q.message for q in err.problems)
                raise InputError.single(
                    f"serving.{s.name}.pools", f"{name} ({p.gpu.name}) cannot serve it: {msg}", name
                ) from None
        return rate

    def _request(self, s: ServingSpec, oid: int, shortfall: float, rate: np.ndarray) -> Request:
        topo, cluster = self.ctx.topo, self.ctx.cluster
        need = {n: math.ceil(shortfall / rate[topo.pool(n).index]) for n in s.pools}
        fits = [n for n in s.pools if cluster.free_whole_gpus(n) >= need[n]]
        pools = (fits[0],) if fits else tuple(s.pools)
        gpus = need[fits[0]] if fits else max(need.values())
        r = (
            rate[topo.pool(pools[0]).index]
            if fits
            else min(rate[topo.pool(n).index] for n in pools)
        )
        inp, out = revenue_usd(s, r * 3600.0 * s.utilization)
        return Request(
            owner_id=oid,
            kind="serving",
            name=s.name,
            job_class="serving",
            priority=s.priority,
            submitted_h=self.ctx.now,
            pools=pools,
            sizes=(gpus,),
            unit_gpus=1,
            usd_per_gpu_hour=inp + out,
        )

    def _run(self, s: ServingSpec, oid: int, rate: np.ndarray):
        """Each day: size the fleet to demand and serve what the capacity held allows."""
        ctx, topo, cluster = self.ctx, self.ctx.topo, self.ctx.cluster
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
                ctx.submit(self._request(s, oid, target - capacity, rate))
            elif capacity > target:
                surplus = np.cumsum(per_domain[::-1]) <= capacity - target
                if surplus.any():
                    ctx.release(oid, owned[::-1][surplus])
                    ctx.schedule()
            served = min(demand, capacity * 86400.0)
            held = cluster.gpus(owned)
            inp, out = revenue_usd(s, served)
            if held:
                ctx.book_split(cluster.gpus_by_pool(owned), s.name, "token_revenue", inp + out)
            ctx.rec.add(
                "serving",
                date=ctx.now,
                name=s.name,
                gpus=held,
                tokens_per_s_per_gpu=capacity / held if held else first_rate,
                demand_tokens=demand,
                served_tokens=served,
                revenue_usd=inp + out,
                input_tokens=served * s.prompt_tokens / s.output_tokens,
                input_revenue_usd=inp,
                output_revenue_usd=out,
            )
            yield ctx.env.timeout(H_PER_DAY)
