"""Published model shapes, for tests, benchmarks and researchers' own scripts."""

from sim.perf.model import Model

# Meta Llama 3 / 3.1 model cards (and calibration/training.csv).
LLAMA3_70B = Model(
    params=70.6e9,
    layers=80,
    hidden=8192,
    heads=64,
    kv_heads=8,
    ffn_hidden=28672,
    vocab=128256,
    seq_len=8192,
)
LLAMA31_405B = Model(
    params=405e9,
    layers=126,
    hidden=16384,
    heads=128,
    kv_heads=8,
    ffn_hidden=53248,
    vocab=128256,
    seq_len=8192,
)
# Narayanan et al. 2021, Table 1 (1.7B) and Korthikanti et al. 2022 (22B).
GPT_1_7B = Model(params=1.7e9, layers=24, hidden=2304, heads=24, vocab=51200, seq_len=2048)
GPT_22B = Model(
    params=22e9, layers=48, hidden=6144, heads=64, ffn_hidden=24576, vocab=51200, seq_len=2048
)
# A Grok-like mixture of experts: no public Grok 3+ architecture, shape assumed (8 experts of
# width 32768, top-2: ~802B total, ~223B active), as in examples/mfu/grok-like-moe-gb200.toml.
GROK_LIKE = Model(
    params=802e9,
    active_params=223e9,
    layers=80,
    hidden=12288,
    heads=96,
    kv_heads=8,
    ffn_hidden=32768,
    vocab=131072,
    seq_len=8192,
)
