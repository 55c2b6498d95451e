"""Model FLOPs: the documented formula, checked by hand arithmetic."""

from __future__ import annotations

import pytest

from sim.perf import Model, Parallelism, Training, TrainJob
from sim.perf.shapes import GPT_1_7B, LLAMA31_405B


def job(model, batch=512, recompute="none"):
    return TrainJob(model, Training(batch, 1, "bf16", recompute), Parallelism(dp=1))


def test_gpt_matches_narayanan_formula():
    # Narayanan et al. 2021, eq. (3) without recomputation: 72 B s l h^2 (1 + s/6h) + 6 B s h V.
    b, s, n_l, h, v = 512, 2048, 24, 2304, 51200
    expected = 72 * b * s * n_l * h**2 * (1 + s / (6 * h)) + 6 * b * s * h * v
    assert job(GPT_1_7B).model_flops_per_step == pytest.approx(expected, rel=1e-9)


def test_full_recompute_is_hardware_not_model_flops():
    b, s, n_l, h, v = 512, 2048, 24, 2304, 51200
    hfu = 96 * b * s * n_l * h**2 * (1 + s / (6 * h)) + 6 * b * s * h * v  # Narayanan eq. (3)
    j = job(GPT_1_7B, recompute="full")
    assert j.hardware_flops_per_step == pytest.approx(hfu, rel=1e-9)
    assert j.model_flops_per_step == job(GPT_1_7B).model_flops_per_step


def test_gpt_is_plain_mlp_with_tied_embeddings_and_llama_is_gated_untied():
    assert not GPT_1_7B.gated and GPT_1_7B.embedding_tables == 1
    assert LLAMA31_405B.gated and LLAMA31_405B.embedding_tables == 2
    # 405B: attention 2h^2 + 2h*1024, MLP 3 h ffn per layer, two 128256 x 16384 tables.
    attn = 2 * 16384**2 + 2 * 16384 * 1024
    assert LLAMA31_405B.attn_params_layer == attn
    assert LLAMA31_405B.mlp_params_layer == 3 * 16384 * 53248
    assert LLAMA31_405B.structure_params == pytest.approx(405e9, rel=0.01)


def test_attention_flops_grow_with_sequence_length():
    short = Model(params=1.7e9, layers=24, hidden=2304, heads=24, vocab=51200, seq_len=2048)
    long = Model(params=1.7e9, layers=24, hidden=2304, heads=24, vocab=51200, seq_len=8192)
    # 4 l s h per token forward
    assert long.attention_flops_per_token == 4 * short.attention_flops_per_token
    assert short.attention_flops_per_token == 4 * 24 * 2048 * 2304


def test_moe_counts_active_parameters_only():
    moe = Model(
        params=400e9,
        active_params=100e9,
        layers=32,
        hidden=8192,
        heads=64,
        vocab=32000,
        seq_len=4096,
    )
    assert moe.is_moe
    # untied embeddings (2 V h) are not linear-layer FLOPs; the rest of the active weights are
    assert moe.linear_flops_per_token == pytest.approx(2 * (100e9 - 2 * 32000 * 8192), rel=1e-9)
    assert moe.mlp_params_layer > 3 * moe.mlp_active_params_layer


def test_inconsistent_params_are_reported():
    bad = Model(params=7e9, layers=80, hidden=8192, heads=64, vocab=32000, seq_len=4096)
    assert [p for p, _ in bad.structure_problems()] == ["model.params"]
