"""Contract risk in the engine: tenant hazards, the minimum term, the reclaim rule, revenue at
risk, zero hazards changing nothing, and paired seeds for the value of notice."""

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.cli import cli
from sim.notice_value import (
    option_values,
    paired_interval,
    result_column,
    run_variants,
    unpaired_interval,
)
from sim.risk import figure, lease_kpis, run_kpis
from sim.runner import run
from tests.conftest import DATA

T0 = pd.Timestamp("2026-01-01", tz="UTC")
HAZARD = (
    "[leases.behaviour]\nhazard_per_month = {h}\nhazard_rise_per_month = 0.0\n"
    "price_gap_threshold = 0.25\n"
)


def scenario(tmp_path, workload: str, extra: str = "", end="2027-01-01", name="risk") -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "w.toml").write_text(workload)
    (tmp_path / "s.toml").write_text(
        f'name = "{name}"\nseed = 1\nworkloads = ["w.toml"]\n'
        f"[horizon]\nstart = 2026-01-01\nend = {end}\n"
        f'[[sites]]\ntopology = "{DATA / "small.toml"}"\n'
        "[failures]\nenabled = false\n" + extra
    )
    return str(tmp_path / "s.toml")


def lease_toml(name, h=None, pool="small-h100", gpus=8, start="2026-01-01", end="2028-01-01", **kw):
    body = (
        f'[[leases]]\nname = "{name}"\ntenant = "{name}"\nstart = {start}\nend = {end}\n'
        f"price_usd_per_gpu_hour = {kw.pop('price', 2.0)}\n"
        + "".join(f"{k} = {v}\n" for k, v in kw.items())
        + f'[[leases.tranches]]\npools = ["{pool}"]\ngpus = {gpus}\n'
    )
    return body + (HAZARD.format(h=h) if h is not None else "")


def read(run_dir, table):
    return pd.read_parquet(run_dir / f"{table}.parquet")


def test_constant_hazard_gives_exponential_survival_in_the_engine(tmp_path):
    # 400 leases, each with its own stream; most never get capacity, but the tenant's notice is
    # given all the same and recorded on its row
    h, n = 0.05, 400
    path = scenario(tmp_path, "".join(lease_toml(f"l{i:03d}", h) for i in range(n)))
    leases = read(run(path, out=tmp_path / "o")[0], "leases")
    assert len(leases) == n
    months = (leases.notice_at - T0).dt.total_seconds() / 3600 / (8760 / 12)
    for t in (3, 6, 11):
        alive = float((months.isna() | (months > t)).mean())
        expected = math.exp(-h * t)
        assert abs(alive - expected) < 4 * math.sqrt(expected * (1 - expected) / n), t
    assert set(leases.notice_by[leases.notice_at.notna()]) == {"tenant"}


def test_a_notice_never_cuts_the_minimum_term(tmp_path):
    # a tenant sure to leave in its first month, 30 days' notice, a 180-day minimum term
    w = lease_toml("sure", 1.0, min_term_days=180, notice_days=30)
    leases = read(run(scenario(tmp_path, w), out=tmp_path / "o")[0], "leases")
    r = leases.iloc[0]
    assert r.notice_by == "tenant" and r.notice_at < T0 + pd.Timedelta(days=31)
    assert r.end_at == T0 + pd.Timedelta(days=180) == r.held_until
    assert r.end_reason == "notice-tenant"


# a 64-GPU H100 job submitted on 2026-01-02
TRAIN = (DATA / "small-workload.toml").read_text().split("[[leases]]")[0]


def reclaim_scenario(tmp_path, gpu_days: float, **lease_kw):
    # the lease takes all 64 H100 GPUs online at the start; the 64-GPU job waits behind it
    w = TRAIN + lease_toml("held", gpus=64, notice_days=30, **lease_kw)
    rule = f"queued_days = 5\ngpu_days = {gpu_days}\n"
    policy = f'[policy]\nkind = "fifo"\n[policy.params.reclaim_when_tight]\n{rule}'
    flat = "[contract_risk.market.H100]\nanchor = 2026-01-01\nusd_per_gpu_hour = 2.5\n"
    return scenario(tmp_path, w, policy + flat, end="2026-06-01")


