"""Error types. Bad input raises `InputError`, which the CLI prints without a traceback (exit 2);
tables that break an invariant raise `InvariantError` (exit 1). Both live here, with no heavy
import, so that `sim` can catch them without loading what raises them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (file and dotted path), what, and the value seen."""

    path: str
    message: str
    value: Any = _MISSING
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        loc = self.path or "(file)"
        seen = "" if self.value is _MISSING else f" (got {_short(self.value)})"
        return f"{where}{loc}: {self.message}{seen}"


def _short(value: Any, limit: int = 80) -> str:
    text = value.isoformat() if isinstance(value, dt.date) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SimError(Exception):
    """Base class of the simulator's own errors."""


class InputError(SimError):
    """A scenario, topology, workload or model file is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def __reduce__(self):  # pickled across processes (sweeps, compare) with its problems
        return (type(self), (self.problems,))

    @classmethod
    def single(cls, path: str, message: str, value: Any = _MISSING, file: str | Path | None = None):
        return cls([Problem(path, message, value, str(file) if file else None)])


def referenced(problems: list[Problem], field: str, file: str | None) -> list[Problem]:
    """Problems of a file named by another file's `field`: a problem with the whole file (no
    path inside it) is reported at the field that names it, so the user sees where it came from."""
    out = []
    for p in problems:
        if p.path:
            out.append(p)
        else:
            out.append(Problem(field, f"{p.file}: {p.message}", p.value, file))
    return out


@dataclass(frozen=True)
class Violation:
    """One row (or day and pool) of a run's tables that breaks an invariant (`sim.invariants`)."""

    table: str
    rule: str
    where: str  # "day 2026-04-24, pool small-gb200", "row 3 (lease L#0)", ...
    detail: str

    def __str__(self) -> str:
        return f"{self.table}: {self.where}: {self.rule} ({self.detail})"


class InvariantError(SimError):
    """A run's tables break an invariant: a bug in the engine, never the user's input."""

    def __init__(self, violations: list[Violation], total: int | None = None):
        self.violations = list(violations)
        self.total = len(self.violations) if total is None else total
        lines = [str(v) for v in self.violations]
        if self.total > len(lines):
            lines.append(f"... {self.total - len(lines):,} more")
        super().__init__("\n".join(lines))

    def __reduce__(self):  # pickled across processes (sweeps, compare) with its violations
        return (type(self), (self.violations, self.total))
