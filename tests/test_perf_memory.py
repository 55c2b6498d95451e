"""Memory fit: byte accounting by hand, and the configurations that must (not) fit."""

from __future__ import annotations

import pytest

from sim.hardware import gpu
from sim.perf import Parallelism, Placement, Training, TrainJob, memory, step
from sim.perf.memory import params_per_gpu
from sim.perf.shapes import LLAMA3_70B, LLAMA31_405B


@pytest.mark.parametrize("precision", ["bf16", "fp8"])
def test_405b_on_576_h100_tp8_pp9_cp2_vp7_fits_in_80gb(precision):
    job = TrainJob(LLAMA31_405B, Training(252, 1, precision, "none"), Parallelism(8, 9, 4, 2, 7))
    r = step(job, Placement.single("H100", 576))
    assert r.fits, r.reason
    assert 60 < r.memory_gb_per_gpu < 80


def test_weight_and_optimizer_bytes_by_hand():
    job = TrainJob(LLAMA31_405B, Training(252, 1, "bf16", "none"), Parallelism(8, 9, 4, 2, 7))
    dense, expert = params_per_gpu(job)
    # 14 layers of the first stage plus its embedding table, split over tp = 8
    layer = 2 * 16384**2 + 2 * 16384 * 1024 + 3 * 16384 * 53248
    assert expert == 0
    assert dense == pytest.approx((14 * layer + 128256 * 16384) / 8)
    m = memory(job, gpu("H100"), 63)
    assert m.weights_gb == pytest.approx(dense * 2 / 1e9)
    assert m.grads_gb == pytest.approx(dense * 2 / 1e9)
    assert m.optimizer_gb == pytest.approx(dense * 12 / 8 / 1e9)  # sharded over dp x cp = 8


def test_70b_unsharded_on_one_h100_does_not_fit_and_says_why():
    job = TrainJob(LLAMA3_70B, Training(64, 1, "bf16", "none"), Parallelism(1, 1, 64, 1))
    r = step(job, Placement.single("H100", 64))
    assert not r.fits
    assert "H100" in r.reason and "weights" in r.reason
    # the same job fits on GB300's 288 GB? no: 70.6e9 x 4 B = 282 GB before activations
    assert not step(job, Placement.single("GB300", 64)).fits


def test_more_pipeline_stages_and_recompute_reduce_memory():
    def mem(pp, rc):
        job = TrainJob(LLAMA3_70B, Training(128, 1, "bf16", rc), Parallelism(8, pp, 64 // pp, 1))
        return step(job, Placement.single("H100", 512)).memory_gb_per_gpu

    assert mem(8, "none") < mem(4, "none") < mem(2, "none")
    assert mem(4, "full") < mem(4, "selective") <= mem(4, "none")


def test_mix_fit_is_judged_per_type():
    job = TrainJob(LLAMA3_70B, Training(128, 1, "bf16", "none"), Parallelism(8, 2, 16, 1))
    r = step(job, Placement.mix({"H100": 128, "GB200": 128}, "uniform"))
    per = {t.gpu: t.memory for t in r.per_type}
    assert per["H100"].total_gb == pytest.approx(per["GB200"].total_gb)
    assert per["GB200"].fits
    assert r.fits == per["H100"].fits
