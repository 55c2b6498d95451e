"""Model of a serve file (`sim serve FILE`): one served model on one GPU type.

`[model]` is the shape (the `[serving.model]` table of a workload file); `[serving]` the GPU,
precision, request shape, optional instance size, latency targets and the GPU-hour rate at
which a million input and output tokens are costed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from sim.assumptions import Assumed
from sim.errors import Problem
from sim.hardware import catalog
from sim.spec.base import Strict, load
from sim.spec.workload import ServedModelTable

Positive = Annotated[Assumed, Field(gt=0)]


class ServingTable(Strict):
    gpu: str
    precision: Literal["bf16", "fp16", "fp8", "fp4"]
    prompt_tokens: int = Field(gt=0, le=10_000_000)
    output_tokens: int = Field(gt=0, le=1_000_000)
    gpus_per_instance: int | None = Field(default=None, ge=1, le=100_000)
    tpot_ms: Positive | None = None
    ttft_ms: Positive | None = None
    tokens_per_s_per_user: Positive | None = None
    disaggregated: bool = False  # prefill and decode on separate GPU pools
    # assumed: $2.50 per GPU-hour within [1.5, 6.0], the 2025-26 range of H100-to-GB200 cloud
    # rental quotes; a file sets its own (e.g. the owner's depreciation + power per GPU-hour).
    usd_per_gpu_hour: Positive = 2.5
    gross_margin: Annotated[Assumed, Field(ge=0, lt=1)] = 0.0  # price = cost / (1 - margin)


class ServeFile(Strict):
    model: ServedModelTable
    serving: ServingTable

    def problems(self) -> list[Problem]:
        s = self.serving
        known = catalog()
        if s.gpu not in known:
            return [Problem("serving.gpu", f"unknown GPU type; known: {', '.join(known)}", s.gpu)]
        g = known[s.gpu]
        out = []
        if s.precision == "fp4" and g.fp4_dense_tflops is None:
            out.append(Problem("serving.precision", f"{g.name} has no FP4 tensor cores", "fp4"))
        return out


def load_serve(path: str | Path) -> ServeFile:
    """Read a serve file, every problem at once with its dotted path."""
    return load(ServeFile, path)
