"""The GPU catalog: per-type peaks, memory, power and interconnect, loaded from data with sources.

The figures live in `sim/data/gpus.toml`, each with the datasheet or FACTS.md line it comes from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from sim.assumptions import AssumedFloat
from sim.errors import InputError
from sim.spec.base import Strict, read_toml, validate

CATALOG_PATH = Path(__file__).parent / "data" / "gpus.toml"

Precision = Literal["bf16", "fp16", "fp8", "fp4"]


class GPU(Strict):
    """One GPU type. Peaks are dense (no sparsity); NVLink bandwidth is per GPU, per direction."""

    name: str
    form_factor: Literal["HGX", "NVL72", "PCIe"]
    bf16_dense_tflops: float = Field(gt=0)
    fp8_dense_tflops: float | None = Field(default=None, gt=0)
    fp4_dense_tflops: float | None = Field(default=None, gt=0)
    hbm_gb: float = Field(gt=0)
    hbm_bandwidth_tb_per_s: float = Field(gt=0)
    tdp_w: float = Field(gt=0)
    nvlink_gbyte_per_s: float = Field(gt=0)
    nvlink_domain_gpus: int = Field(gt=0)
    nic_gbit_per_s: AssumedFloat = Field(gt=0)
    it_overhead_factor: AssumedFloat = Field(ge=1)

    def peak_tflops(self, precision: Precision) -> float:
        """Dense peak at a precision; a format the GPU lacks runs at the next wider one it has
        (FP4 -> FP8 -> BF16)."""
        if precision == "fp4" and self.fp4_dense_tflops is not None:
            return self.fp4_dense_tflops
        if precision in ("fp4", "fp8") and self.fp8_dense_tflops is not None:
            return self.fp8_dense_tflops
        return self.bf16_dense_tflops

    @property
    def it_w(self) -> float:
        """IT load per GPU in watts: TDP plus its share of servers, network and racks."""
        return self.tdp_w * self.it_overhead_factor


@cache
def catalog(path: Path = CATALOG_PATH) -> dict[str, GPU]:
    """All GPU types by name."""
    raw = read_toml(path)
    return {
        name: validate(GPU, {"name": name, **fields}, file=path) for name, fields in raw.items()
    }


def gpu(name: str) -> GPU:
    """The catalog entry for `name`, or an InputError listing the known types."""
    known = catalog()
    if name not in known:
        raise InputError.single("gpu", f"unknown GPU type; known: {', '.join(known)}", name)
    return known[name]
