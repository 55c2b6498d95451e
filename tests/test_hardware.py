"""The GPU catalog carries the datasheet and FACTS.md figures it cites."""

import pytest

from sim.errors import InputError
from sim.hardware import catalog, gpu


@pytest.mark.parametrize(
    "name, bf16, fp8, hbm_gb, tdp_w, domain, nic",
    [
        # NVIDIA datasheets: dense = sparse / 2.
        ("A100-80GB", 312, None, 80, 400, 8, 200),
        ("H100", 1979 / 2, 3958 / 2, 80, 700, 8, 400),
        ("H200", 1979 / 2, 3958 / 2, 141, 700, 8, 400),
        ("GB200", 360_000 / 72 / 2, 720_000 / 72 / 2, 186, 1200, 72, 400),
        ("GB300", 360_000 / 72 / 2, 720_000 / 72 / 2, 288, 1400, 72, 800),
    ],
)
def test_catalog_pins_datasheet_figures(name, bf16, fp8, hbm_gb, tdp_w, domain, nic):
    g = gpu(name)
    assert g.bf16_dense_tflops == pytest.approx(bf16, rel=1e-3)
    assert g.fp8_dense_tflops == (pytest.approx(fp8, rel=1e-3) if fp8 else None)
    assert g.hbm_gb == hbm_gb
    assert g.tdp_w == tdp_w
    assert g.nvlink_domain_gpus == domain
    assert g.nic_gbit_per_s == nic


def test_fp8_falls_back_to_bf16_without_fp8_units():
    assert gpu("A100-80GB").peak_tflops("fp8") == gpu("A100-80GB").peak_tflops("bf16") == 312
    assert gpu("H100").peak_tflops("fp8") == pytest.approx(
        2 * gpu("H100").peak_tflops("bf16"), rel=1e-3
    )


def test_colossus1_gpu_tdp_and_it_load_match_facts():
    # FACTS.md: 150k H100 + 50k H200 + 20k GB200 -> GPU TDP ~164 MW, IT load ~300 MW.
    mix = {"H100": 150_000, "H200": 50_000, "GB200": 20_000}
    tdp_mw = sum(n * gpu(k).tdp_w for k, n in mix.items()) / 1e6
    it_mw = sum(n * gpu(k).it_w for k, n in mix.items()) / 1e6
    assert tdp_mw == pytest.approx(164, rel=0.01)
    assert it_mw == pytest.approx(300, rel=0.03)


def test_colossus2_phases_it_load_match_facts():
    # FACTS.md: ~110k GB200 ~210 MW; ~110k GB300 ~220 MW.
    assert 110_000 * gpu("GB200").it_w / 1e6 == pytest.approx(210, rel=0.01)
    assert 110_000 * gpu("GB300").it_w / 1e6 == pytest.approx(220, rel=0.01)


def test_every_catalog_entry_is_complete():
    for g in catalog().values():
        assert (
            g.bf16_dense_tflops > 0 and g.hbm_bandwidth_tb_per_s > 0 and g.it_overhead_factor >= 1
        )


def test_unknown_gpu_names_the_known_ones():
    with pytest.raises(InputError, match="known: A100-80GB, H100"):
        gpu("TPUv5")
