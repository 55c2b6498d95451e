"""The `[expect]` table of a scenario: named checks on run KPIs, evaluated after the run.

Each key is a KPI name of `sim.report.kpis` (quoted, `"mfu.pool.c2-gb200"`, or as nested
TOML tables, which are flattened back to dotted names); each value is a bound, a tolerance
around a reference, and/or a bound on the spread across the seeds of a sweep.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from sim.spec.base import Strict

FIELDS = ("min", "max", "ref", "rel", "abs", "spread_max")


class Expectation(Strict):
    """One check on one KPI: `min <= value <= max`, `|value - ref| <= max(abs, rel * |ref|)`,
    and across seeds `(max - min) / |mean| <= spread_max`. Give at least one of them."""

    min: float | None = None
    max: float | None = None
    ref: float | None = None
    rel: float | None = Field(default=None, ge=0)  # fraction of |ref|
    abs: float | None = Field(default=None, ge=0)  # in the KPI's own unit
    spread_max: float | None = Field(default=None, ge=0)  # fraction of |mean| over seeds

    @model_validator(mode="before")
    @classmethod
    def _a_table(cls, data: Any) -> Any:
        if not isinstance(data, dict | Expectation):
            raise ValueError(f"expected a table of checks ({', '.join(FIELDS)})")
        return data

    @model_validator(mode="after")
    def _consistent(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        has_tol = self.rel is not None or self.abs is not None
        if self.ref is not None and not has_tol:
            raise ValueError("ref needs a tolerance: rel (fraction of ref) or abs")
        if self.ref is None and has_tol:
            raise ValueError("rel and abs are tolerances around ref; give ref")
        if all(getattr(self, k) is None for k in ("min", "max", "ref", "spread_max")):
            raise ValueError("give min, max, ref with rel or abs, or spread_max")
        return self

    def describe(self) -> str:
        """The check in words, e.g. `0.3 <= x <= 0.5, ref 2.3e9 +/- 1%`."""
        parts = []
        if self.min is not None and self.max is not None:
            parts.append(f"{self.min:.6g} <= x <= {self.max:.6g}")
        elif self.min is not None:
            parts.append(f"x >= {self.min:.6g}")
        elif self.max is not None:
            parts.append(f"x <= {self.max:.6g}")
        if self.ref is not None:
            tol = [f"{100 * self.rel:.6g}%"] if self.rel is not None else []
            tol += [f"{self.abs:.6g}"] if self.abs is not None else []
            parts.append(f"x = {self.ref:.6g} +/- {' or '.join(tol)}")
        if self.spread_max is not None:
            parts.append(f"spread over seeds <= {100 * self.spread_max:.6g}%")
        return ", ".join(parts)


def _flatten(value: Any, prefix: str = "") -> Any:
    """`{mfu = {pool = {c2-gb200 = {min = 0.3}}}}` -> `{"mfu.pool.c2-gb200": {min = 0.3}}`:
    unquoted dotted TOML keys make nested tables; a table holding a check key or any
    non-table value is one check (so a misspelt key is reported as unknown, where it is)."""
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        nested = isinstance(item, dict) and item and all(isinstance(v, dict) for v in item.values())
        if nested and not any(k in FIELDS for k in item):
            out.update(_flatten(item, name))
        else:
            out[name] = item
    return out


Expectations = Annotated[dict[str, Expectation], BeforeValidator(_flatten)]


class ExpectFile(Strict):
    """Only the `[expect]` table of a scenario file (other keys are ignored): for `sim check
    --expect FILE`, which re-checks a run against edited expectations."""

    model_config = ConfigDict(extra="ignore")

    expect: Expectations = {}
