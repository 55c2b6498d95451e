"""The money beyond the day's accruals: capex and depreciation from the timeline, given series,
contract pricing and the statement's aggregation over a ledger (pure functions)."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as hs
from pydantic import ValidationError

from sim.finance import capex, chart, leasing, series, statement
from sim.spec.money import Series, period_span

TERMS = capex.CapexTerms(
    gpu_lead_days=30,
    construction_lead_days=60,
    construction_usd_per_mw=2.85e6,
    depreciation_years=5.5,
    facility_life_years=20.0,
    facility_opex_usd_per_mw_year=150_000.0,
)
PRICE = {"H100": 45_000.0, "GB200": 60_000.0}


def test_capex_booked_equals_gpus_brought_online_times_price(small_topology):
    start = dt.date(2025, 1, 1)
    days = (dt.date(2028, 1, 1) - start).days
    items = capex.builds(small_topology, PRICE)
    out = capex.schedule(items, TERMS, start, days, len(small_topology.pools))
    # small.toml: 64 + 64 H100 and 144 GB200 (two NVL72 racks), all online in 2026
    assert out["capex_gpus"].sum() == pytest.approx(128 * 45_000 + 144 * 60_000, abs=0.01)
    h100, gb200 = (small_topology.pool(n) for n in ("small-h100", "small-gb200"))
    assert out["capex_gpus"][:, h100.index].sum() == pytest.approx(128 * 45_000, abs=0.01)
    facility_mw = 144 * gb200.it_w_per_gpu * gb200.pue / 1e6
    assert out["capex_facility"][:, gb200.index].sum() == pytest.approx(
        facility_mw * 2.85e6, abs=0.01
    )
    # GPUs are booked over the 30 days before online (gb200: 2026-03-01), none after
    d = (dt.date(2026, 3, 1) - start).days
    col = out["capex_gpus"][:, gb200.index]
    assert np.count_nonzero(col) == 30 and col[d - 30 : d].sum() == pytest.approx(144 * 60_000)
    # facility opex from online: a year of the GB200 pool's facility MW
    year = out["facility_opex"][d : d + 365, gb200.index].sum()
    assert year == pytest.approx(facility_mw * 150_000.0)


def test_capex_before_the_horizon_is_not_booked_but_depreciation_runs():
    b = capex.Build("x", 0, 1000, 50_000.0, 2.0, dt.date(2025, 1, 11))
    out = capex.schedule([b], TERMS, dt.date(2025, 1, 1), 100, 1)
    # 10 of the 30 lead days fall inside the horizon
    assert out["capex_gpus"].sum() == pytest.approx(1000 * 50_000.0 * 10 / 30)
    assert out["depreciation_gpus"][10:].sum() == pytest.approx(1000 * 50_000.0 / (5.5 * 365) * 90)


def test_depreciation_over_the_life_sums_to_capex():
    b = capex.Build("x", 0, 720, 60_000.0, 1.5, dt.date(2026, 1, 1))
    start = dt.date(2026, 1, 1)
    days = int(20 * 365) + 10
    out = capex.schedule([b], TERMS, start, days, 1)
    assert out["depreciation_gpus"].sum() == pytest.approx(720 * 60_000.0, abs=0.01)
    assert out["depreciation_facility"].sum() == pytest.approx(1.5 * 2.85e6, abs=0.01)
    # the GPU life ends after 5.5 years: 2,007 full days and half a day
    col = out["depreciation_gpus"][:, 0]
    assert np.count_nonzero(col) == 2008 and col[2007] == pytest.approx(col[0] / 2)


def test_a_given_series_books_exactly_its_points():
    s = Series(
        name="ads",
        account="x_ads_revenue",
        points=[
            {"period": "2025", "usd": 1.92e9, "source": "FACTS.md"},
            {"period": "2026Q1", "usd": {"value": 340e6, "source": "FACTS.md"}},
            {"period": "2026-05", "usd": {"value": 1e8, "assumed": [5e7, 2e8], "why": "test"}},
        ],
    )
    cost = Series(
        name="staff",
        account="staff_rnd",
        points=[{"period": "2025Q3", "usd": 9.2e8, "source": "x"}],
    )
    start = dt.date(2025, 1, 1)
    days = (dt.date(2027, 1, 1) - start).days
    out = series.daily([s, cost], start, days)

    def total(account, period):
        lo, hi = period_span(period)
        return out[account][(lo - start).days : (hi - start).days].sum()

    assert total("x_ads_revenue", "2025") == pytest.approx(1.92e9, abs=0.01)
    assert total("x_ads_revenue", "2026Q1") == pytest.approx(340e6, abs=0.01)
    assert total("x_ads_revenue", "2026-05") == pytest.approx(1e8, abs=0.01)
    assert out["x_ads_revenue"].sum() == pytest.approx(1.92e9 + 340e6 + 1e8, abs=0.01)
    assert total("x_ads_revenue", "2026Q2") == pytest.approx(1e8, abs=0.01)  # only May
    # costs book negative; Q3 has 92 days, so 1e7 a day
    assert out["staff_rnd"].sum() == pytest.approx(-9.2e8)
    assert out["staff_rnd"][(dt.date(2025, 8, 1) - start).days] == pytest.approx(-1e7)


def test_a_series_point_needs_a_source_and_periods_may_not_overlap():
    with pytest.raises(ValidationError, match="needs its source"):
        Series(name="a", account="sga", points=[{"period": "2025", "usd": 1.0}])
    with pytest.raises(ValidationError, match="overlap"):
        Series(
            name="a",
            account="sga",
            points=[
                {"period": "2025", "usd": 1.0, "source": "s"},
                {"period": "2025Q2", "usd": 1.0, "source": "s"},
            ],
        )
    with pytest.raises(ValidationError, match="period"):
        Series(name="a", account="sga", points=[{"period": "2025H1", "usd": 1.0, "source": "s"}])


def test_the_split_of_a_contract_over_tranches_conserves_its_price():
    # $1.25B a month over a mixed tranche and a GB200 tranche, weighted by capex per GPU
    v0 = leasing.tranche_value_per_gpu(
        {"H100": 150_000, "H200": 50_000, "GB200": 20_000},
        {"H100": 45e3, "H200": 48e3, "GB200": 60e3},
    )
    assert v0 == pytest.approx((150_000 * 45e3 + 50_000 * 48e3 + 20_000 * 60e3) / 220_000)
    parts = leasing.tranche_prices_usd_per_hour(
        [220_000, 20_000], [v0, 60e3], price_usd_per_month=1.25e9
    )
    assert sum(parts) == 1.25e9 * 12 / 8760  # exactly: the last part takes the remainder
    w0, w1 = 220_000 * v0, 20_000 * 60e3
    assert parts[1] == pytest.approx(1.25e9 * 12 / 8760 * w1 / (w0 + w1))
    # a year of it is the contract's year, to the cent
    assert sum(p * 8760 for p in parts) == pytest.approx(15e9, abs=0.01)
    # a price per GPU-hour by type applies per tranche; with a contract price it only weighs
    by_type = leasing.tranche_prices_usd_per_hour(
        [1000, 72], [2.0, 4.0], price_per_gpu_hour_of_tranche=[2.0, 4.0]
    )
    assert by_type == [2000.0, 288.0]
    weighed = leasing.tranche_prices_usd_per_hour([1000, 72], [2.0, 4.0], price_usd_per_year=8760.0)
    assert weighed == pytest.approx([2000 / 2288, 288 / 2288])


def test_ramp_bills_from_delivery_at_the_reduced_fee():
    # delivered at hour 100, 10-day ramp at half the fee, price $1,000 an hour
    assert leasing.billed_usd(1000.0, 100.0, 0.0, 100.0, 10, 0.5) == 0.0
    assert leasing.billed_usd(1000.0, 100.0, 0.0, 124.0, 10, 0.5) == 24 * 500.0
    across = leasing.billed_usd(1000.0, 100.0, 300.0, 400.0, 10, 0.5)  # ramp ends at 340
    assert across == 40 * 500.0 + 60 * 1000.0
    assert leasing.billed_usd(1000.0, 100.0, 400.0, 424.0, 10, 0.5) == 24_000.0


def test_sla_credit_is_the_shortfall_beyond_the_allowance():
    # 1,000 GPUs for 24 h at $2/GPU-h; SLA 99%: 240 GPU-hours short are allowed
    assert leasing.sla_credit_usd(2000.0, 1000, 24.0, 200.0, 0.99) == 0.0
    assert leasing.sla_credit_usd(2000.0, 1000, 24.0, 1240.0, 0.99) == pytest.approx(2000.0)
    assert leasing.sla_credit_usd(2000.0, 1000, 24.0, 1240.0, None) == 0.0


def _ledger(rows):
    return pd.DataFrame(
        {
            "date": pd.to_datetime([r[0] for r in rows]).tz_localize("UTC"),
            "account": pd.Categorical([r[1] for r in rows]),
            "amount_usd": [r[2] for r in rows],
        }
    )


def test_statement_lines_add_up_to_the_ledger_to_the_cent():
    rng = np.random.default_rng(7)
    names = list(chart.ACCOUNTS)
    rows = []
    for day in pd.date_range("2025-12-01", "2026-04-30", freq="D"):
        for acc in rng.choice(names, size=6):
            sign = 1 if chart.ACCOUNTS[acc].line == "revenue" else -1
            rows.append((day, acc, sign * round(float(rng.uniform(0, 1e8)), 2)))
    ledger = _ledger(rows)
    accounts = statement.by_account(ledger, "2026Q1")
    got = statement.lines(accounts)
    q1 = ledger[(ledger.date >= "2026-01-01") & (ledger.date < "2026-04-01")]
    capex_rows = q1.account.astype(str).map(chart.line_of) == "capex"
    dep_rows = q1.account.astype(str).map(lambda a: chart.ACCOUNTS[a].depreciation)
    assert got["operating_result_usd"] == pytest.approx(q1.amount_usd[~capex_rows].sum(), abs=0.01)
    assert got["capex_usd"] == pytest.approx(-q1.amount_usd[capex_rows].sum(), abs=0.01)
    assert got["d_and_a_usd"] == pytest.approx(-q1.amount_usd[dep_rows].sum(), abs=0.01)
    assert got["free_cash_flow_usd"] == pytest.approx(
        q1.amount_usd.sum() + got["d_and_a_usd"], abs=0.01
    )
    rev = q1[q1.account.astype(str).map(chart.line_of) == "revenue"].amount_usd.sum()
    assert got["revenue_usd"] == pytest.approx(rev, abs=0.01)
    # the detail rows are the ledger's accounts, costs positive
    det = statement.detail(accounts)
    assert sum(r["usd"] for r in det if r["line"] == "rnd") == pytest.approx(got["rnd_usd"])


def test_an_account_outside_the_chart_fails_loudly():
    ledger = _ledger([("2026-01-02", "mystery", -1.0)])
    with pytest.raises(KeyError, match="not in the chart"):
        statement.by_account(ledger, "2026")


def test_costs_of_capacity_follow_its_use():
    # (lease + serving) / online: idle and failed capacity is kept for internal work, R&D
    assert chart.delivery_share(30.0, 50.0, 10.0, 8.0, 2.0) == pytest.approx(0.4)
    assert chart.delivery_share(0.0, 0.0, 0.0, 0.0) == 0.0
    assert chart.account_for("depreciation", "delivery") == "depreciation_cor"
    assert chart.ACCOUNTS[chart.account_for("power", "research")].line == "rnd"


def test_periods_of_a_grain():
    start, end = dt.date(2025, 1, 1), dt.date(2026, 7, 1)
    assert statement.periods("year", start, end) == ["2025", "2026"]
    assert statement.periods("quarter", start, end)[-2:] == ["2026Q1", "2026Q2"]
    assert len(statement.periods("month", start, end)) == 18
    assert statement.periods("2026Q1", start, end) == ["2026Q1"]
    assert statement.coverage("2026", start, end) == pytest.approx(181 / 365)


def test_the_day_book_splits_capacity_costs_by_use_and_books_the_timeline(small_topology):
    from sim.finance.daybook import DayBook
    from sim.spec.scenario import Prices

    prices = Prices(capex_usd_per_gpu=PRICE, gpu_lead_days=30, construction_lead_days=60)
    start = dt.date(2025, 12, 1)
    given = [
        Series(
            name="ads",
            account="x_ads_revenue",
            points=[{"period": "2026Q1", "usd": 9e7, "source": "s"}],
        )
    ]
    book = DayBook(small_topology, prices, start, 400, given)
    h100 = small_topology.pool("small-h100")
    day = (dt.date(2026, 2, 1) - start).days  # 64 H100 online since 2026-01-01
    hours = np.array([24 * 16, 24 * 32, 24 * 8, 24 * 8, 0.0, 0.0])  # lease, train, serve, idle
    rows = dict(((c, a), u) for c, a, u in book.capacity_costs(day, h100.index, hours))
    share = (16 + 8) / 64
    rate = h100.it_w_per_gpu * h100.pue / 1e6 * prices.power_usd_per_mwh  # USD per GPU-hour
    assert -rows[("utility", "power_cost_cor")] == pytest.approx(rate * 24 * 24)
    assert -rows[("utility", "power_cost_rnd")] == pytest.approx(
        rate * 24 * (32 + 8 * prices.idle_power_fraction)
    )
    dep = 64 * 45_000 / (5.5 * 365) + 64 * h100.it_w_per_gpu * h100.pue / 1e6 * 2.85e6 / (20 * 365)
    assert -(rows[("capex", "depreciation_cor")] + rows[("capex", "depreciation_rnd")]) == (
        pytest.approx(dep)
    )
    assert rows[("capex", "depreciation_cor")] / dep == pytest.approx(-share)
    # both H100 phases' leads (30 days before 2026-01-01 and 2026-07-01) fall in the horizon
    capex_total = sum(
        u
        for d in range(400)
        for s_, p, c, a, u in book.scheduled(d)
        if p == "small-h100" and a == "capex_gpus"
    )
    assert capex_total == pytest.approx(-128 * 45_000)
    ads = sum(u for d in range(400) for *_, a, u in book.scheduled(d) if a == "x_ads_revenue")
    assert ads == pytest.approx(9e7)


def test_the_docs_carry_the_chart():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "economics.md").read_text()
    assert chart.markdown() in doc


@given(
    hs.lists(hs.tuples(hs.integers(1, 500_000), hs.floats(1e3, 1e5)), min_size=1, max_size=8),
    hs.floats(1e3, 1e10),
)
def test_any_split_of_a_contract_price_adds_up_to_it(tranches, per_month):
    gpus, values = zip(*tranches, strict=True)
    parts = leasing.tranche_prices_usd_per_hour(list(gpus), list(values), per_month)
    total = per_month * 12 / 8760
    assert sum(parts) == pytest.approx(total, rel=1e-12)
    assert all(p >= -1e-9 * total for p in parts)
