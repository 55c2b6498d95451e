"""Shared helpers of the trust and fuzz tests: small scenario files with absolute paths, and
the `sim` command run in this process with its exit code and output."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pytest
import tomli_w

from tests.conftest import DATA


def load_data(name: str) -> dict:
    with (DATA / name).open("rb") as fh:
        return tomllib.load(fh)


def scenario_doc(**top) -> dict:
    """tests/data/small-scenario.toml with absolute paths; `top` replaces top-level keys."""
    doc = load_data("small-scenario.toml")
    doc["workloads"] = [str(DATA / "small-workload.toml")]
    doc["sites"][0]["topology"] = str(DATA / "small.toml")
    doc.update(copy.deepcopy(top))
    return doc


def write_toml(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(doc))
    return path


def scenario_with(tmp_path: Path, workload: dict | None = None, stem="scenario", **top) -> Path:
    """A scenario file in tmp_path; with `workload`, that workload (a dict) replaces the small one."""
    doc = scenario_doc(**top)
    if workload is not None:
        doc["workloads"] = [str(write_toml(tmp_path / f"{stem}-workload.toml", workload))]
    return write_toml(tmp_path / f"{stem}.toml", doc)


def sim(capsys, *args) -> tuple[int, str, str]:
    """Run `sim ARGS` in this process: (exit code, stdout, stderr)."""
    from sim.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out, err


def clean_error(code: int, err: str, *needles: str) -> None:
    """Exit 2, no traceback, and every needle in the message."""
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    for n in needles:
        assert n in err, (n, err)
