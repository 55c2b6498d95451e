"""Layering: physics, money, state and decisions never import simpy; no module imports upward."""

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parent.parent / "sim"

# Lower layers first; a module may import only from its own layer or below.
LAYERS = [
    {"errors", "units"},
    {"spec", "records", "rng", "hardware"},
    {"topology", "perf", "economics"},
    {"cluster", "policies"},
    {"model"},
    {"recorder", "output"},
    {"runner", "sweep", "report", "cli", "__main__"},
]
NO_SIMPY = {"hardware", "topology", "perf", "economics", "cluster", "policies", "spec"}


def layer_of(top: str) -> int:
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"sim.{top} is in no layer of tests/test_architecture.py")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_layers_point_down_and_physics_has_no_simpy():
    for path in SIM.rglob("*.py"):
        rel = path.relative_to(SIM)
        if rel.name == "__init__.py" and len(rel.parts) == 1:
            continue
        top = rel.parts[0].removesuffix(".py")
        mine = layer_of(top)
        for mod in imports(path):
            if top in NO_SIMPY:
                assert mod.split(".")[0] != "simpy", f"{rel} imports simpy"
            if mod.startswith("sim."):
                other = mod.split(".")[1]
                if other == "__version__":
                    continue
                assert layer_of(other) <= mine, f"{rel} imports upward: {mod}"
