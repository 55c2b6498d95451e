"""The simulator's physics as pure functions (no SimPy): training step time, MFU and its
attribution, memory fit, heterogeneous placements, inference throughput. See docs/perf-model.md."""

from sim.perf.inference import ServedModel
from sim.perf.memory import MemoryUse, fits, memory
from sim.perf.model import Model, Parallelism, Training, TrainJob
from sim.perf.serving import pareto, serve, tokens_per_s_per_gpu
from sim.perf.training import FACTORS, Placement, StepResult, cached_step, problems, step

__all__ = [
    "FACTORS",
    "MemoryUse",
    "Model",
    "Parallelism",
    "Placement",
    "ServedModel",
    "cached_step",
    "fits",
    "StepResult",
    "TrainJob",
    "Training",
    "memory",
    "pareto",
    "problems",
    "serve",
    "step",
    "tokens_per_s_per_gpu",
]
