"""Assumptions as data: a number without a published source is written with its range and reason.

In any input file (catalog, topology, workload, scenario, mfu), a number may be written as
    oversubscription = { value = 4.0, assumed = [2.0, 8.0], why = "no public figure; ..." }
or, to name its source inline,
    nic_gbit_per_s = { value = 400.0, source = "NVIDIA DGX H100 user guide" }
A plain number stays valid (its source is then the comment beside it). Models declare such
fields with the `Assumed` type, which unwraps the value; `find` lists every tagged number of a
raw TOML document with its dotted path, so that sensitivity analysis can set each one in turn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator

_KEYS = {"value", "assumed", "why", "source"}


def _is_tagged(v: Any) -> bool:
    return isinstance(v, dict) and "value" in v and set(v) <= _KEYS


def _unwrap(v: Any) -> Any:
    """{value, assumed=[lo, hi], why} or {value, source} -> value, after checking the tag."""
    if not isinstance(v, dict):
        return v
    extra = set(v) - _KEYS
    if "value" not in v or extra:
        raise ValueError(
            'expected a number or { value = X, assumed = [low, high], why = "..." }'
            + (f"; unknown key(s): {', '.join(sorted(extra))}" if extra else "")
        )
    if "assumed" in v:
        rng = v["assumed"]
        ok = (
            isinstance(rng, list)
            and len(rng) == 2
            and all(isinstance(x, int | float) and math.isfinite(x) for x in rng)
            and rng[0] <= rng[1]
        )
        if not ok:
            raise ValueError(f"assumed must be [low, high] with low <= high, got {rng!r}")
        if not isinstance(v.get("why"), str) or not v["why"].strip():
            raise ValueError("an assumed value needs a one-line reason in 'why'")
        val = v["value"]
        if isinstance(val, int | float) and not rng[0] <= val <= rng[1]:
            raise ValueError(f"value {val} lies outside its assumed range {rng}")
    return v["value"]


# A number that may carry an `assumed` range or a `source` (see the module docstring).
Assumed = Annotated[Any, BeforeValidator(_unwrap)]


@dataclass(frozen=True)
class Assumption:
    """One tagged number: where it is set, its value, and its range if assumed."""

    file: str
    path: str  # dotted path inside the file, e.g. "fabric.inter_pool_oversubscription"
    value: float
    low: float | None
    high: float | None
    why: str
    source: str

    @property
    def assumed(self) -> bool:
        return self.low is not None


def find(raw: Any, file: str = "", prefix: str = "") -> list[Assumption]:
    """Every tagged number in a raw TOML document, in document order."""
    out: list[Assumption] = []
    if _is_tagged(raw):
        rng = raw.get("assumed")
        out.append(
            Assumption(
                file=file,
                path=prefix,
                value=raw["value"],
                low=rng[0] if rng else None,
                high=rng[1] if rng else None,
                why=raw.get("why", ""),
                source=raw.get("source", ""),
            )
        )
    elif isinstance(raw, dict):
        for k, v in raw.items():
            out += find(v, file, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(raw, list):
        for i, v in enumerate(raw):
            out += find(v, file, f"{prefix}[{i}]")
    return out


def set_value(raw: dict, path: str, value: float) -> None:
    """Set the number at a dotted path (as `find` names it) in a raw document, in place."""
    parts: list[str | int] = []
    for piece in path.split("."):
        while "[" in piece:
            head, rest = piece.split("[", 1)
            if head:
                parts.append(head)
            idx, piece = rest.split("]", 1)
            parts.append(int(idx))
        if piece:
            parts.append(piece)
    node: Any = raw
    for p in parts[:-1]:
        node = node[p]
    last = parts[-1]
    if _is_tagged(node[last]):
        node[last] = {**node[last], "value": value}
    else:
        node[last] = value
