"""Trace replay: jobs of a recorded trace, submitted at their recorded times, each holding its
GPUs of one pool for its recorded duration. They have no model, so no MFU; after a failure or a
preemption a job resumes where it was (traces record no checkpoints).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import simpy

from sim.engine.context import Context
from sim.engine.jobs import ATT_KEYS, JobLifecycle, job_request, job_row, segment_row, waiting_h


@dataclass
class Hold:
    """The open interval of a fixed-duration job."""

    start_h: float


@dataclass
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
    started: simpy.Event | None = None
    proc: simpy.Process | None = None


class Replay(JobLifecycle):
    """The lifecycle of replayed trace jobs (kind "training": they count as training GPUs)."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.jobs: dict[int, FixedJob] = {}

    def trace(self, tr, jobs):
        """Submit a trace's jobs at their recorded times (after `start`, scaled)."""
        ctx = self.ctx
        t0_h, scale = ctx.hours(tr.start), tr.time_scale
        n = len(jobs) if tr.limit is None else min(tr.limit, len(jobs))
        for k in range(n):
            at_h = max(0.0, t0_h + jobs.submit_s[k] * scale / 3600.0)
            if at_h >= ctx.horizon_h:
                return
            if at_h > ctx.now:
                yield ctx.env.timeout(at_h - ctx.now)
            job = FixedJob(
                id=ctx.register("training", self),
                name=f"{tr.name}:{jobs.job_id[k]}",
                job_class=tr.job_class,
                stream=tr.name,
                gpus=int(jobs.gpus[k]),
                duration_h=float(jobs.duration_s[k]) * scale / 3600.0,
                submit_h=ctx.now,
                pools=tuple(tr.pools),
                priority=tr.priority,
            )
            self.jobs[job.id] = job
            job.proc = ctx.env.process(self._run(job))

    def _run(self, job: FixedJob):
        ctx = self.ctx
        request = job_request(job, (job.gpus,), 1, single_pool=True, packs=True)
        left_h = job.duration_h
        while left_h > 0:
            job.started = ctx.env.event()
            ctx.submit(request)
            domains, parts = yield job.started
            if job.first_start_h is None:
                job.first_start_h = ctx.now
            if parts:  # packed inside one domain
                job.alloc = ctx.cluster.held_by_pool(job.id)
            else:
                job.alloc = ctx.cluster.gpus_by_pool(domains)
            job.seg = Hold(ctx.now)
            since = ctx.now
            while True:
                try:
                    yield ctx.env.timeout(left_h)
                    left_h = 0.0
                    self._close(job, "finished")
                    break
                except simpy.Interrupt as stop:
                    left_h -= ctx.now - since
                    since = ctx.now
                    job.failures += stop.cause.startswith("failure")
                    if stop.cause == "failure-spared":
                        continue
                    self._close(job, str(stop.cause))
                    job.interruptions += 1
                    break
        job.end_h = ctx.now

    def _close(self, job: FixedJob, reason: str) -> None:
        ctx = self.ctx
        now, start = ctx.now, job.seg.start_h
        gpus = sum(job.alloc.values())
        job.seg = None
        job.segments += 1
        job.running_h += now - start
        job.gpu_h += gpus * (now - start)
        nan = float("nan")
        segment_row(
            ctx,
            job,
            start,
            reason,
            job.alloc,
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
            **{f"att_{k}": nan for k in ATT_KEYS},
        )
        if reason != "horizon":
            ctx.release(job.id)
            del ctx.running[job.id]
            ctx.schedule()

    def row(self, job: FixedJob) -> None:
        waited, _ = waiting_h(self.ctx, job)
        nan = float("nan")
        job_row(
            self.ctx,
            job,
            waited,
            gpus_requested=job.gpus,
            tokens_target=0.0,
            tokens_trained=0.0,
            duration_hours=job.duration_h,
            model_flops=0.0,
            ettr=None,
            mfu=nan,
            mfu_with_wait=nan,
            **{f"att_{k}": None for k in ATT_KEYS},
        )
