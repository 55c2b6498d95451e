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
