"""Mechanisms of the training model: sharding, FP4, collectives by tier, MoE all-to-all.

Expected values are written as the arithmetic that gives them, from the model's named constants.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.errors import InputError
from sim.hardware import gpu
from sim.perf import Parallelism, Placement, Training, TrainJob, memory, step
from sim.perf import constants as C
from sim.perf.collectives import all_to_all_s, reduce_scatter_s
from sim.perf.model import Model
from sim.perf.shapes import LLAMA3_70B, LLAMA31_405B

GPT_3_6B = Model(params=3.6e9, layers=30, hidden=3072, heads=32, vocab=51200, seq_len=2048)


def job(model, batch, par, mb=1, precision="bf16", recompute="none"):
    return TrainJob(model, Training(batch, mb, precision, recompute), par)


# -- sharding ---------------------------------------------------------------------------------


def test_fsdp_at_64_gpus_beats_replicated_dp_that_must_recompute():
    pl = Placement.single("H100", 64)
    replicated = job(GPT_3_6B, 1024, Parallelism(1, 1, 64, zero_stage=0), mb=4)
    fsdp = job(GPT_3_6B, 1024, Parallelism(1, 1, 64, zero_stage=3), mb=4)
    assert not step(replicated, pl).fits  # 16 B x 3.6e9 = 58 GB of states + activations
    recomputed = job(GPT_3_6B, 1024, Parallelism(1, 1, 64, zero_stage=0), 4, "bf16", "full")
    r_dp, r_fsdp = step(recomputed, pl), step(fsdp, pl)
    assert r_dp.fits and r_fsdp.fits
    assert r_fsdp.step_time_s < r_dp.step_time_s


def test_zero_stages_shard_optimizer_then_gradients_then_weights():
    g = gpu("H100")
    par = {z: Parallelism(1, 1, 64, zero_stage=z) for z in range(4)}
    use = {z: memory(job(GPT_3_6B, 64, par[z]), g) for z in range(4)}
    n = GPT_3_6B.structure_params  # tp = pp = 1: every parameter on every GPU
    assert use[0].optimizer_gb == pytest.approx(12 * n / 1e9)
    assert use[1].optimizer_gb == pytest.approx(12 * n / 64 / 1e9)
    assert use[1].grads_gb == pytest.approx(2 * n / 1e9)
    assert use[2].grads_gb == pytest.approx(2 * n / 64 / 1e9)
    assert use[2].weights_gb == pytest.approx(2 * n / 1e9)
    layer = GPT_3_6B.attn_params_layer + GPT_3_6B.mlp_params_layer
    assert use[3].weights_gb == pytest.approx((2 * n / 64 + 2 * 2 * layer) / 1e9)


def test_zero_stage_must_be_0_to_3():
    bad = job(GPT_3_6B, 64, Parallelism(1, 1, 64, zero_stage=4))
    with pytest.raises(InputError, match="zero_stage"):
        step(bad, Placement.single("H100", 64))


# -- precision --------------------------------------------------------------------------------


def test_fp4_step_is_shorter_than_fp8_on_gb300_for_a_405b_dense_model():
    pl = Placement.single("GB300", 128)
    par = Parallelism(2, 1, 64, zero_stage=3)
    r8 = step(job(LLAMA31_405B, 512, par, precision="fp8", recompute="full"), pl)
    r4 = step(job(LLAMA31_405B, 512, par, precision="fp4", recompute="full"), pl)
    assert r4.step_time_s < r8.step_time_s
    # MFU is against each precision's own dense peak (15 vs 5 PFLOPS): FP4 MFU is lower.
    assert r4.mfu == pytest.approx(r4.model_flops_per_step / (r4.step_time_s * 128 * 15000e12))
    assert r4.mfu < r8.mfu


def test_fp4_on_a_gpu_without_fp4_runs_at_fp8():
    par = Parallelism(8, 1, 1)
    pl = Placement.single("H100", 8)
    r4 = step(job(GPT_3_6B, 8, par, precision="fp4"), pl)
    r8 = step(job(GPT_3_6B, 8, par, precision="fp8"), pl)
    assert r4.step_time_s == pytest.approx(r8.step_time_s, rel=0.02)


# -- collectives by tier ----------------------------------------------------------------------

NV, B = 720e9, 42.5e9  # bytes/s per GPU: NVLink and NIC tiers


def test_hierarchical_reduce_scatter_sends_a_shrinking_shard_up_each_tier():
    v, o = 8e9, 2.0
    tiers = ((72, NV), (1152, B), (math.inf, B / o))
    t = reduce_scatter_s(v, 4608, 1, tiers)
    # 72 ranks per rack, 16 racks per pod, 4 pods: each level exchanges the shard it has left.
    expect = (
        v * (1 - 1 / 72) / NV
        + v / 72 * (1 - 72 / 1152) / B
        + v / 1152 * (1 - 1152 / 4608) / (B / o)
    )
    assert t == pytest.approx(expect)
    flat = reduce_scatter_s(v, 4608, 1, tiers, "ring")
    assert flat == pytest.approx(4607 / 4608 * v / (B / o))


def test_tree_reduces_in_the_domain_then_sends_the_shard_at_the_outermost_tier():
    v = 8e9
    tiers = ((72, NV), (1152, B), (math.inf, B / 2))
    t = reduce_scatter_s(v, 4608, 1, tiers, "tree")
    assert t == pytest.approx(v * 71 / 72 / NV + v / 72 * (1 - 72 / 4608) / (B / 2))
    assert reduce_scatter_s(v, 64, 1, tiers, "tree") == pytest.approx(v * 63 / 64 / NV)


def test_doubling_a_tier_few_bytes_cross_raises_time_less_than_proportionally():
    v = 8e9
    tiers = {o: ((72, NV), (1152, B), (math.inf, B / o)) for o in (2.0, 4.0)}
    t2, t4 = (reduce_scatter_s(v, 4608, 1, tiers[o]) for o in (2.0, 4.0))
    # Only the bytes that cross the top tier pay for its oversubscription.
    assert t4 - t2 == pytest.approx(v / 1152 * 0.75 / B * (4.0 - 2.0))
    assert t4 < 2 * t2
    # The same through a step: gradient traffic of a job over 4 pods of GB200 racks.
    j = job(LLAMA3_70B, 4608, Parallelism(1, 1, 4608, zero_stage=3), recompute="full")

    def st(o, algo):
        tt = (("GB200", ((1152, 400.0), (math.inf, 400.0 / o))),)
        return step(j, Placement(((("GB200", 4608),)), tiers=tt, algorithm=algo)).step_time_s

    d_hier = st(4.0, "hierarchical") - st(2.0, "hierarchical")
    d_ring = st(4.0, "ring") - st(2.0, "ring")
    assert 0 <= d_hier < d_ring
    assert st(4.0, "hierarchical") < 2 * st(2.0, "hierarchical")


def test_all_to_all_is_paced_by_the_slowest_tier_it_crosses():
    v = 1e9
    tiers = ((72, NV), (math.inf, B))
    assert all_to_all_s(v, 64, 1, tiers) == pytest.approx(v * 63 / 64 / NV)
    assert all_to_all_s(v, 128, 1, tiers) == pytest.approx(max(v * 71 / 128 / NV, v * 56 / 128 / B))


# -- mixture of experts -----------------------------------------------------------------------


def _moe():
    """128 experts of width 1536, top-8 (a fine-grained MoE); params taken from the shape."""
    m = Model(
        params=1.0,
        layers=16,
        hidden=4096,
        heads=32,
        kv_heads=8,
        ffn_hidden=1536,
        vocab=131072,
        seq_len=4096,
        experts=128,
        top_k=8,
    )
    return dataclasses.replace(m, params=m.structure_params)


def _exposed_mp_s(r, n, peak):
    """Exposed TP/CP/EP seconds per step, recovered from the attribution chain."""
    ideal = r.model_flops_per_step / n / peak
    cm = ideal / r.attribution["kernel_efficiency"]
    ch = cm / r.attribution["recompute"]
    return ch * (1 / r.attribution["tp_cp_comm"] - 1)


def test_moe_ep_group_leaving_the_nvl72_domain_pays_its_all_to_all_over_the_nic():
    m = _moe()
    n, batch = 256, 256 * 2
    pl = Placement.single("GB200", n)
    r = {ep: step(job(m, batch, Parallelism(1, 1, n, ep=ep)), pl) for ep in (64, 128)}
    assert r[128].step_time_s > r[64].step_time_s
    g = gpu("GB200")
    nv = g.nvlink_gbyte_per_s * 1e9 * C.NVLINK_EFF
    nic = g.nic_gbit_per_s * 1e9 / 8 * C.NET_EFF
    v = 4096 * 8 * 4096 * C.A2A_BYTES * C.MOE_IMBALANCE  # tokens x top_k x hidden x bytes
    a2a = {64: v * 63 / 64 / nv, 128: max(v * 71 / 128 / nv, v * 56 / 128 / nic)}
    per_step = 2 * 4 * 16  # micro-batches x (dispatch + combine, forward + backward) x layers
    peak = g.bf16_dense_tflops * 1e12
    diff = _exposed_mp_s(r[128], n, peak) - _exposed_mp_s(r[64], n, peak)
    assert diff == pytest.approx(per_step * (a2a[128] - a2a[64]), rel=1e-6)


def test_ep_folds_over_tp_cp_dp_as_megatron_core_does():
    m = _moe()
    ok = job(m, 64, Parallelism(tp=2, pp=1, dp=16, ep=32))  # 32 = tp x dp: expert tp = 1
    assert ok.parallelism.etp == 1 and ok.parallelism.edp == 1
    step(ok, Placement.single("GB200", 32))
    bad = job(m, 64, Parallelism(tp=2, pp=1, dp=16, ep=48))
    with pytest.raises(InputError, match="parallelism.ep"):
        step(bad, Placement.single("GB200", 32))


def test_explicit_experts_give_active_and_total_parameters():
    m = _moe()
    one = 3 * 4096 * 1536
    assert m.mlp_params_layer == 128 * one
    assert m.mlp_active_params_layer == 8 * one
    assert m.n_experts == 128 and m.n_top_k == 8


# -- constants as parameters ------------------------------------------------------------------


def test_every_uncertain_constant_has_a_range_holding_its_value():
    assert C.PARAMS
    for p in C.PARAMS.values():
        assert p.low <= p.value <= p.high, p.name
        assert p.kind in ("fitted", "assumed") and p.why


def test_overridden_constants_change_the_model_and_are_restored():
    j = job(GPT_3_6B, 64, Parallelism(1, 1, 64))
    pl = Placement.single("H100", 64)
    base = step(j, pl).step_time_s
    with C.overridden(MOE_IMBALANCE=1.5, GEMM_EFF_HOPPER=C.GEMM_EFF_HOPPER / 2):
        assert step(j, pl).step_time_s > base
    assert step(j, pl).step_time_s == base
    with pytest.raises(KeyError), C.overridden(NOT_A_CONSTANT=1.0):
        pass


def test_prediction_interval_brackets_the_step():
    r = step(job(GPT_3_6B, 64, Parallelism(1, 1, 64)), Placement.single("H100", 64))
    d = r.to_dict()
    level, lo, hi = C.interval_quantiles()
    assert d["step_time_s_low"] == pytest.approx(r.step_time_s * math.exp(-hi))
    assert d["step_time_s_high"] == pytest.approx(r.step_time_s * math.exp(-lo))
    assert d["mfu_low"] * d["step_time_s_high"] == pytest.approx(r.mfu * r.step_time_s)
    assert d["step_time_s_low"] <= d["step_time_s"] <= d["step_time_s_high"]


def test_workload_job_tables_take_the_new_keys_to_the_perf_job():
    from sim.spec.mfu import train_job
    from sim.spec.workload import JobShape

    m = _moe()
    shape = JobShape.model_validate(
        {
            "model": {
                "params": m.structure_params,
                "layers": 16,
                "hidden": 4096,
                "heads": 32,
                "kv_heads": 8,
                "ffn_hidden": 1536,
                "vocab": 131072,
                "seq_len": 4096,
                "experts": 128,
                "top_k": 8,
                "shared_experts": 0,
            },
            "training": {
                "global_batch": 512,
                "micro_batch": 1,
                "precision": "fp4",
                "recompute": "none",
            },
            "parallelism": {"tp": 2, "pp": 1, "dp": 128, "cp": 1, "ep": 32, "zero_stage": 3},
        }
    )
    j = train_job(shape.model, shape.training, shape.parallelism)
    assert j.model == m and j.training.precision == "fp4"
    assert (j.parallelism.ep, j.parallelism.zero_stage) == (32, 3)
