"""Inference throughput: decode is bandwidth-bound at small batch, compute-bound at large."""

from __future__ import annotations

import pytest

from sim.errors import InputError
from sim.hardware import gpu
from sim.perf import ServedModel, serve, tokens_per_s_per_gpu
from sim.perf.inference import instance_gpus

LLAMA2_70B = ServedModel(params=70e9, layers=80, hidden=8192, heads=64, kv_heads=8)


def test_batch_one_decode_is_bound_by_weight_reads():
    r = serve(LLAMA2_70B, "H100", "fp8", 294, 292, batch=1)
    # one decode step must at least read the 70 GB of FP8 weights over 2 GPUs' HBM
    assert r.instance_gpus == 2
    assert r.decode_step_s > 70e9 / (2 * 3.35e12)


def test_throughput_rises_with_batch_and_with_hbm_bandwidth_at_small_batch():
    small = tokens_per_s_per_gpu(LLAMA2_70B, "H100", "fp8", 294, 292, batch=8)
    large = tokens_per_s_per_gpu(LLAMA2_70B, "H100", "fp8", 294, 292, batch=256)
    assert large > 5 * small
    h100 = serve(LLAMA2_70B, "H100", "bf16", 294, 292, batch=4, gpus_per_instance=4)
    h200 = serve(LLAMA2_70B, "H200", "bf16", 294, 292, batch=4, gpus_per_instance=4)
    assert h200.decode_step_s < h100.decode_step_s  # same FLOPs, more bandwidth


def test_latency_target_cuts_the_batch():
    free = serve(LLAMA2_70B, "H100", "fp8", 294, 292)
    tight = serve(LLAMA2_70B, "H100", "fp8", 294, 292, tpot_s=0.03)
    assert tight.batch < free.batch
    assert tight.time_per_output_token_s <= 0.03
    assert tight.tokens_per_s_per_gpu < free.tokens_per_s_per_gpu


def test_instance_size_and_fp4_availability():
    assert instance_gpus(LLAMA2_70B, gpu("H200"), "fp8") == 1
    assert instance_gpus(LLAMA2_70B, gpu("H100"), "bf16") == 4
    with pytest.raises(InputError):
        serve(LLAMA2_70B, "H100", "fp4", 294, 292)


def test_server_scenario_is_below_offline():
    off = tokens_per_s_per_gpu(LLAMA2_70B, "GB200", "fp4", 294, 292, "offline")
    srv = tokens_per_s_per_gpu(LLAMA2_70B, "GB200", "fp4", 294, 292, "server")
    assert srv < off
