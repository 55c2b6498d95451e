"""`sim explain`: bottlenecks removed alone and in every combination (Shapley), against the
engine's own placement; sensitivity and observations over the ranged assumptions."""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sim import perf
from sim.cli import main
from sim.explain import BOTTLENECKS, explain, format_explanation
from sim.hypotheses import JobMFU, analyse, tornado
from sim.perf import constants as C
from sim.runner import prepare, run

ROOT = Path(__file__).resolve().parent.parent
MEMPHIS = ROOT / "runs" / "memphis.toml"
SMALL = ROOT / "tests" / "data" / "small-scenario.toml"
INTER_POOL = "topologies/colossus1.toml:site.fabric.inter_pool_oversubscription"


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


def test_uniform_partitioning_of_a_mixed_job_runs_at_its_slowest_member(c1):
    busy = {t.gpu: t.busy_s for t in c1.base.per_type}
    # equal work per replica: the Blackwell ranks finish first and wait for the Hopper ones
    assert busy["GB200"] < busy["H100"]
    assert c1.base.step_time_s >= max(busy.values())
    prop = next(a for a in c1.ablations if a.key == "proportional")
    assert prop.step_time_s < c1.base.step_time_s / c1.setup.failures  # work split by speed


def test_a_slower_core_never_raises_mfu():
    model = JobMFU(prepare(MEMPHIS), "grok4-c1")
    mfus = [model.mfu({INTER_POOL: x}) for x in (1.0, 1.5, 2.0, 4.0, 6.0, 8.0)]
    assert all(b <= a for a, b in zip(mfus, mfus[1:], strict=False)), mfus
    assert mfus[-1] < mfus[0]


def test_each_ablation_only_helps_and_all_together_help_most(c1):
    assert {a.key for a in c1.main} == set(BOTTLENECKS.values())
    for a in c1.ablations:
        assert a.mfu >= c1.mfu * (1 - 1e-9), a.key
    assert c1.combined >= max(a.mfu for a in c1.main)
    text = format_explanation(c1)
    assert "largest bottleneck: " in text


def test_shapley_shares_add_up_to_the_gap(c1):
    assert set(c1.shapley) == set(BOTTLENECKS)
    assert c1.gap == pytest.approx(c1.combined - c1.mfu, abs=1e-15)
    assert math.fsum(c1.shapley.values()) == pytest.approx(c1.gap, abs=1e-12)
    # a bottleneck whose removal alone gains nothing can still carry a share (interactions),
    # but never a negative one here: every ablation only helps in every combination
    assert all(v >= -1e-12 for v in c1.shapley.values())


def test_the_all_removed_line_closes_the_bottleneck_block(c1):
    lines = format_explanation(c1).splitlines()
    i = next(k for k, line in enumerate(lines) if "removed together" in line)
    assert lines[i - len(c1.main) : i] == [
        line for line in lines if line.startswith("  ") and any(a.label in line for a in c1.main)
    ]


def test_the_fastest_type_is_faster_per_step_even_where_its_mfu_is_lower(c1):
    # MFU is a share of each GPU's peak: GB200 has 2.5x H100's BF16 peak on the same 400 Gb/s
    # NIC, so the same job steps faster on it while reaching a smaller share of its peak.
    t = c1.homogeneous_step_s
    assert t["GB200"] < t["H100"]
    fast = next(a for a in c1.ablations if a.key == "homogeneous_fastest")
    most = next(a for a in c1.ablations if a.key == "homogeneous")
    if fast.mfu < most.mfu:
        assert "faster than all H100" in format_explanation(c1)


def test_baseline_matches_the_engine_segment(tmp_path):
    run_dir, _ = run(SMALL, 1, tmp_path)
    e = explain(prepare(SMALL), "llama-8b", run_dir)
    seg = pd.read_parquet(run_dir / "segments.parquet")
    row = seg[seg.name == "llama-8b"].iloc[0]
    assert e.base.step_time_s == pytest.approx(row.step_time_s, rel=1e-9)
    assert e.mfu == pytest.approx(row.mfu / row.att_fragmentation, rel=1e-9)
    assert e.setup.failures_from.startswith("measured in")
    homo = next(a for a in e.ablations if a.key == "homogeneous")
    assert homo.mfu == pytest.approx(e.mfu)  # one GPU type already


