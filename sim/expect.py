"""Evaluate a scenario's `[expect]` checks on finished runs, and write the outcome for CI.

`evaluate(expect, kpis_by_run)` is the pure core (what sweeps call); `check_runs(path)` finds
every run folder under `path`, reads each one's expectations from its `scenario.json` and
its KPIs from its tables, and returns a `CheckReport` (summary JSON, JUnit XML, exit code).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from sim import __version__
from sim.errors import InputError
from sim.output import read_object, verify_run_folder
from sim.report import kpis as run_kpis
from sim.spec.base import validate
from sim.spec.expect import Expectation, ExpectFile

Status = Literal["pass", "fail", "skip"]
SPREAD = "spread over seeds"  # the `run` of a check on the spread across a group's runs
SUMMARY_FORMAT = "colossus-sim.summary/1"


@dataclass(frozen=True)
class Check:
    """The outcome of one expectation on one run (or on the spread across runs)."""

    kpi: str
    run: str
    expected: str
    value: float | None
    status: Status
    message: str = ""  # why it failed or was skipped

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def __str__(self) -> str:
        seen = "" if self.value is None else f" {self.value:.6g}"
        seen = " missing" if self.value is None and self.status == "fail" else seen
        text = f"{self.status.upper()} {self.kpi} [{self.run}]:{seen} (expected {self.expected})"
        return text + (f": {self.message}" if self.message else "")


def close_matches(name: str, names: list[str], n: int = 5) -> list[str]:
    """KPI names like `name`: similar spellings first, then names sharing its first parts."""
    found = difflib.get_close_matches(name, names, n=n, cutoff=0.6)
    parts = name.split(".")
    for depth in (2, 1):
        prefix = ".".join(parts[:depth]) + "."
        found += [k for k in sorted(names) if k.startswith(prefix) and k not in found]
        if found:
            break
    return found[:n]


def _check_value(exp: Expectation, value: float) -> list[str]:
    """What `value` breaks of `exp`'s per-run conditions (empty: it holds)."""
    if math.isnan(value):
        return ["value is NaN"]
    broken = []
    if exp.min is not None and value < exp.min:
        broken.append(f"below min {exp.min:.6g}")
    if exp.max is not None and value > exp.max:
        broken.append(f"above max {exp.max:.6g}")
    if exp.ref is not None:
        tol = max(exp.abs or 0.0, (exp.rel or 0.0) * abs(exp.ref))
        off = value - exp.ref
        if abs(off) > tol:
            rel = f" ({off / abs(exp.ref):+.3%})" if exp.ref else ""
            broken.append(f"{off:+.6g}{rel} from ref {exp.ref:.6g}, beyond tolerance {tol:.6g}")
    return broken


def spread(values: list[float]) -> float:
    """(max - min) / |mean| of a KPI over seeds; 0 for equal values, inf around a zero mean."""
    lo, hi = min(values), max(values)
    if hi == lo:
        return 0.0
    mean = sum(values) / len(values)
    return (hi - lo) / abs(mean) if mean else math.inf


def evaluate(
    expect: Mapping[str, Expectation], kpis_by_run: Mapping[str, Mapping[str, float]]
) -> list[Check]:
    """Every check of `expect` on every run (label -> KPIs), then each `spread_max` across
    the runs (meant to be one scenario's seeds; skipped with fewer than two runs)."""
    checks: list[Check] = []
    for run, kpis in kpis_by_run.items():
        for name, exp in expect.items():
            if exp.min is None and exp.max is None and exp.ref is None:
                continue
            if name not in kpis:
                close = close_matches(name, list(kpis))
                hint = f"; close: {', '.join(close)}" if close else ""
                msg = f"this run has no KPI {name!r}{hint}"
                checks.append(Check(name, run, exp.describe(), None, "fail", msg))
                continue
            value = float(kpis[name])
            broken = _check_value(exp, value)
            status: Status = "fail" if broken else "pass"
            checks.append(Check(name, run, exp.describe(), value, status, "; ".join(broken)))
    for name, exp in expect.items():
        if exp.spread_max is None:
            continue
        values = [float(k[name]) for k in kpis_by_run.values() if name in k]
        desc = f"spread over seeds <= {exp.spread_max:.6g}"
        if len(kpis_by_run) < 2:
            checks.append(Check(name, SPREAD, desc, None, "skip", "needs two runs or more"))
        elif len(values) < len(kpis_by_run):
            missing = len(kpis_by_run) - len(values)
            msg = f"{missing} of {len(kpis_by_run)} runs have no KPI {name!r}"
            checks.append(Check(name, SPREAD, desc, None, "fail", msg))
        else:
            s = spread(values)
            ok = s <= exp.spread_max
            msg = (
                ""
                if ok
                else (
                    f"spread {s:.6g} over {len(values)} runs (min {min(values):.6g}, max {max(values):.6g})"
                )
            )
            checks.append(Check(name, SPREAD, desc, s, "pass" if ok else "fail", msg))
    return checks


