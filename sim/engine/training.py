"""Training jobs with a model: each one a process that waits for capacity, runs in
constant-rate segments given by the perf model, loses the cycle since its last checkpoint to a
failure, and returns to the queue when preempted. Streams submit such jobs at random times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import simpy

from sim import jobrate
from sim.engine.context import H_PER_DAY, Context
from sim.engine.jobs import (
    ATT_KEYS,
    JobLifecycle,
    counts,
    job_request,
    job_row,
    segment_row,
    waiting_h,
)
from sim.errors import InputError
from sim.rng import draw, stream
from sim.spec.workload import JobShape, JobStream


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
    proc: simpy.Process | None = None
    started: simpy.Event | None = None
    sizes: tuple[int, ...] = ()  # GPU counts it accepts, largest first
    seg: jobrate.Segment | None = None  # the open segment, if running

    @property
    def unit(self) -> int:
        return jobrate.replica_gpus(self.shape)


class Training(JobLifecycle):
    """The lifecycle of modelled training jobs (kind "training")."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.jobs: dict[int, Job] = {}
        self.perf = jobrate.PerfCache()

    # -- jobs --------------------------------------------------------------------------------
    def add(
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
            id=self.ctx.register("training", self),
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
        job.proc = self.ctx.env.process(self._run(job))
        return job

    def _fits(self, job: Job, pool: str) -> bool:
        """Memory fit of the job's layout on a pool's GPU type; a misfit is an event, not an error."""
        gpu = self.ctx.topo.pool(pool).gpu.name
        try:
            res = self.perf.step(job.shape, ((gpu, job.unit * job.max_dp),), (), None)
            fits, reason = res.fits, res.reason
        except InputError as err:
            fits, reason = False, "; ".join(str(p) for p in err.problems)
        if not fits:
            self.ctx.event("excluded", job.name, job.id, detail=f"{pool}: {reason}")
        return fits

    def stream(self, s: JobStream):
        """A stream's process: jobs arrive as a Poisson process with drawn sizes and durations."""
        ctx = self.ctx
        rng = stream(ctx.seed, f"stream:{s.name}")
        t = max(0.0, ctx.hours(s.start))
        end_h = ctx.hours(s.end) if s.end else ctx.horizon_h
        n = 0
        yield ctx.env.timeout(t)
        while True:
            t += rng.exponential(H_PER_DAY / s.arrivals_per_day)
            if t >= min(end_h, ctx.horizon_h):
                return
            batch_units = s.training.global_batch // s.training.micro_batch
            dp = jobrate.valid_dp(draw(rng, s.replicas), batch_units)
            days = draw(rng, s.duration_days)
            yield ctx.env.timeout(t - ctx.now)
            n += 1
            job = self.add(s, f"{s.name}-{n:05d}", s.name, ctx.now, dp, dp, 1.0)
            if job.pools:  # work = the drawn duration at its size on its first pool
                pool = ctx.topo.pool(job.pools[0])
                gpus = min(dp * job.unit, pool.gpus)
                bw = ctx.topo.span([pool.name], gpus).bandwidth_gbit_per_s
                by_type = ((pool.gpu.name, dp * job.unit),)
                rate = self.perf.step(s, by_type, ((pool.gpu.name, bw),), None).tokens_per_s
                job.tokens = rate * days * 86400.0

    # -- the lifecycle -----------------------------------------------------------------------
    def _run(self, job: Job):
        ctx = self.ctx
        yield ctx.env.timeout(max(0.0, job.submit_h - ctx.now))
        ctx.event("submit", job.name, job.id, job.unit * job.max_dp)
        if not job.pools:
            ctx.event("never-runs", job.name, job.id, detail="no allowed pool fits its layout")
            return
        job.sizes = jobrate.sizes(job.shape, job.max_dp, job.min_dp)
        request = job_request(job, job.sizes, job.unit, single_pool=False)
        while job.tokens_done < job.tokens:
            job.started = ctx.env.event()
            ctx.submit(request)
            domains, _ = yield job.started  # training takes whole domains (never packs)
            seg = job.seg = self._segment(job, domains)
            wait_h = seg.time_left_h(ctx.now, job.tokens - job.tokens_done)
            while True:
                try:
                    seen = seg.failures
                    yield ctx.env.timeout(wait_h)
                    if seg.failures != seen:  # failures on spares moved its end: wait on
                        wait_h = max(0.0, seg.end_h(job.tokens - job.tokens_done) - ctx.now)
                        continue
                    self._close(job, "finished")
                    break
                except simpy.Interrupt as stop:
                    if stop.cause == "failure":
                        self._lose_cycle(job, ctx.now)
                    self._close(job, str(stop.cause))
                    job.interruptions += 1
                    break
        job.end_h = ctx.now
        ctx.event("finish", job.name, job.id)

    def _lose_cycle(self, job: Job, at_h: float) -> None:
        """A failure at `at_h`: keep what was checkpointed, lose the cycle in progress, pay a
        restart."""
        seg = job.seg
        seg.saved_tokens += seg.compute_h(at_h, lose_cycle=True) * seg.res.tokens_per_s * 3600.0
        seg.progress_from_h = max(at_h, seg.progress_from_h) + self.ctx.restart_h
        seg.failures += 1
        job.failures += 1

    # a failure with a spare: the same placement restarts from its checkpoint (one call)
    absorb_failure = _lose_cycle

    def _segment(self, job: Job, domains: np.ndarray) -> jobrate.Segment:
        """The constant rate of a job on these domains, from the perf model."""
        ctx, topo = self.ctx, self.ctx.topo
        domains = np.sort(domains)  # sorted, a placement's span is its first and last domain
        if job.first_start_h is None:
            job.first_start_h = ctx.now
        pool_of = topo.domain_pool[domains]
        alloc = ctx.cluster.gpus_by_pool(domains)
        by_type: dict[str, int] = {}
        fabric: dict[str, float] = {}
        for name, use in jobrate.fill(job.pools, alloc, job.unit, job.sizes).items():
            pool = topo.pool(name)
            by_type[pool.gpu.name] = by_type.get(pool.gpu.name, 0) + use
            own = topo.placement_span(domains[pool_of == pool.index]).bandwidth_gbit_per_s
            fabric[pool.gpu.name] = min(fabric.get(pool.gpu.name, own), own)
        span = topo.placement_span(domains)
        cross = span.bandwidth_gbit_per_s if len(by_type) > 1 else None
        res = self.perf.step(
            job.shape, tuple(sorted(by_type.items())), tuple(sorted(fabric.items())), cross
        )
        precision = job.shape.training.precision
        peak = sum(topo.pool(n).gpu.peak_tflops(precision) * g for n, g in alloc.items()) * 1e12
        now = ctx.now
        restart_h = ctx.restart_h if job.failures else 0.0
        every = job.shape.checkpoint_interval_h
        rate = float(ctx.domain_rate[pool_of].sum()) if every == "young-daly" else 0.0
        job.ckpt_h = jobrate.checkpoint_h(every, rate, ctx.write_h)
        seg = jobrate.Segment(
            res,
            alloc,
            by_type,
            span,
            peak,
            now,
            job.ckpt_h,
            ctx.write_h,
            progress_from_h=now + restart_h,
        )
        dp = seg.used // job.unit
        ctx.event("start", job.name, job.id, seg.gpus, f"dp={dp} tier={span.tier}")
        return seg

    def _close(self, job: Job, reason: str) -> None:
        """End a segment: credit its tokens, write its row, release its capacity (unless the
        horizon ended it)."""
        ctx = self.ctx
        seg, now = job.seg, ctx.now
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
        segment_row(
            ctx,
            job,
            seg.start_h,
            reason,
            seg.alloc,
            gpu_types=counts(seg.by_type),
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
            ctx.release(job.id)
            del ctx.running[job.id]
            ctx.event("release", job.name, job.id, seg.gpus, reason)
            ctx.schedule()

    # -- the end of the run ------------------------------------------------------------------

    def row(self, job: Job) -> None:
        waited, share = waiting_h(self.ctx, job)
        w = job.peak_flop
        att = {k: v / w for k, v in job.att_weighted.items()} if w > 0 else {}
        att["capacity_wait"] = share
        mfu = job.flops / w if w > 0 else 0.0
        job_row(
            self.ctx,
            job,
            waited,
            gpus_requested=job.unit * job.max_dp,
            tokens_target=job.tokens,
            tokens_trained=job.tokens_done,
            duration_hours=None,
            model_flops=job.flops,
            ettr=job.compute_h / job.running_h if job.running_h > 0 else None,
            mfu=mfu,
            mfu_with_wait=mfu * share,
            **{f"att_{k}": att.get(k) for k in ATT_KEYS},
        )
