"""Strict frozen models and file loading that turns every problem into a `Problem` with its path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from sim.errors import InputError, Problem

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every input model: unknown keys are errors, instances are immutable.

    Checks that span several fields (references between tables, consistency) go in `problems()`,
    which runs after the structure is valid and returns every problem with its own dotted path.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, validate_default=True)

    def problems(self) -> list[Problem]:
        return []


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """A path relative to the file that names it; it must exist."""
    base = (info.context or {}).get("base_dir", Path.cwd())
    try:
        path = (Path(base) / value).resolve()
        found = path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, ...
        raise ValueError(f"not a usable file path: {exc}") from None
    if not found:
        raise ValueError(f"file not found: {path}")
    return path


# A file named in an input file: resolved beside it, and it must exist.
FilePath = Annotated[Path, AfterValidator(_resolve)]

# Longest name that is one folder of the output, with room for the hidden temporaries' suffix
# (`.<name>.tmp-<host>-<pid>-<random>`) within the 255-byte limit of common file systems.
MAX_NAME_BYTES = 160


def _safe_name(value: str) -> str:
    """A name used as one path component of the output: never '.', '..', or over the limit."""
    if value in (".", ".."):
        raise ValueError(f"{value!r} is not a usable folder name; use letters, digits, _ . -")
    if len(value.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"at most {MAX_NAME_BYTES} characters (it names an output folder)")
    return value


SafeName = Annotated[
    str,
    Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$"),
    AfterValidator(_safe_name),
]


def dotted(loc: tuple[Any, ...]) -> str:
    """('pools', 0, 'gpu') -> 'pools[0].gpu'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


_FRIENDLY = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def problems_from(err: ValidationError, file: str | None = None, prefix: str = "") -> list[Problem]:
    """Every error of a pydantic validation, as Problems with dotted paths and the bad value."""
    problems = []
    for e in err.errors(include_url=False):
        # Drop pydantic's internal union/tag markers from the path (e.g. 'function-after[...]').
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))
        path = dotted(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = _FRIENDLY.get(e["type"], e["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if e["type"] == "missing":
            problems.append(Problem(path, msg, file=file))
        else:
            problems.append(Problem(path, msg, e.get("input"), file=file))
    return problems


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is an InputError naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise InputError.single("", "file not found", file=p)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError.single("", f"malformed TOML: {exc}", file=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.single("", f"cannot read file: {exc}", file=p) from None


def validate(
    model: type[M],
    data: Any,
    file: str | Path | None = None,
    context: dict | None = None,
    check: bool = True,
) -> M:
    """Validate `data` into `model`, raising InputError with every problem at once.

    With `check=False` the cross-field `problems()` are left to the caller to gather.
    """
    name = str(file) if file else None
    try:
        obj = model.model_validate(data, context=context)
    except ValidationError as err:
        raise InputError(problems_from(err, name)) from None
    found = obj.problems() if check else []
    if found:
        raise InputError([Problem(p.path, p.message, p.value, p.file or name) for p in found])
    return obj


def load(model: type[M], path: str | Path, context: dict | None = None, check: bool = True) -> M:
    """Read and validate a TOML file into `model`; relative paths in it resolve beside it."""
    ctx = {"base_dir": Path(path).resolve().parent, **(context or {})}
    return validate(model, read_toml(path), file=path, context=ctx, check=check)
