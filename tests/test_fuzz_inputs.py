"""Bad input never crashes: fuzzed scenario, workload and topology files are either valid or
rejected with messages that name the path, exit code 2, and no traceback.

The example count is 300 by default (CI); set FUZZ_EXAMPLES=5000 for a long run.
"""

import copy
import datetime as dt
import os
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.cli import main
from tests.conftest import DATA

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


def _load(name: str) -> dict:
    with (DATA / name).open("rb") as fh:
        return tomllib.load(fh)


def _scenario() -> dict:
    doc = _load("small-scenario.toml")
    doc["workloads"] = [str(DATA / "small-workload.toml")]
    doc["sites"][0]["topology"] = str(DATA / "small.toml")
    return doc


BASES = {
    "scenario": _scenario(),
    "workload": _load("small-workload.toml"),
    "topology": _load("small.toml"),
}

ODD_VALUES = [
    -1,
    0,
    -1e308,
    1e308,
    float("inf"),
    float("nan"),
    10**30,
    -(10**30),
    "",
    "x" * 500,
    "__import__('os').system('echo pwned')",
    "../../../../etc/passwd",
    "no/such/file.toml",
    [],
    [1, "a"],
    {},
    {"nested": {"deeper": 1}},
    True,
    dt.date(1900, 1, 1),
    dt.date(2999, 12, 31),
    dt.datetime(2026, 1, 1, 12, 0),
    3.5,
    "2026-13-45",
]


def _paths(doc, prefix=()):
    """Every (path, value) of a nested document (tables and arrays of tables)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,), v
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            if isinstance(v, dict | list):
                yield prefix + (i,), v
                yield from _paths(v, prefix + (i,))


def _parent(doc, path):
    for p in path[:-1]:
        doc = doc[p]
    return doc


@st.composite
def mutated(draw):
    kind = draw(st.sampled_from(sorted(BASES)))
    doc = copy.deepcopy(BASES[kind])
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p, _ in _paths(doc)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "unknown", "swap-dates"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = copy.deepcopy(draw(st.sampled_from(ODD_VALUES)))
        elif action == "unknown" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["colour", "tp2", "gpu_count", "x.y"]))] = 1
        elif action == "swap-dates" and "horizon" in doc and isinstance(doc["horizon"], dict):
            h = doc["horizon"]
            h["start"], h["end"] = h.get("end", 1), h.get("start", 1)
    return kind, doc


@st.composite
def garbage(draw):
    text = draw(
        st.sampled_from(
            [
                "x = [",
                "[[pools]\nname = 1",
                "a = 1\na = 2",
                "= 3",
                "[horizon]\nstart = 2026-02-30",
                "\x00\x01binary",
                "name = '''unterminated",
            ]
        )
    )
    kind = draw(st.sampled_from(sorted(BASES)))
    if draw(st.booleans()):
        text = tomli_w.dumps(BASES[kind])[: draw(st.integers(0, 200))] + text
    return kind, text


def _check(tmp_path, capsys, kind: str, text: str) -> None:
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    commands = [["validate", str(path)]]
    if kind == "topology":
        commands.append(["topology", "show", str(path), "--json"])
    for args in commands:
        with pytest.raises(SystemExit) as exc:
            main(args)
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert exc.value.code in (0, 2), (args, exc.value.code, err)
        if exc.value.code == 2:
            problems = [ln for ln in err.splitlines() if ln.startswith("  ")]
            assert problems, err
            # every problem names its file; those inside the file name a dotted path too
            assert all(".toml: " in ln for ln in problems), err


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(case=mutated())
def test_mutated_files_are_valid_or_rejected_cleanly(tmp_path, capsys, case):
    kind, doc = case
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # not representable in TOML: nothing to test
        return
    _check(tmp_path, capsys, kind, text)


@settings(
    max_examples=max(50, EXAMPLES // 5),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=garbage())
def test_malformed_files_are_rejected_cleanly(tmp_path, capsys, case):
    kind, text = case
    _check(tmp_path, capsys, kind, text)


def test_a_scenario_string_is_never_executed(tmp_path, capsys):
    marker = tmp_path / "pwned"
    doc = _scenario()
    doc["description"] = f"__import__('os').system('touch {marker}')"
    doc["name"] = "$(touch pwned)"
    _check(tmp_path, capsys, "scenario", tomli_w.dumps(doc))
    assert not marker.exists()
