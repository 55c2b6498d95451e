"""What every process of a run shares: the SimPy environment, the cluster, owners, accounting,
the ledger, the recorder, the clock conversions, the queues and the lifecycle registry.

Lifecycles (training, replay, leases, serving) subclass `Lifecycle` and register each owner id
they create with `Context.register`; the mechanism and the failure process then reach them only
through its hooks (`on_start`, `on_failure`, `on_repair`, `on_preempt`, `on_notice`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import simpy

from sim.accounting import Accounting, Owners
from sim.cluster import Cluster
from sim.errors import SimError
from sim.ledger import Ledger
from sim.policies import Request
from sim.spec.money import Series
from sim.spec.scenario import Failures, Prices
from sim.topology import Topology

H_PER_DAY = 24.0
_LAST = 2  # SimPy priority after NORMAL (1): runs after every other event of its instant


class Rows(Protocol):
    """Where rows go (a `sim.recorder.Recorder`: results sit above the engine, so it is passed
    in, never imported)."""

    def add(self, table: str, **row) -> None: ...

    def writer(self, table: str, names: tuple[str, ...], **fixed): ...

    def clock(self, t0_us: int) -> None:
        """Rows give instants as hours from `t0_us` (UTC microseconds since the epoch)."""


class LateEvent(simpy.Event):
    """An event already triggered, processed after every other event of the current instant:
    the one place that sets SimPy's triggered state by hand (SimPy has no public call for an
    event at a priority of one's own)."""

    def __init__(self, env: simpy.Environment, callback) -> None:
        super().__init__(env)
        self.callbacks.append(callback)
        self._ok, self._value = True, None
        env.schedule(self, priority=_LAST)


class Lifecycle:
    """Hooks a kind of owner answers to. The defaults refuse what does not apply."""

    def on_start(
        self, owner: int, domains, parts: tuple[int, ...], by_pool: dict[str, int]
    ) -> None:
        """The mechanism gave `owner` these domains: whole (an array of their ids), or `parts`
        GPUs of each (the ids as the policy's `Start` gives them, one per part); `by_pool`:
        their GPUs per pool (`Cluster.gpus_by_pool`, as the mechanism checked them)."""

    def on_failure(self, owner: int, domain: int, pool, at_h: float) -> None:
        """A domain `owner` holds has failed at `at_h` (already down and counted). Called ahead
        of the clock (now <= at_h, nothing else happens in between): what must happen in time
        at `at_h` goes through `Context.call_at`."""

    def on_repair(self, owner: int, domain: int, at_h: float) -> None:
        """A domain `owner` holds was repaired at `at_h`."""

    def on_preempt(self, owner: int) -> None:
        raise SimError(f"policy preempted owner {owner}, which is not a running job")

    def on_notice(self, owner: int) -> None:
        raise SimError(f"policy gave notice on owner {owner}, which is not a live lease")


