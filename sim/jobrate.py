"""A training job's accepted sizes, how a placement is filled with replicas, its rate from the
perf model (cached), its checkpoint interval, and its progress in one constant-rate segment:
pure, no SimPy. The engine and `explain` both import these rules from here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from sim import perf
from sim.spec import mfu as mfu_spec
from sim.spec.workload import JobShape
from sim.topology import Span


def train_job(shape: JobShape, dp: int) -> perf.TrainJob:
    """The perf model's job for a workload shape at data-parallel degree `dp`."""
    return mfu_spec.train_job(shape.model, shape.training, shape.parallelism, dp)


def replica_gpus(shape: JobShape) -> int:
    """GPUs of one model replica: tp x pp x cp (a pool contributes whole replicas only)."""
    p = shape.parallelism
    return p.tp * p.pp * p.cp


def sizes(shape: JobShape, max_dp: int, min_dp: int) -> tuple[int, ...]:
    """GPU counts the job accepts, largest first: dp from max_dp down to min_dp, halving, each
    dividing the global batch into whole micro-batches (max_dp's size if none does)."""
    t, unit = shape.training, replica_gpus(shape)
    out, dp = [], max_dp
    while dp >= min_dp:
        if t.global_batch % (dp * t.micro_batch) == 0:
            out.append(dp * unit)
        dp //= 2
    return tuple(out) or (max_dp * unit,)


def valid_dp(x: float, batch_units: int) -> int:
    """The divisor of `batch_units` nearest to x (ties to the smaller): a dp the batch splits into."""
    return min(_divisors(batch_units), key=lambda d: (abs(d - x), d))


@cache
def _divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)


def fill(
    pools: Sequence[str], alloc: Mapping[str, int], unit: int, accepted: Sequence[int]
) -> dict[str, int]:
    """GPUs the job uses per pool on `alloc` (GPUs allocated per pool): whole replicas of
    `unit` GPUs, pool by pool in the job's order, up to the largest accepted size that fits.
    Empty if no accepted size fits."""
    usable = sum(n // unit * unit for n in alloc.values())
    fitting = [s for s in accepted if s <= usable]
    if not fitting:
        return {}
    left, used = max(fitting), {}
    for name in pools:
        take = min(alloc.get(name, 0) // unit * unit, left)
        if take:
            used[name] = take
            left -= take
    return used


class PerfCache:
    """The perf model's step for a job shape on GPUs by type with these fabric bandwidths,
    cached: many segments share a placement shape."""

    def __init__(self) -> None:
        self._cache: dict = {}

    def step(
        self, shape: JobShape, gpus_by_type: tuple, fabric: tuple, cross: float | None
    ) -> perf.StepResult:
        key = (id(shape), gpus_by_type, fabric, cross)
        res = self._cache.get(key)
        if res is None:
            dp = sum(n for _, n in gpus_by_type) // replica_gpus(shape)
            placement = perf.Placement(gpus_by_type, shape.partitioning, fabric, cross)
            res = self._cache[key] = perf.step(train_job(shape, dp), placement)
        return res


def checkpoint_h(every: float | str, failures_per_h: float, write_h: float) -> float:
    """The checkpoint interval; Young/Daly's sqrt(2 x write x MTBF) for "young-daly"."""
    if every != "young-daly":
        return every
    if failures_per_h <= 0 or write_h <= 0:
        return 24.0  # no failures (or free checkpoints): a daily checkpoint is plenty
    return min(24.0, math.sqrt(2.0 * write_h / failures_per_h))


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

    def time_left_h(self, now_h: float, tokens_left: float) -> float:
        """Wall hours from `now_h` (not after `progress_from_h`) to train `tokens_left` more
        tokens (beyond those saved)."""
        return max(0.0, self.progress_from_h - now_h) + self.wall_h(
            self._compute_left_h(tokens_left)
        )

    def end_h(self, tokens_left: float) -> float:
        """The hour at which `tokens_left` more tokens (beyond those saved) are trained."""
        return self.progress_from_h + self.wall_h(self._compute_left_h(tokens_left))

    def _compute_left_h(self, tokens_left: float) -> float:
        return max(0.0, (tokens_left - self.saved_tokens) / self.res.tokens_per_s / 3600.0)
