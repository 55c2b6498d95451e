"""The failure schedule drawn ahead (sim/failure_schedule.py): thinning, rate, windows, and its
independence from what runs on the campus."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq

from sim import failure_schedule as fs
from sim.rng import stream
from sim.runner import run
from tests.conftest import DATA

REPAIR = fs.Repair(median_h=8.0, sigma=1.0, min_h=0.5, max_h=240.0)


def _pool(n=50, rate=0.01, horizon_h=2000.0, phases=(), online_day=None, seed=3, repair=REPAIR):
    days = np.zeros(n, np.int64) if online_day is None else np.asarray(online_day, np.int64)
    return fs.PoolSchedule(0, 100, stream(seed, "t"), days, list(phases), rate, repair, horizon_h)


def _failures(pool, end_h: float) -> list[tuple[float, int, int, float]]:
    """(hour, pool index, domain, repaired at) of each failure `pool.until(end_h)` gives."""
    at, d, up = pool.until(end_h)
    cols = zip(at.tolist(), d.tolist(), up.tolist(), strict=True)
    return [(a, pool.pool_index, x, u) for a, x, u in cols]


def _timeline(window_h: float, horizon_h: float = 2000.0) -> list:
    tl = fs.Timeline([_pool(seed=1), _pool(seed=2)])
    tl.pools[1].pool_index = 1  # a second pool over the same domain ids: only order matters
    out, t = [], 0.0
    while t < horizon_h:
        out += zip(*tl.window(t, min(t + window_h, horizon_h)), strict=True)
        t += window_h
    return out


def test_a_domain_never_fails_while_it_is_down():
    fails = _failures(_pool(n=5, rate=0.05), 5000.0)
    up_at = {}
    for at, _, d, up_h in fails:
        assert at >= up_at.get(d, -math.inf)
        assert REPAIR.min_h <= up_h - at <= REPAIR.max_h  # the repair law is clipped
        up_at[d] = up_h
    assert [f[0] for f in fails] == sorted(f[0] for f in fails)


def test_failures_arrive_at_the_rate_of_healthy_domains():
    # with repairs of at most 0.5 h against a mean gap of 100 h per domain, thinning removes
    # ~0.5% of candidates: the count is Poisson with mean n * rate * T (4 sigma either side)
    n, rate, horizon = 200, 0.01, 5000.0
    quick = fs.Repair(median_h=0.5, sigma=0.0, min_h=0.5, max_h=0.5)
    count = len(_pool(n=n, rate=rate, horizon_h=horizon, seed=7, repair=quick).until(horizon)[0])
    mean = n * rate * horizon * (1 - rate * 0.5)
    assert abs(count - mean) < 4 * math.sqrt(mean)


def test_domains_not_yet_online_never_fail():
    # half the domains come online on day 40 (hour 960): before it only the first half fails
    online = [0] * 20 + [40] * 20
    fails = _failures(_pool(n=40, rate=0.02, phases=[960.0], online_day=online), 2000.0)
    assert all(d - 100 < 20 for at, _, d, _ in fails if at < 960.0)
    assert any(d - 100 >= 20 for at, _, d, _ in fails if at >= 960.0)


def test_the_timeline_does_not_depend_on_the_window_length():
    week, day = _timeline(168.0), _timeline(24.0)
    assert week == day
    assert week == sorted(week)  # repairs (kind 0) before failures (kind 1) at a tie
    fails = sum(1 for x in week if x[1] == fs.FAILURE)
    repairs = sum(1 for x in week if x[1] == fs.REPAIR)
    assert 0 < repairs <= fails


def test_the_schedule_is_the_same_whatever_runs_on_the_campus(tmp_path):
    # the same seed with the workload and without it: the same failures, pool by pool, day by day
    sc = DATA / "small-scenario.toml"
    base = {"failures": {"enabled": True, "scale": 20.0}}
    a, _ = run(sc, out=tmp_path / "a", tables=base)
    b, _ = run(sc, out=tmp_path / "b", tables={**base, "workloads": []})
    cols = ["date", "pool", "failures"]
    fa = pq.read_table(a / "pools.parquet", columns=cols).to_pandas()
    fb = pq.read_table(b / "pools.parquet", columns=cols).to_pandas()
    assert fa["failures"].sum() > 0
    assert fa.equals(fb)


def _one_by_one(rng, online_day, phase_h, rate, repair, horizon_h):
    """The schedule's rule written as a plain loop, one candidate at a time: draws taken from
    the stream in blocks of fs.BLOCK (exponential, uniform, normal), a candidate past a phase
    date spent and the next drawn from that date, a candidate on a domain still down dropped."""
    block, i, t, out, up_at = None, fs.BLOCK, 0.0, [], {}
    while True:
        n = int(np.searchsorted(online_day, int(t // 24), side="right"))
        until = next((h for h in phase_h if h > t), math.inf)
        if n == 0:
            if until >= horizon_h:
                return out
            t = until
            continue
        if i == fs.BLOCK:
            block = [rng.standard_exponential(i).tolist(), rng.random(i).tolist()]
            block.append(rng.standard_normal(i).tolist())
            i = 0
        at = t + block[0][i] / (n * rate)
        local, z = int(block[1][i] * n), block[2][i]
        i += 1
        if at >= min(until, horizon_h):
            if until >= horizon_h:
                return out
            t = until
            continue
        t = at
        if at >= up_at.get(local, -math.inf):
            up_at[local] = at + min(max(repair.median_h * math.exp(repair.sigma * z), 0.5), 240)
            out.append((at, 0, 100 + local, up_at[local]))


def test_the_schedule_is_the_one_by_one_rule_to_the_last_bit():
    # > 4 blocks of draws, three phase dates (one before any domain is online), windows of a week
    online = [2] * 100 + [60] * 100 + [150] * 100
    phases, rate, horizon = [48.0, 1440.0, 3600.0], 0.02, 6000.0
    want = _one_by_one(stream(5, "t"), np.array(online), phases, rate, REPAIR, horizon)
    pool = _pool(n=300, rate=rate, horizon_h=horizon, phases=phases, online_day=online, seed=5)
    got = [f for t in np.arange(0.0, horizon, 168.0) for f in _failures(pool, t + 168.0)]
    assert len(want) > 4 * fs.BLOCK
    assert got == want