class Context:
    """The shared state of one run. Time is in hours from the horizon's start."""

    def __init__(
        self,
        *,
        topology: Topology,
        start: dt.date,
        end: dt.date,
        seed: int,
        recorder: Rows,
        prices: Prices,
        failures: Failures,
        given: Sequence[Series] = (),
    ) -> None:
        """`given`: the workloads' given money series, booked by the ledger day by day."""
        self.topo, self.seed, self.rec, self.prices = topology, seed, recorder, prices
        self.fail_spec = failures
        self.write_h = failures.checkpoint_write_minutes / 60
        self.restart_h = failures.restart_minutes / 60
        self.start, self.horizon_h = start, (end - start).days * H_PER_DAY
        self.t0_us = int(np.datetime64(start, "us").astype(np.int64))
        recorder.clock(self.t0_us)  # rows give instants as hours from the start
        self.env = simpy.Environment()
        # events rows by position (one per failure of a job: a fixed writer, no keywords)
        self._event_row = recorder.writer(
            "events", ("at", "kind", "owner_id", "subject", "gpus", "detail")
        )
        self.cluster = Cluster(topology)
        self.owners = Owners()
        self.ledger = Ledger(topology, prices, start, (end - start).days, given)
        self.day = 0  # index of the open ledger day
        self.pending: dict[int, Request] = {}
        self.running: dict[int, Request] = {}
        self.handlers: dict[int, Lifecycle] = {}
        self.domain_rate = np.zeros(len(topology.pools))  # failures per domain-hour, per pool
        self.acct: Accounting | None = None  # made once the start's capacity is online
        self._pass = None
        self._pass_scheduled = False
        self._idle_without_pending = False

    # -- clock -------------------------------------------------------------------------------
    def hours(self, day: dt.date) -> float:
        return (day - self.start).days * H_PER_DAY

    def date(self, h: float) -> str:
        return (self.start + dt.timedelta(hours=h)).isoformat()

    @property
    def now(self) -> float:
        return self.env.now

    # -- owners and the queue ----------------------------------------------------------------
    def register(self, kind: str, handler: Lifecycle) -> int:
        """A new owner id of `kind`, answered for by `handler`."""
        oid = self.owners.new(kind)
        self.handlers[oid] = handler
        return oid

    def event(
        self,
        kind: str,
        subject: str,
        owner: int = -1,
        gpus: int = 0,
        detail: str = "",
        at_h: float | None = None,
    ):
        """An `events` row, at `at_h` (default: now)."""
        self._event_row(self.env.now if at_h is None else at_h, kind, owner, subject, gpus, detail)

    def on_pass(self, callback, idle_without_pending: bool = False) -> None:
        """The scheduling pass (the mechanism's), run by `schedule`; `idle_without_pending`:
        a pass with nothing pending decides nothing, so none is run then."""
        self._pass = callback
        self._idle_without_pending = idle_without_pending

    def schedule(self, last: bool = False) -> None:
        """Ask for a scheduling pass at the end of the current instant (at most one). None if
        nothing is pending and the policy then decides nothing: a later submission at this
        instant asks again, and the pass still runs after every other event of it.

        `last`: the caller is the last act of its event (nothing runs after it in this event).
        If no other event is due at this instant either, the pass runs at once: the moment its
        late event would run it (failures due by now are applied before this event), one SimPy
        event fewer."""
        if self._idle_without_pending and not self.pending:
            return
        if not self._pass_scheduled:
            if last and self.env.peek() > self.env.now:
                self._pass()
                return
            self._pass_scheduled = True
            LateEvent(self.env, self._run_pass)

    def _run_pass(self, _event) -> None:
        self._pass_scheduled = False
        self._pass()

    def call_at(self, at_h: float, callback) -> None:
        """Run `callback()` as a SimPy event at hour `at_h` (not before now)."""
        ev = self.env.timeout(at_h - self.env.now)
        ev.callbacks.append(lambda _event: callback())

    def submit(self, req: Request, last: bool = False) -> None:
        """Queue a request and ask for a pass (`last`: see `schedule`)."""
        self.pending[req.owner_id] = req
        self.schedule(last)

    # -- allocation, with the accounting kept exact ------------------------------------------
    def change(self, domains: np.ndarray, apply) -> None:
        """Apply a change to `domains` now, its GPUs' states found before and after."""
        self.acct.change(domains, apply, self.env.now)

    def allocate(self, owner: int, domains: np.ndarray, allow_down: bool = False) -> None:
        if allow_down:  # (a lease takes failed racks too: states found before and after)
            self.change(domains, lambda: self.cluster.allocate(owner, domains, allow_down))
            return
        self.cluster.allocate(owner, domains)  # checks each is free, online and healthy
        self.acct.whole(domains, owner, True, self.env.now)

    def allocate_parts(self, owner: int, parts: dict[int, int]) -> None:
        """Give `owner` GPUs inside domains, {domain: GPUs} (packing)."""
        self.cluster.allocate_parts(owner, parts)
        self.acct.owner_parts(owner, parts, True, self.env.now)

    def release(self, owner: int, domains: np.ndarray | None = None) -> None:
        """Return `owner`'s capacity: its parts, or its domains (all of them by default). A
        failed domain's GPUs are counted down already: only the healthy ones move."""
        c = self.cluster
        if domains is None and owner in c.parts:
            self.acct.owner_parts(owner, c.release_parts(owner), False, self.env.now)
            return
        self.acct.whole(c.release(owner, domains), owner, False, self.env.now)

    def take_spare(self, owner: int, failed: int, at_h: float) -> int | None:
        """Give `owner` a spare for its failed domain, if the pool has a free whole one (see
        `Cluster.spare_near`); the failed domain (down either way) leaves it."""
        c = self.cluster
        if owner in c.parts:  # a part has no spare: its job asks again (it may fit anew)
            return None
        spare = c.replace(owner, failed)
        if spare is not None:
            self.acct.whole((spare,), owner, True, at_h)
        return spare

    def book(self, site: str, pool: str, counterparty: str, account: str, usd: float) -> None:
        """Book an amount on today's ledger."""
        self.ledger.book(self.day, site, pool, counterparty, account, usd)

    def book_split(
        self, by_pool: dict[str, int], counterparty: str, account: str, usd: float
    ) -> None:
        """Book an amount on today's ledger, split over pools by GPUs held."""
        self.ledger.book_split(self.day, by_pool, counterparty, account, usd)