def test_reclaim_fires_only_past_its_threshold_and_frees_exactly_the_noticed_gpus(tmp_path):
    # submitted on day 1, 64 GPUs x (days waited - 5) reaches 128 GPU-days on day 8: the daily
    # pass at 00:00 of 2026-01-09 gives notice; 30 days later the lease's 64 GPUs go to the job
    run_dir = run(reclaim_scenario(tmp_path, 64 * 2), out=tmp_path / "o", check=True)[0]
    ev = read(run_dir, "events")
    notice = ev[ev.kind == "lease-notice"]
    assert notice["at"].tolist() == [T0 + pd.Timedelta(days=8)]
    assert "by lessor" in notice.detail.iloc[0]
    lease = read(run_dir, "leases").iloc[0]
    ends = T0 + pd.Timedelta(days=38)
    assert lease.end_at == lease.held_until == ends and lease.end_reason == "notice-lessor"
    job = read(run_dir, "jobs").set_index("name").loc["llama-8b"]
    assert job.first_start_at == ends
    seg = read(run_dir, "segments").sort_values("start_at").iloc[0]
    assert seg.start_at == ends and seg.gpus == lease.gpus_held == 64
    # the lessor took back 64 GPUs from the notice's end to the horizon's end (2026-06-01)
    k = run_kpis(run_dir)
    hours = (pd.Timestamp("2026-06-01", tz="UTC") - ends).days * 24
    assert k["tenant_gpu_hours_taken_back"] == pytest.approx(64 * hours)
    # valued at the scenario's flat $2.50 H100 market price
    assert k["reclaimed_market_value_usd"] == pytest.approx(64 * hours * 2.5)


def test_reclaim_does_not_fire_below_its_threshold(tmp_path):
    # the job waits the rest of the horizon (150 days): 64 x (150 - 5) = 9,280 GPU-days < 10,000
    run_dir = run(reclaim_scenario(tmp_path, 10_000), out=tmp_path / "o")[0]
    assert (read(run_dir, "events").kind != "lease-notice").all()
    assert read(run_dir, "leases").notice_by.iloc[0] == ""


def test_reclaim_honours_the_minimum_term(tmp_path):
    run_dir = run(reclaim_scenario(tmp_path, 64 * 2, min_term_days=90), out=tmp_path / "o")[0]
    lease = read(run_dir, "leases").iloc[0]
    assert lease.notice_at == T0 + pd.Timedelta(days=8)
    assert lease.end_at == T0 + pd.Timedelta(days=90)


def test_revenue_at_risk_is_contracted_minus_realised_to_the_cent(tmp_path):
    # $3.37/GPU-h on 8 GPUs from 2026-01-01 to 2026-12-01; the tenant gives notice on
    # 2026-03-01 with 90 days: it pays to 2026-05-30 and 185 contracted days are lost
    w = lease_toml("leaver", end="2026-12-01", price=3.37, tenant_notice="2026-03-01")
    run_dir = run(scenario(tmp_path, w), out=tmp_path / "o")[0]
    k = lease_kpis(read(run_dir, "leases"), T0)
    ledger = read(run_dir, "ledger")
    realised = ledger[ledger.account == "lease_revenue"].amount_usd.sum()
    assert round(k["lease_revenue_realised_usd"], 2) == round(realised, 2)
    assert round(k["lease_revenue_contracted_usd"], 2) == round(3.37 * 8 * 334 * 24, 2)
    lost_days = (dt.date(2026, 12, 1) - dt.date(2026, 5, 30)).days
    assert round(k["lease_revenue_at_risk_usd"], 2) == round(3.37 * 8 * lost_days * 24, 2)


def test_zero_hazards_and_no_rule_leave_every_table_as_without_the_model(tmp_path):
    plain = "".join(lease_toml(f"l{i}", gpus=8) for i in range(3)) + TRAIN
    with_hazards = "".join(lease_toml(f"l{i}", 0.2, gpus=8) for i in range(3)) + TRAIN
    a = run(scenario(tmp_path / "a", plain), out=tmp_path / "oa")[0]
    zero = "[contract_risk]\nhazard_scale = 0.0\n"
    b = run(scenario(tmp_path / "b", with_hazards, zero), out=tmp_path / "ob")[0]
    off = "[contract_risk]\nenabled = false\n"
    c = run(scenario(tmp_path / "c", with_hazards, off), out=tmp_path / "oc")[0]
    tables = sorted(p.name for p in a.glob("*.parquet"))
    assert len(tables) >= 6
    for name in tables:
        assert pq.read_table(a / name).equals(pq.read_table(b / name)), name
        assert pq.read_table(a / name).equals(pq.read_table(c / name)), name
    # and with the hazards on, tenants do leave
    d = run(scenario(tmp_path / "d", with_hazards), out=tmp_path / "od")[0]
    assert (read(d, "leases").notice_by == "tenant").any()


ARRIVALS = """
[[lease_arrivals]]
name = "new"
start = 2026-01-01
arrivals_per_year = 12.0
pools = ["small-h100"]
gpus = { dist = "fixed", value = 16 }
term_days = { dist = "lognormal", median = 120, sigma = 0.8, min = 30 }
price_to_market = { dist = "lognormal", median = 1.2, sigma = 0.5 }
"""


