"""Expected share of a training job's time that counts under failures and checkpoint-restart.

The engine simulates failures one by one; `sim explain` without a run needs the expectation.
For failures arriving as a Poisson process at rate 1/M, a job that checkpoints every `tau`
hours (writing for W hours) and restarts in R hours needs, per cycle of tau useful hours,
    E = M e^(R/M) (e^((tau + W)/M) - 1)
hours of wall time on average (Daly, "A higher order estimate of the optimum checkpoint interval
for restart dumps", FGCS 2006, eq. 8), so the useful share is tau / E. The rate and the
interval are the engine's (`sim.engine.failures.domain_rate`, `sim.jobrate.checkpoint_h`).
"""

from __future__ import annotations

import math


def useful_fraction(rate_per_h: float, interval_h: float, write_h: float, restart_h: float) -> float:
    """Expected share of wall time spent on work that is kept (Daly 2006); 1 with no failures
    and free checkpoints."""
    if rate_per_h <= 0:
        return interval_h / (interval_h + write_h)
    m = 1.0 / rate_per_h
    wall = m * math.exp(restart_h / m) * math.expm1((interval_h + write_h) / m)
    return interval_h / wall
