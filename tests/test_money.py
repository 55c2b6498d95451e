"""Money and contracts: the ledger against the contracts' own arithmetic."""

import pandas as pd
import pytest

from sim.economics import HOURS_PER_YEAR, lease_usd_per_hour, termination_h
from sim.report import summarize
from sim.runner import run
from tests.conftest import DATA, ROOT


def table(run_dir, name):
    return pd.read_parquet(run_dir / f"{name}.parquet")


@pytest.fixture(scope="module")
def leases_run(tmp_path_factory):
    return run(DATA / "leases-only.toml", out=tmp_path_factory.mktemp("l"), check=True)[0]


@pytest.fixture(scope="module")
def contracts_run(tmp_path_factory):
    return run(DATA / "contracts-scenario.toml", out=tmp_path_factory.mktemp("c"), check=True)[0]


def test_the_three_leases_earn_27_8_billion_a_year(leases_run):
    ledger = table(leases_run, "ledger")
    year = ledger[
        (ledger.date >= pd.Timestamp("2027-01-01", tz="UTC"))
        & (ledger.date < pd.Timestamp("2028-01-01", tz="UTC"))
        & (ledger.account == "lease_revenue")
    ]
    by_tenant = year.groupby("counterparty", observed=True).amount_usd.sum()
    # FACTS.md: Anthropic $1.25B/month = $15B/yr, Google ~$11B/yr, Reflection AI ~$1.8B/yr.
    assert round(by_tenant["Anthropic"]) == 15_000_000_000
    assert round(by_tenant["Google"]) == 11_000_000_000
    assert round(by_tenant["Reflection AI"]) == 1_800_000_000
    assert round(year.amount_usd.sum()) == 27_800_000_000
    leases = table(leases_run, "leases")
    # held from their start: delivered + failed GPU-hours without a spare = contracted
    assert (leases.gpu_hours_delivered + leases.gpu_hours_short).tolist() == pytest.approx(
        leases.gpu_hours_contracted.tolist()
    )
    assert leases.gpu_hours_short.sum() > 0  # Colossus 1 is leased whole: no spares


def test_revenue_per_facility_gw_is_in_the_reported_ranges(leases_run):
    contracts = summarize(leases_run)["contracts"]
    # FACTS.md: ~$30-35B/yr per GW (Anthropic, air-cooled), ~$41.6-45.5B (Google, GB300).
    assert 30e9 <= contracts["anthropic"]["usd_per_gw_year"] <= 35e9
    assert 41.6e9 <= contracts["google"]["usd_per_gw_year"] <= 45.5e9


def test_ledger_equals_the_contract_terms_served(leases_run, contracts_run):
    for run_dir in (leases_run, contracts_run):
        ledger, leases = table(run_dir, "ledger"), table(run_dir, "leases")
        held_h = (leases.held_until - leases.held_from).dt.total_seconds() / 3600
        served = (leases.usd_per_hour * held_h.fillna(0)).sum()
        booked = ledger[ledger.account == "lease_revenue"].amount_usd.sum()
        assert booked == pytest.approx(served, rel=1e-12)
        assert booked == pytest.approx(leases.revenue_usd.sum(), rel=1e-12)
        fees = ledger[ledger.account == "termination_fee"].amount_usd.sum()
        assert fees == pytest.approx(leases.termination_fee_usd.sum())


def test_a_noticed_lease_stops_accruing_exactly_when_the_notice_ends(contracts_run):
    lease = table(contracts_run, "leases").set_index("contract").loc["noticed"]
    notice = pd.Timestamp("2026-03-11", tz="UTC")
    assert lease.notice_at == notice and lease.notice_by == "tenant"
    assert lease.end_reason == "notice-tenant"
    assert lease.held_until == notice + pd.Timedelta(days=90)
    ledger = table(contracts_run, "ledger")
    mine = ledger[(ledger.counterparty == "T1") & (ledger.account == "lease_revenue")]
    assert mine.date.max() == notice + pd.Timedelta(days=89)  # the last day it accrued in
    hours = (lease.held_until - lease.held_from).total_seconds() / 3600
    assert mine.amount_usd.sum() == pytest.approx(1000.0 * hours)  # $8.76M/yr = $1,000/h
    fee = ledger[(ledger.counterparty == "T1") & (ledger.account == "termination_fee")]
    assert fee.amount_usd.tolist() == [5.0e5]  # the tenant gave notice: it pays the fee


def test_a_notice_never_cuts_a_lease_before_its_minimum_term(contracts_run):
    lease = table(contracts_run, "leases").set_index("contract").loc["min-term"]
    assert lease.end_reason == "notice-lessor"
    # notice on day 10 with 30 days' notice would end on day 40; the minimum term is 180 days
    assert lease.held_until == pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=180)
    assert lease.revenue_usd == pytest.approx(2.0 * 16 * 180 * 24)


def test_a_tenant_that_renews_keeps_its_capacity(contracts_run):
    lease = table(contracts_run, "leases").set_index("contract").loc["renewing"]
    assert lease.end_reason == "term"
    assert lease.held_until == pd.Timestamp("2026-02-01", tz="UTC") + pd.Timedelta(days=60)
    events = table(contracts_run, "events")
    assert (events[events.subject == "renewing#0"].kind == "lease-renew").sum() == 2


def test_contract_arithmetic():
    assert lease_usd_per_hour(10, price_usd_per_month=1e6) * HOURS_PER_YEAR == pytest.approx(12e6)
    assert lease_usd_per_hour(10, price_usd_per_gpu_hour=2.0) == 20.0
    # notice at 100 h with 10 days: 340 h; minimum term to 1000 h wins; never past the end
    assert termination_h(100, 10, 1000, 5000) == 1000
    assert termination_h(100, 10, 0, 5000) == 340
    assert termination_h(100, 10, 0, 200) == 200


def test_internal_first_trades_lease_revenue_for_earlier_pretraining(tmp_path):
    # failures off: this compares the policies' decisions, and keeps the test fast
    tables = {"failures": {"enabled": False}}
    results = {
        kind: summarize(
            run(
                ROOT / "runs/memphis.toml",
                out=tmp_path / kind,
                tables={**tables, "policy": {"kind": kind}},
            )[0]
        )
        for kind in ("fifo", "internal-first")
    }
    fifo, first = results["fifo"], results["internal-first"]
    assert first["finish"]["grok5-pretrain"] < fifo["finish"]["grok5-pretrain"]
    assert first["lease_revenue_usd"] < fifo["lease_revenue_usd"]
    assert first["notices"]["lessor"] > fifo["notices"]["lessor"] == 0


def test_compare_table_has_a_row_per_policy_and_seed(tmp_path):
    from sim.compare import compare

    table = compare(DATA / "small-scenario.toml", ["fifo", "internal-first"], [1, 2], tmp_path)
    assert list(zip(table.policy, table.seed, strict=True)) == [
        ("fifo", 1),
        ("fifo", 2),
        ("internal-first", 1),
        ("internal-first", 2),
    ]
    assert (table.lease_revenue_usd > 0).all() and table["finish_day:llama-8b"].notna().all()
    assert table.margin_usd_per_year.tolist() == pytest.approx(
        (table.revenue_usd_per_year - table.cost_usd_per_year).tolist()
    )