def noisy(tmp_path) -> str:
    """A small campus with noise the variants share (failures, new tenants' arrivals) and two
    tenants who may leave."""
    w = (
        ARRIVALS
        + lease_toml("t1", 0.06, gpus=32, end="2027-01-01")
        + lease_toml("t2", 0.06, pool="small-gb200", gpus=72, start="2026-03-01", end="2027-01-01")
    )
    path = scenario(tmp_path, w, name="noisy")
    text = Path(path).read_text().replace("enabled = false", "enabled = true\nscale = 300.0")
    Path(path).write_text(text)
    return path


def test_paired_seeds_give_a_narrower_interval_than_unpaired(tmp_path):
    path = noisy(tmp_path)
    k = 6
    paired = run_variants(path, range(1, k + 1), tmp_path / "p", ["none", "tenant-only"])
    other = run_variants(path, range(k + 1, 2 * k + 1), tmp_path / "u", ["none"])
    r = result_column(paired)
    variant = paired[paired.variant == "tenant-only"].set_index("seed")[r]
    base = paired[paired.variant == "none"].set_index("seed")[r]
    assert base.std() > 0  # the shared noise is there
    _, lo, hi = paired_interval((variant - base).to_numpy())
    _, ulo, uhi = unpaired_interval(variant.to_numpy(), other[r].to_numpy())
    assert hi - lo < uhi - ulo
    values = option_values(paired)
    assert values["tenant-only"]["ci_low_usd"] == pytest.approx(lo)
    assert values["none"]["option_value_usd"] == 0.0


def test_value_of_notice_json(tmp_path):
    path = noisy(tmp_path)
    res = cli.main(
        ["value-of-notice", path, "--seeds", "2", "--out", str(tmp_path / "v"), "--json"],
        standalone_mode=False,
    )
    assert res is None
    doc = json.loads((tmp_path / "v" / "value-of-notice.json").read_text())
    assert set(doc["variants"]) == {"none", "mutual", "lessor-only", "tenant-only"}
    for v in doc["variants"].values():
        assert {"option_value_usd", "ci_low_usd", "ci_high_usd", "seeds"} <= set(v)
        assert v["seeds"] == 2
    assert np.isfinite(doc["variants"]["mutual"]["option_value_usd"])


def test_compare_reports_percentiles_over_seeds(tmp_path):
    from sim.compare import MONTE_CARLO, compare, monte_carlo

    table = compare(noisy(tmp_path), ["fifo", "internal-first"], [1, 2, 3], tmp_path / "c")
    mc = monte_carlo(table)
    assert list(mc.index) == ["fifo", "internal-first"]
    cols = list(mc.columns.get_level_values(0).unique())
    assert set(MONTE_CARLO) - set(cols) <= {"operating_result_usd"}  # until the statement lands
    for col in (c for c in cols if c in MONTE_CARLO):
        vals = table[table.policy == "fifo"][col].sort_values().to_numpy()
        # three seeds: P10 = v1 + 0.2 (v2 - v1), P50 = v2, P90 = v2 + 0.8 (v3 - v2)
        assert mc.loc["fifo", (col, "P50")] == pytest.approx(vals[1])
        assert mc.loc["fifo", (col, "P10")] == pytest.approx(vals[0] + 0.2 * (vals[1] - vals[0]))
        assert mc.loc["fifo", (col, "P90")] == pytest.approx(vals[1] + 0.8 * (vals[2] - vals[1]))
    shown = [c for c in MONTE_CARLO if c in cols]
    assert len(figure(table, shown).data) == 2 * len(shown)


def test_tenant_only_is_the_mutual_run_when_the_lessor_never_gave_notice(tmp_path):
    from sim.notice_value import variant_tables

    path = noisy(tmp_path)  # no reclaim rule: the lessor never gives notice
    table = run_variants(path, [1], tmp_path / "v", ["mutual", "tenant-only"])
    assert table.run.tolist() == ["simulated", "as mutual"]
    # simulated anyway, every table is the mutual run's
    mine = run(path, seed=1, out=tmp_path / "t", tables=variant_tables(path, "tenant-only"))[0]
    theirs = tmp_path / "v" / "mutual" / "noisy" / "seed=1"
    for f in sorted(theirs.glob("*.parquet")):
        assert pq.read_table(f).equals(pq.read_table(mine / f.name)), f.name
    # a second call reuses the folders it finds
    again = run_variants(path, [1], tmp_path / "v", ["mutual", "tenant-only"])
    assert again.run.tolist() == ["reused", "as mutual"]