def test_a_run_folder_is_read_only_when_given(tmp_path):
    # A run written to the scenario's default folder (what README line 1 does) must not change
    # what explain reports without --run.
    sc = tmp_path / "sc"
    shutil.copytree(SMALL.parent, sc)
    scenario = sc / SMALL.name
    before = explain(prepare(scenario), "llama-8b")
    run(scenario, 1)  # writes sc/out/<name>/seed=1
    assert (sc / "out").is_dir()
    after = explain(prepare(scenario), "llama-8b")
    assert after.mfu == before.mfu and after.setup.failures_from == "expected"


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


def test_the_sampled_model_at_the_declared_values_is_explains_mfu(c1):
    model = JobMFU(prepare(MEMPHIS), "grok4-c1")
    assert model.mfu({}) == pytest.approx(c1.mfu, rel=1e-12)
    assert model.mfu(model.nominal) == pytest.approx(c1.mfu, rel=1e-12)
    model.mfu({INTER_POOL: 8.0, "sim/perf/constants.py:STEP_JITTER_CV": 0.01})
    assert model.mfu({}) == pytest.approx(c1.mfu, rel=1e-12)  # a sample leaves no trace
    names = {i.name for i in model.inputs}
    assert INTER_POOL in names
    # inputs of other jobs and of money are not sampled for this job
    assert not any("prices." in n or "serving" in n or "training[1]" in n for n in names)


def test_perf_constants_enter_as_the_perf_model_reads_them():
    model = JobMFU(prepare(MEMPHIS), "grok4-c1")  # a bf16 job
    # FP4 recipe terms cannot move a bf16 job: listed as not read, never sampled
    assert {"FP4_GEMM_RATIO", "FP4_BF16_FRACTION"} <= {a.path for a in model.unread}
    perf_inputs = {i.assumption.path: i for i in model.inputs if i.kind == "perf"}
    assert not {"FP4_GEMM_RATIO", "FP4_BF16_FRACTION"} & set(perf_inputs)
    # fitted constants are sourced, not ranged: never sampled
    assert not any(C.PARAMS[n].kind == "fitted" for n in perf_inputs)
    # more per-GPU jitter: the synchronous step waits longer for its slowest GPU
    jitter = perf_inputs["STEP_JITTER_CV"]
    lo, hi = jitter.assumption.low, jitter.assumption.high
    assert model.mfu({jitter.name: hi}) < model.mfu({}) < model.mfu({jitter.name: lo})


def test_sensitivity_is_deterministic_for_a_seed():
    prep = prepare(MEMPHIS)
    a = analyse(prep, "grok4-c1", samples=16, seed=0, observed=0.11, rejection_samples=256,
                trajectories=4)
    b = analyse(prep, "grok4-c1", samples=16, seed=0, observed=0.11, rejection_samples=256,
                trajectories=4)
    assert a.to_dict() == b.to_dict()
    fig = tornado(a)  # the report's chart: one bar pair per input, largest ST on top
    label = {i.name: i.label for i in a.inputs}[a.sobol.ranking()[0]]
    assert [t.y[-1] for t in fig.data] == [label] * 2


def test_cli(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["explain", str(MEMPHIS), "--job", "grok4-c1"])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert "largest bottleneck" in out and "homogeneous" in out and "Shapley" in out
    with pytest.raises(SystemExit) as ex:
        main(["explain", str(MEMPHIS), "--job", "no-such-job"])
    assert ex.value.code == 2
    assert "grok4-c1" in capsys.readouterr().err


def test_cli_json_with_sensitivity_and_an_observation(capsys):
    with pytest.raises(SystemExit) as ex:
        main(["explain", str(MEMPHIS), "--job", "grok4-c1", "--sensitivity", "--samples", "16",
              "--observed-mfu", "0.11", "--tolerance", "0.03", "--json"])
    assert ex.value.code == 0
    d = json.loads(capsys.readouterr().out)
    assert {"mfu", "gap", "shapley", "sobol", "posterior", "consistent_fraction"} <= set(d)
    assert math.fsum(d["shapley"].values()) == pytest.approx(d["gap"], abs=1e-12)
    assert all({"S1", "ST"} <= set(v) for v in d["sobol"].values())
    assert INTER_POOL in d["sobol"]
    assert 0 <= d["consistent_fraction"] <= 1
    for name, (lo, hi) in d["posterior"].items():
        plo, phi = d["prior"][name]
        assert plo <= lo <= hi <= phi
