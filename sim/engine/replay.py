"""Trace replay: jobs of a recorded trace, submitted at their recorded times, each holding its
GPUs of one pool for its recorded duration. They have no model, so no MFU; after a failure or a
preemption a job resumes where it was (traces record no checkpoints).

A job is no SimPy process: its start schedules one timeout whose callback ends it, and an
interruption (failure, preemption) is one zero-delay event that closes its segment (the end it
had scheduled is then stale and ignored) — the same instants and order as a process would give,
at a third of the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
import simpy

from sim.engine.context import Context
from sim.engine.jobs import (
    ATT_KEYS,
    JOB_KEYS,
    SEGMENT_KEYS,
    JobLifecycle,
    job_request,
    job_values,
    segment_values,
    waiting_h,
)

NAN = float("nan")
DONE: dict[str, int] = {}  # the placement of every finished job (shared, never changed)
# the columns of a replayed job's rows that the trace does not give: no model, so no MFU
SEGMENT_FIXED = dict(
    gpu_types="",
    dp=1,
    tier="",
    fabric_gbit_per_s=NAN,
    step_time_s=NAN,
    tokens_per_s=NAN,
    tokens=0.0,
    model_flops=0.0,
    peak_flop=0.0,
    mfu=NAN,
    mfu_bf16=NAN,
    failures=0,
    **{f"att_{k}": NAN for k in ATT_KEYS},
)
JOB_FIXED = dict(
    tokens_target=0.0,
    tokens_trained=0.0,
    model_flops=0.0,
    ettr=None,
    mfu=NAN,
    mfu_with_wait=NAN,
    **{f"att_{k}": None for k in ATT_KEYS},
)


@dataclass(slots=True)
class Hold:
    """The open interval of a fixed-duration job."""

    start_h: float


@dataclass(slots=True)
class FixedJob:
    """A replayed trace job: holds `gpus` GPUs of one pool for `duration_h` hours."""

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
    seg: Hold | None = None
    alloc: dict[str, int] = field(default_factory=dict)
    left_h: float = 0.0  # hours of its duration still to run
    since_h: float = 0.0  # when its running time was last counted
    end: simpy.Event | None = None  # the timeout that ends it, if running
    request: object = None
    domains: object = None  # the whole domains it holds, if known (a spare makes them unknown)


class TraceFeed:
    """The arrivals of one trace, in time order: each arrival's timeout calls the next one (no
    process step per job). Jobs due at one instant are submitted together, and the pass is
    asked for as the event's last act."""

    def __init__(self, replay: Replay, tr, jobs) -> None:
        ctx = self.ctx = replay.ctx
        self.replay, self.tr = replay, tr
        n = self.n = len(jobs) if tr.limit is None else min(tr.limit, len(jobs))
        # Python lists once, not a numpy scalar per job and column; each job's submission hour
        # (after `start`, scaled: the same float operations, in the same order, per element)
        t0_h, scale = ctx.hours(tr.start), tr.time_scale
        self.at_h = np.maximum(0.0, t0_h + jobs.submit_s[:n] * scale / 3600.0).tolist()
        self.job_id = jobs.job_id[:n].tolist()
        self.gpus, self.duration_s = jobs.gpus[:n].tolist(), jobs.duration_s[:n].tolist()
        self.pools = tuple(tr.pools)
        self.k = 0  # the next job

    def _arrive(self, k: int) -> bool:
        """Job `k` arrives now; is it queued (has it anything to run)?"""
        job = self.replay.arrive(
            self.tr, self.pools, self.job_id[k], self.gpus[k], self.duration_s[k]
        )
        return job.end_h is None

    def next_due(self, last: bool = True, submitted: bool = False) -> None:
        """Submit the jobs due by now (after `submitted` ones), then wait for the next one's
        time; `last`: this is its event's last act."""
        ctx, k, at, n = self.ctx, self.k, self.at_h, self.n
        env, horizon_h = ctx.env, ctx.horizon_h
        now = env.now  # (arrivals take no time)
        while k < n:
            at_h = at[k]
            if at_h >= horizon_h:
                break
            if at_h > now:
                env.timeout(at_h - now).callbacks.append(self._due)
                break
            submitted |= self._arrive(k)
            k += 1
        self.k = k
        if submitted:
            ctx.schedule(last)

    def _due(self, _event) -> None:
        """The next job's time has come (its timeout's only callback)."""
        submitted = self._arrive(self.k)
        self.k += 1
        self.next_due(True, submitted)  # (last: its event's last act)


