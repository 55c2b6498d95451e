"""Layering as DESIGN.md's module table states it: imports point down, only `sim/engine/`
imports simpy, the pure layers never do, and modules do not reach into each other's underscore
names."""

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "sim"

# DESIGN.md's table, lowest layer first; a module may import from its own layer or below.
# Names are module paths under sim/, matched by their longest listed prefix.
LAYERS = {
    "edges": {"errors", "units", "limits"},
    "data": {"spec", "records", "rng", "assumptions", "trace_file", "traces"},
    "physics and money": {"hardware", "topology", "perf", "economics", "finance", "sensitivity",
                          "availability", "market", "failure_schedule"},
    "state and decisions": {"cluster", "freeindex", "policies", "tenants"},
    "accounting": {"accounting", "ledger", "jobrate"},
    "time": {"engine"},
    "results": {"recorder", "output", "invariants"},
    "drivers": {
        "runner",
        "sweep",
        "report",
        "cli",
        "__main__",
        # readers of run folders, under the same roof as `report`
        "compare",
        "expect",
        "diff",
        "explain",
        "hypotheses",  # samples explain's model over the ranged assumptions
        "htmlreport",
        "statement",
        "plots",  # the report's figures and sections (sim/plots/), below htmlreport's page
        "risk",
        "notice_value",
    },
}
PLANNED = {"units"}  # in DESIGN.md's table, not written yet
# Imports that point up on purpose, each with its reason (input files checked against the
# physics they describe; the segment schema's attribution columns named by the perf model).
ALLOWED_UP = {
    ("spec.topology", "hardware"): "a topology file names GPU types of the catalog",
    ("spec.scenario", "hardware"): "a scenario's failure rates name GPU types of the catalog",
    ("spec.mfu", "hardware"): "an MFU file names GPU types of the catalog",
    ("spec.mfu", "perf"): "an MFU file's shapes are checked by the perf model",
    ("spec.mfu", "topology"): "an MFU file's fabric is built by the topology",
    ("spec.serve", "hardware"): "a serve file names GPU types of the catalog",
    ("records", "perf"): "the attribution columns are the perf model's factors",
    ("spec.workload", "finance"): "a workload's given series names accounts of the chart",
    ("assumptions", "perf"): "a file's assumptions include the perf model's own constants "
    "(sim.perf.constants.PARAMS, the single source of their ranges)",
}
PURE = (
    "hardware",
    "topology",
    "perf",
    "economics",
    "finance",
    "cluster",
    "freeindex",
    "policies",
    "accounting",
    "ledger",
    "jobrate",
    "spec",
    "records",
    "sensitivity",
    "availability",
    "market",
    "tenants",
    "failure_schedule",
)
ORDER = list(LAYERS)


def module_name(path: Path) -> str:
    rel = path.relative_to(SIM).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def match(module: str) -> tuple[str, str]:
    """(layer, listed name) of a module, by its longest listed prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        for layer, names in LAYERS.items():
            if prefix in names:
                return layer, prefix
    raise AssertionError(f"sim.{module} is in no layer of DESIGN.md's table")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "sim":  # from sim import perf, economics
                found.update(f"sim.{a.name}" for a in node.names if a.name != "__version__")
            else:
                found.add(node.module)
    return found


def modules() -> list[Path]:
    return [p for p in SIM.rglob("*.py") if p != SIM / "__init__.py"]


def test_every_listed_module_exists():
    for names in LAYERS.values():
        for name in names - PLANNED:
            path = SIM.joinpath(*name.split("."))
            assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), name


def test_imports_point_down():
    checked, used = 0, set()
    for path in modules():
        me = module_name(path)
        mine, _ = match(me)
        for mod in imports(path):
            if not mod.startswith("sim."):
                continue
            theirs, their_name = match(mod[4:])
            checked += 1
            if ORDER.index(theirs) > ORDER.index(mine):
                key = (me, their_name)
                assert key in ALLOWED_UP, f"sim/{me} ({mine}) imports upward: {mod} ({theirs})"
                used.add(key)
    assert checked > 100
    assert used == set(ALLOWED_UP), f"exceptions no longer needed: {set(ALLOWED_UP) - used}"


def test_only_the_engine_imports_simpy():
    users = {
        module_name(p) for p in modules() if any(m.split(".")[0] == "simpy" for m in imports(p))
    }
    assert users and all(u.split(".")[0] == "engine" for u in users), users
    assert not {u for u in users if u.split(".")[0] in PURE}


def test_no_module_reads_another_modules_private_names():
    """`x._name` only on `self`/`cls` or an object of the module's own classes: no
    `cluster._gpus`, no `ev._ok`; SimPy's triggered state is set in one place
    (`engine.context.LateEvent`, on its own instance)."""
    offenders = []
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{module_name(path)}:{node.lineno} .{node.attr}")
    assert not offenders, offenders
