"""Layering: physics, money, state and decisions never import simpy; no module imports upward."""

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "sim"

# Lower layers first; a module may import only from its own layer or below. Names are module
# paths under sim/, matched by their longest listed prefix.
LAYERS = [
    {"errors", "units", "limits", "assumptions"},
    {
        "spec",
        "rng",
        "hardware",
        "trace_file",
        "traces",
    },  # spec.base, .topology, .scenario, ...; traces: importers
    {"topology", "perf", "economics"},
    {"spec.mfu", "spec.workload"},  # input files whose checks call the perf model
    {"cluster", "policies"},
    {"records", "recorder"},
    {"model"},
    {"output", "report", "expect", "diff", "explain", "invariants"},
    {"runner", "sweep", "compare", "htmlreport", "plots", "cli", "__main__"},
]
NO_SIMPY = ("hardware", "topology", "perf", "economics", "cluster", "policies", "spec", "records")


def layer_of(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        for i, names in enumerate(LAYERS):
            if prefix in names:
                return i
    raise AssertionError(f"sim.{module} is in no layer of tests/test_architecture.py")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_layers_point_down_and_physics_has_no_simpy():
    checked = 0
    for path in SIM.rglob("*.py"):
        rel = path.relative_to(SIM).with_suffix("")
        if rel.parts == ("__init__",):
            continue
        me = ".".join(p for p in rel.parts if p != "__init__")
        mine = layer_of(me)
        for mod in imports(path):
            if me.split(".")[0] in NO_SIMPY:
                assert mod.split(".")[0] != "simpy", f"sim/{rel}.py imports simpy"
            if mod.startswith("sim."):
                assert layer_of(mod[4:]) <= mine, f"sim/{rel}.py imports upward: {mod}"
                checked += 1
    assert checked > 20


def test_only_the_model_imports_simpy():
    users = {
        str(p.relative_to(SIM))
        for p in SIM.rglob("*.py")
        if any(m.split(".")[0] == "simpy" for m in imports(p))
    }
    assert users == {"model.py"}
