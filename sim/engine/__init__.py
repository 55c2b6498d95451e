"""The simulation in time: the only package that imports simpy.

`Engine` builds one run from a prepared scenario and runs it to the horizon. Its parts, one
concept each: `context` (what all processes share), `mechanism` (the scheduling pass),
`training`, `replay`, `leases`, `serving` (one lifecycle each), `failures` (failures and
repairs, reaching owners through their `on_failure` / `on_repair` hooks) and `days` (capacity
phases and the daily close). Time is in hours from the horizon's start.

Event order at one instant: SimPy runs same-time events first in, first out; the scheduling pass
runs after every other event of that instant, once, whenever anything changed. Policies see
pending requests sorted by owner id; the mechanism applies decisions in the order returned.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Sequence
from operator import itemgetter

from sim import market
from sim.accounting import Accounting
from sim.engine.context import Context, Rows
from sim.engine.days import Days
from sim.engine.failures import FailureProcess
from sim.engine.leases import Leases
from sim.engine.mechanism import Mechanism
from sim.engine.replay import Replay
from sim.engine.serving import Serving
from sim.engine.training import Training
from sim.policies import Policy
from sim.spec.scenario import Failures, Prices
from sim.spec.workload import WorkloadFile
from sim.topology import Topology

FULL_GC_EVERY = 100  # young passes between full ones during a run (Python's default: 10)


class Engine:
    """One run of one scenario and seed."""

    def __init__(
        self,
        *,
        topology: Topology,
        workloads: Sequence[WorkloadFile],
        policy: Policy,
        start: dt.date,
        end: dt.date,
        seed: int,
        recorder: Rows,
        prices: Prices | None = None,
        failures: Failures | None = None,
        traces: dict | None = None,
        check: bool = False,
        market_curves: dict | None = None,
    ):
        """`check` re-verifies the cluster's invariants and GPU counts every simulated day;
        `traces` maps (workload index, trace index) to the loaded `TraceJobs`."""
        ctx = self.ctx = Context(
            topology=topology,
            start=start,
            end=end,
            seed=seed,
            recorder=recorder,
            prices=prices or Prices(),
            failures=failures or Failures(enabled=False),
            given=[s for w in workloads for s in w.series],
        )
        self.failures = FailureProcess(ctx)  # sets the failure rates the training reads
        self.training, self.replay = Training(ctx), Replay(ctx)
        self.leases, self.serving = Leases(ctx, market_curves), Serving(ctx)
        self.mechanism = Mechanism(ctx, policy, self.leases.infos)
        self.days = Days(ctx, check, daily_pass=getattr(policy, "daily_pass", False))
        self.days.before_close.append(self.leases.accrue_all)
        env = ctx.env
        for i, w in enumerate(workloads):
            for j, tr in enumerate(w.traces):
                env.process(self.replay.trace(tr, (traces or {})[(i, j)]))
            for spec in w.training:
                dp = spec.parallelism.dp
                submit_h = ctx.hours(spec.submit)
                self.training.add(spec, spec.name, "", submit_h, dp, spec.min_dp or dp, spec.tokens)
            for s in w.streams:
                env.process(self.training.stream(s))
            for lease in w.leases:
                self.leases.add(lease)
            for a in w.lease_arrivals:  # new tenants' requests, drawn from their own stream
                for lease in self.leases.arrivals(a, end):
                    self.leases.add(lease)
            for s in w.serving:
                self.serving.add(s)
        ctx.cluster.bring_online(start)  # phases online by the start are there from t = 0
        ctx.acct = Accounting(ctx.cluster, ctx.owners)
        env.process(self.days.capacity())
        env.process(self.days.sampler())

    @classmethod
    def from_prepared(cls, prep, *, seed: int, recorder: Rows, check: bool = False) -> Engine:
        """The engine of a prepared scenario (`sim.runner.prepare`) with a seed."""
        sc = prep.scenario
        return cls(
            topology=prep.topology,
            workloads=prep.workloads,
            policy=prep.policy,
            start=sc.horizon.start,
            end=sc.horizon.end,
            seed=seed,
            recorder=recorder,
            prices=sc.prices,
            failures=sc.failures,
            traces=prep.traces,
            check=check,
            market_curves=market.curves(sc.contract_risk.market),
        )

    @property
    def passes(self) -> int:
        """Scheduling passes run so far."""
        return self.mechanism.passes

    def run(self, progress=None) -> int:
        """Run to the horizon; returns the number of SimPy events processed. Before each event,
        the failures and repairs due by its time are applied (see `FailureProcess.apply_due`)."""
        env, until, n = self.ctx.env, self.ctx.horizon_h, 0
        apply_due = self.failures.apply_due if self.failures.active else None
        next_report = 0.0
        # What lives before the run (modules, the scenario: most of the heap) outlives it: the
        # collector's full passes during the run skip it (they rescanned it all, ~10% of a
        # replay's time), and it is collectable again after the run.
        gc.freeze()
        # Full passes during a run find nothing to free (none in the 70k replay, the 60-day
        # trace, the smoke and the default scenario: the engine makes no garbage cycles) and
        # rescan every object the run made: 10x rarer than Python's default (young ones still
        # run as before). A fixed bound, not a multiple: runs in threads (a sweep's) that
        # interleave their restores cannot raise it without end.
        thresholds = gc.get_threshold()
        gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], FULL_GC_EVERY))
        try:
            while True:
                if apply_due is not None:  # (none with failures off: a replay's 140k events)
                    apply_due(until)  # may schedule an event of its own: peek again after it
                if env.peek() >= until:
                    break
                env.step()
                n += 1
                if progress is not None and env.now >= next_report:
                    progress(env.now / until)
                    next_report = env.now + until / 200
            env.run(until=until)  # advance the clock to the horizon exactly
            self._finish()
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
        if progress is not None:
            progress(1.0)
        return n

    def _finish(self) -> None:
        """Close what is still open at the horizon and write the per-job and per-lease rows."""
        kinds = (self.training, self.replay)
        jobs = sorted(
            ((job.id, kind, job) for kind in kinds for job in kind.jobs.values()),
            key=itemgetter(0),
        )
        for _, kind, job in jobs:
            kind.close_open(job)
        if self.ctx.now > self.ctx.acct.day_start_h:
            self.days.close()
        for _, kind, job in jobs:
            kind.row(job)
        for t in self.leases.tranches:
            self.leases.row(t)
