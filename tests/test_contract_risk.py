"""Contract risk, pure parts: hazards and their sampler, renewals, arrivals, market curves,
notice terms, the reclaim rule, contract KPIs, percentiles and paired intervals."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim import market, policies, tenants
from sim.cluster import Cluster
from sim.errors import InputError
from sim.notice_value import paired_interval, unpaired_interval
from sim.policies import ClusterView, GiveNotice, LeaseInfo, Request
from sim.policies.reclaim import ReclaimWhenTight, backlog, notices
from sim.risk import lease_kpis, percentiles, quantile
from sim.rng import stream
from sim.spec.base import validate
from sim.spec.risk import ContractRisk, MarketCurve, TenantBehaviour
from sim.spec.workload import Lease, LeaseArrivals, Tranche, WorkloadFile
from sim.topology import load_topology
from tests.conftest import DATA

SEEDS = range(1, 20_001)


# -- the hazard sampler ------------------------------------------------------------------------
def test_constant_hazard_gives_exponential_survival_over_many_seeds():
    h, months = 0.03, 60
    draws = [tenants.sample_notice_month(stream(s, "tenant:x"), [h] * months) for s in SEEDS]
    n = len(draws)
    for t in (1, 6, 12, 24, 48):
        alive = sum(d is None or d > t for d in draws) / n
        expected = math.exp(-h * t)
        sigma = math.sqrt(expected * (1 - expected) / n)
        assert abs(alive - expected) < 4 * sigma, (t, alive, expected)
    # the tenant still there after 60 months: exp(-h x 60)
    stayed = sum(d is None for d in draws) / n
    assert abs(stayed - math.exp(-h * months)) < 4 * math.sqrt(stayed * (1 - stayed) / n)


def test_piecewise_hazard_starts_when_it_rises():
    # zero for 12 months, then 0.1 a month: nobody leaves in year one; survival to month 12 + t
    # is exp(-0.1 t)
    hz = [0.0] * 12 + [0.1] * 48
    draws = np.array(
        [tenants.sample_notice_month(stream(s, "tenant:y"), hz) or np.inf for s in SEEDS[:5000]]
    )
    assert draws.min() >= 12.0
    alive = (draws > 12 + 5).mean()
    assert abs(alive - math.exp(-0.5)) < 4 * math.sqrt(alive * (1 - alive) / len(draws))


def test_zero_hazard_never_draws():
    rng = stream(1, "tenant:z")
    before = rng.bit_generator.state
    assert tenants.sample_notice_month(rng, [0.0] * 36) is None
    assert rng.bit_generator.state == before


def test_hazard_rises_past_the_price_gap_threshold():
    b = TenantBehaviour(hazard_per_month=0.01, hazard_rise_per_month=0.1, price_gap_threshold=0.25)
    assert tenants.hazard_per_month(b, 0.0) == 0.01
    assert tenants.hazard_per_month(b, 0.25) == 0.01
    assert tenants.hazard_per_month(b, 0.5) == pytest.approx(0.01 + 0.1 * 0.25 / 0.75)
    assert tenants.price_gap(0.6) == pytest.approx(0.4)
    assert tenants.price_gap(1.2) == 0.0


# -- market curves -----------------------------------------------------------------------------
def test_market_curve_declines_and_steps_down_at_each_generation():
    c = MarketCurve(
        anchor=dt.date(2026, 1, 1),
        usd_per_gpu_hour=4.0,
        decline_per_year=0.2,
        next_generation=[dt.date(2026, 6, 1)],
        step_down=0.1,
    )
    assert market.price_usd_per_gpu_hour(c, dt.date(2026, 1, 1)) == 4.0
    assert market.price_usd_per_gpu_hour(c, dt.date(2027, 1, 1)) == pytest.approx(4.0 * 0.8 * 0.9)
    assert market.price_usd_per_gpu_hour(c, dt.date(2026, 5, 31)) == pytest.approx(
        4.0 * 0.8 ** (150 / 365)
    )
    assert market.relative(c, dt.date(2026, 1, 1), dt.date(2028, 1, 1)) == pytest.approx(
        0.8 ** (730 / 365) * 0.9
    )


def test_every_catalog_gpu_has_a_default_curve_with_sourced_or_assumed_numbers():
    from sim.assumptions import find
    from sim.hardware import catalog
    from sim.spec.base import read_toml

    assert set(catalog()) <= set(market.default_curves())
    tagged = {a.path for a in find(read_toml(market.CURVES_PATH))}
    for gpu in market.default_curves():
        for key in ("usd_per_gpu_hour", "decline_per_year", "step_down"):
            assert f"{gpu}.{key}" in tagged


def test_an_assumed_value_outside_its_range_is_an_input_error():
    with pytest.raises(InputError) as err:
        validate(
            MarketCurve,
            {
                "anchor": "2026-01-01",
                "usd_per_gpu_hour": {"value": 9.0, "assumed": [1.0, 3.0], "why": "x"},
            },
            file="m.toml",
        )
    assert "usd_per_gpu_hour" in str(err.value.problems[0])


# -- a lease's plan ----------------------------------------------------------------------------
GPU_OF = {"a": "H100", "b": "GB200"}
FLAT = {
    "H100": MarketCurve(anchor=dt.date(2026, 1, 1), usd_per_gpu_hour=2.0),
    "GB200": MarketCurve(anchor=dt.date(2026, 1, 1), usd_per_gpu_hour=4.0, decline_per_year=0.5),
}


def lease(**kw) -> Lease:
    base = dict(
        name="t",
        tenant="T",
        start=dt.date(2026, 1, 1),
        end=dt.date(2028, 1, 1),
        price_usd_per_gpu_hour=5.0,
        tranches=[Tranche(pools=["a"], gpus=100)],
    )
    return Lease(**{**base, **kw})


def test_renewal_probability_over_many_seeds():
    p = 0.7
    x = lease(renewals=3, behaviour=TenantBehaviour(renewal_probability=p))
    taken = np.array([tenants.plan(x, GPU_OF, FLAT, stream(s, "t")).renewals for s in SEEDS[:8000]])
    # stops at the first refusal: P(k renewals) = p^k (1-p) for k < 3, p^3 for 3
    for k in range(4):
        expected = p**k * ((1 - p) if k < 3 else 1.0)
        got = (taken == k).mean()
        assert abs(got - expected) < 4 * math.sqrt(expected * (1 - expected) / len(taken))


def test_renewal_below_the_threshold_uses_its_own_probability():
    # GB200 falls by half a year: at the end (2 years) the gap is 0.75 > 0.25
    b = TenantBehaviour(renewal_probability=1.0, renewal_probability_below=0.0)
    x = lease(renewals=1, behaviour=b, tranches=[Tranche(pools=["b"], gpus=10)])
    assert tenants.plan(x, GPU_OF, FLAT, stream(1, "t")).renewals == 0
    y = lease(renewals=1, behaviour=b)  # H100 flat: no gap
    assert tenants.plan(y, GPU_OF, FLAT, stream(1, "t")).renewals == 1


def test_without_behaviour_a_lease_keeps_its_contract():
    assert tenants.plan(lease(renewals=2), GPU_OF, FLAT, stream(1, "t")) == tenants.TenantPlan(
        2, None
    )


# -- arrivals ----------------------------------------------------------------------------------
def test_arrivals_are_poisson_and_priced_against_the_market():
    spec = LeaseArrivals(
        name="new",
        start=dt.date(2026, 1, 1),
        arrivals_per_year=6.0,
        pools=["b"],
        gpus={"dist": "fixed", "value": 1000},
        term_days={"dist": "fixed", "value": 365},
        price_to_market={"dist": "fixed", "value": 1.5},
    )
    end = dt.date(2028, 1, 1)
    counts = []
    for s in range(1, 2001):
        got = tenants.arrivals(spec, GPU_OF, FLAT, stream(s, "arrivals:new"), end)
        counts.append(len(got))
    mean = 6.0 * 730 / 365
    assert abs(np.mean(counts) - mean) < 4 * math.sqrt(mean / len(counts))
    first = tenants.arrivals(spec, GPU_OF, FLAT, stream(1, "arrivals:new"), end)[0]
    price = market.price_usd_per_gpu_hour(FLAT["GB200"], first.start) * 1.5
    assert first.price_usd_per_gpu_hour == pytest.approx(price)
    assert first.tranches[0].gpus == 1000 and (first.end - first.start).days == 365


# -- notice terms ------------------------------------------------------------------------------
def workload() -> WorkloadFile:
    b = TenantBehaviour(hazard_per_month=0.02, hazard_rise_per_month=0.1)
    return WorkloadFile(
        leases=[lease(behaviour=b, tenant_notice=dt.date(2026, 6, 1), lessor_notice=None)]
    )


@pytest.mark.parametrize(
    "terms, tenant, lessor",
    [
        ("mutual", True, True),
        ("lessor-only", False, True),
        ("tenant-only", True, False),
        ("none", False, False),
    ],
)
def test_notice_terms(terms, tenant, lessor):
    (w,) = tenants.apply_terms([workload()], ContractRisk(notice=terms))
    x = w.leases[0]
    assert x.lessor_may_reclaim is lessor
    assert (x.tenant_notice is not None) is tenant
    assert (x.behaviour.hazard_per_month > 0) is tenant
    assert (x.behaviour.hazard_rise_per_month > 0) is tenant


def test_default_terms_change_nothing_and_scale_multiplies():
    w = workload()
    assert tenants.apply_terms([w], ContractRisk())[0] is w
    (scaled,) = tenants.apply_terms([w], ContractRisk(hazard_scale=0.5))
    assert scaled.leases[0].behaviour.hazard_per_month == pytest.approx(0.01)
    (off,) = tenants.apply_terms([w], ContractRisk(enabled=False))
    assert off.leases[0].behaviour is None


# -- the reclaim rule --------------------------------------------------------------------------
TOPO = load_topology([DATA / "small.toml"])
P0 = TOPO.pools[0].name


def view_at(now_h: float, leases: dict, free_domains: int = 0) -> ClusterView:
    """A full cluster (held by one lessee) except `free_domains` domains of the first pool."""
    c = Cluster(TOPO)
    c.bring_online(dt.date(2026, 12, 31))
    c.allocate(999, np.arange(free_domains, TOPO.domains))
    return ClusterView(c, now_h, {}, leases)


def info(oid, price, ends, ends_now, gpus=64, noticed=False, may=True) -> LeaseInfo:
    return LeaseInfo(
        oid, f"l{oid}", "T", gpus, (P0,), {P0: gpus}, price, may, noticed, ends, ends_now
    )


def training(oid, submitted_h, gpus=128) -> Request:
    return Request(oid, "training", f"j{oid}", "pretrain", 20, submitted_h, (P0,), (gpus,), 8)


RULE = ReclaimWhenTight(queued_days=10, gpu_days=128 * 5)


def test_reclaim_fires_only_past_its_threshold():
    leases = {1: info(1, 2.0, 5000.0, 3000.0), 2: info(2, 1.0, 5000.0, 3000.0)}
    job = training(7, 0.0)
    # waited 10 + 5 days - a second: 128 x (5 - 1/86400) GPU-days, below 640
    below = view_at((15 * 24) - 1 / 3600, leases)
    assert backlog(below, [job], RULE)[0] == pytest.approx(128 * (5 - 1 / 86400))
    assert notices(below, [job], RULE) == []
    at = view_at(15 * 24, leases)
    # cheapest to return per GPU: lease 2 forgoes 1.0 x 2000 h, lease 1 2.0 x 2000 h
    assert notices(at, [job], RULE) == [GiveNotice(2)]


def test_reclaim_counts_gpus_already_coming_back():
    leases = {
        1: info(1, 2.0, 5000.0, 3000.0, gpus=128, noticed=True),
        2: info(2, 1.0, 5000.0, 3000.0),
    }
    assert notices(view_at(30 * 24, leases), [training(7, 0.0)], RULE) == []


def test_reclaim_does_not_fire_when_free_capacity_covers_the_backlog():
    leases = {2: info(2, 1.0, 5000.0, 3000.0)}
    per_domain = TOPO.pools[0].gpus_per_domain
    covered = view_at(30 * 24, leases, free_domains=-(-128 // per_domain))
    assert notices(covered, [training(7, 0.0)], RULE) == []
    short = view_at(30 * 24, leases, free_domains=128 // per_domain - 1)
    assert notices(short, [training(7, 0.0)], RULE) == [GiveNotice(2)]


def test_a_requeued_job_waits_from_when_it_joined_the_queue_again():
    # submitted at 0 (its place in line), requeued at day 20: at day 30 it has waited 10 days
    p = policies.make("fifo", {"reclaim_when_tight": {"queued_days": 10, "gpu_days": 1}})
    leases = {2: info(2, 1.0, 5000.0, 3000.0)}
    job = training(7, 0.0)
    assert p.decide(view_at(20 * 24, leases), [job]) == []
    assert p.decide(view_at(30 * 24, leases), [job]) == []
    assert p.decide(view_at(30 * 24 + 1, leases), [job]) == [GiveNotice(2)]
    p.decide(view_at(31 * 24, leases), [])  # it started: the next wait starts afresh
    assert p.decide(view_at(32 * 24, leases), [job]) == []


def test_reclaim_skips_leases_it_may_not_take_back():
    leases = {1: info(1, 1.0, 5000.0, 3000.0, may=False), 2: info(2, 3.0, 5000.0, 3000.0)}
    assert notices(view_at(30 * 24, leases), [training(7, 0.0)], RULE) == [GiveNotice(2)]


def test_every_policy_can_carry_the_rule():
    for kind in policies.REGISTRY:
        p = policies.make(kind, {"reclaim_when_tight": {"queued_days": 10, "gpu_days": 640}})
        leases = {2: info(2, 1.0, 5000.0, 3000.0)}
        job = training(7, 0.0, gpus=100_000)
        own = policies.make(kind).decide(view_at(0.0, leases), [job])  # (some reclaim already)
        assert p.decide(view_at(0.0, leases), [job]) == own, kind  # joins the queue at 0
        decisions = p.decide(view_at(30 * 24, leases), [job])
        assert GiveNotice(2) in decisions, kind
    with pytest.raises(Exception, match="reclaim_when_tight.queued_days"):
        policies.make("fifo", {"reclaim_when_tight": {"queued_days": -1}})


# -- KPIs and statistics -----------------------------------------------------------------------
def test_revenue_at_risk_is_contracted_minus_realised_to_the_cent():
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    hours = 1000.0
    leases = pd.DataFrame(
        {
            "contract": ["a", "b", "new-0"],
            "gpus_contracted": [100, 10, 5],
            "gpus_held": [100, 10, 0],
            "usd_per_hour": [123.45, 7.77, 1.0],
            "gpu_hours_contracted": [100 * hours, 10 * hours, 5 * hours],
            "revenue_usd": [123.45 * 600, 7.77 * hours, 0.0],
            "start_at": [t0, t0, t0],
            "held_from": [t0, t0, pd.NaT],
            "held_until": [t0 + pd.Timedelta(hours=600), t0 + pd.Timedelta(hours=hours), pd.NaT],
            "notice_by": ["lessor", "", ""],
        }
    )
    k = lease_kpis(leases, t0, offered={"new-0"})
    assert round(k["lease_revenue_contracted_usd"], 2) == round(123.45 * hours + 7.77 * hours, 2)
    assert round(k["lease_revenue_at_risk_usd"], 2) == round(123.45 * 400, 2)
    assert k["tenant_gpu_hours_taken_back"] == pytest.approx(100 * 400)


def test_quantile_keeps_unreached_milestones_last():
    assert quantile([1.0, 2.0, 3.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.1) == pytest.approx(1.3)
    assert quantile([1.0, math.inf, math.inf], 0.9) == math.inf
    assert quantile([1.0, 2.0, math.inf], 0.5) == 2.0
    t = pd.DataFrame(
        {"policy": ["p"] * 4, "x": [4.0, 1.0, 3.0, 2.0], "finish_day:j": [1, 2, None, 3]}
    )
    mc = percentiles(t, ["x", "finish_day:j"])
    assert mc.loc["p", ("x", "P50")] == 2.5
    assert mc.loc["p", ("finish_day:j", "P90")] == math.inf


def test_paired_interval_arithmetic():
    mean, lo, hi = paired_interval([1.0, 2.0, 3.0])
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]
    m, ulo, uhi = unpaired_interval(a, b)
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 4
    dof = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    assert m == 2.0 and uhi - m == pytest.approx(stats.t.ppf(0.975, dof) * math.sqrt(va + vb))
