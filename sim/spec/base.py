"""Strict frozen models and file loading that turns every problem into a `Problem` with its path."""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
)

from sim.errors import InputError, Problem
from sim.limits import MAX_INT, check_input_file

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base of every input model: unknown keys are errors, instances are immutable.

    Checks that span several fields (references between tables, consistency) go in `problems()`,
    which runs after the structure is valid and returns every problem with its own dotted path.
    """

    # validators are built on first use (`defer_build`): a command builds only the models it
    # validates (`sim validate` of one kind of file, or `sim --help`, not all ~50 at import)
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=False, validate_default=True, defer_build=True
    )

    def problems(self) -> list[Problem]:
        return []


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """A path relative to the file that names it; it must exist."""
    base = (info.context or {}).get("base_dir", Path.cwd())
    try:
        path = (Path(base) / value).resolve()
        found, folder = path.is_file(), path.is_dir()
    except RuntimeError:  # Python 3.11: "Symlink loop from ..."
        raise ValueError(f"a symlink loop: {Path(base) / value}") from None
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop (3.13), ...
        raise ValueError(f"not a usable file path: {exc}") from None
    if folder:
        raise ValueError(f"is a directory, not a file: {path}")
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
DATE = "must be a date written YYYY-MM-DD (e.g. 2026-03-01)"


def _message(e: dict) -> str:
    kind = e["type"]
    if kind.startswith("date_"):
        return DATE
    if kind.startswith("datetime_"):
        return "must be a date and time written YYYY-MM-DDTHH:MM:SS"
    msg = _FRIENDLY.get(kind, e["msg"])
    return msg[len("Value error, ") :] if msg.startswith("Value error, ") else msg


def _annotations(tp: Any) -> list[Any]:
    """The alternatives of an annotation: Annotated, Optional and unions unwrapped."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _annotations(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [a for arg in get_args(tp) for a in _annotations(arg)]
    return [tp]


def known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at `loc` (a pydantic error location), for "did you mean"."""
    here: list[Any] = [model]
    for part in loc:
        nxt = []
        for tp in (a for h in here for a in _annotations(h)):
            origin, args = get_origin(tp), get_args(tp)
            if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str):
                if part in tp.model_fields:
                    nxt.append(tp.model_fields[part].annotation)
            elif origin is dict and len(args) == 2 and isinstance(part, str):
                nxt.append(args[1])
            elif origin in (list, tuple) and args and isinstance(part, int):
                nxt.append(args[part] if origin is tuple and len(args) > part else args[0])
        here = nxt
    keys: list[str] = []
    for tp in (a for h in here for a in _annotations(h)):
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            keys += [k for k in tp.model_fields if k not in keys]
    return keys


def _did_you_mean(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    if model is None or not loc or not isinstance(loc[-1], str):
        return ""
    try:
        close = difflib.get_close_matches(loc[-1], known_keys(model, loc[:-1]), n=1, cutoff=0.6)
    except (TypeError, IndexError):  # an annotation this walk does not know: no hint
        return ""
    return f"; did you mean {close[0]!r}?" if close else ""


def problems_from(
    err: ValidationError,
    file: str | None = None,
    prefix: str = "",
    model: type[BaseModel] | None = None,
) -> list[Problem]:
    """Every error of a pydantic validation, as Problems with dotted paths and the bad value;
    with `model`, an unknown key gets the closest known key as a "did you mean"."""
    problems = []
    for e in err.errors(include_url=False):
        # Drop pydantic's internal union/tag markers from the path (e.g. 'function-after[...]').
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and "[" in p))
        path = dotted(loc)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = _message(e)
        if e["type"] == "extra_forbidden":
            msg += _did_you_mean(model, loc)
        if e["type"] == "missing":
            problems.append(Problem(path, msg, file=file))
        else:
            problems.append(Problem(path, msg, e.get("input"), file=file))
    return problems


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file; a missing, oversized or malformed file is an InputError naming the
    file (and the line, for malformed TOML)."""
    p = check_input_file(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError.single("", f"malformed TOML: {exc}", file=p) from None
    except RecursionError:
        raise InputError.single("", NESTED, file=p) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError.single("", f"cannot read file: {exc}", file=p) from None


NESTED = "nested too deeply (arrays or tables inside each other hundreds of levels down)"


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
        huge = [Problem(dotted(loc), _HUGE, v, name) for loc, v in _huge_ints(data, ())]
        if huge:
            raise InputError(huge)
        obj = model.model_validate(data, context=context)
    except ValidationError as err:
        raise InputError(problems_from(err, name, model=model)) from None
    except RecursionError:
        raise InputError.single("", NESTED, file=name) from None
    found = obj.problems() if check else []
    if found:
        raise InputError([Problem(p.path, p.message, p.value, p.file or name) for p in found])
    return obj


_HUGE = f"is too large: integers must lie within +-{MAX_INT:,} (2**53)"


def _huge_ints(data: Any, loc: tuple[Any, ...]):
    """(location, value) of every integer of parsed input outside +-MAX_INT."""
    if isinstance(data, int) and not isinstance(data, bool):
        if abs(data) > MAX_INT:
            yield loc, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _huge_ints(v, (*loc, k))
    elif isinstance(data, (list, tuple)):
        for i, v in enumerate(data):
            yield from _huge_ints(v, (*loc, i))


def load(model: type[M], path: str | Path, context: dict | None = None, check: bool = True) -> M:
    """Read and validate a TOML file into `model`; relative paths in it resolve beside it."""
    ctx = {"base_dir": Path(path).resolve().parent, **(context or {})}
    return validate(model, read_toml(path), file=path, context=ctx, check=check)
