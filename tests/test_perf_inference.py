"""Serving model: MoE weight reads, memory-decided batch, latency targets, disaggregation."""

from __future__ import annotations

import pytest

from sim.errors import InputError
from sim.hardware import gpu
from sim.perf import ServedModel, pareto, serve, tokens_per_s_per_gpu
from sim.perf.inference import KV_FRACTION, MLA_ROPE_DIM, WEIGHT_BYTES, instance
from sim.perf.inference_fit import FITTED

LLAMA_70B = ServedModel(params=70.6e9, layers=80, hidden=8192, heads=64, kv_heads=8)
# DeepSeek-V3/R1 shape (technical report): MLA latent 512, 256 experts, top-8.
DEEPSEEK = ServedModel(671e9, 61, 7168, 128, 128, 37e9, 256, 8, 512, 160)
# Grok-like MoE (sim/perf/shapes.py): 8 experts, top-2.
GROK = ServedModel(802e9, 80, 12288, 96, 8, 223e9, 8, 2)


def test_moe_parameters_split_into_shared_and_experts():
    # P = S + E e and A = S + k e
    e = (802e9 - 223e9) / (8 - 2)
    assert GROK.expert_params == pytest.approx(e)
    assert GROK.shared_params == pytest.approx(802e9 - 8 * e)
    assert GROK.shared_params + 2 * GROK.expert_params == pytest.approx(223e9)


@pytest.mark.parametrize("model", [GROK, DEEPSEEK])
def test_moe_batch_one_reads_the_active_weights_and_a_large_batch_all(model):
    inst = instance(model, gpu("GB300"), 1, "fp8", 1.0, 0.0)
    wb = WEIGHT_BYTES["fp8"]
    assert sum(inst.weight_bytes_read(1)) == pytest.approx(model.active * wb)
    assert sum(inst.weight_bytes_read(1e6)) == pytest.approx(model.params * wb)
    # in between: expected distinct experts E (1 - (1 - k/E)^b), rising with the batch
    e, k = model.experts, model.top_k
    reads = [sum(inst.weight_bytes_read(b)) for b in (1, 2, 8, 64, 512)]
    assert reads == sorted(reads)
    b = 16
    touched = e * (1 - (1 - k / e) ** b)
    assert inst.weight_bytes_read(b)[1] == pytest.approx(touched * model.expert_params * wb)


def test_mla_keeps_the_compressed_latent_per_token():
    inst = instance(DEEPSEEK, gpu("H200"), 8, "fp8", 2.0, 0.0)
    assert inst.kv_bytes_per_token() == 61 * (512 + MLA_ROPE_DIM) * 2.0
    gqa = instance(LLAMA_70B, gpu("H200"), 1, "fp8", 1.0, 0.0)
    assert gqa.kv_bytes_per_token() == 2 * 80 * 8 * 128 * 1.0


def test_more_hbm_admits_a_larger_batch():
    h100 = gpu("H100")
    ctx = 1500.0
    prev = 0
    for hbm in (80.0, 96.0, 141.0, 192.0):
        g = h100.model_copy(update={"hbm_gb": hbm})
        inst = instance(LLAMA_70B, g, 2, "fp8", 1.0, FITTED.reserve_gb)
        free = KV_FRACTION * ((hbm - FITTED.reserve_gb) * 1e9 - 70.6e9 / 2)
        expected = int(free * 2 / (2 * 80 * 8 * 128 * ctx))
        assert inst.max_sequences(ctx) == expected
        assert expected > prev
        prev = expected
    small = serve(LLAMA_70B, "H100", "fp8", 1000, 1000, gpus_per_instance=2)
    large = serve(LLAMA_70B, "H200", "fp8", 1000, 1000, gpus_per_instance=2)
    assert large.batch > small.batch


def test_capacity_is_weights_plus_kv_not_a_fraction_of_hbm():
    # 671 GB of FP8 weights on 8 x 141 GB: far above half the HBM, yet it fits with KV room
    r = serve(DEEPSEEK, "H200", "fp8", 2000, 1000, gpus_per_instance=8)
    assert r.weights_gb_per_gpu > 0.5 * 141
    assert r.weights_gb_per_gpu + r.kv_gb_per_gpu <= 141
    with pytest.raises(InputError):  # on 8 x 80 GB the weights alone do not fit
        serve(DEEPSEEK, "H100", "fp8", 2000, 1000, gpus_per_instance=8)


