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
from pathlib import Path
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
# The same for a field of a known type, so that pydantic's own constraints (ge, le) still apply:
# `oversubscription: AssumedFloat = Field(default=1.0, ge=1)`.
AssumedFloat = Annotated[float, BeforeValidator(_unwrap)]
AssumedInt = Annotated[int, BeforeValidator(_unwrap)]


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


DATA = Path(__file__).parent / "data"
CATALOG_FILE = DATA / "gpus.toml"


def label(path: str | Path) -> str:
    """A file as the listing names it: relative to the working directory where possible."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def key(a: Assumption) -> str:
    """The name an assumption goes by in sensitivity output: `file:dotted.path`."""
    return f"{a.file}:{a.path}"


def _read(path: Path) -> dict:
    from sim.spec.base import read_toml  # spec models import this module; load lazily

    return read_toml(path)


def collect(path: str | Path) -> list[Assumption]:
    """Every tagged number a scenario or mfu file rests on, with the file it is set in: the
    file itself, the topology and workload files it names, the catalog entries of the GPU
    types it uses, and the perf model's own constants (`sim.perf.constants.PARAMS`)."""
    path = Path(path)
    raw = _read(path)
    files: list[tuple[Path, dict]] = [(path, raw)]
    gpus: set[str] = set()
    base = path.parent
    if "sites" in raw:  # a scenario
        for site in raw.get("sites", []):
            if isinstance(site, dict) and "topology" in site:
                t = (base / site["topology"]).resolve()
                traw = _read(t)
                files.append((t, traw))
                gpus |= {p.get("gpu") for p in traw.get("pools", []) if isinstance(p, dict)}
        for w in raw.get("workloads", []):
            w = (base / w).resolve()
            files.append((w, _read(w)))
    elif "hardware" in raw:  # an mfu file
        hw = raw["hardware"]
        gpus |= set(hw.get("mix") or {}) | ({hw["gpu"]} if hw.get("gpu") else set())
        if hw.get("topology"):
            t = (base / hw["topology"]).resolve()
            files.append((t, _read(t)))
    out: list[Assumption] = []
    for f, doc in files:
        out += find(doc, label(f))
    catalog = _read(CATALOG_FILE)
    for g in sorted(x for x in gpus if x in catalog):
        out += find(catalog[g], label(CATALOG_FILE), g)
    return out + perf_constants()


def perf_constants() -> list[Assumption]:
    """The perf model's uncertain constants as it declares them (`sim.perf.constants.PARAMS`):
    an `assumed` one with its range and reason, a `fitted` one sourced by the fit."""
    from sim.perf import constants  # the perf model is the single source of these figures

    where = label(constants.__file__)
    fit = label(constants.FIT_PATH)
    out = []
    for p in constants.PARAMS.values():
        value = getattr(constants, p.name)  # what the model reads now
        if p.kind == "assumed":
            out.append(Assumption(where, p.name, value, p.low, p.high, p.why, ""))
        else:
            src = (
                f"fitted by sim.perf.fit on the calibration rows ({fit}, bounds "
                f"{p.low:g}-{p.high:g}): {p.why}"
            )
            out.append(Assumption(where, p.name, value, None, None, "", src))
    return out
