"""The mechanism never trusts a policy: each decision check refuses what it must (one test per
`SimError` of `sim/engine/mechanism.py` and the lifecycles' hooks), and a valid `Preempt` and
`GiveNotice` do what they say, on a small campus with a job running and leases held."""

from __future__ import annotations

import numpy as np
import pytest

from sim.cluster import AllocationError
from sim.engine import Engine
from sim.engine.context import Lifecycle
from sim.errors import SimError
from sim.policies import GiveNotice, Preempt, Request, Start
from sim.recorder import Recorder
from sim.runner import prepare
from tests.conftest import DATA

MODEL = """[training.model]
params = 8.0e9
layers = 32
hidden = 4096
heads = 32
kv_heads = 8
ffn_hidden = 14336
vocab = 128256
seq_len = 8192
[training.training]
global_batch = 128
micro_batch = 1
precision = "bf16"
recompute = "none"
[training.parallelism]
tp = 8
pp = 1
dp = 4
cp = 1
"""


def lease(name: str, pool: str, gpus: int, end: str, reclaim: bool = True) -> str:
    return f"""[[leases]]
name = "{name}"
tenant = "T-{name}"
start = 2026-03-01
end = {end}
price_usd_per_gpu_hour = 2.0
lessor_may_reclaim = {"true" if reclaim else "false"}
[[leases.tranches]]
pools = ["{pool}"]
gpus = {gpus}
"""


def small_scenario(tmp_path, end: str, policy: str = 'kind = "fifo"'):
    """s.toml: tests/data/small.toml from 2026-03-01 to `end` with the workload w.toml in
    `tmp_path`, failures off."""
    path = tmp_path / "s.toml"
    path.write_text(
        f"""name = "small-from-march"
workloads = ["w.toml"]
[horizon]
start = 2026-03-01
end = {end}
[[sites]]
topology = "{DATA / "small.toml"}"
[policy]
{policy}
[failures]
enabled = false
"""
    )
    return path


@pytest.fixture
def engine(tmp_path) -> Engine:
    """small.toml from 2026-03-01 (64 H100 as 8 nodes, 144 GB200 as 2 racks), 30 h in: job
    `a` runs on 32 H100 (dp 4, may shrink to dp 2), lease `l` holds a GB200 rack and may be
    reclaimed, `fixed` holds an H100 node and may not, `past` ended at 24 h."""
    (tmp_path / "w.toml").write_text(
        '[[training]]\nname = "a"\njob_class = "pretrain"\nsubmit = 2026-03-01\n'
        'tokens = 1.0e14\npools = ["small-h100"]\nmin_dp = 2\n'
        + MODEL
        + lease("l", "small-gb200", 72, "2027-01-01")
        + lease("fixed", "small-h100", 8, "2027-01-01", reclaim=False)
        + lease("past", "small-h100", 8, "2026-03-02")
    )
    path = small_scenario(tmp_path, "2026-04-01")
    eng = Engine.from_prepared(prepare(path), seed=1, recorder=Recorder())
    eng.ctx.env.run(until=30.0)
    return eng


def owner(eng: Engine, name: str) -> int:
    for job in eng.training.jobs.values():
        if job.name == name:
            return job.id
    return next(t.id for t in eng.leases.tranches if t.lease.name == name)


def pending(eng: Engine, **kw) -> Request:
    """A request of a new owner, pending (as a lifecycle would have submitted it)."""
    ctx = eng.ctx
    oid = ctx.register("training", Lifecycle())
    req = Request(
        owner_id=oid,
        kind="training",
        name=f"r{oid}",
        job_class="x",
        priority=0,
        submitted_h=ctx.now,
        **{"pools": ("small-h100",), "sizes": (16,), "unit_gpus": 8, **kw},
    )
    ctx.pending[oid] = req
    return req


def free(eng: Engine, pool: str) -> list[int]:
    return eng.ctx.cluster.free(pool).tolist()


def test_the_fixture_has_a_job_running_and_leases_held(engine):
    c = engine.ctx.cluster
    assert engine.ctx.running.keys() == {owner(engine, n) for n in ("a", "l", "fixed")}
    assert c.gpus(c.owned_by(owner(engine, "a"))) == 32
    assert len(free(engine, "small-h100")) == 8 - 4 - 1  # 64 H100 as 8 nodes


