"""Assumptions as data: every tagged number has a range and a reason or a source, the perf
ranges match the constants the model uses, and `sim assumptions` lists where each is set."""

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, ValidationError

from sim.assumptions import (
    AssumedFloat,
    collect,
    find,
    set_value,
)
from sim.cli import main
from sim.perf import constants as C
from sim.spec.base import read_toml

ROOT = Path(__file__).resolve().parent.parent
INPUTS = sorted(
    [*ROOT.glob("runs/*.toml"), *ROOT.glob("topologies/*.toml"), *ROOT.glob("workloads/*.toml"),
     *ROOT.glob("examples/mfu/*.toml"), ROOT / "sim/data/gpus.toml"]
)


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_every_assumed_number_has_a_range_around_it_and_a_reason(path):
    for a in find(read_toml(path), str(path)):
        if a.assumed:
            assert a.low <= a.value <= a.high, (path, a.path)
            assert a.low < a.high, (path, a.path, "a range of one point is a fact, not a range")
            assert len(a.why.strip()) > 20, (path, a.path)
        else:
            assert a.source.strip(), (path, a.path, "a tag without a range names its source")


@pytest.mark.parametrize("path", [p for p in INPUTS if p.suffix == ".toml"], ids=lambda p: p.name)
def test_no_number_is_called_assumed_in_a_comment_only(path):
    # `x = 4.0   # assumed: ...` must be written as a tag, so that sensitivity can sample it
    for i, line in enumerate(path.read_text().splitlines(), 1):
        number = r"[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?"  # not a date
        assert not re.match(rf"^\s*\w+\s*=\s*{number}\s*#\s*assumed", line), f"{path.name}:{i}"


def test_perf_ranges_hold_the_values_the_perf_model_uses():
    # PARAMS is the single source; the fitted values come from sim/data/perf_fit.toml and must
    # still lie inside the bounds the fit was given, and the listing reports what the model reads
    listed = {a.path: a for a in collect(ROOT / "examples/mfu/colossus1-mix-uniform.toml")
              if a.file.endswith("sim/perf/constants.py")}
    assert set(listed) == set(C.PARAMS)
    for name, p in C.PARAMS.items():
        value = getattr(C, name)
        assert p.low <= value <= p.high and p.low < p.high, name
        a = listed[name]
        assert a.value == value, name
        if p.kind == "assumed":
            assert (a.low, a.high, a.why) == (p.low, p.high, p.why), name
        else:
            assert not a.assumed and "fitted by sim.perf.fit" in a.source, name
    with C.overridden(STEP_JITTER_CV=0.009):  # the listing follows an override
        assert next(a for a in collect(ROOT / "runs/memphis.toml")
                    if a.path == "STEP_JITTER_CV").value == 0.009


def test_the_typed_tag_keeps_the_fields_own_bounds():
    class M(BaseModel):
        x: AssumedFloat = Field(default=1.0, ge=1)

    assert M(x={"value": 4.0, "assumed": [1.0, 8.0], "why": "w"}).x == 4.0
    with pytest.raises(ValidationError):
        M(x={"value": 0.5, "assumed": [0.0, 8.0], "why": "w"})  # below the field's ge=1
    with pytest.raises(ValidationError, match="outside its assumed range"):
        M(x={"value": 9.0, "assumed": [1.0, 8.0], "why": "w"})


def test_collect_follows_a_scenario_to_its_topologies_workloads_catalog_and_constants():
    found = collect(ROOT / "runs" / "memphis.toml")
    files = {a.file.rsplit("/", 1)[-1] for a in found}
    assert {"memphis.toml", "colossus1.toml", "colossus2.toml", "memphis-training.toml",
            "memphis-serving.toml", "constants.py"} <= files
    paths = {(a.file.rsplit("/", 1)[-1], a.path) for a in found}
    assert ("colossus1.toml", "site.fabric.inter_pool_oversubscription") in paths
    assert ("memphis-training.toml", "training[0].training.global_batch") in paths
    assert ("memphis.toml", "failures.rates.GB200.domain_per_day") in paths
    assert ("constants.py", "STEP_JITTER_CV") in paths  # the perf model's PARAMS
    # the catalog entry of a GPU type the scenario does not use is not listed
    assert ("gpus.toml", "H100-PCIe.nic_gbit_per_s") not in paths


def test_set_value_keeps_the_tag():
    raw = {"a": {"b": [{"x": {"value": 4.0, "assumed": [1.0, 8.0], "why": "w"}}]}}
    set_value(raw, "a.b[0].x", 2.0)
    assert raw["a"]["b"][0]["x"] == {"value": 2.0, "assumed": [1.0, 8.0], "why": "w"}


def test_cli_lists_where_each_is_set(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["assumptions", str(ROOT / "runs" / "memphis.toml")])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert "site.fabric.inter_pool_oversubscription = 4  assumed [1, 8]" in out
    assert "colossus1.toml" in out
    with pytest.raises(SystemExit) as ex:
        main(["assumptions", str(ROOT / "examples/mfu/colossus1-mix-uniform.toml"), "--json"])
    assert ex.value.code == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["path"] == "NET_EFF" for r in rows)
    with pytest.raises(SystemExit) as ex:
        main(["assumptions", "no-such-file.toml"])
    assert ex.value.code == 2
