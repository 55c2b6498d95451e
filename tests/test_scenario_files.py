"""Scenario and topology files: strict models, every problem with its dotted path."""

import json
import subprocess
import sys
import textwrap

import pytest

from sim.errors import InputError
from sim.spec.scenario import Scenario, load_scenario
from tests.conftest import DATA, ROOT


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run_cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "sim", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_default_scenario_is_valid():
    scenario, topologies = load_scenario(ROOT / "runs/memphis.toml")
    assert scenario.horizon.start.isoformat() == "2026-01-01"
    assert [t.site.name for t in topologies] == ["colossus1", "colossus2"]
    # Paths resolve relative to the scenario file, not the working directory.
    assert scenario.sites[0].topology == (ROOT / "topologies/colossus1.toml").resolve()


def test_five_mistakes_give_five_messages_with_five_paths(tmp_path):
    path = write(
        tmp_path,
        "bad.toml",
        """
        name = "memphis"
        seed = -3                      # 1: negative seed
        colour = "blue"                # 2: unknown key
        [horizon]
        start = 2026-01-01
        end = "soon"                   # 3: not a date
        [[sites]]
        topology = "nowhere.toml"      # 4: missing file
        [prices]
        power_usd_per_mwh = -5         # 5: negative price
    """,
    )
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    paths = sorted(p.path for p in exc.value.problems)
    assert paths == [
        "colour",
        "horizon.end",
        "prices.power_usd_per_mwh",
        "seed",
        "sites[0].topology",
    ]
    text = str(exc.value)
    assert "got -3" in text and "got -5" in text and "nowhere.toml" in text


def test_cross_file_problems_are_reported_together(tmp_path):
    path = write(
        tmp_path,
        "s.toml",
        f"""
        name = "x"
        [horizon]
        start = 2027-01-01
        end = 2026-01-01
        [[sites]]
        topology = "{DATA / "small.toml"}"
        phase_gpus = {{ "no-such-phase" = 8 }}
    """,
    )
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    assert [p.path for p in exc.value.problems] == [
        "horizon.end",
        "sites[0].phase_gpus.no-such-phase",
    ]


def test_topology_file_problems_name_their_paths(tmp_path):
    text = (DATA / "small.toml").read_text()
    text = text.replace('gpu = "GB200"', 'gpu = "B300"').replace(
        'pool = "small-h100"\ngpus = 64\nonline = 2026-07-01',
        'pool = "nope"\ngpus = 64\nonline = 2026-07-01',
    )
    text = text.replace("domains_per_leaf_group = 2\n", "domains_per_leaf_group = 20\n")
    bad = tmp_path / "t.toml"
    bad.write_text(text)
    result = run_cli("validate", bad)
    assert result.returncode == 2
    assert "pools[1].gpu: unknown GPU type" in result.stderr
    assert "Traceback" not in result.stderr
    # Reference errors come after the structure is valid; fix the GPU and see the others.
    bad.write_text(text.replace('"B300"', '"GB200"'))
    result = run_cli("validate", bad)
    assert "phases[1].pool: unknown pool" in result.stderr
    assert "pools[0].fabric.domains_per_leaf_group: needs 160 down + 80 up ports" in result.stderr


@pytest.mark.parametrize("content", ["x = [", "name = 1\n[horizon]\nstart = 5", ""])
def test_bad_files_exit_2_without_traceback(tmp_path, content):
    result = run_cli("validate", write(tmp_path, "s.toml", content))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "error:" in result.stderr


def test_policy_and_workload_references_are_checked(tmp_path):
    workload = write(
        tmp_path,
        "w.toml",
        (DATA / "small-workload.toml")
        .read_text()
        .replace('pools = ["small-gb200"]', 'pools = ["small-b300"]'),
    )
    path = write(
        tmp_path,
        "s.toml",
        f"""
        name = "x"
        workloads = ["{workload}"]
        [horizon]
        start = 2026-01-01
        end = 2026-02-01
        [[sites]]
        topology = "{DATA / "small.toml"}"
        [policy]
        kind = "lottery"
    """,
    )
    result = run_cli("validate", path)
    assert result.returncode == 2
    assert "leases[0].tranches[0].pools[0]: unknown pool" in result.stderr
    assert "policy.kind: unknown policy; known: ['fifo', " in result.stderr
    assert "(got 'lottery')" in result.stderr
    path.write_text(
        path.read_text().replace('kind = "lottery"', 'kind = "fifo"\nparams = {backfil = 1}')
    )
    result = run_cli("validate", path)
    assert "policy.params.backfil: unknown key" in result.stderr


def test_missing_file_exits_2():
    result = run_cli("topology", "show", "no/such/file.toml")
    assert result.returncode == 2 and "file not found" in result.stderr


def test_validate_ok_exits_0():
    result = run_cli("validate", "runs/memphis.toml", "topologies/colossus1.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok:") == 2


def test_schema_is_json_schema_of_the_scenario():
    result = run_cli("schema")
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "horizon", "sites"}
    assert set(schema["properties"]) == set(Scenario.model_fields)


def test_topology_show_json_for_colossus1():
    result = run_cli("topology", "show", "topologies/colossus1.toml", "--json")
    info = json.loads(result.stdout)
    assert info["gpus_by_type"] == {"H100": 150_000, "H200": 50_000, "GB200": 20_016}
    assert info["gpus_total"] == 220_016
    assert 290 <= info["it_mw"] <= 310  # FACTS.md: ~300 MW IT
    assert info["facility_mw"] == pytest.approx(info["it_mw"] * 1.4, rel=1e-3)


def test_topology_show_at_a_date_shows_phases_online():
    before = json.loads(
        run_cli(
            "topology", "show", "topologies/colossus2.toml", "--json", "--at", "2026-02-01"
        ).stdout
    )
    after = json.loads(run_cli("topology", "show", "runs/memphis.toml", "--json").stdout)
    assert before["gpus_by_type"] == {"GB200": 110_016, "GB300": 0}
    assert after["gpus_total"] > 700_000 and set(after["gpus_by_type"]) == {
        "H100",
        "H200",
        "GB200",
        "GB300",
    }
    assert [p["online"] for p in before["phases"]][:2] == ["2026-01-01", "2026-03-01"]