def find_runs(path: str | Path) -> list[Path]:
    """`path` if it is a run folder (has `manifest.json`), else every run folder below it at
    any depth (hidden folders, such as a run being written, are skipped)."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return [path]
    if not path.is_dir():
        raise InputError.single("", "no such run folder", str(path))
    runs = sorted(
        (
            m.parent
            for m in path.rglob("manifest.json")
            if not any(p.startswith(".") for p in m.relative_to(path).parts)
        ),
        key=_natural,
    )
    if not runs:
        raise InputError.single("", "no run folder (with a manifest.json) in it", str(path))
    return runs


def _natural(path: Path) -> list:
    """Sort key: `seed=2` before `seed=10`."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.as_posix())]


def _read_json(path: Path) -> dict:
    return read_object(path)


def load_expectations(run_dir: str | Path) -> dict[str, Expectation]:
    """The `[expect]` table a run was made with, from its `scenario.json` (none: `{}`)."""
    path = Path(run_dir) / "scenario.json"
    data = _read_json(path).get("scenario", {}).get("expect", {})
    return dict(validate(ExpectFile, {"expect": data}, file=path).expect)


@dataclass
class RunInfo:
    """One run folder: where, what, and its KPIs."""

    label: str
    dir: Path
    manifest: dict
    kpis: dict[str, float]
    expect: dict[str, Expectation]

    def to_dict(self) -> dict:
        m = self.manifest
        return {
            "run": self.label,
            "dir": str(self.dir),
            "scenario": m.get("scenario"),
            "seed": m.get("seed"),
            "scenario_hash": m.get("scenario_hash"),
            "versions": m.get("versions", {}),
            "kpis": self.kpis,
        }


def load_runs(path: str | Path) -> list[RunInfo]:
    """Every run under `path`, labelled by its folder relative to `path` (a single run:
    `<scenario>/seed=<n>`)."""
    root = Path(path)
    runs = []
    for d in find_runs(root):
        manifest = _read_json(d / "manifest.json")
        if not _is_sweep_run(d):  # a sweep's run keeps its tables in the sweep's dataset
            verify_run_folder(d)  # a damaged folder is an error, not a pass on its manifest
        rel = d.relative_to(root).as_posix()
        label = (
            rel if rel != "." else f"{manifest.get('scenario', d.name)}/seed={manifest.get('seed')}"
        )
        runs.append(RunInfo(label, d, manifest, _kpis(d), load_expectations(d)))
    return runs


def _is_sweep_run(run_dir: Path) -> bool:
    """A sweep's run folder: its result.json and no tables of its own."""
    return (run_dir / "result.json").is_file() and not any(run_dir.glob("*.parquet"))


def _kpis(run_dir: Path) -> dict[str, float]:
    """The run's KPIs; a folder they cannot be computed from (an old or damaged run) is bad
    input, not a crash. A sweep's run (`runs/scenario=<id>/seed=<n>/` beside the dataset)
    has no tables of its own: its KPIs are the ones its `result.json` recorded from them."""
    result = run_dir / "result.json"
    if _is_sweep_run(run_dir):
        data = _read_json(result)
        if data.get("status") == "ok" and isinstance(data.get("kpis"), dict):
            return {k: float(v) for k, v in data["kpis"].items() if v is not None}
    try:
        return run_kpis(run_dir)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        msg = f"cannot compute KPIs from this run folder: {type(exc).__name__}: {exc}"
        raise InputError.single("", msg, file=run_dir) from None


