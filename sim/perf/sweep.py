"""Search parallel layouts (tp, pp, cp, virtual stages, micro-batch) for the best MFU that fits."""

from __future__ import annotations

from dataclasses import replace

from sim.hardware import catalog
from sim.perf.model import Parallelism, TrainJob
from sim.perf.training import Placement, StepResult, problems, step


def _divisors(n: int, limit: int) -> list[int]:
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


def layouts(job: TrainJob, placement: Placement, micro_batches=(1, 2, 4)):
    """Every valid (job, placement-compatible) layout, as TrainJobs with dp filling the GPUs."""
    m = job.model
    n = placement.total_gpus
    domain = min(catalog()[name].nvlink_domain_gpus for name, _ in placement.gpus)
    tps = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= domain and m.heads % t == 0]
    cps = [c for c in (1, 2, 4, 8, 16) if m.seq_len % c == 0]
    for tp in tps:
        for cp in cps:
            for pp in _divisors(m.layers, 128):
                if n % (tp * cp * pp):
                    continue
                dp = n // (tp * cp * pp)
                ep = job.parallelism.ep if (dp * cp) % job.parallelism.ep == 0 else 1
                vps = [1] if pp == 1 else [v for v in _divisors(m.layers // pp, 8)]
                for vp in vps:
                    for mb in micro_batches:
                        cand = TrainJob(
                            m,
                            replace(job.training, micro_batch=mb),
                            Parallelism(tp, pp, dp, cp, vp, ep),
                        )
                        if not problems(cand, placement):
                            yield cand


def best_layouts(
    job: TrainJob, placement: Placement, top: int = 10, micro_batches=(1, 2, 4)
) -> list[tuple[TrainJob, StepResult]]:
    """The `top` fitting layouts by MFU, best first (the job's own layout is ignored)."""
    scored = []
    for cand in layouts(job, placement, micro_batches):
        res = step(cand, placement)
        if res.fits:
            scored.append((res.mfu, cand, res))
    scored.sort(key=lambda x: -x[0])
    return [(c, r) for _, c, r in scored[:top]]
