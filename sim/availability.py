"""Expected share of a training job's time that counts under failures and checkpoint-restart.

The engine simulates failures one by one; `sim explain` without a run needs the expectation.
For failures arriving as a Poisson process at rate 1/M, a job that checkpoints every `tau`
hours (writing for W hours) and restarts in R hours needs, per cycle of tau useful hours,
    E = M e^(R/M) (e^((tau + W)/M) - 1)
hours of wall time on average (Daly, "A higher order estimate of the optimum checkpoint interval
for restart dumps", FGCS 2006, eq. 8), so the useful share is tau / E. Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sim.spec.scenario import FailureRates

H_PER_DAY = 24.0
# As the engine's default (sim/spec/scenario.py FailureRates): a rack-level term for NVL72
# domains only, 1 per rack per 50 days, when the scenario gives none.
NVL72_DOMAIN_PER_DAY = 0.02


def domain_rate_per_h(fail_spec, gpu: str, gpus_per_domain: int) -> float:
    """Failures per hour of one NVLink domain of this GPU type under the scenario's spec."""
    if not fail_spec.enabled:
        return 0.0
    rates = fail_spec.rates.get(gpu, FailureRates())
    gpu_per_hour, per_day = rates.gpu_per_hour, rates.domain_per_day
    if per_day is None:
        per_day = NVL72_DOMAIN_PER_DAY if gpus_per_domain > 8 else 0.0
    return fail_spec.scale * (gpu_per_hour * gpus_per_domain + per_day / H_PER_DAY)


def job_rate_per_h(fail_spec, domains: Mapping[tuple[str, int], int]) -> float:
    """Failures per hour of a job holding `domains[(gpu type, GPUs per domain)]` domains."""
    return sum(n * domain_rate_per_h(fail_spec, g, per) for (g, per), n in domains.items())


def checkpoint_interval_h(every: float | str, rate_per_h: float, write_h: float) -> float:
    """The job's interval; "young-daly" is sqrt(2 x write x MTBF), at most a day (the engine's rule)."""
    if every != "young-daly":
        return float(every)
    if rate_per_h <= 0 or write_h <= 0:
        return 24.0
    return min(24.0, math.sqrt(2.0 * write_h / rate_per_h))


def useful_fraction(rate_per_h: float, interval_h: float, write_h: float, restart_h: float) -> float:
    """Expected share of wall time spent on work that is kept (Daly 2006); 1 with no failures
    and free checkpoints."""
    if rate_per_h <= 0:
        return interval_h / (interval_h + write_h)
    m = 1.0 / rate_per_h
    wall = m * math.exp(restart_h / m) * math.expm1((interval_h + write_h) / m)
    return interval_h / wall
