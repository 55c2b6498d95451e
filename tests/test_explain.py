"""`sim explain`: each bottleneck removed alone, against the engine's own placement and MFU."""

from pathlib import Path

import pytest

from sim import perf
from sim.cli import main
from sim.explain import explain, format_explanation
from sim.runner import prepare, run

ROOT = Path(__file__).resolve().parent.parent
MEMPHIS = ROOT / "runs" / "memphis.toml"
SMALL = ROOT / "tests" / "data" / "small-scenario.toml"


@pytest.fixture(scope="module")
def c1():
    return explain(prepare(MEMPHIS), "grok4-c1")


def test_the_mixed_job_is_placed_as_the_engine_places_it(c1):
    prep = prepare(MEMPHIS)
    job = next(j for w in prep.workloads for j in w.training if j.name == "grok4-c1")
    unit = job.parallelism.tp * job.parallelism.pp * job.parallelism.cp
    # whole replicas of each GPU type, together the declared size (C1 holds it on an empty campus)
    assert set(c1.setup.by_type) == {"H100", "H200", "GB200"}
    assert all(n % unit == 0 for n in c1.setup.by_type.values())
    assert sum(c1.setup.by_type.values()) == job.parallelism.dp * unit
    assert c1.setup.cross is not None and c1.setup.cross < min(c1.setup.fabric.values())
    assert 0.08 < c1.mfu < 0.12  # FACTS.md: ~11% MFU on Colossus 1


def test_each_ablation_only_helps_and_all_together_help_most(c1):
    assert {a.key for a in c1.ablations if a.main} == {
        "homogeneous",
        "ideal_fabric",
        "no_failures",
        "no_bubble",
        "perfect_overlap",
    }
    for a in c1.ablations:
        assert a.mfu >= c1.mfu * (1 - 1e-9), a.key
    assert c1.combined >= max(a.mfu for a in c1.ablations if a.main)
    assert c1.largest.mfu == max(a.mfu for a in c1.ablations if a.main)
    text = format_explanation(c1)
    assert f"largest bottleneck: {c1.largest.label}" in text


def test_baseline_matches_the_engine_segment(tmp_path):
    run_dir, _ = run(SMALL, 1, tmp_path)
    e = explain(prepare(SMALL), "llama-8b", run_dir)
    import pandas as pd

    seg = pd.read_parquet(run_dir / "segments.parquet")
    row = seg[seg.name == "llama-8b"].iloc[0]
    assert e.base.step_time_s == pytest.approx(row.step_time_s, rel=1e-9)
    assert e.mfu == pytest.approx(row.mfu / row.att_fragmentation, rel=1e-9)
    homo = next(a for a in e.ablations if a.key == "homogeneous")
    assert homo.mfu == pytest.approx(e.mfu)  # one GPU type already


def test_step_ablation_options_keep_the_defaults():
    job = perf.TrainJob(
        perf.Model(8e9, 32, 4096, 32, 128256, 8192, 8, 14336),
        perf.Training(256, 1),
        perf.Parallelism(tp=8, pp=4, dp=16, vp=2),
    )
    place = perf.Placement.single("H100", 512)
    base = perf.step(job, place)
    assert perf.step(job, place, no_bubble=False, perfect_overlap=False) == base
    nb = perf.step(job, place, no_bubble=True)
    assert nb.attribution["pipeline_bubble"] == 1.0 and nb.mfu > base.mfu
    po = perf.step(job, place, perfect_overlap=True)
    for k in ("tp_cp_comm", "pp_comm", "dp_comm"):
        assert po.attribution[k] == pytest.approx(1.0)


def test_cli(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["explain", str(MEMPHIS), "--job", "grok4-c1"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert "largest bottleneck" in out and "homogeneous GPUs" in out
    with pytest.raises(SystemExit) as ex:
        main(["explain", str(MEMPHIS), "--job", "no-such-job"])
    assert ex.value.code == 2
    assert "grok4-c1" in capsys.readouterr().err
