"""Write docs/scenario-reference.md from the JSON Schema of the scenario and sweep files.

python scripts/scenario_reference.py           # rewrite the page
python scripts/scenario_reference.py --check   # exit 1 if the page is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sim.spec.scenario import Scenario
from sim.spec.sweep import SweepFile

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "scenario-reference.md"

HEADER = """# Scenario and sweep file reference

Generated from the JSON Schema of the input models (`sim/spec/scenario.py`, `sim/spec/sweep.py`)
by `python scripts/scenario_reference.py`; a test fails when it is out of date. `sim schema`
prints the schema itself for editors. Paths are dotted (`sites[1].phase_online`), `[]` marks a
list of tables; relative file paths resolve beside the file that names them; unknown keys are
errors. Units are in the names (`_usd`, `_mwh`, `_tbit_per_s`, `_years`).
"""

# Meanings of keys whose model has no field description (the schema's own text wins).
MEANINGS = {
    "name": "identifier: output folder name",
    "description": "free text, shown in reports (escaped)",
    "seed": "default seed of `sim run` (sweeps set their own)",
    "horizon.start": "first simulated day (UTC)",
    "horizon.end": "day the run stops (UTC, exclusive)",
    "campus.link_tbit_per_s": "aggregate bandwidth between the campus's sites",
    "sites[].topology": "topology file (topologies/*.toml)",
    "sites[].phase_online": "phase name -> date it comes online (overrides the topology)",
    "sites[].phase_gpus": "phase name -> GPUs it adds (overrides the topology)",
    "workloads": "workload files: training jobs, streams, leases, serving",
    "policy.kind": "allocation policy (`sim.policies.REGISTRY`)",
    "policy.params": "the policy's typed parameters",
    "prices.power_usd_per_mwh": "electricity price",
    "prices.idle_power_fraction": "power drawn by idle GPUs, as a fraction of full draw",
    "prices.depreciation_years": "straight-line depreciation of servers",
    "prices.capex_usd_per_gpu": "GPU type -> capital cost per GPU (installed server share)",
    "prices.construction_usd_per_mw": "shell, power and cooling per facility MW",
    "prices.facility_life_years": "depreciation of the construction",
    "prices.construction_lead_days": "construction capex is booked over these days before a phase is online",
    "prices.gpu_lead_days": "GPU capex is booked over these days before a phase is online",
    "prices.facility_opex_usd_per_mw_year": "site opex besides power, per facility MW-year",
    "reported": "period -> statement line -> { value, source }: figures `sim statement` shows beside",
    "expect": "KPI name -> expectation checked by `sim check`",
    "failures": "GPU failures and checkpoint-restart (the engine's failure process)",
    "failures.enabled": "simulate failures at all",
    "failures.scale": "multiplies every failure rate (a sensitivity knob to sweep)",
    "failures.rates": "GPU type -> failure rates (missing types use the defaults)",
    "failures.repair.median_h": "median hours a failed domain stays down",
    "failures.repair.sigma": "lognormal sigma of the repair time",
    "failures.repair.min_h": "shortest repair",
    "failures.repair.max_h": "longest repair",
    "failures.restart_minutes": "time to detect, reschedule and reload after a failure",
    "failures.checkpoint_write_minutes": "training stall per checkpoint",
    "scenario": "base scenario file, relative to the sweep file",
    "seeds": "list of seeds, or `{start, count}`; every point runs with every seed",
    "seeds.start": "first seed",
    "seeds.count": "number of consecutive seeds",
    "axes": "swept fields; the runs are their cartesian product",
    "axes[].path": "dotted path of any scenario field, e.g. `sites[1].phase_online.c2-x`",
    "axes[].name": "column name in the summary (default: the path's last key)",
    "axes[].values": "values to try (a table replaces the whole field)",
    "axes[].range": "or a range of numbers or dates",
    "axes[].range.start": "first value",
    "axes[].range.stop": "last value (inclusive when the step lands on it)",
    "axes[].range.step": "spacing (days for dates)",
    "axes[].range.num": "or the number of evenly spaced values",
    "axes[].labels": "display names of the values, in order",
}

CONSTRAINTS = (
    ("minimum", ">= {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "<= {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "length >= {}"),
    ("minItems", "items >= {}"),
    ("pattern", "matches `{}`"),
)


def _ref(node: dict, defs: dict) -> dict:
    while "$ref" in node:
        node = defs[node["$ref"].split("/")[-1]]
    return node


def _type(node: dict, defs: dict) -> str:
    if "$ref" in node:
        return node["$ref"].split("/")[-1]
    if "anyOf" in node:
        return " or ".join(_type(n, defs) for n in node["anyOf"])
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"])
    if "const" in node:
        return json.dumps(node["const"])
    t = node.get("type", "any")
    if t == "array":
        return f"list of {_type(node.get('items', {}), defs)}"
    if t == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"table of {_type(node['additionalProperties'], defs)}"
    if t == "object":
        return "table"
    if t == "string" and "format" in node:
        return node["format"]
    return {"number": "number", "integer": "integer", "string": "string", "boolean": "boolean"}.get(
        t, t
    )


def _constraints(node: dict) -> str:
    parts = []
    for n in [
        node,
        *node.get("anyOf", []),
        node.get("items", {}),
        node.get("additionalProperties") or {},
    ]:
        if isinstance(n, dict):
            parts += [fmt.format(n[k]) for k, fmt in CONSTRAINTS if k in n]
    return ", ".join(dict.fromkeys(parts))


def _rows(node: dict, defs: dict, prefix: str, out: list, models: list) -> None:
    node = _ref(node, defs)
    required = set(node.get("required", []))
    for name, prop in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        target = prop
        if "anyOf" in prop:  # Optional[Model] and unions: recurse into the one model, if any
            refs = [n for n in prop["anyOf"] if "$ref" in n]
            target = refs[0] if len(refs) == 1 else prop
        if "$ref" in target and "properties" in _ref(target, defs):
            models.append((path, _ref(target, defs)))
            out.append((path, _type(prop, defs), "required" if name in required else "", "", ""))
            _rows(target, defs, path + ".", out, models)
            continue
        items = prop.get("items", {})
        if prop.get("type") == "array" and "$ref" in items and "properties" in _ref(items, defs):
            models.append((path + "[]", _ref(items, defs)))
            out.append(
                (path, _type(prop, defs), _default(prop, name in required), _constraints(prop), "")
            )
            _rows(items, defs, path + "[].", out, models)
            continue
        out.append(
            (
                path,
                _type(prop, defs),
                _default(prop, name in required),
                _constraints(prop),
                " ".join(prop.get("description", "").split()) or MEANINGS.get(path, ""),
            )
        )


def _default(prop: dict, required: bool) -> str:
    if required:
        return "required"
    if "default" in prop:
        return f"`{json.dumps(prop['default'])}`"
    return ""


def render_model(title: str, model) -> str:
    schema = model.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    rows: list = []
    models: list = []
    _rows(schema, defs, "", rows, models)
    lines = [f"## {title}", ""]
    doc = " ".join((schema.get("description") or "").split())
    if doc:
        lines += [doc, ""]
    lines += ["| key | type | default | constraints | meaning |", "|---|---|---|---|---|"]
    lines += [
        f"| `{p}` | {t.replace('|', '&#124;')} | {d} | {c.replace('|', '&#124;')} | {m} |"
        for p, t, d, c, m in rows
    ]
    notes = [(p, " ".join(m.get("description", "").split())) for p, m in models]
    notes = [(p, d) for p, d in notes if d]
    if notes:
        lines += ["", "Tables:", ""]
        lines += [f"- `{p}`: {d}" for p, d in notes]
    return "\n".join(lines) + "\n"


def render() -> str:
    return "\n".join(
        [
            HEADER,
            render_model("Scenario file (`runs/*.toml`)", Scenario),
            render_model("Sweep file (`sim sweep FILE`)", SweepFile),
        ]
    )


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = PAGE.read_text() if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE} is out of date: python scripts/scenario_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
