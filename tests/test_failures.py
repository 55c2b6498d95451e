"""Failures and checkpoint-restart against closed forms (Llama 3's interruption rate)."""

import math

import numpy as np
import pandas as pd
import pytest

from sim.runner import run
from tests.conftest import DATA

LLAMA = DATA / "failures" / "llama3-16k.toml"
# Llama 3: 419 unexpected interruptions in 54 days on 16,384 H100.
RATE_PER_GPU_H = 419 / (54 * 24 * 16_384)


def expected_ettr(c_h: float, w_h: float, r_h: float, mtbf_h: float) -> float:
    """Renewal argument: between failures (exponential, mean M) the job restarts (r), then
    computes in cycles of c plus a checkpoint write w; a failure loses the cycle in progress.
    Kept compute per life = c e^{-r/M} q / (1 - q), q = e^{-(c+w)/M}; divide by E[life] = M."""
    q = math.exp(-(c_h + w_h) / mtbf_h)
    return c_h * math.exp(-r_h / mtbf_h) * q / (1 - q) / mtbf_h


@pytest.fixture(scope="module")
def llama_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("llama")
    return [run(LLAMA, seed=s, out=out, check=True)[0] for s in (1, 2, 3)]


def test_interruptions_arrive_once_per_three_hours(llama_runs):
    rates = []
    for run_dir in llama_runs:
        job = pd.read_parquet(run_dir / "jobs.parquet").iloc[0]
        assert job.gpus_requested == 16_384
        rates.append(job.failures / job.running_hours)
    mtbf_h = 1 / (16_384 * RATE_PER_GPU_H)  # ~3.09 h
    assert mtbf_h == pytest.approx(3.09, abs=0.01)
    assert np.mean(rates) == pytest.approx(1 / mtbf_h, rel=0.06)  # ~460 failures per run


def test_effective_training_time_ratio_matches_the_closed_form(llama_runs):
    mtbf_h = 1 / (16_384 * RATE_PER_GPU_H)
    expected = expected_ettr(0.5, 10 / 3600, 2 / 60, mtbf_h)
    assert expected > 0.90  # a checkpoint every 30 min and 2-minute restarts keep it above 90%
    ettr = [pd.read_parquet(d / "jobs.parquet").ettr.iloc[0] for d in llama_runs]
    assert np.mean(ettr) == pytest.approx(expected, rel=0.02)
    assert min(ettr) > 0.88


def test_failures_appear_in_segments_events_and_the_attribution(llama_runs):
    run_dir = llama_runs[0]
    seg = pd.read_parquet(run_dir / "segments.parquet")
    job = pd.read_parquet(run_dir / "jobs.parquet").iloc[0]
    assert seg.failures.sum() == job.failures > 300
    # every failure found a spare: one segment, restarted in place
    assert len(seg) == 1 and job.interruptions == 0
    assert seg.att_failures.iloc[0] == pytest.approx(job.ettr, rel=1e-9)
    att = seg[[c for c in seg.columns if c.startswith("att_")]].prod(axis=1)
    assert att.iloc[0] == pytest.approx(seg.mfu.iloc[0], rel=1e-9)
    events = pd.read_parquet(run_dir / "events.parquet")
    assert (events.kind == "failure").sum() == job.failures
    pools = pd.read_parquet(run_dir / "pools.parquet")
    assert pools.failures.sum() >= job.failures  # spares fail too
    assert pools.gpu_hours_down.sum() > 0


def test_young_daly_interval_beats_a_long_fixed_one(tmp_path):
    ettr = {}
    for every in (4.0, "young-daly"):
        text = (
            (DATA / "failures" / "job-16k.toml")
            .read_text()
            .replace(
                "checkpoint_interval_h = 0.5",
                f"checkpoint_interval_h = {every!r}".replace("'", '"'),
            )
        )
        (tmp_path / "job-16k.toml").write_text(text)
        for name in ("h100-16k.toml", "llama3-16k.toml"):
            (tmp_path / name).write_text((DATA / "failures" / name).read_text())
        run_dir, _ = run(tmp_path / "llama3-16k.toml", out=tmp_path / "out" / str(every))
        ettr[every] = pd.read_parquet(run_dir / "jobs.parquet").ettr.iloc[0]
    # sqrt(2 x 10 s x 3.09 h) = 8 min: far better than hourly-plus checkpoints at this scale
    assert ettr["young-daly"] > ettr[4.0] + 0.2


def test_no_failures_means_no_loss(tmp_path):
    run_dir, _ = run(LLAMA, out=tmp_path, tables={"failures": {"enabled": False}})
    job = pd.read_parquet(run_dir / "jobs.parquet").iloc[0]
    assert job.failures == 0
    # only the checkpoint writes: 10 s per 30 min of compute
    assert job.ettr == pytest.approx(0.5 / (0.5 + 10 / 3600), rel=1e-3)