class Replay(JobLifecycle):
    """The lifecycle of replayed trace jobs (kind "training": they count as training GPUs)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.jobs: dict[int, FixedJob] = {}
        self._segment = ctx.rec.writer(
            "segments", (*SEGMENT_KEYS, "gpus", "gpus_used"), **SEGMENT_FIXED
        )
        self._job = ctx.rec.writer(
            "jobs", (*JOB_KEYS, "gpus_requested", "duration_hours"), **JOB_FIXED
        )

    def trace(self, tr, jobs):
        """A process that starts a trace's arrivals (`TraceFeed`) at its turn among the run's
        processes at t = 0 (the order gives its jobs' owner ids), and ends."""
        TraceFeed(self, tr, jobs).next_due(last=False)
        yield from ()

    def arrive(self, tr, pools: tuple[str, ...], job_id, gpus: int, duration_s: float) -> FixedJob:
        """A trace job submitted now: registered, queued unless it has nothing to run."""
        ctx = self.ctx
        now, oid = ctx.env.now, ctx.register("training", self)
        duration_h = duration_s * tr.time_scale / 3600.0
        job = FixedJob(
            oid,
            f"{tr.name}:{job_id}",
            tr.job_class,
            tr.name,
            gpus,
            duration_h,
            now,
            pools,
            tr.priority,
        )  # (positional: the fields' order)
        self.jobs[oid] = job
        job.left_h = duration_h
        job.request = job_request(job, (gpus,), 1, single_pool=True, packs=True)
        if duration_h > 0:
            ctx.pending[oid] = job.request
        else:
            job.end_h = now
        return job

    def on_start(self, owner: int, domains, parts: tuple[int, ...], by_pool) -> None:
        """Open the job's segment and schedule its end, the rest of its duration from now."""
        ctx, job = self.ctx, self.jobs[owner]
        env = ctx.env
        now = env.now
        if job.first_start_h is None:
            job.first_start_h = now
        job.alloc = by_pool
        if not parts:  # whole domains: released by name (no search of the cluster for them)
            job.domains = domains
        job.seg = Hold(now)
        job.since_h = now
        end = job.end = env.timeout(job.left_h)
        end.callbacks.append(partial(self._ended, job))

    def _ended(self, job: FixedJob, ev) -> None:
        if job.end is not ev:  # interrupted since: a stale end
            return
        job.end, job.left_h = None, 0.0
        self._close(job, "finished")
        job.end_h = self.ctx.env.now
        job.request, job.alloc = None, DONE  # done: keep nothing it no longer needs
        self.ctx.schedule(True)  # last: the end's only callback

    def absorb_failure(self, job: FixedJob, at_h: float) -> None:
        """A failure with a spare: the job resumes at once where it was; its end moves."""
        job.left_h -= at_h - job.since_h
        job.failures += 1
        job.since_h = at_h
        job.domains = None  # a spare took the failed domain's place
        end = job.end = self.ctx.env.timeout(at_h + job.left_h - self.ctx.now)
        end.callbacks.append(partial(self._ended, job))

    def interrupt(self, job: FixedJob, cause: str) -> None:
        stop = self.ctx.env.timeout(0.0)
        stop.callbacks.append(partial(self._stopped, job, cause))

    def _stopped(self, job: FixedJob, cause: str, _event=None) -> None:
        """An interruption at this instant: count the time run, close the segment and ask for
        capacity again."""
        ctx = self.ctx
        if job.end is None:
            return  # already stopped at this instant
        job.left_h -= ctx.now - job.since_h
        job.failures += cause == "failure"
        job.end = None
        self._close(job, cause)
        job.interruptions += 1
        if job.left_h > 0:
            ctx.pending[job.id] = job.request
        else:
            job.end_h = ctx.now
        ctx.schedule(last=True)  # (the stop's only callback)

    def _close(self, job: FixedJob, reason: str) -> None:
        """Write the segment that ends now and, unless at the horizon, release its GPUs (the
        caller asks for the pass that may reuse them)."""
        ctx = self.ctx
        now, start = ctx.env.now, job.seg.start_h
        gpus = sum(job.alloc.values())
        job.seg = None
        job.segments += 1
        job.running_h += now - start
        job.gpu_h += gpus * (now - start)
        self._segment(*segment_values(ctx, job, start, reason, job.alloc), gpus, job.gpus)
        if reason != "horizon":
            ctx.release(job.id, job.domains)
            job.domains = None
            del ctx.running[job.id]

    def row(self, job: FixedJob) -> None:
        waited, _ = waiting_h(self.ctx, job)
        self._job(*job_values(self.ctx, job, waited), job.gpus, job.duration_h)
