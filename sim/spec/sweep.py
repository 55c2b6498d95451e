"""Model of a sweep file (`runs/sweep-*.toml`): a base scenario, axes over its fields, seeds.

An axis names any scenario field by dotted path (`policy.kind`, `prices.power_usd_per_mwh`,
`sites[1].phase_online.c2-gb300-expansion1`) and gives a list of values or a range. The runs
are the cartesian product of the axes' values, each run with every seed. See docs/sweeps.md.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, model_validator

from sim.errors import Problem
from sim.spec.base import Strict

_SEGMENT = re.compile(r"^([^.\[\]]+)((?:\[\d+\])*)$")


def parse_path(path: str) -> list[str | int]:
    """'sites[1].phase_online.c2-x' -> ['sites', 1, 'phase_online', 'c2-x'] (ValueError if bad)."""
    out: list[str | int] = []
    for part in path.split("."):
        m = _SEGMENT.match(part)
        if not m:
            raise ValueError(f"not a dotted path: {path!r} (segment {part!r})")
        out.append(m.group(1))
        out.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    return out


def _dotted_path(value: str) -> str:
    parse_path(value)
    return value


def _existing_file(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir", Path.cwd())
    path = (Path(base) / value).resolve()
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


# A range's ends: finite numbers, or dates (an infinite or NaN end has no values to give).
Scalar = int | Annotated[float, Field(allow_inf_nan=False)] | dt.date
MAX_POINTS = 10_000  # values of one range, as `num` allows


class Range(Strict):
    """Values from `start` to `stop` inclusive, by `step` (days for dates) or `num` points."""

    start: Scalar
    stop: Scalar
    step: float | None = Field(default=None, gt=0)
    num: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _one_spacing(self):
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of step and num")
        if isinstance(self.start, dt.date) != isinstance(self.stop, dt.date):
            raise ValueError("start and stop must both be dates or both numbers")
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is before start ({self.start})")
        if self.step is not None:
            span = self.stop - self.start
            span = span.days if isinstance(span, dt.timedelta) else span
            if span / self.step + 1 > MAX_POINTS:
                raise ValueError(f"gives over {MAX_POINTS:,} values; use a larger step")
        return self

    def values(self) -> list:
        """The range's values; integers stay integers when start, stop and step are."""
        if isinstance(self.start, dt.date):
            days = (self.stop - self.start).days
            if self.num is not None:
                offs = [round(days * i / max(self.num - 1, 1)) for i in range(self.num)]
            else:
                offs = list(range(0, days + 1, max(1, round(self.step))))
            return [self.start + dt.timedelta(days=d) for d in dict.fromkeys(offs)]
        span = self.stop - self.start
        if self.num is not None:
            vals = [self.start + span * i / max(self.num - 1, 1) for i in range(self.num)]
        else:
            n = int(span / self.step + 1e-9)
            vals = [self.start + i * self.step for i in range(n + 1)]
        ints = all(isinstance(x, int) for x in (self.start, self.stop)) and (
            self.step is None or float(self.step).is_integer()
        )
        return [int(round(v)) if ints else round(v, 12) for v in vals]


class Axis(Strict):
    """One swept field: a dotted path into the scenario and its values (a list or a range).

    A value may be a table, which replaces the whole field (e.g. `path = "policy"`,
    `values = [{kind = "fifo"}, {kind = "mfu-aware"}]`); `labels` name values in tables/plots.
    """

    path: Annotated[str, AfterValidator(_dotted_path)]
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    values: list[Any] | None = Field(default=None, min_length=1)
    range: Range | None = None
    labels: list[str] | None = None

    @model_validator(mode="after")
    def _values_or_range(self):
        if (self.values is None) == (self.range is None):
            raise ValueError("give exactly one of values and range")
        if self.labels is not None and len(self.labels) != len(self.all_values()):
            raise ValueError(f"labels must name each of the {len(self.all_values())} values")
        return self

    def all_values(self) -> list:
        return list(self.values) if self.values is not None else self.range.values()

    @property
    def key(self) -> str:
        """The axis's column name: `name`, else the path's last segment."""
        if self.name:
            return self.name
        last = parse_path(self.path)
        words = [str(p) for p in last if isinstance(p, str)]
        return words[-1] if words[-1] not in ("kind", "params") else ".".join(words[-2:])

    def label(self, i: int) -> str:
        """Readable label of the i-th value."""
        if self.labels is not None:
            return self.labels[i]
        v = self.all_values()[i]
        if isinstance(v, dict):
            if "kind" in v:
                params = v.get("params") or {}
                extra = ",".join(f"{k}={params[k]}" for k in sorted(params))
                return f"{v['kind']}({extra})" if extra else str(v["kind"])
            return ",".join(f"{k}={v[k]}" for k in sorted(v))
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)


class SeedRange(Strict):
    start: int = Field(default=1, ge=0)
    count: int = Field(ge=1, le=100_000)


class SweepFile(Strict):
    """A sweep: the base scenario (relative to this file), its axes and the seeds of every run."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scenario: Annotated[Path, AfterValidator(_existing_file)]
    seeds: list[Annotated[int, Field(ge=0, le=2**63 - 1)]] | SeedRange = Field(
        default_factory=lambda: [1]
    )
    axes: list[Axis] = []

    def seed_list(self) -> list[int]:
        if isinstance(self.seeds, SeedRange):
            return list(range(self.seeds.start, self.seeds.start + self.seeds.count))
        return list(self.seeds)

    def problems(self) -> list[Problem]:
        found = []
        seen: dict[str, int] = {}
        for i, axis in enumerate(self.axes):
            if axis.key in seen:
                found.append(
                    Problem(
                        f"axes[{i}].name",
                        f"same column name as axes[{seen[axis.key]}]; give a distinct name",
                        axis.key,
                    )
                )
            seen.setdefault(axis.key, i)
        paths: dict[str, int] = {}
        for i, axis in enumerate(self.axes):
            if axis.path in paths:
                found.append(
                    Problem(
                        f"axes[{i}].path", f"already swept by axes[{paths[axis.path]}]", axis.path
                    )
                )
            paths.setdefault(axis.path, i)
        seeds = self.seed_list()
        if len(set(seeds)) != len(seeds):
            found.append(Problem("seeds", "seeds repeat", seeds))
        if not seeds:
            found.append(Problem("seeds", "give at least one seed", seeds))
        return found
