"""What every kind of job shares, whatever its lifecycle: starting, preemption, failures (with
a spare if one is free), and the rows it writes (one per segment, one per job at the end)."""

from __future__ import annotations

import functools

from sim import perf
from sim.engine.context import Context, Lifecycle
from sim.errors import SimError
from sim.policies import Request

ATT_KEYS = (*perf.FACTORS, "fragmentation")  # the attribution columns (att_<key>)


def counts(by: dict[str, int]) -> str:
    """ "pool=n,pool=n" (or by GPU type): the text form of a per-pool count in the tables.
    The same counts give the same string object (a row per segment keeps one, not a copy)."""
    return _text(tuple(by.items()))


@functools.lru_cache(maxsize=4096)
def _text(items: tuple[tuple[str, int], ...]) -> str:
    return ",".join(f"{k}={v}" for k, v in items)


def job_request(
    job, sizes: tuple[int, ...], unit_gpus: int, single_pool: bool, packs: bool = False
) -> Request:
    """The capacity request of a job (kind "training"): its pools, the sizes it accepts."""
    return Request(  # the fields without a default positional (in order), ~30% faster
        job.id,  # owner_id
        "training",  # kind
        job.name,
        job.job_class,
        job.priority,
        job.submit_h,  # submitted_h
        job.pools,
        sizes,
        unit_gpus=unit_gpus,
        single_pool=single_pool,
        packs=packs,
    )


SEGMENT_KEYS = ("job_id", "name", "job_class", "start_at", "end_at", "end_reason", "pools")


def segment_values(ctx: Context, job, start_h: float, reason: str, alloc: dict[str, int]):
    """The columns every `segments` row has (SEGMENT_KEYS), of an interval that ends now."""
    return (
        job.id,
        job.name,
        job.job_class,
        start_h,
        ctx.now,
        reason,
        counts(alloc),
    )


def segment_row(
    ctx: Context, job, start_h: float, reason: str, alloc: dict[str, int], **cols
) -> None:
    """The `segments` row of a constant-rate interval of `job` that ends now."""
    common = zip(SEGMENT_KEYS, segment_values(ctx, job, start_h, reason, alloc), strict=True)
    ctx.rec.add("segments", **dict(common), **cols)


def waiting_h(ctx: Context, job) -> tuple[float, float]:
    """Hours the job waited (from submission to its end or the horizon, not running), and its
    share of time running (the capacity-wait factor)."""
    end_h = job.end_h if job.end_h is not None else ctx.horizon_h
    waited = max(0.0, end_h - min(job.submit_h, end_h) - job.running_h)
    share = job.running_h / (job.running_h + waited) if job.running_h > 0 else 0.0
    return waited, share


JOB_KEYS = (
    "job_id",
    "name",
    "job_class",
    "stream",
    "submit_at",
    "first_start_at",
    "end_at",
    "state",
    "running_hours",
    "waiting_hours",
    "gpu_hours",
    "segments",
    "interruptions",
    "failures",
)


def job_values(ctx: Context, job, waited_h: float) -> tuple:
    """The columns every `jobs` row has (JOB_KEYS), at the end of the run."""
    if job.end_h is not None:
        state = "finished"
    elif job.id in ctx.running:
        state = "running"
    elif job.submit_h >= ctx.horizon_h:
        state = "not-submitted"
    else:
        state = "waiting" if job.pools else "excluded"
    return (
        job.id,
        job.name,
        job.job_class,
        job.stream,
        job.submit_h,
        job.first_start_h,
        job.end_h,
        state,
        job.running_h,
        waited_h,
        job.gpu_h,
        job.segments,
        job.interruptions,
        job.failures,
    )


def job_row(ctx: Context, job, waited_h: float, **cols) -> None:
    """The `jobs` row of a job at the end of the run; `cols` are its lifecycle's own columns."""
    common = zip(JOB_KEYS, job_values(ctx, job, waited_h), strict=True)
    ctx.rec.add("jobs", **dict(common), **cols)


class JobLifecycle(Lifecycle):
    """A lifecycle of jobs held in `self.jobs` by owner id, each a SimPy process that waits on
    `job.started` and handles the interrupts "preempted" and "failure" (or, overriding
    `on_start` and `interrupt`, no process: see `replay`). A failure with a spare needs no
    event: `absorb_failure` moves the job's end at the failure's time. Subclasses write
    `absorb_failure(job, at_h)`, `_close(job, reason)` and `row(job)`."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.jobs: dict = {}

    def on_start(self, owner: int, domains, parts: tuple[int, ...], by_pool) -> None:
        self.jobs[owner].started.succeed((domains, parts))

    def on_preempt(self, owner: int) -> None:
        job = self.jobs[owner]
        if job.seg is None:
            raise SimError(f"policy preempted owner {owner}, which is not a running job")
        if job.seg.start_h == self.ctx.now:
            return  # started at this very instant: preempting again could loop forever
        self.interrupt(job, "preempted")

    def on_failure(self, owner: int, domain: int, pool, at_h: float) -> None:
        """Restart on a spare if the pool has one free (the same placement: the job's end moves,
        no event), else stop at the failure's time and ask again."""
        ctx, job = self.ctx, self.jobs[owner]
        spare = ctx.take_spare(owner, domain, at_h)
        c = ctx.cluster
        part = c.parts.get(owner)  # (None: it holds the domain whole)
        ctx.event(
            "failure",
            job.name,
            owner,
            c.gpus_of[domain] if part is None else part[domain],
            f"{pool.name}: {'spare' if spare is not None else 'no spare'}",
            at_h=at_h,
        )
        if job.seg is None:  # started at this instant: impossible at a continuous draw
            raise SimError(f"failure hit {job.name} between its start and its segment")
        if spare is not None:
            self.absorb_failure(job, at_h)
        else:
            ctx.call_at(at_h, lambda: self.interrupt(job, "failure"))

    def absorb_failure(self, job, at_h: float) -> None:
        """A failure at `at_h` the job restarts from on a spare: its progress and end change."""
        raise NotImplementedError

    def interrupt(self, job, cause: str) -> None:
        """Stop the job's running segment for `cause` (at this instant, after this event)."""
        job.proc.interrupt(cause)

    def close_open(self, job) -> None:
        """Close the job's segment if one is still open at the horizon."""
        if job.seg is not None:
            self._close(job, "horizon")

    def _close(self, job, reason: str) -> None:
        raise NotImplementedError

    def row(self, job) -> None:
        raise NotImplementedError
