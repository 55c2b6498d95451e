"""The simulation in time: the only module that imports simpy.

Processes: capacity phases coming online, each training job's lifecycle in constant-rate
segments, stream arrivals, lease tranches, internal serving, a daily sampler, and the scheduling
pass. Time is in hours from the horizon's start.

Event order at one instant: SimPy runs same-time events first in, first out; the scheduling pass
is scheduled at a lower priority, so it runs after every other event of that instant, once,
whenever anything changed. Policies see pending requests sorted by their own keys; the
mechanism applies decisions in the order returned.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import simpy

from sim import economics, perf
from sim.cluster import Cluster
from sim.errors import InputError, SimError
from sim.policies import ClusterView, GiveNotice, LeaseInfo, Policy, Preempt, Request, Start
from sim.recorder import Recorder
from sim.rng import draw, stream
from sim.spec import mfu as mfu_spec
from sim.spec.scenario import FailureRates, Failures, Prices
from sim.spec.workload import JobShape, JobStream, Lease, Serving, WorkloadFile
from sim.topology import Span, Topology

H_PER_DAY = 24.0
KIND_CODE = {"lease": 0, "training": 1, "serving": 2}
_LAST = 2  # SimPy priority after NORMAL (1): the scheduling pass runs last at its instant


def train_job(shape: JobShape, dp: int) -> perf.TrainJob:
    """The perf model's job for a workload shape at data-parallel degree `dp`."""
    return mfu_spec.train_job(shape.model, shape.training, shape.parallelism, dp)


def _valid_dp(x: float, batch_units: int) -> int:
    """The divisor of `batch_units` nearest to x (ties to the smaller): a dp the batch splits into."""
    return min(_divisors(batch_units), key=lambda d: (abs(d - x), d))


@cache
def _divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)


