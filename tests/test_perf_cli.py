"""`sim mfu FILE`: the mfu file model, its errors, the JSON output, the sweep, the topology option."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.errors import InputError
from sim.spec.mfu import load_mfu

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "mfu"
ROW = EXAMPLES / "llama31-405b-h100-dgxc.toml"


def cli():
    from sim.cli import cli as group
    from sim.cli.mfu import command

    if "mfu" not in group.commands:
        group.add_command(command)
    return group


def write(tmp_path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def edit(old: str, new: str) -> str:
    text = ROW.read_text()
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_load_and_run(path):
    r = CliRunner().invoke(cli(), ["mfu", str(path), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    for key in (
        "step_time_s",
        "tokens_per_s",
        "model_tflops_per_gpu",
        "mfu",
        "mfu_bf16",
        "memory_gb_per_gpu",
        "fits",
        "attribution",
    ):
        assert key in out
    assert math.prod(out["attribution"].values()) == pytest.approx(out["mfu"])


def test_human_output_and_sweep():
    r = CliRunner().invoke(cli(), ["mfu", str(ROW), "--sweep", "--top", "3"])
    assert r.exit_code == 0, r.output
    assert "MFU" in r.output and "best 3 fitting layouts" in r.output
    r = CliRunner().invoke(cli(), ["mfu", str(ROW), "--sweep", "--top", "3", "--json"])
    sweep = json.loads(r.output)["sweep"]
    assert len(sweep) == 3 and all(s["fits"] for s in sweep)
    assert [s["mfu"] for s in sweep] == sorted((s["mfu"] for s in sweep), reverse=True)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("dp = 4", "dp = 5", "parallelism.tp"),  # tp*pp*dp*cp != gpus
        ("tp = 8", "tp = 3", "parallelism.tp"),  # heads not divisible by tp
        ('gpu = "H100"', 'gpu = "H900"', "hardware.gpu"),
        ("seq_len = 8192", "seq_len = 8192\ncolour = 1", "model.colour"),
        ('precision = "bf16"', 'precision = "fp7"', "training.precision"),
        ("global_batch = 252", "global_batch = 250", "training.global_batch"),
    ],
)
def test_bad_input_names_the_field(tmp_path, old, new, path):
    with pytest.raises(InputError) as err:
        load_mfu(write(tmp_path, edit(old, new)))
    assert path in {p.path for p in err.value.problems}


def test_every_problem_at_once(tmp_path):
    text = edit("dp = 4", "dp = 4\nbogus = 1").replace('gpu = "H100"', 'gpu = "H900"')
    with pytest.raises(InputError) as err:
        load_mfu(write(tmp_path, text.replace("layers = 126\n", "")))
    paths = {p.path for p in err.value.problems}
    assert {"parallelism.bogus", "model.layers"} <= paths


def test_bad_input_exits_2_without_traceback(tmp_path):
    bad = write(tmp_path, edit("dp = 4", "dp = 5"))
    code = (
        "import sys; from sim.cli import cli, main; from sim.cli.mfu import command\n"
        "'mfu' in cli.commands or cli.add_command(command)\n"
        "main(sys.argv[1:])\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "mfu", str(bad)], capture_output=True, text=True, cwd=ROOT
    )
    assert r.returncode == 2
    assert "parallelism.tp" in r.stderr and "Traceback" not in r.stderr


def test_mix_and_gpu_are_exclusive(tmp_path):
    text = edit("gpus = 576", "gpus = 576\nmix = { H100 = 576 }")
    with pytest.raises(InputError) as err:
        load_mfu(write(tmp_path, text))
    assert {p.path for p in err.value.problems} == {"hardware.mix"}


def test_topology_bandwidths_feed_the_placement(tmp_path, monkeypatch):
    """Against the Topology API with a minimal fake: span(pools, gpus) -> Span."""
    import sim.topology as topo_mod
    from sim.hardware import gpu as lookup

    calls = []

    class FakeSpan:
        def __init__(self, tier, bw):
            self.tier, self.bandwidth_gbit_per_s = tier, bw

    class FakeFabric:
        domains_per_leaf_group, leaf_groups_per_pod = 4, 8

    class FakePool:
        def __init__(self, name):
            self.gpu = lookup("H100" if "h100" in name else "GB200")
            self.fabric, self.gpus_per_domain = FakeFabric(), self.gpu.nvlink_domain_gpus
            self.tier_bandwidth_gbit_per_s = {"leaf": 400.0, "spine": 200.0, "core": 100.0}

    class FakeTopology:
        def pool(self, name):
            return FakePool(name)

        def span(self, pools, gpus):
            calls.append((tuple(pools), gpus))
            return FakeSpan("core", 50.0) if len(pools) > 1 else FakeSpan("spine", 200.0)

    monkeypatch.setattr(topo_mod, "load_topology", lambda files: FakeTopology())
    (tmp_path / "campus.toml").write_text("")
    text = edit(
        'gpu = "H100"\ngpus = 576',
        "mix = { H100 = 288, GB200 = 288 }\n"
        'topology = "campus.toml"\npools = ["p-h100", "p-gb200"]',
    )
    _, _, pl = load_mfu(write(tmp_path, text))
    assert dict(pl.fabric_gbit_per_s) == {"H100": 200.0, "GB200": 200.0}
    assert pl.cross_type_gbit_per_s == 50.0
    # Tiers per type from its pool's fabric: leaf group, pod, core (GPUs per block, Gbit/s).
    tiers = dict(pl.tiers)
    assert tiers["H100"] == ((4 * 8, 400.0), (4 * 8 * 8, 200.0), (float("inf"), 100.0))
    assert tiers["GB200"][0] == (4 * 72, 400.0)
    assert (("p-h100",), 288) in calls and (("p-h100", "p-gb200"), 576) in calls


def test_json_keeps_its_keys_and_adds_the_interval():
    r = CliRunner().invoke(cli(), ["mfu", str(ROW), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    for k in ("step_time_s", "model_tflops_per_gpu", "mfu"):
        assert k in d
    assert d["step_time_s_low"] <= d["step_time_s"] <= d["step_time_s_high"]
    assert d["mfu_low"] <= d["mfu"] <= d["mfu_high"]


def test_new_keys_are_accepted(tmp_path):
    text = edit("virtual_pipeline = 7\nzero_stage = 1", "virtual_pipeline = 7\nzero_stage = 3")
    text = text.replace('precision = "bf16"', 'precision = "fp4"')
    r = CliRunner().invoke(cli(), ["mfu", str(write(tmp_path, text)), "--json"])
    assert r.exit_code == 0, r.output
    assert "zero3" in json.loads(r.output)["layout"]


def _sim(*args):
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_a_scenario_file_is_named_as_such_and_points_to_examples():
    r = _sim("mfu", "runs/memphis.toml")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "a scenario file" in r.stderr and "examples/mfu/" in r.stderr and "--job" in r.stderr
    assert r.stderr.count("\n") <= 3  # one problem, not a key error per table


def test_job_from_a_scenario():
    r = _sim("mfu", "runs/memphis.toml", "--job", "grok5-pretrain", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mfu"] > 0
    bad = _sim("mfu", "runs/memphis.toml", "--job", "nope")
    assert bad.returncode == 2 and "grok5-pretrain" in bad.stderr
