"""The statement through the engine: capex, depreciation, given series and lease terms as the
ledger books them in a run on tests/data/small.toml (64 + 64 H100, 144 GB200)."""

import datetime as dt
import textwrap

import pandas as pd
import pytest

from sim.finance import chart, statement
from sim.runner import run
from sim.spec.money import period_span
from tests.conftest import DATA

START, END = dt.date(2025, 8, 1), dt.date(2026, 9, 1)  # every phase's lead days inside


def _write(tmp, failures: bool) -> object:
    (tmp / "w.toml").write_text(
        textwrap.dedent(
            """
            [[leases]]
            name = "ramped"                  # $2 per GPU-hour, half the fee for 30 days
            tenant = "R"
            start = 2026-01-01
            end = 2026-09-01
            price_usd_per_gpu_hour = 2.0
            ramp_days = 30
            ramp_fee_fraction = 0.5
            [[leases.tranches]]
            pools = ["small-h100"]
            gpus = 16

            [[leases]]
            name = "split"                   # one contract price over an H100 and a GB200 tranche
            tenant = "S"
            start = 2026-03-01
            end = 2026-09-01
            price_usd_per_year = 8.76e6
            sla_availability = 1.0           # every GPU-hour short is credited
            [[leases.tranches]]
            pools = ["small-h100"]
            gpus = 8
            [[leases.tranches]]
            pools = ["small-gb200"]
            gpus = 72

            [[series]]
            name = "ads"
            account = "x_ads_revenue"
            points = [
                { period = "2026Q1", usd = 9.0e6, source = "test" },
                { period = "2026-05", usd = 3.1e6, source = "test" },
            ]
            [[series]]
            name = "staff"
            account = "staff_rnd"
            points = [{ period = "2025", usd = 3.65e6, source = "test" }]
            """
        )
    )
    (tmp / "s.toml").write_text(
        textwrap.dedent(
            f"""
            name = "fin"
            workloads = ["w.toml"]
            [horizon]
            start = {START}
            end = {END}
            [[sites]]
            topology = "{DATA / "small.toml"}"
            [failures]
            enabled = {"true" if failures else "false"}
            scale = 200.0
            [prices]
            capex_usd_per_gpu = {{ H100 = 45000.0, GB200 = 60000.0 }}
            """
        )
    )
    return tmp / "s.toml"


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fin")
    return run(_write(tmp, failures=False), out=tmp / "out", check=True)[0]


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finf")
    return run(_write(tmp, failures=True), seed=3, out=tmp / "out", check=True)[0]


def _ledger(run_dir):
    return pd.read_parquet(run_dir / "ledger.parquet")


def test_capex_booked_equals_gpus_brought_online_times_price(quiet):
    ledger = _ledger(quiet)
    by = ledger.groupby("account", observed=True).amount_usd.sum()
    assert -by["capex_gpus"] == pytest.approx(128 * 45_000 + 144 * 60_000, abs=0.01)
    # facility: IT MW x PUE 1.5 x $2.85M per MW; IT W per GPU = TDP x the catalog's overhead
    from sim.hardware import catalog

    mw = sum(
        n * catalog()[g].tdp_w * catalog()[g].it_overhead_factor * 1.5 / 1e6
        for g, n in (("H100", 128), ("GB200", 144))
    )
    assert -by["capex_facility"] == pytest.approx(mw * 2.85e6, abs=0.01)


def test_the_statement_adds_up_to_the_ledger_to_the_cent(quiet):
    ledger = _ledger(quiet)
    for period in ("2025", "2026Q1", "2026Q2", "2026-08"):
        lines = statement.lines(statement.by_account(ledger, period))
        lo, hi = (pd.Timestamp(d, tz="UTC") for d in period_span(period))
        rows = ledger[(ledger.date >= lo) & (ledger.date < hi)]
        is_capex = rows.account.astype(str).map(chart.line_of) == "capex"
        assert lines["operating_result_usd"] == pytest.approx(
            rows.amount_usd[~is_capex].sum(), abs=0.01
        )
        assert lines["capex_usd"] == pytest.approx(-rows.amount_usd[is_capex].sum(), abs=0.01)
    # every account the engine booked is in the chart
    assert set(ledger.account.astype(str)) <= set(chart.ACCOUNTS)


