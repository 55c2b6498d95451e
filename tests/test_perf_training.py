"""Behaviour of the training step model: monotonicity, attribution, heterogeneous placements."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import InputError
from sim.perf import FACTORS, Parallelism, Placement, Training, TrainJob, step
from sim.perf.shapes import GPT_22B, GROK_LIKE, LLAMA3_70B

GPUS = ["H100", "H200", "GB200", "GB300", "A100-80GB"]


def run(model, batch, par, placement, precision="bf16", recompute="none", mb=1):
    return step(TrainJob(model, Training(batch, mb, precision, recompute), par), placement)


def test_attribution_multiplies_back_to_mfu():
    r = run(LLAMA3_70B, 128, Parallelism(4, 8, 2, 1, 5), Placement.single("H100", 64))
    assert tuple(r.attribution) == FACTORS
    assert math.prod(r.attribution.values()) == pytest.approx(r.mfu, rel=1e-9)
    assert all(0 < f <= 1 for f in r.attribution.values())
    # MFU by definition: model FLOPs / (time x sum of dense peaks at the job's precision)
    assert r.mfu == pytest.approx(r.model_flops_per_step / (r.step_time_s * 64 * 989e12))
    assert r.tokens_per_s == pytest.approx(128 * 8192 / r.step_time_s)


def test_fp8_mfu_is_against_fp8_peak_and_bf16_equivalent_is_reported():
    r = run(LLAMA3_70B, 128, Parallelism(4, 8, 2, 1, 5), Placement.single("H100", 64), "fp8")
    assert r.mfu_bf16 == pytest.approx(r.mfu * 1979 / 989)
    b = run(LLAMA3_70B, 128, Parallelism(4, 8, 2, 1, 5), Placement.single("H100", 64), "bf16")
    assert r.step_time_s < b.step_time_s  # FP8 is faster ...
    assert r.mfu < b.mfu  # ... but not twice as fast


def test_recompute_costs_time_but_not_model_flops():
    par, pl = Parallelism(8, 1, 1, 1), Placement.single("A100-80GB", 8)
    runs = {rc: run(GPT_22B, 4, par, pl, "fp16", rc) for rc in ("none", "selective", "full")}
    assert runs["none"].model_flops_per_step == runs["full"].model_flops_per_step
    assert runs["none"].step_time_s < runs["selective"].step_time_s < runs["full"].step_time_s
    assert runs["none"].attribution["recompute"] == 1.0
    assert runs["full"].attribution["recompute"] < runs["selective"].attribution["recompute"] < 1
    assert runs["full"].memory_gb_per_gpu < runs["none"].memory_gb_per_gpu


@settings(max_examples=40, deadline=None)
@given(
    gpu=st.sampled_from(GPUS),
    tp=st.sampled_from([1, 2, 4, 8]),
    pp=st.sampled_from([1, 2, 4, 8]),
    dp=st.sampled_from([1, 2, 4, 8, 16, 32]),
    m=st.sampled_from([1, 2, 4, 8, 16]),
)
def test_doubling_dp_at_fixed_global_batch_never_raises_mfu(gpu, tp, pp, dp, m):
    batch = 2 * dp * m
    small = run(LLAMA3_70B, batch, Parallelism(tp, pp, dp, 1), Placement.single(gpu, tp * pp * dp))
    big = run(
        LLAMA3_70B, batch, Parallelism(tp, pp, 2 * dp, 1), Placement.single(gpu, 2 * tp * pp * dp)
    )
    assert big.mfu <= small.mfu * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(
    gpu=st.sampled_from(GPUS),
    m=st.sampled_from([1, 4, 16, 64]),
    vp=st.sampled_from([1, 2]),
)
def test_more_pipeline_stages_at_fixed_microbatches_raise_the_bubble(gpu, m, vp):
    bubbles = []
    for pp in (2, 4, 8, 10):
        r = run(LLAMA3_70B, m, Parallelism(8, pp, 1, 1, vp), Placement.single(gpu, 8 * pp))
        bubbles.append(1 - r.attribution["pipeline_bubble"])
        # homogeneous: bubble fraction is exactly (p-1)/(v m + p - 1)
        assert bubbles[-1] == pytest.approx((pp - 1) / (vp * m + pp - 1))
    assert bubbles == sorted(bubbles) and bubbles[0] < bubbles[-1]


@settings(max_examples=30, deadline=None)
@given(
    gpu=st.sampled_from(GPUS),
    slow=st.floats(10, 400),
    factor=st.floats(1, 8),
    dp=st.sampled_from([2, 8, 32]),
)
def test_a_faster_fabric_never_lowers_mfu(gpu, slow, factor, dp):
    job = TrainJob(LLAMA3_70B, Training(4 * dp, 1, "bf16", "none"), Parallelism(8, 4, dp, 1))
    a = step(job, Placement.single(gpu, 32 * dp, fabric_gbit_per_s=slow))
    b = step(job, Placement.single(gpu, 32 * dp, fabric_gbit_per_s=slow * factor))
    assert b.mfu >= a.mfu * (1 - 1e-12)


@pytest.mark.parametrize("mode", ["uniform", "proportional"])
def test_a_faster_core_between_types_never_lowers_mfu(mode):
    job = TrainJob(LLAMA3_70B, Training(512, 1, "bf16", "none"), Parallelism(8, 4, 64, 1, 5))
    mfus = [
        step(job, Placement.mix({"H100": 1024, "GB200": 1024}, mode, cross_type_gbit_per_s=bw)).mfu
        for bw in (25, 50, 100, 200, 400)
    ]
    assert mfus == sorted(mfus)


def test_mixed_h100_gb200_uniform_loses_and_proportional_recovers_most():
    job = TrainJob(LLAMA3_70B, Training(512, 1, "bf16", "none"), Parallelism(8, 4, 64, 1, 5))
    h100 = step(job, Placement.single("H100", 2048))
    gb200 = step(job, Placement.single("GB200", 2048))
    uni = step(job, Placement.mix({"H100": 1024, "GB200": 1024}, "uniform"))
    prop = step(job, Placement.mix({"H100": 1024, "GB200": 1024}, "proportional"))
    assert uni.mfu < min(h100.mfu, gb200.mfu)
    # What a perfect split would give: the pure pools' MFUs weighted by their peaks.
    ideal = (989 * h100.mfu + 2500 * gb200.mfu) / (989 + 2500)
    assert prop.mfu > uni.mfu + 0.5 * (ideal - uni.mfu)
    # The attribution shows the straggling, and that proportional partitioning removes most of it.
    assert uni.attribution["straggler"] < 0.8
    assert prop.attribution["straggler"] > uni.attribution["straggler"] + 0.1
    # Proportional gives the faster type more micro-batches per replica.
    per = {t.gpu: t.microbatches for t in prop.per_type}
    assert per["GB200"] > 1.5 * per["H100"]


def test_colossus1_mix_uniform_at_full_scale_is_far_below_40_percent():
    mix = {"H100": 150_000, "H200": 50_000, "GB200": 20_000}  # FACTS.md, Colossus 1
    job = TrainJob(GROK_LIKE, Training(11_000, 1, "bf16", "none"), Parallelism(8, 10, 2750, 1, 4))
    uni = step(job, Placement.mix(mix, "uniform"))
    prop = step(job, Placement.mix(mix, "proportional"))
    assert uni.fits
    assert uni.mfu < 0.2
    assert prop.mfu > 1.5 * uni.mfu
    att = uni.attribution
    # Named causes: the flat gradient ring paced by the core between generations, the bubble of
    # few micro-batches per replica at this scale, and waiting for the slowest generation.
    assert min(att, key=att.get) == "dp_comm" and att["dp_comm"] < 0.5
    assert att["pipeline_bubble"] < 0.75
    assert att["straggler"] < 0.97
    assert prop.attribution["dp_comm"] > att["dp_comm"]


def test_inconsistent_layout_names_the_field():
    job = TrainJob(LLAMA3_70B, Training(128, 1, "bf16", "none"), Parallelism(3, 8, 2, 1))
    with pytest.raises(InputError) as err:
        step(job, Placement.single("H100", 64))
    paths = {p.path for p in err.value.problems}
    assert "parallelism.tp" in paths  # 3*8*2 != 64 and 3 does not divide 64 heads
    with pytest.raises(InputError) as err:
        step(job, Placement.single("B100", 48))
    assert err.value.problems[0].path == "hardware.gpu"


def test_mix_counts_must_be_whole_replicas():
    job = TrainJob(LLAMA3_70B, Training(512, 1, "bf16", "none"), Parallelism(8, 4, 64, 1))
    with pytest.raises(InputError) as err:
        step(job, Placement.mix({"H100": 1000, "GB200": 1048}, "uniform"))
    assert {p.path for p in err.value.problems} == {"hardware.mix.H100", "hardware.mix.GB200"}


def test_with_losses_scales_mfu_and_keeps_the_product():
    r = run(LLAMA3_70B, 128, Parallelism(4, 8, 2, 1, 5), Placement.single("H100", 64))
    r2 = r.with_losses(failures=0.9, capacity_wait=0.8)
    assert r2.mfu == pytest.approx(r.mfu * 0.72)
    assert math.prod(r2.attribution.values()) == pytest.approx(r2.mfu)


def test_inputs_are_hashable_for_caching():
    job = TrainJob(LLAMA3_70B, Training(128, 1, "bf16", "none"), Parallelism(4, 8, 2, 1, 5))
    pl = Placement.single("H100", 64)
    assert hash(job) == hash(TrainJob(LLAMA3_70B, Training(128), Parallelism(4, 8, 2, 1, 5)))
    assert {(job, pl): 1}[(job, pl)] == 1