@dataclass
class CheckReport:
    """The checks of one or more runs, with what CI needs: counts, exit code, JSON, JUnit."""

    runs: list[RunInfo]
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {
            "checks": len(self.checks),
            "passed": sum(c.status == "pass" for c in self.checks),
            "failed": len(self.failed),
            "skipped": sum(c.status == "skip" for c in self.checks),
        }

    def lines(self) -> list[str]:
        """Human-readable outcome: one line of counts, then each failed check."""
        n = self.counts()
        if not self.checks:
            return ["expectations: none"]
        plural = "s" if n["checks"] != 1 else ""
        head = (
            f"expectations: {n['checks']} check{plural}, {n['passed']} passed, {n['failed']} failed"
        )
        head += f", {n['skipped']} skipped" if n["skipped"] else ""
        return [head, *(f"  {c}" for c in self.checks if c.status != "pass")]

    def summary(self, exit_code: int) -> dict:
        """The machine-readable summary (`--summary-json`), with the command's exit code."""
        return {
            "format": SUMMARY_FORMAT,
            "ok": self.ok,
            "exit_code": exit_code,
            "colossus_sim_version": __version__,
            "counts": self.counts(),
            "checks": [asdict(c) for c in self.checks],
            "runs": [r.to_dict() for r in self.runs],
        }

    def junit(self) -> str:
        """The checks as JUnit XML: one test suite per run (and per spread), one test case per
        KPI checked."""
        suites: dict[str, list[Check]] = {r.label: [] for r in self.runs}
        for c in self.checks:
            suites.setdefault(c.run, []).append(c)
        return junit_xml(suites)


def junit_xml(suites: Mapping[str, list[Check]], errors: Mapping[str, str] | None = None) -> str:
    """JUnit XML of named suites of checks; `errors` adds one erroring case per name (bad input)."""
    root = ET.Element("testsuites", name="colossus-sim")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite_name, checks in suites.items():
        suite = ET.SubElement(root, "testsuite", name=suite_name)
        counts = {
            "tests": len(checks),
            "failures": sum(c.failed for c in checks),
            "errors": 0,
            "skipped": sum(c.status == "skip" for c in checks),
        }
        for c in checks:
            case = ET.SubElement(suite, "testcase", classname=suite_name, name=c.kpi, time="0")
            if c.failed:
                ET.SubElement(case, "failure", message=str(c), type="expectation").text = str(c)
            elif c.status == "skip":
                ET.SubElement(case, "skipped", message=c.message)
            else:
                ET.SubElement(case, "system-out").text = str(c)
        _set_counts(suite, counts, totals)
    for name, text in (errors or {}).items():
        suite = ET.SubElement(root, "testsuite", name=name)
        case = ET.SubElement(suite, "testcase", classname=name, name="input", time="0")
        ET.SubElement(case, "error", message=text.splitlines()[0], type="InputError").text = text
        _set_counts(suite, {"tests": 1, "failures": 0, "errors": 1, "skipped": 0}, totals)
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _set_counts(suite: ET.Element, counts: dict[str, int], totals: dict[str, int]) -> None:
    for k, v in counts.items():
        suite.set(k, str(v))
        totals[k] += v


def check_runs(path: str | Path, expect: Mapping[str, Expectation] | None = None) -> CheckReport:
    """Evaluate expectations on every run under `path`: `expect` if given, else each run's
    own (from its `scenario.json`). Runs with one scenario hash are one group: per-run checks
    apply to each, `spread_max` to the group's seeds."""
    runs = load_runs(path)
    groups: dict[str, list[RunInfo]] = {}
    for r in runs:
        key = r.manifest.get("scenario_hash") or str(r.dir.parent)
        groups.setdefault(key, []).append(r)
    checks: list[Check] = []
    for members in groups.values():
        exp = expect if expect is not None else members[0].expect
        found = evaluate(exp, {r.label: r.kpis for r in members})
        if len(groups) > 1:  # name each group's spread by its scenario
            name = members[0].manifest.get("scenario", "?")
            found = [
                Check(c.kpi, f"{name} {SPREAD}", c.expected, c.value, c.status, c.message)
                if c.run == SPREAD
                else c
                for c in found
            ]
        checks += found
    return CheckReport(runs, checks)


def write_outputs(
    report: CheckReport | None,
    summary_json: str | Path | None,
    junit: str | Path | None,
    exit_code: int,
    error: InputError | None = None,
) -> None:
    """Write the summary JSON and JUnit files asked for; with `error`, files that say the
    input was invalid (exit 2), so that CI shows why there are no checks."""
    if error is not None:
        text = "\n".join(str(p) for p in error.problems)
        data = {
            "format": SUMMARY_FORMAT,
            "ok": False,
            "exit_code": exit_code,
            "colossus_sim_version": __version__,
            "error": [str(p) for p in error.problems],
            "counts": {"checks": 0, "passed": 0, "failed": 0, "skipped": 0},
            "checks": [],
            "runs": [],
        }
        xml = junit_xml({}, {"invalid input": text})
    else:
        assert report is not None
        data, xml = report.summary(exit_code), report.junit()
    if summary_json:
        _write(Path(summary_json), json.dumps(data, indent=2, default=str) + "\n")
    if junit:
        _write(Path(junit), xml)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