@pytest.mark.parametrize(
    "decide, error",
    [
        (lambda e: Start(999, (0,)), "which is not pending"),
        (lambda e: Start(pending(e).owner_id, tuple(free(e, "small-gb200"))), "outside"),
        (
            lambda e: Start(
                pending(e, pools=("small-h100", "small-gb200"), single_pool=True).owner_id,
                (free(e, "small-h100")[0], free(e, "small-gb200")[0]),
            ),
            "spread single-pool request",
        ),
        (lambda e: Start(pending(e).owner_id, (free(e, "small-h100")[0],)), "below 16"),
        (
            lambda e: Start(pending(e).owner_id, (free(e, "small-h100")[0],), (4,)),
            "it takes whole domains",
        ),
        (
            lambda e: Start(
                pending(e, sizes=(2,), unit_gpus=1, packs=True).owner_id,
                (free(e, "small-h100")[0],) * 2,
                (1, 1),
            ),
            "not one part per distinct domain",
        ),
        (
            lambda e: Start(
                pending(e, sizes=(2,), unit_gpus=1, packs=True).owner_id,
                tuple(free(e, "small-h100")[:2]),
                (2,),
            ),
            "1 parts of 2 domains",
        ),
        (
            lambda e: Start(
                pending(e, sizes=(2,), unit_gpus=1, packs=True).owner_id,
                (free(e, "small-h100")[0],),
                (3,),
            ),
            "3 GPUs, above 2",
        ),
        (lambda e: Preempt(999), "not a running job"),
        (lambda e: Preempt(owner(e, "l")), "not a running job"),
        (lambda e: GiveNotice(999), "not a live lease"),
        (lambda e: GiveNotice(owner(e, "a")), "not a live lease"),
        (lambda e: GiveNotice(owner(e, "past")), "not a live lease"),
        (lambda e: GiveNotice(owner(e, "fixed")), "the lessor may not reclaim"),
        (lambda e: "start everything", "unknown decision"),
    ],
)
def test_the_mechanism_refuses(engine, decide, error):
    decision = decide(engine)
    engine.mechanism.policy = type("Scripted", (), {"decide": lambda self, v, p: [decision]})()
    with pytest.raises(SimError, match=error):
        engine.mechanism.run_pass()


def test_the_cluster_refuses_domains_someone_holds(engine):
    req = pending(engine)
    held = engine.ctx.cluster.owned_by(owner(engine, "a"))[:2]
    with pytest.raises(AllocationError, match="already owned"):
        engine.mechanism.start(Start(req.owner_id, tuple(held.tolist())))
    assert req.owner_id in engine.ctx.pending  # refused: nothing changed


def test_preempt_returns_a_running_job_to_the_queue(engine):
    ctx, a = engine.ctx, owner(engine, "a")
    job = engine.training.jobs[a]
    engine.mechanism.preempt(Preempt(a))
    ctx.env.run(until=31.0)  # the interrupt, then the next pass restarts it
    assert job.interruptions == 1 and job.segments == 1 and job.seg is not None
    assert job.seg.start_h == 30.0


def test_a_preempt_at_the_start_instant_is_ignored(engine):
    ctx, a = engine.ctx, owner(engine, "a")
    engine.mechanism.preempt(Preempt(a))
    while ctx.env.peek() == 30.0:  # the interrupt, the release, the pass, the restart
        ctx.env.step()
    assert engine.training.jobs[a].seg.start_h == ctx.now == 30.0
    engine.mechanism.preempt(Preempt(a))  # restarted at this instant: no preemption loop
    ctx.env.run(until=31.0)
    assert engine.training.jobs[a].interruptions == 1


def test_give_notice_ends_a_reclaimable_lease_after_its_notice_period(engine):
    ctx, oid = engine.ctx, owner(engine, "l")
    t = engine.leases.by_id[oid]
    engine.mechanism.notice(GiveNotice(oid))
    assert t.notice_at_h == 30.0 and t.notice_by == "lessor"
    assert t.end_h == 30.0 + t.lease.notice_days * 24.0  # no minimum term
    engine.mechanism.notice(GiveNotice(oid))  # a second notice changes nothing
    assert t.end_h == 30.0 + t.lease.notice_days * 24.0
    assert np.array_equal(ctx.acct.gpus_now, ctx.acct.recount())
