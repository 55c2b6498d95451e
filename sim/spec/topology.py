"""Models of a topology file: one site, its pools, the phases that bring GPUs online, the fabric."""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sim.assumptions import AssumedFloat, AssumedInt
from sim.errors import Problem
from sim.hardware import catalog
from sim.spec.base import Strict


class PoolFabric(Strict):
    """Scale-out fabric of one pool: leaf groups of domains, pods of leaf groups, a core above.

    `rails` leaves serve each leaf group (one per GPU rail; 1 for a plain fat tree). Each GPU
    has one NIC port on the leaf of its rail.
    """

    kind: Literal["rail-optimized", "fat-tree"] = "rail-optimized"
    rails: AssumedInt = Field(default=8, ge=1, le=72)
    domains_per_leaf_group: int = Field(ge=1, le=10_000)
    leaf_groups_per_pod: int = Field(ge=1, le=10_000)
    leaf_oversubscription: AssumedFloat = Field(default=1.0, ge=1, le=64)
    spine_oversubscription: AssumedFloat = Field(default=1.0, ge=1, le=64)
    switch_radix: int = Field(default=128, ge=2, le=4096)

    @model_validator(mode="after")
    def _fat_tree_has_one_rail(self):
        if self.kind == "fat-tree" and self.rails != 1:
            raise ValueError(f"a fat-tree has rails = 1 (got {self.rails}); use rail-optimized")
        return self

    def leaf_ports(self, gpus_per_domain: int) -> tuple[int, int]:
        """(down, up) ports of one leaf switch: one down port per GPU of its rail in the group."""
        down = self.domains_per_leaf_group * gpus_per_domain // self.rails
        return down, math.ceil(down / self.leaf_oversubscription)


class Pool(Strict):
    """GPUs of one type on one fabric; capacity arrives through phases."""

    name: str = Field(min_length=1)
    gpu: str
    fabric: PoolFabric
    pue: float | None = Field(default=None, ge=1, le=3)
    it_overhead_factor: float | None = Field(default=None, ge=1, le=5)

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, v: str) -> str:
        if v not in catalog():
            raise ValueError(f"unknown GPU type; known: {', '.join(catalog())}")
        return v


class Phase(Strict):
    """A tranche of GPUs added to a pool on a date. GPUs are rounded to whole NVLink domains."""

    name: str = Field(min_length=1)
    pool: str
    gpus: int = Field(gt=0, le=10_000_000)
    online: dt.date


class SiteFabric(Strict):
    """How a site's pools reach each other: through a core with its own oversubscription."""

    inter_pool_oversubscription: AssumedFloat = Field(default=1.0, ge=1, le=1000)


class Site(Strict):
    name: str = Field(min_length=1)
    campus: str = "default"
    cooling: Literal["air", "liquid"]
    pue: float = Field(ge=1, le=3)
    fabric: SiteFabric = SiteFabric()


class TopologyFile(Strict):
    """A topology file: exactly one site with its pools and phases."""

    site: Site
    pools: list[Pool] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)

    def problems(self) -> list[Problem]:
        names = [p.name for p in self.pools]
        found = []
        for i, name in enumerate(names):
            if name in names[:i]:
                found.append(Problem(f"pools[{i}].name", "duplicate pool name", name))
        phase_names = [ph.name for ph in self.phases]
        for i, ph in enumerate(self.phases):
            if ph.name in phase_names[:i]:
                found.append(Problem(f"phases[{i}].name", "duplicate phase name", ph.name))
            if ph.pool not in names:
                found.append(
                    Problem(f"phases[{i}].pool", f"unknown pool; pools are {names}", ph.pool)
                )
        for i, pool in enumerate(self.pools):
            g = catalog()[pool.gpu]
            f = pool.fabric
            if g.nvlink_domain_gpus % f.rails:
                found.append(
                    Problem(
                        f"pools[{i}].fabric.rails",
                        f"must divide the {g.nvlink_domain_gpus} GPUs of a {pool.gpu} NVLink domain",
                        f.rails,
                    )
                )
                continue
            down, up = f.leaf_ports(g.nvlink_domain_gpus)
            if down + up > f.switch_radix:
                found.append(
                    Problem(
                        f"pools[{i}].fabric.domains_per_leaf_group",
                        f"needs {down} down + {up} up ports per leaf, more than "
                        f"switch_radix = {f.switch_radix}",
                        f.domains_per_leaf_group,
                    )
                )
        return found