def test_depreciation_starts_at_online(quiet):
    ledger = _ledger(quiet)
    dep = ledger[ledger.account.astype(str).str.startswith("depreciation")]
    gb = dep[dep.pool == "small-gb200"]
    assert gb.date.min() == pd.Timestamp("2026-03-01", tz="UTC")
    day = gb[gb.date == pd.Timestamp("2026-03-02", tz="UTC")].amount_usd.sum()
    from sim.hardware import catalog

    g = catalog()["GB200"]
    facility_usd = 144 * g.tdp_w * g.it_overhead_factor * 1.5 / 1e6 * 2.85e6
    assert -day == pytest.approx(144 * 60_000 / (5.5 * 365) + facility_usd / (20 * 365))


def test_given_series_book_exactly_their_points(quiet):
    ledger = _ledger(quiet)
    ads = ledger[ledger.account == "x_ads_revenue"]
    q1 = ads[
        (ads.date >= pd.Timestamp("2026-01-01", tz="UTC"))
        & (ads.date < pd.Timestamp("2026-04-01", tz="UTC"))
    ]
    assert q1.amount_usd.sum() == pytest.approx(9.0e6, abs=0.01)
    assert ads.amount_usd.sum() == pytest.approx(9.0e6 + 3.1e6, abs=0.01)
    # 2025 is in the horizon from August: 153 of its 365 days
    staff = ledger[ledger.account == "staff_rnd"].amount_usd.sum()
    assert staff == pytest.approx(-3.65e6 * 153 / 365, abs=0.01)


def test_a_ramp_bills_half_the_fee_from_delivery_for_30_days(quiet):
    ledger = _ledger(quiet)
    mine = ledger[(ledger.counterparty == "R") & (ledger.account == "lease_revenue")]
    jan = mine[mine.date < pd.Timestamp("2026-01-31", tz="UTC")].amount_usd.sum()
    feb = mine[
        (mine.date >= pd.Timestamp("2026-02-01", tz="UTC"))
        & (mine.date < pd.Timestamp("2026-03-01", tz="UTC"))
    ].amount_usd.sum()
    assert jan == pytest.approx(16 * 2.0 * 24 * 30 * 0.5)
    assert feb == pytest.approx(16 * 2.0 * 24 * 28)


def test_the_contract_split_conserves_its_price_and_weighs_by_value(quiet):
    leases = pd.read_parquet(quiet / "leases.parquet")
    split = leases[leases.contract == "split"].sort_values("tranche")
    assert split.usd_per_hour.sum() == pytest.approx(8.76e6 / 8760, abs=1e-9)
    h100, gb200 = split.usd_per_hour.tolist()
    assert h100 / gb200 == pytest.approx((8 * 45_000) / (72 * 60_000))


def test_an_sla_credits_every_gpu_hour_short(failing):
    leases = pd.read_parquet(failing / "leases.parquet")
    ledger = _ledger(failing)
    split = leases[leases.contract == "split"]
    assert split.gpu_hours_short.sum() > 0  # failures at 200x leave the tenant short
    credit = -ledger[ledger.account == "sla_credit"].amount_usd.sum()
    expected = (split.gpu_hours_short * split.usd_per_hour / split.gpus_contracted).sum()
    assert credit == pytest.approx(expected, rel=1e-9)
    assert leases.revenue_usd.sum() == pytest.approx(
        ledger[ledger.account.isin(["lease_revenue", "sla_credit"])].amount_usd.sum()
    )


def test_the_manifest_kpis_carry_the_statement_over_the_horizon(quiet):
    import json

    kpis = json.loads((quiet / "manifest.json").read_text())["kpis"]
    ledger = _ledger(quiet)
    accounts = ledger.groupby(ledger.account.astype(str)).amount_usd.sum().to_dict()
    lines = statement.lines(accounts)
    assert kpis["operating_result.total_usd"] == pytest.approx(lines["operating_result_usd"])
    assert kpis["free_cash_flow.total_usd"] == pytest.approx(lines["free_cash_flow_usd"])
    assert kpis["capex.total_usd"] == pytest.approx(lines["capex_usd"])
    assert kpis["d_and_a.total_usd"] == pytest.approx(lines["d_and_a_usd"])
    # the campus margin leaves out the given series: it is the result without them
    given = sum(v for a, v in accounts.items() if chart.ACCOUNTS[a].given)
    assert kpis["margin.total_usd"] == pytest.approx(lines["operating_result_usd"] - given)