def _unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(values, return_counts=True) for small non-negative ints (pool indices),
    without its sort: a bincount (a few us instead of ~15 per call on the hot path)."""
    if len(values) == 1:
        return values[:1], np.ones(1, np.int64)
    counts = np.bincount(values)
    idx = np.flatnonzero(counts)
    return idx, counts[idx]


def _counts(counts: dict[str, int]) -> str:
    return ",".join(f"{k}={v}" for k, v in counts.items())


@dataclass
class _PoolFailures:
    """A pool's failure stream: its random draws, the rate between phase dates, and its
    outstanding candidate (one at a time, in the engine's heap of due items)."""

    pool: object
    draws: object
    phases: list[float]
    online_dates: np.ndarray  # each domain's online date, in index (= phase) order
    next_domain: int = -1
    next_repair_h: float = 0.0
    n_online: int = 0
    rate: float = 0.0
    rate_from_h: float = math.inf
    rate_until_h: float = -math.inf


class _Draws:
    """A failure process's random numbers, drawn from its stream in blocks (same values, in the
    same order, as one at a time would give)."""

    BLOCK = 4096

    def __init__(self, rng: np.random.Generator, repair):
        self.rng, self.rep = rng, repair
        self._i = self.BLOCK

    def _refill(self) -> None:
        self._exp = self.rng.standard_exponential(self.BLOCK)
        self._uni = self.rng.random(self.BLOCK)
        self._norm = self.rng.standard_normal(self.BLOCK)
        self._i = 0

    def _next(self):
        if self._i == self.BLOCK:
            self._refill()
        i = self._i
        self._i += 1
        return i

    def gap_h(self, rate: float) -> float:
        i = self._next()
        return float(self._exp[i]) / rate

    def index(self, n: int) -> int:
        return int(self._uni[self._i - 1] * n)  # uses the candidate's own uniform

    def repair_h(self) -> float:
        r = self.rep
        h = r.median_h * math.exp(r.sigma * float(self._norm[self._i - 1]))
        return min(max(h, r.min_h), r.max_h)


@dataclass
class Segment:
    """A job's constant-rate interval on one placement, with its checkpoint-restart progress.

    Within it the job computes in cycles of `ckpt_h` hours, each followed by a checkpoint
    write of `write_h` hours; a failure loses the cycle in progress and costs a restart.
    """

    res: perf.StepResult
    alloc: dict[str, int]  # GPUs allocated per pool (whole domains)
    by_type: dict[str, int]  # GPUs the layout uses per GPU type
    span: Span
    peak_flop_per_s: float  # dense peak of the allocated GPUs at the job's precision
    start_h: float
    ckpt_h: float
    write_h: float
    progress_from_h: float  # when the current run of cycles began (after a restart)
    saved_tokens: float = 0.0  # tokens checkpointed before progress_from_h
    failures: int = 0

    @property
    def gpus(self) -> int:
        return sum(self.alloc.values())

    @property
    def used(self) -> int:
        return sum(self.by_type.values())

    @property
    def fragmentation(self) -> float:
        """Fraction of the allocated GPUs the layout uses (whole replicas in whole domains)."""
        return self.used / self.gpus

    def compute_h(self, now_h: float, lose_cycle: bool) -> float:
        """Compute hours since `progress_from_h` that count: whole cycles, plus the cycle in
        progress unless a failure loses it."""
        elapsed = max(0.0, now_h - self.progress_from_h)
        cycle = self.ckpt_h + self.write_h
        whole = math.floor(elapsed / cycle)
        partial = 0.0 if lose_cycle else min(elapsed - whole * cycle, self.ckpt_h)
        return whole * self.ckpt_h + partial

    def wall_h(self, compute_h: float) -> float:
        """Wall hours from `progress_from_h` to do `compute_h` hours of compute."""
        return compute_h + math.floor(compute_h / self.ckpt_h) * self.write_h


@dataclass
class Job:
    """A training job at run time."""

    id: int
    name: str
    job_class: str
    stream: str
    shape: JobShape
    tokens: float
    priority: int
    pools: tuple[str, ...]
    max_dp: int
    min_dp: int
    submit_h: float
    tokens_done: float = 0.0
    first_start_h: float | None = None
    end_h: float | None = None
    running_h: float = 0.0
    gpu_h: float = 0.0
    flops: float = 0.0
    peak_flop: float = (
        0.0  # what its allocated GPUs could have done at dense peak (MFU denominator)
    )
    att_weighted: dict[str, float] = field(default_factory=dict)
    segments: int = 0
    interruptions: int = 0
    failures: int = 0
    compute_h: float = 0.0  # hours of progress kept (the numerator of the ETTR)
    ckpt_h: float = 1.0
    excluded: str = ""
    proc: simpy.Process | None = None
    started: simpy.Event | None = None
    sizes: tuple[int, ...] = ()  # GPU counts it accepts, largest first
    seg: Segment | None = None  # the open segment, if running

    @property
    def unit(self) -> int:
        p = self.shape.parallelism
        return p.tp * p.pp * p.cp


@dataclass
class _Hold:
    """The open interval of a fixed-duration job."""

    start_h: float


@dataclass
class FixedJob:
    """A replayed trace job: holds `gpus` GPUs of one pool for `duration_h` hours. It has no
    model, so no MFU; after a failure it resumes where it was (traces record no checkpoints)."""

    id: int
    name: str
    job_class: str
    stream: str
    gpus: int
    duration_h: float
    submit_h: float
    pools: tuple[str, ...]
    priority: int
    first_start_h: float | None = None
    end_h: float | None = None
    running_h: float = 0.0
    gpu_h: float = 0.0
    segments: int = 0
    interruptions: int = 0
    failures: int = 0
    seg: _Hold | None = None
    alloc: dict[str, int] = field(default_factory=dict)
    started: simpy.Event | None = None
    proc: simpy.Process | None = None


@dataclass
class Tranche:
    """A block of a lease contract's capacity at run time (the unit notices act on)."""

    id: int
    lease: Lease
    index: int
    pools: tuple[str, ...]
    gpus: int  # contracted
    share: float  # of the contract's GPUs (splits a contract price and fee)
    start_h: float
    end_h: float  # current end: contracted, renewed, or cut by notice
    contract_end_h: float  # the end the contract promised (with renewals), whatever notice says
    min_term_end_h: float
    usd_per_hour: float  # this tranche's revenue while held
    renewals_left: int
    held_from_h: float | None = None
    held_until_h: float | None = None
    gpus_held: int = 0
    pools_held: dict[str, int] = field(default_factory=dict)
    end_reason: str = "never-started"
    notice_at_h: float | None = None
    notice_by: str = ""
    accrued_h: float = 0.0
    revenue_usd: float = 0.0
    fee_usd: float = 0.0
    short_since: dict[int, float] = field(default_factory=dict)  # failed domains, no spare
    short_gpu_h: float = 0.0
    proc: simpy.Process | None = None

    @property
    def name(self) -> str:
        return f"{self.lease.name}#{self.index}"

    @property
    def held(self) -> bool:
        return self.held_from_h is not None and self.held_until_h is None


class Engine:
    """One run of one scenario and seed."""

    def __init__(
        self,
        topo: Topology,
        workloads: Sequence[WorkloadFile],
        policy: Policy,
        start: dt.date,
        end: dt.date,
        seed: int,
        recorder: Recorder,
        prices: Prices | None = None,
        check: bool = False,
        failures: Failures | None = None,
        traces: dict | None = None,
    ):
        """`check` re-verifies the cluster's invariants and GPU counts every simulated day;
        `traces` maps (workload index, trace index) to the loaded `TraceJobs`."""
        self.topo, self.policy, self.seed, self.rec = topo, policy, seed, recorder
        self.prices = prices or Prices()
        self.fail_spec = failures or Failures(enabled=False)
        self.write_h = self.fail_spec.checkpoint_write_minutes / 60
        # failures per hour of one healthy NVLink domain, per pool
        self.domain_rate = np.array([self._domain_rate(p) for p in topo.pools])
        self._day_failures = np.zeros(len(topo.pools), np.int64)
        self._repair_tick = False
        self.check = check
        self.start, self.horizon_h = start, (end - start).days * H_PER_DAY
        self.t0_us = int(np.datetime64(start, "us").astype(np.int64))
        self.env = simpy.Environment()
        self.cluster = Cluster(topo)
        self.owner_kind = np.full(1024, -1, np.int8)
        self.next_id = 0
        self.pending: dict[int, Request] = {}
        self.running: dict[int, Request] = {}
        self.jobs: dict[int, Job] = {}
        self.tranches: list[Tranche] = []
        self.tranche_by_id: dict[int, Tranche] = {}
        self.day_ledger: dict[tuple[str, str, str, str], float] = {}
        self._pass_scheduled = False
        self._perf_cache: dict = {}
        self.passes = 0
        for i, w in enumerate(workloads):
            for j, tr in enumerate(w.traces):
                self.env.process(self._trace(tr, (traces or {})[(i, j)]))
            for spec in w.training:
                self._add_job(
                    spec,
                    spec.name,
                    "",
                    self.hours(spec.submit),
                    spec.parallelism.dp,
                    spec.min_dp or spec.parallelism.dp,
                    spec.tokens,
                )
            for s in w.streams:
                self.env.process(self._stream(s))
            for lease in w.leases:
                self._add_lease(lease)
            for s in w.serving:
                self.env.process(self._serving(s, self._new_owner("serving")))
        self.cluster.bring_online(start)  # phases online by the start are there from t = 0
        self._gpus_now = self._state_gpus()
        self._day_start_gpus = self._gpus_now.copy()
        # GPU-hours of the day so far by (pool, state), kept as the integral identity
        # int_a^b N dt = N(b) b - N(a) a - sum_i dN_i t_i: each change costs two scalar updates.
        self._day_int = np.zeros_like(self._gpus_now)
        self._day_start_h = 0.0
        self.env.process(self._capacity())
        self.env.process(self._sampler())
        self._start_failures()

    # -- helpers -----------------------------------------------------------------------------
    def hours(self, day: dt.date) -> float:
        return (day - self.start).days * H_PER_DAY

    def ts(self, h: float) -> int:
        """Hours from the start as a UTC timestamp in microseconds since the epoch."""
        return self.t0_us + int(round(h * 3.6e9))

    def _new_owner(self, kind: str) -> int:
        oid = self.next_id
        self.next_id += 1
        if oid >= self.owner_kind.size:
            self.owner_kind = np.concatenate([self.owner_kind, np.full(oid, -1, np.int8)])
        self.owner_kind[oid] = KIND_CODE[kind]
        return oid

    def event(self, kind: str, subject: str, owner: int = -1, gpus: int = 0, detail: str = ""):
        self.rec.add(
            "events",
            at=self.ts(self.env.now),
            kind=kind,
            owner_id=owner,
            subject=subject,
            gpus=gpus,
            detail=detail,
        )

    def schedule(self) -> None:
        """Ask for a scheduling pass at the end of the current instant (at most one)."""
        if not self._pass_scheduled:
            self._pass_scheduled = True
            ev = simpy.Event(self.env)
            ev.callbacks.append(self._pass)
            ev._ok, ev._value = True, None
            self.env.schedule(ev, priority=_LAST)

    def submit(self, req: Request) -> None:
        self.pending[req.owner_id] = req
        self.schedule()

    # -- the scheduling pass: policy decides, mechanism checks and applies -------------------
    def _pass(self, _event) -> None:
        self._pass_scheduled = False
        self.passes += 1
        now = self.env.now
        leases = {
            t.id: LeaseInfo(
                t.id,
                t.lease.name,
                t.lease.tenant,
                t.gpus,
                t.pools,
                dict(t.pools_held),
                t.usd_per_hour / t.gpus,
                t.lease.lessor_may_reclaim,
                t.notice_at_h is not None,
                t.end_h,
                economics.termination_h(now, t.lease.notice_days, t.min_term_end_h, t.end_h),
            )
            for t in self.tranches
            if t.held or t.id in self.pending
        }
        view = ClusterView(self.cluster, now, self.running, leases, self.owner_kind)
        pending = sorted(self.pending.values(), key=lambda r: r.owner_id)
        for decision in self.policy.decide(view, pending):
            if isinstance(decision, Start):
                self._apply_start(decision)
            elif isinstance(decision, Preempt):
                self._apply_preempt(decision)
            elif isinstance(decision, GiveNotice):
                self._apply_notice(decision)
            else:
                raise SimError(f"policy returned an unknown decision {decision!r}")

    def _apply_start(self, d: Start) -> None:
        req = self.pending.get(d.owner_id)
        if req is None:
            raise SimError(f"policy started owner {d.owner_id}, which is not pending")
        domains = np.asarray(d.domains, np.int64)
        pools = {self.topo.pools[i].name for i in _unique_counts(self.topo.domain_pool[domains])[0]}
        if not pools <= set(req.pools):
            raise SimError(f"policy placed {req.name} on pools {sorted(pools)} outside {req.pools}")
        if req.single_pool and len(pools) > 1:
            raise SimError(f"policy spread single-pool request {req.name} over {sorted(pools)}")
        usable = self._usable_gpus(req, domains)
        if usable < min(req.sizes):
            raise SimError(f"policy gave {req.name} {usable} usable GPUs, below {min(req.sizes)}")
        # the cluster checks free, online, healthy (a lease takes failed racks too)
        self._allocate(req.owner_id, domains, req.takes_down)
        del self.pending[req.owner_id]
        self.running[req.owner_id] = req
        if req.kind == "training":
            self.jobs[req.owner_id].started.succeed(domains)
        elif req.kind == "lease":
            self._lease_started(self.tranche_by_id[req.owner_id], domains)
        # serving sees its new capacity at its next daily sizing

    def _apply_preempt(self, d: Preempt) -> None:
        job = self.jobs.get(d.owner_id)
        if job is None or d.owner_id not in self.running or job.seg is None:
            raise SimError(f"policy preempted owner {d.owner_id}, which is not a running job")
        if job.seg.start_h == self.env.now:
            return  # started at this very instant: preempting again could loop forever
        job.proc.interrupt("preempted")

    def _apply_notice(self, d: GiveNotice) -> None:
        t = self.tranche_by_id.get(d.owner_id)
        if t is None or t.end_h <= self.env.now:
            raise SimError(f"policy gave notice on owner {d.owner_id}, which is not a live lease")
        if not t.lease.lessor_may_reclaim:
            raise SimError(f"policy gave notice on {t.name}, which the lessor may not reclaim")
        if t.notice_at_h is None:
            self.give_notice(t, "lessor")

    def _usable_gpus(self, req: Request, domains: np.ndarray) -> int:
        """GPUs usable by the request: whole replica units per pool, capped at its largest size."""
        total = 0
        for pool_idx, count in zip(*_unique_counts(self.topo.domain_pool[domains]), strict=True):
            gpus = int(count) * self.topo.pools[int(pool_idx)].gpus_per_domain
            total += gpus // req.unit_gpus * req.unit_gpus
        return min(total, max(req.sizes))

    # -- capacity ----------------------------------------------------------------------------
    def _capacity(self):
        """Phases come online on their dates; those online by the start already are."""
        for day in sorted({ph.online for ph in self.topo.phases}):
            h = max(0.0, self.hours(day))
            if h >= self.horizon_h:
                break
            yield self.env.timeout(h - self.env.now)
            due = np.flatnonzero(
                ~self.cluster.online & (self.topo.domain_online <= np.datetime64(day, "D"))
            )
            self._change(due, lambda day=day: self.cluster.bring_online(day))
            for ph in self.topo.phases:
                if ph.online == day or (h == 0 and ph.online <= self.start):
                    self.event("phase-online", ph.name, gpus=ph.gpus, detail=ph.pool)
            if due.size:
                self.schedule()

    def _sampler(self):
        while self.env.now < self.horizon_h:
            if self.env.now > 0:
                self._write_day()
            yield self.env.timeout(H_PER_DAY)

    # GPU-hours by pool and state, integrated exactly between changes of the allocation.
    STATES = ("lease", "training", "serving", "idle", "down", "offline")

    def _states(self, domains: np.ndarray | slice) -> np.ndarray:
        """State index (see STATES) of each of `domains`."""
        c = self.cluster
        owner = c.owner[domains]
        state = np.where(owner >= 0, self.owner_kind[np.maximum(owner, 0)], 3)
        state = np.where(c.down[domains], 4, state)
        return np.where(c.online[domains], state, 5)

    def _state_gpus(self) -> np.ndarray:
        """GPUs per (pool, state), counted from the per-domain arrays."""
        n = len(self.topo.pools)
        key = self.topo.domain_pool.astype(np.int64) * 6 + self._states(slice(None))
        return np.bincount(key, weights=self.cluster._gpus, minlength=n * 6).reshape(n, 6)

    def _change(self, domains: np.ndarray, apply, at_h: float | None = None) -> None:
        """Apply a change to `domains` (at `at_h`, default now), keeping the counts by state
        and the day's GPU-hour integral exact."""
        at = self.env.now if at_h is None else at_h
        if len(domains) == 1:
            d = int(domains[0])
            self._set_state(d, int(self.topo.domain_pool[d]), apply, at)
            return
        if len(domains) <= 8:  # a few domains: scalar updates beat the ufunc.at machinery
            ds = [int(d) for d in domains]
            before = [self._state(d) for d in ds]
            apply()
            pool_of, gpus_of = self.topo.domain_pool, self.cluster._gpus
            for d, b in zip(ds, before, strict=True):
                self._move(int(pool_of[d]), int(gpus_of[d]), b, self._state(d), at)
            return
        pool, gpus = self.topo.domain_pool[domains], self.cluster._gpus[domains]
        before = self._states(domains)
        apply()
        after = self._states(domains)
        np.subtract.at(self._gpus_now, (pool, before), gpus)
        np.add.at(self._gpus_now, (pool, after), gpus)
        np.add.at(self._day_int, (pool, before), gpus * at)
        np.subtract.at(self._day_int, (pool, after), gpus * at)

    def _state(self, d: int) -> int:
        """State index (see STATES) of one domain."""
        c = self.cluster
        if not c.online[d]:
            return 5
        if c.down[d]:
            return 4
        owner = int(c.owner[d])
        return int(self.owner_kind[owner]) if owner >= 0 else 3

    def _write_day(self) -> None:
        """The row of the day that ends now: snapshot at its start, GPU-hours during it."""
        if self.check:
            self.cluster.check()
            if not np.array_equal(self._gpus_now, self._state_gpus()):
                raise SimError("incremental GPU counts drifted from the cluster state")
        day_h, snap = self._day_start_h, self._day_start_gpus
        now = self.env.now
        hours = self._gpus_now * now - snap * day_h + self._day_int
        power = self.topo.power_mw(self.start + dt.timedelta(hours=day_h))
        for i, p in enumerate(self.topo.pools):
            s, h = snap[i], hours[i]
            self.rec.add(
                "pools",
                date=self.ts(day_h),
                site=p.site.name,
                pool=p.name,
                gpu=p.gpu.name,
                gpus_online=int(s[:5].sum()),
                gpus_lease=int(s[0]),
                gpus_training=int(s[1]),
                gpus_serving=int(s[2]),
                gpus_idle=int(s[3]),
                gpus_down=int(s[4]),
                gpu_hours_online=float(h[:5].sum()),
                gpu_hours_lease=float(h[0]),
                gpu_hours_training=float(h[1]),
                gpu_hours_serving=float(h[2]),
                gpu_hours_idle=float(h[3]),
                gpu_hours_down=float(h[4]),
                failures=int(self._day_failures[i]),
                it_mw=power[p.name][0],
                facility_mw=power[p.name][1],
            )
        self._book_day(day_h, hours)
        self._day_failures[:] = 0
        self._day_int = np.zeros_like(self._day_int)
        self._day_start_gpus = self._gpus_now.copy()
        self._day_start_h = self.env.now

    # -- money -------------------------------------------------------------------------------
    def _book(self, site: str, pool: str, counterparty: str, account: str, usd: float) -> None:
        """Add an amount to today's ledger (revenue positive, costs negative)."""
        key = (site, pool, counterparty, account)
        self.day_ledger[key] = self.day_ledger.get(key, 0.0) + usd

    def _ledger_place(self, gpus_by_pool: dict[str, int]) -> list[tuple[str, str]]:
        return [(self.topo.pool(n).site.name, n) for n in gpus_by_pool]

    def _capex_usd_per_gpu(self, gpu: str) -> float:
        return self.prices.capex_usd_per_gpu.get(gpu, economics.CAPEX_USD_PER_GPU.get(gpu, 0.0))

    def _book_day(self, day_h: float, gpu_hours: np.ndarray) -> None:
        """Close the day's books: lease revenue to now, power and depreciation from the day's
        exact GPU-hours per pool; then write one ledger row per (site, pool, counterparty,
        account)."""
        for t in self.tranches:
            self._accrue_lease(t)
        pr = self.prices
        for i, p in enumerate(self.topo.pools):
            lease, training, serving, idle, _down, _off = gpu_hours[i]
            online = gpu_hours[i][:5].sum()
            if online <= 0:
                continue
            cost = economics.power_cost_usd(
                lease + training + serving,
                idle,
                p.it_w_per_gpu,
                p.pue,
                pr.power_usd_per_mwh,
                pr.idle_power_fraction,
            )
            self._book(p.site.name, p.name, "utility", "power_cost", -cost)
            dep = economics.depreciation_usd(
                online,
                self._capex_usd_per_gpu(p.gpu.name),
                pr.depreciation_years,
                p.it_w_per_gpu,
                p.pue,
                pr.construction_usd_per_mw,
                pr.facility_life_years,
            )
            self._book(p.site.name, p.name, "capex", "depreciation", -dep)
        date = self.ts(day_h)
        for (site, pool, counterparty, account), usd in sorted(self.day_ledger.items()):
            self.rec.add(
                "ledger",
                date=date,
                site=site,
                pool=pool,
                counterparty=counterparty,
                account=account,
                amount_usd=usd,
            )
        self.day_ledger = {}

    def _allocate(self, owner: int, domains: np.ndarray, allow_down: bool = False) -> None:
        self._change(domains, lambda: self.cluster.allocate(owner, domains, allow_down))

    def _release(self, owner: int, domains: np.ndarray | None = None) -> None:
        d = self.cluster.owned_by(owner) if domains is None else domains
        self._change(d, lambda: self.cluster.release(owner, d))

    # -- failures and repairs ------------------------------------------------------------------
    def _domain_rate(self, pool) -> float:
        """Failures per hour of one domain of the pool: its GPUs' rate plus the domain term."""
        f = self.fail_spec
        if not f.enabled:
            return 0.0
        rates = f.rates.get(pool.gpu.name, FailureRates())
        domain_per_day = rates.domain_per_day
        if domain_per_day is None:  # assumed default: NVL72 racks only (see FailureRates)
            domain_per_day = 0.02 if pool.gpus_per_domain > 8 else 0.0
        return f.scale * (rates.gpu_per_hour * pool.gpus_per_domain + domain_per_day / H_PER_DAY)

    # Failures are drawn per pool as a Poisson process over its healthy online domains, by
    # thinning: candidates at the rate of all its online domains, and a candidate that is
    # already down is no failure, so the rate follows repairs exactly. Only a failure that hits
    # a training job needs a SimPy event (it interrupts the job at its time); all others, and
    # every repair, change nothing but counts, the day's GPU-hours, spares and shortfalls, so
    # `run` applies them at their own times just before the next event that could see them.
    def _start_failures(self) -> None:
        self._pf: list[_PoolFailures] = []
        self._due: list[
            tuple[float, int, int, int]
        ] = []  # (hour, 0 repair | 1 failure, pool, domain)
        for p in self.topo.pools:
            if self.domain_rate[p.index] <= 0:
                continue
            pf = _PoolFailures(
                p,
                _Draws(stream(self.seed, f"failures:{p.name}"), self.fail_spec.repair),
                sorted({self.hours(ph.online) for ph in self.topo.phases if ph.pool == p.name}),
                self.topo.domain_online[p.first_domain : p.first_domain + p.domains],
            )
            self._pf.append(pf)
        self._pf_by_pool = {pf.pool.index: pf for pf in self._pf}
        for pf in self._pf:
            self._draw_failure(pf, 0.0)

    def _draw_failure(self, pf: _PoolFailures, from_h: float) -> None:
        """The pool's next candidate failure after `from_h` (redrawn at each phase date, when the
        rate changes: the process is memoryless)."""
        t = from_h
        while True:
            if t >= pf.rate_until_h or t < pf.rate_from_h:  # the rate holds between phase dates
                today = np.datetime64(self.start, "D") + int(t // H_PER_DAY)
                pf.n_online = int(np.searchsorted(pf.online_dates, today, side="right"))
                pf.rate = pf.n_online * self.domain_rate[pf.pool.index]
                pf.rate_from_h = t
                pf.rate_until_h = next((h for h in pf.phases if h > t), math.inf)
            at = t + pf.draws.gap_h(pf.rate) if pf.rate > 0 else math.inf
            if min(at, pf.rate_until_h) >= self.horizon_h:
                return
            if pf.rate_until_h <= at:
                t = pf.rate_until_h
                continue
            pf.next_domain = pf.pool.first_domain + pf.draws.index(pf.n_online)
            pf.next_repair_h = pf.draws.repair_h()
            heapq.heappush(self._due, (at, 1, pf.pool.index, pf.next_domain))
            return

    def _apply_due(self, limit_h: float) -> bool:
        """Apply failures and repairs due by `limit_h` in time order. Returns True if it stopped
        at a failure that hits a training job, for which it scheduled an event at its time."""
        due, down, owner, kinds = self._due, self.cluster.down, self.cluster.owner, self.owner_kind
        while due and due[0][0] <= limit_h:
            at, kind, pool_index, d = heapq.heappop(due)
            if kind == 0:
                self._repair(d, at)
                continue
            pf = self._pf_by_pool[pool_index]
            if down[d]:  # thinning: a failed domain cannot fail again
                self._draw_failure(pf, at)
                continue
            o = int(owner[d])
            if o >= 0 and kinds[o] == KIND_CODE["training"]:
                wake = self.env.timeout(at - self.env.now)
                wake.callbacks.append(lambda _e, pf=pf, at=at: self._failure_now(pf, at))
                return True
            self._failure_at(pf, at)
        return False

    def _failure_now(self, pf: _PoolFailures, at_h: float) -> None:
        """A failure's own event (it hits a training job): apply it now, as things stand now."""
        if self.cluster.down[pf.next_domain]:
            self._draw_failure(pf, at_h)
        else:
            self._failure_at(pf, self.env.now)

    def _failure_at(self, pf: _PoolFailures, at_h: float) -> None:
        d = pf.next_domain
        heapq.heappush(self._due, (at_h + pf.next_repair_h, 0, pf.pool.index, d))
        self._fail(d, pf.pool, at_h)
        self._draw_failure(pf, at_h)

    def _fail(self, d: int, pool, at_h: float | None = None) -> None:
        """Take a domain down and tell its owner: a job restarts (on a spare if one is free),
        a lease gets a spare or records the shortfall, serving shrinks."""
        at = self.env.now if at_h is None else at_h
        c = self.cluster
        owner = int(c.owner[d])
        self._day_failures[pool.index] += 1
        kind = int(self.owner_kind[owner]) if owner >= 0 else 3
        c.fail(d)
        self._move(pool.index, pool.gpus_per_domain, kind, 4, at)
        if owner < 0:
            return
        if kind == KIND_CODE["serving"]:  # serving sizes its fleet again the next day
            self._change(np.array([d]), lambda: c.release(owner, np.array([d])), at)
            return
        # a spare: only if the pool has an idle healthy domain (its count is kept exactly)
        spare = c.spare_near(d) if self._gpus_now[pool.index, 3] > 0 else None
        if spare is not None:  # the failed domain (down either way) leaves, a spare joins
            self._set_state(spare, pool.index, lambda: c.replace(owner, d, spare), at)
        if kind == KIND_CODE["training"]:
            job = self.jobs[owner]
            self.event(
                "failure",
                job.name,
                owner,
                pool.gpus_per_domain,
                f"{pool.name}: {'spare' if spare is not None else 'no spare'}",
            )
            if job.seg is None:  # started at this instant: impossible at a continuous draw
                raise SimError(f"failure hit {job.name} between its start and its segment")
            job.proc.interrupt("failure-spared" if spare is not None else "failure")
        elif spare is None:  # a lease keeps its failed domain; the time down is its shortfall
            self.tranche_by_id[owner].short_since[d] = at

    def _move(self, pool: int, gpus: int, before: int, after: int, at: float) -> None:
        """`gpus` of a pool change state at time `at`: counts and the day's integral follow."""
        if after != before:
            self._gpus_now[pool, before] -= gpus
            self._gpus_now[pool, after] += gpus
            self._day_int[pool, before] += gpus * at
            self._day_int[pool, after] -= gpus * at

    def _set_state(self, d: int, pool: int, apply, at_h: float | None = None) -> None:
        """Apply a change to one domain, keeping the counts by state and the day's integral."""
        at = self.env.now if at_h is None else at_h
        before = self._state(d)
        apply()
        after = self._state(d)
        if after != before:
            gpus = int(self.cluster._gpus[d])
            self._gpus_now[pool, before] -= gpus
            self._gpus_now[pool, after] += gpus
            self._day_int[pool, before] += gpus * at
            self._day_int[pool, after] -= gpus * at

    def _repair(self, d: int, at_h: float) -> None:
        if self.pending and not self._repair_tick:
            # repaired capacity is offered to waiting requests at the next whole hour: one
            # scheduling pass for all the repairs of that hour
            self._repair_tick = True
            tick = self.env.timeout(math.floor(at_h) + 1.0 - self.env.now)
            tick.callbacks.append(self._repair_pass)
        c = self.cluster
        c.repair(d)
        owner = int(c.owner[d])
        kind = int(self.owner_kind[owner]) if owner >= 0 else 3
        self._move(int(self.topo.domain_pool[d]), int(c._gpus[d]), 4, kind, at_h)
        if kind == KIND_CODE["lease"]:
            t = self.tranche_by_id[owner]
            since = t.short_since.pop(d, None)
            if since is not None:
                t.short_gpu_h += self.cluster._gpus[d] * (at_h - since)

    def _repair_pass(self, _event) -> None:
        self._repair_tick = False
        self.schedule()

    # -- training ----------------------------------------------------------------------------
    def _add_job(
        self,
        spec: JobShape,
        name: str,
        stream_name: str,
        submit_h: float,
        max_dp: int,
        min_dp: int,
        tokens: float,
    ) -> Job:
        job = Job(
            id=self._new_owner("training"),
            name=name,
            job_class=spec.job_class,
            stream=stream_name,
            shape=spec,
            tokens=tokens,
            priority=spec.priority,
            pools=tuple(spec.pools),
            max_dp=max_dp,
            min_dp=min_dp,
            submit_h=max(0.0, submit_h),
        )
        self.jobs[job.id] = job
        job.pools = tuple(p for p in job.pools if self._fits(job, p))
        job.proc = self.env.process(self._training(job))
        return job

    def _fits(self, job: Job, pool: str) -> bool:
        """Memory fit of the job's layout on a pool's GPU type; a misfit is an event, not an error."""
        gpu = self.topo.pool(pool).gpu.name
        try:
            res = self._perf(job, ((gpu, job.unit * job.max_dp),), (), None)
            fits, reason = res.fits, res.reason
        except InputError as err:
            fits, reason = False, "; ".join(str(p) for p in err.problems)
        if not fits:
            self.event("excluded", job.name, job.id, detail=f"{pool}: {reason}")
        return fits

    def _perf(self, job: Job, gpus_by_type: tuple, fabric: tuple, cross: float | None):
        """The perf model's result for a job on GPUs by type with these fabric bandwidths,
        cached: many segments share a placement shape."""
        key = (id(job.shape), gpus_by_type, fabric, cross)
        res = self._perf_cache.get(key)
        if res is None:
            dp = sum(n for _, n in gpus_by_type) // job.unit
            placement = perf.Placement(gpus_by_type, job.shape.partitioning, fabric, cross)
            res = self._perf_cache[key] = perf.step(train_job(job.shape, dp), placement)
        return res

    def _sizes(self, job: Job) -> tuple[int, ...]:
        """GPU counts the job accepts: dp from max_dp down to min_dp, halving, each dividing
        the global batch into whole micro-batches."""
        t = job.shape.training
        sizes, dp = [], job.max_dp
        while dp >= job.min_dp:
            if t.global_batch % (dp * t.micro_batch) == 0:
                sizes.append(dp * job.unit)
            dp //= 2
        return tuple(sizes) or (job.max_dp * job.unit,)

    def _training(self, job: Job):
        yield self.env.timeout(max(0.0, job.submit_h - self.env.now))
        self.event("submit", job.name, job.id, job.unit * job.max_dp)
        if not job.pools:
            self.event("never-runs", job.name, job.id, detail="no allowed pool fits its layout")
            return
        job.sizes = self._sizes(job)
        request = Request(
            job.id,
            "training",
            job.name,
            job.job_class,
            job.priority,
            job.submit_h,
            job.pools,
            job.sizes,
            job.unit,
            single_pool=False,
        )
        while job.tokens_done < job.tokens:
            job.started = self.env.event()
            self.submit(request)
            domains = yield job.started
            job.seg = self._segment(job, domains)
            while True:
                try:
                    yield self.env.timeout(self._time_left_h(job))
                    self._close(job, "finished")
                    break
                except simpy.Interrupt as stop:
                    if stop.cause == "failure-spared":  # same placement, restart from checkpoint
                        self._lose_cycle(job)
                        continue
                    if stop.cause == "failure":
                        self._lose_cycle(job)
                    self._close(job, str(stop.cause))
                    job.interruptions += 1
                    break
        job.end_h = self.env.now
        self.event("finish", job.name, job.id)

    def _checkpoint_h(self, job: Job, domains: np.ndarray) -> float:
        """The job's checkpoint interval; Young/Daly's sqrt(2 x write x MTBF) on request."""
        every = job.shape.checkpoint_interval_h
        if every != "young-daly":
            return every
        rate = float(self.domain_rate[self.topo.domain_pool[domains]].sum())
        if rate <= 0 or self.write_h <= 0:
            return 24.0  # no failures (or free checkpoints): a daily checkpoint is plenty
        return min(24.0, math.sqrt(2.0 * self.write_h / rate))

    def _time_left_h(self, job: Job) -> float:
        seg = job.seg
        tokens = job.tokens - job.tokens_done - seg.saved_tokens
        compute_h = max(0.0, tokens / seg.res.tokens_per_s / 3600.0)
        return max(0.0, seg.progress_from_h - self.env.now) + seg.wall_h(compute_h)

    def _lose_cycle(self, job: Job) -> None:
        """A failure: keep what was checkpointed, lose the cycle in progress, pay a restart."""
        seg, now = job.seg, self.env.now
        seg.saved_tokens += seg.compute_h(now, lose_cycle=True) * seg.res.tokens_per_s * 3600.0
        seg.progress_from_h = max(now, seg.progress_from_h) + self.fail_spec.restart_minutes / 60
        seg.failures += 1
        job.failures += 1

    def _segment(self, job: Job, domains: np.ndarray) -> Segment:
        """The constant rate of a job on these domains, from the perf model."""
        if job.first_start_h is None:
            job.first_start_h = self.env.now
        topo = self.topo
        pool_of = topo.domain_pool[domains]
        alloc = {
            topo.pools[int(i)].name: int(n) * topo.pools[int(i)].gpus_per_domain
            for i, n in zip(*_unique_counts(pool_of), strict=True)
        }
        usable = sum(n // job.unit * job.unit for n in alloc.values())
        left = max(s for s in job.sizes if s <= usable)
        by_type: dict[str, int] = {}
        fabric: dict[str, float] = {}
        for name in job.pools:  # whole replicas per pool, in the job's order, up to that size
            use = min(alloc.get(name, 0) // job.unit * job.unit, left)
            if use:
                pool = topo.pool(name)
                by_type[pool.gpu.name] = by_type.get(pool.gpu.name, 0) + use
                own = topo.placement_span(domains[pool_of == pool.index]).bandwidth_gbit_per_s
                fabric[pool.gpu.name] = min(fabric.get(pool.gpu.name, own), own)
                left -= use
        span = topo.placement_span(domains)
        cross = span.bandwidth_gbit_per_s if len(by_type) > 1 else None
        res = self._perf(job, tuple(sorted(by_type.items())), tuple(sorted(fabric.items())), cross)
        precision = job.shape.training.precision
        peak = sum(topo.pool(n).gpu.peak_tflops(precision) * g for n, g in alloc.items()) * 1e12
        now = self.env.now
        restart_h = self.fail_spec.restart_minutes / 60 if job.failures else 0.0
        job.ckpt_h = self._checkpoint_h(job, domains)
        seg = Segment(
            res,
            alloc,
            by_type,
            span,
            peak,
            now,
            job.ckpt_h,
            self.write_h,
            progress_from_h=now + restart_h,
        )
        self.event(
            "start", job.name, job.id, seg.gpus, f"dp={seg.used // job.unit} tier={span.tier}"
        )
        return seg

    def _close(self, job: Job, reason: str) -> None:
        """End a segment: credit its tokens, write its row, release its capacity (unless the
        horizon ended it)."""
        seg, now = job.seg, self.env.now
        job.seg = None
        dur_h = now - seg.start_h
        tokens = job.tokens - job.tokens_done
        if reason != "finished":  # graceful stops checkpoint what they did; failures did not
            done = seg.compute_h(now, lose_cycle=reason == "failure") * seg.res.tokens_per_s
            tokens = min(seg.saved_tokens + done * 3600.0, tokens)
        job.tokens_done += tokens
        kept_h = tokens / seg.res.tokens_per_s / 3600.0  # compute hours that count
        job.compute_h += kept_h
        res, t = seg.res, job.shape.training
        flops = tokens / (job.shape.model.seq_len * t.global_batch) * res.model_flops_per_step
        peak_flop = seg.peak_flop_per_s * dur_h * 3600.0
        mfu = flops / peak_flop if peak_flop > 0 else res.mfu * seg.fragmentation
        # failures, restarts and checkpoint writes: the share of the segment that counted
        ettr = kept_h / dur_h if dur_h > 0 else 1.0
        att = dict(res.attribution, failures=ettr, fragmentation=seg.fragmentation)
        job.segments += 1
        job.running_h += dur_h
        job.gpu_h += seg.gpus * dur_h
        job.flops += flops
        job.peak_flop += peak_flop
        for k, v in att.items():
            job.att_weighted[k] = job.att_weighted.get(k, 0.0) + v * peak_flop
        self.rec.add(
            "segments",
            job_id=job.id,
            name=job.name,
            job_class=job.job_class,
            start_at=self.ts(seg.start_h),
            end_at=self.ts(now),
            end_reason=reason,
            pools=_counts(seg.alloc),
            gpu_types=_counts(seg.by_type),
            gpus=seg.gpus,
            gpus_used=seg.used,
            dp=seg.used // job.unit,
            tier=seg.span.tier,
            fabric_gbit_per_s=seg.span.bandwidth_gbit_per_s,
            step_time_s=res.step_time_s,
            tokens_per_s=res.tokens_per_s,
            tokens=tokens,
            model_flops=flops,
            peak_flop=peak_flop,
            mfu=mfu,
            mfu_bf16=mfu * res.mfu_bf16 / res.mfu if res.mfu else 0.0,
            failures=seg.failures,
            **{f"att_{k}": v for k, v in att.items()},
        )
        if reason != "horizon":
            self._release(job.id)
            del self.running[job.id]
            self.event("release", job.name, job.id, seg.gpus, reason)
            self.schedule()

    def _stream(self, s: JobStream):
        rng = stream(self.seed, f"stream:{s.name}")
        t = max(0.0, self.hours(s.start))
        end_h = self.hours(s.end) if s.end else self.horizon_h
        n = 0
        yield self.env.timeout(t)
        while True:
            t += rng.exponential(H_PER_DAY / s.arrivals_per_day)
            if t >= min(end_h, self.horizon_h):
                return
            dp = _valid_dp(draw(rng, s.replicas), s.training.global_batch // s.training.micro_batch)
            days = draw(rng, s.duration_days)
            yield self.env.timeout(t - self.env.now)
            n += 1
            job = self._add_job(s, f"{s.name}-{n:05d}", s.name, self.env.now, dp, dp, 1.0)
            if job.pools:  # work = the drawn duration at its size on its first pool
                pool = self.topo.pool(job.pools[0])
                gpus = min(dp * job.unit, pool.gpus)
                bw = self.topo.span([pool.name], gpus).bandwidth_gbit_per_s
                rate = self._perf(
                    job, ((pool.gpu.name, dp * job.unit),), ((pool.gpu.name, bw),), None
                ).tokens_per_s
                job.tokens = rate * days * 86400.0

    # -- trace replay ------------------------------------------------------------------------
    def _trace(self, tr, jobs):
        """Submit a trace's jobs at their recorded times (after `start`, scaled)."""
        t0_h, scale = self.hours(tr.start), tr.time_scale
        n = len(jobs) if tr.limit is None else min(tr.limit, len(jobs))
        for k in range(n):
            at_h = max(0.0, t0_h + jobs.submit_s[k] * scale / 3600.0)
            if at_h >= self.horizon_h:
                return
            if at_h > self.env.now:
                yield self.env.timeout(at_h - self.env.now)
            job = FixedJob(
                id=self._new_owner("training"),
                name=f"{tr.name}:{jobs.job_id[k]}",
                job_class=tr.job_class,
                stream=tr.name,
                gpus=int(jobs.gpus[k]),
                duration_h=float(jobs.duration_s[k]) * scale / 3600.0,
                submit_h=self.env.now,
                pools=tuple(tr.pools),
                priority=tr.priority,
            )
            self.jobs[job.id] = job
            job.proc = self.env.process(self._fixed(job))

    def _fixed(self, job: FixedJob):
        request = Request(
            job.id,
            "training",
            job.name,
            job.job_class,
            job.priority,
            job.submit_h,
            job.pools,
            (job.gpus,),
            1,
            single_pool=True,
        )
        left_h = job.duration_h
        while left_h > 0:
            job.started = self.env.event()
            self.submit(request)
            domains = yield job.started
            if job.first_start_h is None:
                job.first_start_h = self.env.now
            job.seg, job.alloc = _Hold(self.env.now), self._gpus_by_pool(domains)
            since = self.env.now
            while True:
                try:
                    yield self.env.timeout(left_h)
                    left_h = 0.0
                    self._close_fixed(job, "finished")
                    break
                except simpy.Interrupt as stop:
                    left_h -= self.env.now - since
                    since = self.env.now
                    job.failures += stop.cause.startswith("failure")
                    if stop.cause == "failure-spared":
                        continue
                    self._close_fixed(job, str(stop.cause))
                    job.interruptions += 1
                    break
        job.end_h = self.env.now

    def _close_fixed(self, job: FixedJob, reason: str) -> None:
        now, start = self.env.now, job.seg.start_h
        gpus = sum(job.alloc.values())
        job.seg = None
        job.segments += 1
        job.running_h += now - start
        job.gpu_h += gpus * (now - start)
        nan = float("nan")
        self.rec.add(
            "segments",
            job_id=job.id,
            name=job.name,
            job_class=job.job_class,
            start_at=self.ts(start),
            end_at=self.ts(now),
            end_reason=reason,
            pools=_counts(job.alloc),
            gpu_types="",
            gpus=gpus,
            gpus_used=job.gpus,
            dp=1,
            tier="",
            fabric_gbit_per_s=nan,
            step_time_s=nan,
            tokens_per_s=nan,
            tokens=0.0,
            model_flops=0.0,
            peak_flop=0.0,
            mfu=nan,
            mfu_bf16=nan,
            failures=0,
            **{f"att_{k}": nan for k in (*perf.FACTORS, "fragmentation")},
        )
        if reason != "horizon":
            self._release(job.id)
            del self.running[job.id]
            self.schedule()

    # -- leases ------------------------------------------------------------------------------
    def _add_lease(self, lease: Lease) -> None:
        sizes = [self._tranche_gpus(tr) for tr in lease.tranches]
        total = sum(sizes)
        for i, (tr, gpus) in enumerate(zip(lease.tranches, sizes, strict=True)):
            contract_usd_per_hour = economics.lease_usd_per_hour(
                gpus,
                lease.price_usd_per_month,
                lease.price_usd_per_year,
                lease.price_usd_per_gpu_hour,
            )
            share = gpus / total
            if lease.price_usd_per_gpu_hour is None:  # a contract price is split by GPUs
                contract_usd_per_hour *= share
            t = Tranche(
                id=self._new_owner("lease"),
                lease=lease,
                index=i,
                pools=tuple(tr.pools),
                gpus=gpus,
                share=share,
                start_h=self.hours(tr.start or lease.start),
                end_h=self.hours(lease.end),
                contract_end_h=self.hours(lease.end),
                min_term_end_h=self.hours(lease.start) + lease.min_term_days * H_PER_DAY,
                usd_per_hour=contract_usd_per_hour,
                renewals_left=lease.renewals,
            )
            self.tranches.append(t)
            self.tranche_by_id[t.id] = t
            t.proc = self.env.process(self._lease(t))
        for by, day in (("tenant", lease.tenant_notice), ("lessor", lease.lessor_notice)):
            if day is not None:
                self.env.process(self._scheduled_notice(lease, by, self.hours(day)))

    def _tranche_gpus(self, tr) -> int:
        if tr.gpus is not None:
            return tr.gpus
        return int(tr.mw * 1e6 / self.topo.pool(tr.pools[0]).it_w_per_gpu)

    def _gpus_by_pool(self, domains: np.ndarray) -> dict[str, int]:
        idx, counts = _unique_counts(self.topo.domain_pool[domains])
        pools = self.topo.pools
        return {
            pools[int(i)].name: int(c) * pools[int(i)].gpus_per_domain
            for i, c in zip(idx, counts, strict=True)
        }

    def _lease(self, t: Tranche):
        """A tranche: due at its start, held once placed, ended by its term or a notice."""
        if t.end_h <= 0 or t.start_h >= self.horizon_h:
            return
        yield self.env.timeout(max(0.0, t.start_h))
        self.event("lease-due", t.name, t.id, t.gpus, t.lease.tenant)
        if t.end_h > self.env.now:
            self.submit(
                Request(
                    t.id,
                    "lease",
                    t.name,
                    "lease",
                    t.lease.priority,
                    self.env.now,
                    t.pools,
                    (t.gpus,),
                    1,
                    usd_per_gpu_hour=t.usd_per_hour / t.gpus,
                    takes_down=True,
                )
            )
        while self.env.now < t.end_h:
            try:
                yield self.env.timeout(t.end_h - self.env.now)
            except simpy.Interrupt:  # a notice moved the end: wait for the new one
                continue
            if t.notice_at_h is None and t.renewals_left > 0:
                t.renewals_left -= 1
                t.end_h += t.lease.renewal_days * H_PER_DAY
                t.contract_end_h = t.end_h
                self.event("lease-renew", t.name, t.id, t.gpus_held, f"to {self._day(t.end_h)}")
        reason = f"notice-{t.notice_by}" if t.notice_at_h is not None else "term"
        if t.held:
            self._accrue_lease(t)
            t.held_until_h, t.end_reason = self.env.now, reason
            for d, since in t.short_since.items():
                t.short_gpu_h += self.cluster._gpus[d] * (self.env.now - since)
            t.short_since.clear()
            self._release(t.id)
            del self.running[t.id]
            self.event("lease-end", t.name, t.id, t.gpus_held, reason)
            self.schedule()
        elif self.pending.pop(t.id, None) is not None:
            t.end_reason = "unserved"
            self.event("lease-unserved", t.name, t.id, t.gpus, reason)

    def _lease_started(self, t: Tranche, domains: np.ndarray) -> None:
        t.held_from_h = t.accrued_h = self.env.now
        t.gpus_held = self.cluster.gpus(domains)
        t.pools_held = self._gpus_by_pool(domains)
        for d in domains[self.cluster.down[domains]]:  # handed over under repair: a shortfall
            t.short_since[int(d)] = self.env.now
        self.event("lease-start", t.name, t.id, t.gpus_held, t.lease.tenant)

    def _scheduled_notice(self, lease: Lease, by: str, at_h: float):
        if at_h >= self.horizon_h:
            return
        yield self.env.timeout(max(0.0, at_h - self.env.now))
        for t in self.tranches:
            if t.lease is lease and t.notice_at_h is None and t.end_h > self.env.now:
                self.give_notice(t, by)

    def give_notice(self, t: Tranche, by: str) -> None:
        """Notice on a tranche: it ends after the notice period, not before its minimum term;
        whoever gives notice pays the contract's termination fee (its share of it)."""
        now = self.env.now
        t.notice_at_h, t.notice_by, t.renewals_left = now, by, 0
        t.end_h = economics.termination_h(now, t.lease.notice_days, t.min_term_end_h, t.end_h)
        t.fee_usd = t.lease.termination_fee_usd * t.share * (1 if by == "tenant" else -1)
        if t.fee_usd:
            site, pool = self._ledger_place(t.pools_held or {t.pools[0]: 1})[0]
            self._book(site, pool, t.lease.tenant, "termination_fee", t.fee_usd)
        self.event("lease-notice", t.name, t.id, t.gpus, f"by {by}; ends {self._day(t.end_h)}")
        if t.proc is not None and t.proc.is_alive and t.proc.target is not None:
            t.proc.interrupt("notice")

    def _accrue_lease(self, t: Tranche) -> None:
        """Book a held tranche's revenue since it was last booked, split over its pools by GPUs."""
        hours = self.env.now - t.accrued_h
        if not t.held or hours <= 0:
            return
        amount = t.usd_per_hour * hours
        total = sum(t.pools_held.values())
        for (site, pool), gpus in zip(
            self._ledger_place(t.pools_held), t.pools_held.values(), strict=True
        ):
            self._book(site, pool, t.lease.tenant, "lease_revenue", amount * gpus / total)
        t.revenue_usd += amount
        t.accrued_h = self.env.now

    def _day(self, h: float) -> str:
        return (self.start + dt.timedelta(hours=h)).isoformat()

    # -- internal serving --------------------------------------------------------------------
    def _serving(self, s: Serving, oid: int):
        """Each day: size the fleet to demand (grow by a request, shrink by releasing domains)
        and serve min(demand, the capacity held at the start of the day)."""
        m = s.model
        model = perf.ServedModel(m.params, m.layers, m.hidden, m.heads, m.kv_heads, m.active_params)
        # output tokens/s per GPU of each allowed pool's GPU type, from the perf model
        rate = np.zeros(len(self.topo.pools))
        for name in s.pools:
            p = self.topo.pool(name)
            rate[p.index] = perf.tokens_per_s_per_gpu(
                model, p.gpu.name, s.precision, s.prompt_tokens, s.output_tokens, "server"
            )
        first_rate = rate[self.topo.pool(s.pools[0]).index]
        days = np.array(
            [np.datetime64(d, "D").astype(np.int64) for d, _ in s.demand_tokens_per_day]
        )
        values = np.array([v for _, v in s.demand_tokens_per_day])
        first_day = np.datetime64(self.start, "D").astype(np.int64)
        while self.env.now < self.horizon_h:
            demand = float(np.interp(first_day + self.env.now // H_PER_DAY, days, values))
            target = demand / 86400.0 / s.utilization  # tokens/s to hold, with headroom
            owned = self.cluster.owned_by(oid)
            per_domain = self.cluster._gpus[owned] * rate[self.topo.domain_pool[owned]]
            capacity = float(per_domain.sum())
            if capacity < target and oid not in self.pending:
                gpus = math.ceil((target - capacity) / first_rate)
                value = economics.token_revenue_usd(
                    first_rate * 3600.0 * s.utilization, s.price_usd_per_million_tokens
                )
                self.submit(
                    Request(
                        oid,
                        "serving",
                        s.name,
                        "serving",
                        s.priority,
                        self.env.now,
                        tuple(s.pools),
                        (gpus,),
                        1,
                        usd_per_gpu_hour=value,
                    )
                )
            elif capacity > target:
                surplus = np.cumsum(per_domain[::-1]) <= capacity - target
                if surplus.any():
                    self._release(oid, owned[::-1][surplus])
                    self.schedule()
            served = min(demand, capacity * 86400.0)
            held = self.cluster.gpus(owned)
            revenue = economics.token_revenue_usd(served, s.price_usd_per_million_tokens)
            by_pool = self._gpus_by_pool(owned) if held else {}
            for (site, pool), gpus in zip(
                self._ledger_place(by_pool), by_pool.values(), strict=True
            ):
                self._book(site, pool, s.name, "token_revenue", revenue * gpus / held)
            self.rec.add(
                "serving",
                date=self.ts(self.env.now),
                name=s.name,
                gpus=held,
                tokens_per_s_per_gpu=capacity / held if held else first_rate,
                demand_tokens=demand,
                served_tokens=served,
                revenue_usd=revenue,
            )
            yield self.env.timeout(H_PER_DAY)

    # -- the run -----------------------------------------------------------------------------
    def run(self, progress=None) -> int:
        """Run to the horizon; returns the number of SimPy events processed. Before each event,
        the failures and repairs due by its time are applied (see `_apply_due`)."""
        env, until, n = self.env, self.horizon_h, 0
        next_report = 0.0
        while True:
            if self._apply_due(min(env.peek(), until)):
                continue  # a failure's own event is now the next one
            if env.peek() >= until:
                break
            env.step()
            n += 1
            if progress is not None and env.now >= next_report:
                progress(env.now / until)
                next_report = env.now + until / 200
        env.run(until=until)  # advance the clock to the horizon exactly
        self._finish()
        if progress is not None:
            progress(1.0)
        return n

    def _finish(self) -> None:
        """Close what is still open at the horizon and write the per-job and per-lease rows."""
        for job in self.jobs.values():
            if job.seg is not None:
                (self._close_fixed if isinstance(job, FixedJob) else self._close)(job, "horizon")
        if self.env.now > self._day_start_h:
            self._write_day()
        for job in self.jobs.values():
            self._job_row(job)
        for t in self.tranches:
            self._lease_row(t)

    def _job_row(self, job: Job | FixedJob) -> None:
        fixed = isinstance(job, FixedJob)
        end_h = job.end_h if job.end_h is not None else self.horizon_h
        waiting_h = max(0.0, end_h - min(job.submit_h, end_h) - job.running_h)
        wait = job.running_h / (job.running_h + waiting_h) if job.running_h > 0 else 0.0
        if job.end_h is not None:
            state = "finished"
        elif job.id in self.running:
            state = "running"
        elif job.submit_h >= self.horizon_h:
            state = "not-submitted"
        else:
            state = "waiting" if job.pools else "excluded"
        if fixed:  # no model: no MFU; its work is its recorded duration
            nan = float("nan")
            perf_cols = dict(
                gpus_requested=job.gpus,
                tokens_target=0.0,
                tokens_trained=0.0,
                duration_hours=job.duration_h,
                model_flops=0.0,
                ettr=None,
                mfu=nan,
                mfu_with_wait=nan,
                **{f"att_{k}": None for k in (*perf.FACTORS, "fragmentation")},
            )
        else:
            w = job.peak_flop
            att = {k: v / w for k, v in job.att_weighted.items()} if w > 0 else {}
            att["capacity_wait"] = wait
            mfu = job.flops / w if w > 0 else 0.0
            perf_cols = dict(
                gpus_requested=job.unit * job.max_dp,
                tokens_target=job.tokens,
                tokens_trained=job.tokens_done,
                duration_hours=None,
                model_flops=job.flops,
                ettr=job.compute_h / job.running_h if job.running_h > 0 else None,
                mfu=mfu,
                mfu_with_wait=mfu * wait,
                **{f"att_{k}": att.get(k) for k in (*perf.FACTORS, "fragmentation")},
            )
        self.rec.add(
            "jobs",
            job_id=job.id,
            name=job.name,
            job_class=job.job_class,
            stream=job.stream,
            submit_at=self.ts(job.submit_h),
            first_start_at=None if job.first_start_h is None else self.ts(job.first_start_h),
            end_at=None if job.end_h is None else self.ts(job.end_h),
            state=state,
            running_hours=job.running_h,
            waiting_hours=waiting_h,
            gpu_hours=job.gpu_h,
            segments=job.segments,
            interruptions=job.interruptions,
            failures=job.failures,
            **perf_cols,
        )

    def _lease_row(self, t: Tranche) -> None:
        if t.held:  # still held at the horizon
            t.held_until_h, t.end_reason = self.horizon_h, "horizon"
        for d, since in t.short_since.items():  # failed, unrepaired at the end
            t.short_gpu_h += self.cluster._gpus[d] * (t.held_until_h - since)
        start_h, end_h = max(0.0, t.start_h), min(t.contract_end_h, self.horizon_h)
        held_h = 0.0 if t.held_from_h is None else t.held_until_h - t.held_from_h
        facility_mw = sum(
            n * self.topo.pool(p).it_w_per_gpu * self.topo.pool(p).pue / 1e6
            for p, n in t.pools_held.items()
        )
        self.rec.add(
            "leases",
            lease_id=t.id,
            contract=t.lease.name,
            tenant=t.lease.tenant,
            tranche=t.index,
            pools=_counts(t.pools_held),
            gpus_contracted=t.gpus,
            gpus_held=t.gpus_held,
            start_at=self.ts(t.start_h),
            end_at=self.ts(t.end_h),
            held_from=None if t.held_from_h is None else self.ts(t.held_from_h),
            held_until=None if t.held_from_h is None else self.ts(t.held_until_h),
            end_reason=t.end_reason,
            notice_at=None if t.notice_at_h is None else self.ts(t.notice_at_h),
            notice_by=t.notice_by,
            gpu_hours_contracted=t.gpus * max(0.0, end_h - start_h),
            gpu_hours_delivered=min(t.gpus_held, t.gpus) * held_h - t.short_gpu_h,
            gpu_hours_short=t.short_gpu_h,
            facility_mw_held=facility_mw,
            usd_per_hour=t.usd_per_hour,
            revenue_usd=t.revenue_usd,
            termination_fee_usd=t.fee_usd,
        )
