"""Serving in scenarios: the Grok API's latency target and prices are tagged, and a run books
input and output tokens at their own prices."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sim.assumptions import find

ROOT = Path(__file__).resolve().parents[1]


def test_grok_api_has_a_ranged_latency_target_and_input_prices():
    raw = tomllib.loads((ROOT / "workloads" / "memphis-serving.toml").read_text())
    tags = {a.path: a for a in find(raw)}
    tpot = tags["serving[0].tpot_ms"]
    assert tpot.low is not None and tpot.low <= tpot.value <= tpot.high and tpot.why
    for key in (
        "price_usd_per_million_input_tokens",
        "price_usd_per_million_cached_input_tokens",
        "cached_input_fraction",
    ):
        a = tags[f"serving[0].{key}"]
        assert (a.low is not None and a.why) or a.source, key


def test_a_run_books_input_and_output_tokens_each_at_its_price_to_the_cent(tmp_path):
    import pandas as pd

    from sim.runner import run

    data = ROOT / "tests" / "data"
    (tmp_path / "w.toml").write_text(
        """
[[serving]]
name = "api"
precision = "fp8"
prompt_tokens = 3000
output_tokens = 600
pools = ["small-h100"]
demand_tokens_per_day = [[2026-01-01, 1.0e9]]
price_usd_per_million_tokens = 2.0
price_usd_per_million_input_tokens = 0.5
price_usd_per_million_cached_input_tokens = 0.125
cached_input_fraction = 0.4
tpot_ms = 50.0
[serving.model]
params = 8.0e9
layers = 32
hidden = 4096
heads = 32
kv_heads = 8
"""
    )
    (tmp_path / "s.toml").write_text(
        f"""
name = "serving-money"
seed = 1
workloads = ["w.toml"]
[horizon]
start = 2026-01-01
end = 2026-01-11
[[sites]]
topology = "{data / 'small.toml'}"
[policy]
kind = "fifo"
[failures]
enabled = false
"""
    )
    folder, _ = run(tmp_path / "s.toml", out=tmp_path / "out")
    serving = pd.read_parquet(folder / "serving.parquet")
    ledger = pd.read_parquet(folder / "ledger.parquet")
    served = serving.served_tokens.to_numpy()
    # the fleet is requested on day 0 and holds the demand from day 1 (64 H100 are ample)
    assert served[0] == 0.0 and (served[1:] == 1.0e9).all()
    # per day: 1e9 output tokens x $2/M; 5e9 prompt tokens, 60% at $0.50/M and 40% at $0.125/M
    days = len(served) - 1
    out_usd = days * 1.0e9 * 2.0 / 1e6
    in_usd = days * 5.0e9 * (0.6 * 0.5 + 0.4 * 0.125) / 1e6
    assert round(serving.output_revenue_usd.sum(), 2) == round(out_usd, 2) == 18_000.00
    assert round(serving.input_revenue_usd.sum(), 2) == round(in_usd, 2) == 15_750.00
    assert serving.input_tokens.sum() == days * 5.0e9
    booked = ledger[ledger.account == "token_revenue"].amount_usd.sum()
    assert round(booked, 2) == round(out_usd + in_usd, 2)
