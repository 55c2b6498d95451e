"""Bare SimPy on this machine: the ceiling a SimPy model can reach, measured in the caller's
process so that every benchmark can be stated as a ratio to it.

- `timeouts(n)`: 100 processes each waiting on exponential timeouts; n events in all.
- `request_release(n_customers, c)`: an M/M/c queue written the plain SimPy way (a source
  process, one process per customer, `simpy.Resource` request / timeout / release); the
  customers/s it reaches is what a trace replay (one job = one customer) is compared with, and
  its events/s is the "request/release cost" per event.

Random numbers are drawn beforehand with numpy, so only SimPy is timed.
"""

from __future__ import annotations

import time

import numpy as np
import simpy


def _drive(env: simpy.Environment) -> tuple[int, float]:
    n, t0 = 0, time.perf_counter()
    step, peek = env.step, env.peek
    while peek() != float("inf"):
        step()
        n += 1
    return n, time.perf_counter() - t0


def timeouts(n: int = 500_000, procs: int = 100, seed: int = 0) -> dict:
    gaps = np.random.default_rng(seed).exponential(1.0, n).tolist()
    per = n // procs
    env = simpy.Environment()

    def proc(k):
        for g in gaps[k * per : (k + 1) * per]:
            yield env.timeout(g)

    for k in range(procs):
        env.process(proc(k))
    events, wall = _drive(env)
    return {"events": events, "wall_s": round(wall, 3), "events_per_s": round(events / wall)}


def request_release(n_customers: int = 70_000, c: int = 64, rho: float = 0.9, seed: int = 0):
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1.0 / (rho * c), n_customers).tolist()
    service = rng.exponential(1.0, n_customers).tolist()
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)

    def customer(s):
        with servers.request() as req:
            yield req
            yield env.timeout(s)

    def source():
        for g, s in zip(gaps, service, strict=True):
            yield env.timeout(g)
            env.process(customer(s))

    env.process(source())
    events, wall = _drive(env)
    return {
        "customers": n_customers,
        "servers": c,
        "events": events,
        "wall_s": round(wall, 3),
        "events_per_s": round(events / wall),
        "customers_per_s": round(n_customers / wall),
    }


def measure() -> dict:
    """Both baselines, best of three (the machine's ceiling, not its noise)."""
    t = max((timeouts() for _ in range(3)), key=lambda r: r["events_per_s"])
    rr = max((request_release() for _ in range(3)), key=lambda r: r["events_per_s"])
    return {"timeouts": t, "request_release": rr}


def faster(a: dict, b: dict) -> dict:
    """Of two `measure` results, each baseline's faster one."""
    return {k: max(a[k], b[k], key=lambda r: r["events_per_s"]) for k in a}


if __name__ == "__main__":
    import json

    print(json.dumps(measure(), indent=2))