@pytest.mark.parametrize(
    "model,gpu_name,precision",
    [(LLAMA_70B, "H100", "fp8"), (GROK, "GB200", "fp8"), (DEEPSEEK, "GB300", "fp4")],
)
def test_tokens_per_gpu_never_rise_as_the_tpot_target_tightens(model, gpu_name, precision):
    offline = serve(model, gpu_name, precision, 2000, 500)
    last = offline.tokens_per_s_per_gpu
    for tpot in (1.0, 0.2, 0.1, 0.07, 0.05, 0.04, 0.03):
        try:
            r = serve(model, gpu_name, precision, 2000, 500, tpot_s=tpot)
        except InputError:
            break  # tighter than batch 1 can go: nothing meets it
        assert r.tpot_s <= tpot
        assert r.tokens_per_s_per_gpu <= last * (1 + 1e-12)
        last = r.tokens_per_s_per_gpu
    assert last < offline.tokens_per_s_per_gpu  # the tightest target met costs throughput


def test_tokens_per_s_per_user_target_is_a_tpot_bound():
    a = serve(LLAMA_70B, "H200", "fp8", 1000, 1000, tokens_per_s_per_user=20.0)
    b = serve(LLAMA_70B, "H200", "fp8", 1000, 1000, tpot_s=1 / 20.0)
    assert a == b
    assert a.tokens_per_s_per_user >= 20.0


def test_ttft_target_is_met():
    r = serve(LLAMA_70B, "H100", "fp8", 8000, 500, ttft_s=1.0)
    assert r.ttft_s <= 1.0


def test_disaggregated_shares_and_gpu_seconds_add_up():
    r = serve(DEEPSEEK, "GB200", "fp4", 2000, 1000, disaggregated=True)
    per_out = r.gpu_s_per_output_token + r.gpu_s_per_input_token * 2000 / 1000
    assert r.tokens_per_s_per_gpu == pytest.approx(1 / per_out)
    assert r.prefill_gpu_share == pytest.approx(r.gpu_s_per_input_token * 2 / per_out)
    assert r.input_tokens_per_s_per_gpu == pytest.approx(2 * r.tokens_per_s_per_gpu)


def test_chunked_step_splits_into_decode_and_prefill_gpu_seconds():
    r = serve(LLAMA_70B, "H200", "fp8", 1000, 1000, gpus_per_instance=1)
    # one step: TPOT seconds of 1 GPU give `batch` output tokens and batch x P/O prompt tokens
    assert r.gpu_s_per_output_token * r.batch + r.gpu_s_per_input_token * r.batch == (
        pytest.approx(r.tpot_s)
    )


def test_fp4_needs_blackwell_and_batch_cap_is_honoured():
    with pytest.raises(InputError):
        serve(LLAMA_70B, "H100", "fp4", 294, 292)
    assert serve(LLAMA_70B, "H200", "fp8", 294, 292, batch=8).batch == 8


def test_server_scenario_is_below_offline():
    off = tokens_per_s_per_gpu(LLAMA_70B, "GB200", "fp4", 294, 292, "offline")
    srv = tokens_per_s_per_gpu(LLAMA_70B, "GB200", "fp4", 294, 292, "server")
    assert srv < off


def test_pareto_front_trades_interactivity_for_throughput():
    front = pareto(GROK, "GB200", "fp8", 2000, 500)
    assert len(front) > 3
    users = [p.tokens_per_s_per_user for p in front]
    gpus = [p.tokens_per_s_per_gpu for p in front]
    assert users == sorted(users, reverse=True)
    assert gpus == sorted(gpus)
    best = serve(GROK, "GB200", "fp8", 2000, 500)
    assert max(gpus) <= best.tokens_per_s_per_gpu * (1 + 1e-12)


def test_input_and_output_tokens_each_book_their_price_to_the_cent():
    from sim.economics import serving_revenue_usd

    # 1,234,567 output tokens at $2/M; 4,938,268 prompt tokens, 30% cached: 70% at $0.50/M and
    # 30% at $0.125/M
    inp, out = serving_revenue_usd(1_234_567, 4_938_268, 2.0, 0.5, 0.125, 0.3)
    assert round(out, 2) == round(1_234_567 * 2.0 / 1e6, 2) == 2.47
    fresh = 4_938_268 * 0.7 * 0.5 / 1e6
    cached = 4_938_268 * 0.3 * 0.125 / 1e6
    assert round(inp, 2) == round(fresh + cached, 2) == 1.91
