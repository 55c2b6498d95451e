"""`sim serve FILE...`: the examples run, the JSON keys are the issue's, bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "serve").glob("*.toml"))
KEYS = (
    "tokens_per_s_per_gpu",
    "tpot_s",
    "ttft_s",
    "batch",
    "gpus_per_instance",
    "cost_usd_per_million_input_tokens",
    "cost_usd_per_million_output_tokens",
    "price_usd_per_million_input_tokens",
    "price_usd_per_million_output_tokens",
)


def sim(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_every_example_runs_dense_and_moe_on_four_gpu_types_fp8_and_fp4():
    r = sim("serve", *map(str, EXAMPLES), "--json")
    assert r.returncode == 0, r.stderr
    outs = json.loads(r.stdout)
    assert len(outs) == len(EXAMPLES)
    for o in outs:
        for k in KEYS:
            assert k in o and o[k] > 0, (o["file"], k)
    specs = [p.read_text() for p in EXAMPLES]
    seen = {
        (("experts =" in t), g, p)
        for t in specs
        for g in ("H100", "H200", "GB200", "GB300")
        for p in ("fp8", "fp4")
        if f'gpu = "{g}"' in t and f'precision = "{p}"' in t
    }
    assert {g for _, g, _ in seen} == {"H100", "H200", "GB200", "GB300"}
    assert {p for _, _, p in seen} == {"fp8", "fp4"}
    assert {moe for moe, _, _ in seen} == {True, False}


def test_latency_target_is_met_and_money_follows_gpu_seconds(tmp_path):
    path = EXAMPLES[[p.name for p in EXAMPLES].index("llama3-70b-h100-fp8.toml")]
    o = json.loads(sim("serve", str(path), "--json", "--sweep").stdout)
    assert o["tpot_s"] <= 0.050
    # $2.00 per GPU-hour (the file): cost per million = GPU-seconds per token x 2 / 3600 x 1e6
    assert o["cost_usd_per_million_output_tokens"] == pytest.approx(
        o["gpu_s_per_output_token"] * 2.0 / 3600 * 1e6
    )
    assert o["cost_usd_per_million_input_tokens"] == pytest.approx(
        o["gpu_s_per_input_token"] * 2.0 / 3600 * 1e6
    )
    assert len(o["sweep"]) > 3


def test_bad_input_exits_2_naming_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLES[0].read_text().replace('gpu = "GB200"', 'gpu = "H100"'))
    r = sim("serve", str(bad))
    assert r.returncode == 2
    assert "serving.precision" in r.stderr and "FP4" in r.stderr
    assert "Traceback" not in r.stderr
    tight = tmp_path / "tight.toml"
    text = (ROOT / "examples/serve/llama3-70b-h100-fp8.toml").read_text()
    tight.write_text(
        text.replace("value = 50.0, assumed = [20.0, 100.0]", "value = 1.0, assumed = [1.0, 2.0]")
    )
    r = sim("serve", str(tight))
    assert r.returncode == 2 and str(tight) in r.stderr and "latency targets" in r.stderr
