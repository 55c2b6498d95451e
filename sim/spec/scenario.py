"""Model of a scenario file (`runs/*.toml`): what to simulate, on which campus, for how long."""

from __future__ import annotations

import datetime as dt
import difflib
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from sim import limits
from sim.assumptions import Assumed, AssumedFloat
from sim.errors import InputError, Problem, referenced
from sim.hardware import catalog
from sim.spec.base import FilePath, SafeName, Strict, load, read_toml
from sim.spec.expect import Expectations
from sim.spec.money import ReportedTable
from sim.spec.risk import ContractRisk
from sim.spec.topology import TopologyFile


class Horizon(Strict):
    """Calendar span of the run in UTC days: from the start of `start` to the start of `end`."""

    start: dt.date
    end: dt.date


class SiteRef(Strict):
    """A topology file, with its phases' dates and sizes optionally overridden by phase name."""

    topology: FilePath
    phase_online: dict[str, dt.date] = {}
    phase_gpus: dict[str, Annotated[int, Field(gt=0, le=10_000_000)]] = {}


class Campus(Strict):
    # assumed: aggregate bandwidth between the campus's sites; no public figure.
    link_tbit_per_s: AssumedFloat = Field(default=50.0, gt=0, le=1e6)


class Policy(Strict):
    """The allocation policy, selected by `kind` (see `sim.policies.REGISTRY`); `params` are
    validated by the policy's own typed model when the run is prepared."""

    kind: str = "fifo"
    params: dict[str, Any] = {}


class Prices(Strict):
    """Costs of running the campus (defaults cite FACTS.md or say they are assumed)."""

    # assumed: Memphis industrial electricity (TVA / MLGW), order of $60-80/MWh.
    power_usd_per_mwh: AssumedFloat = Field(default=70.0, ge=0, le=10_000)
    # assumed: an idle GPU server draws ~30% of its full IT power.
    idle_power_fraction: AssumedFloat = Field(default=0.3, ge=0, le=1)
    # FACTS.md: servers depreciate over 5-6 years.
    depreciation_years: float = Field(default=5.5, gt=0, le=50)
    # All-in IT capex per GPU by type, USD; defaults in sim/economics.py (CAPEX_USD_PER_GPU).
    capex_usd_per_gpu: dict[str, Annotated[float, Field(ge=0, le=1e7)]] = {}
    # FACTS.md: xAI construction (shell, power, cooling) ~$2.7-3B per GW -> $2.85M per MW.
    construction_usd_per_mw: float = Field(default=2.85e6, ge=0, le=1e9)
    # assumed: the shell, power and cooling are depreciated over 20 years.
    facility_life_years: AssumedFloat = Field(default=20.0, gt=0, le=100)
    # Capex timing and site opex (sim/finance/capex.py); a scenario may tag them with a source
    # or an assumed range. FACTS.md: Colossus 1 built in 122 days -> the facility's
    # construction is booked over the 122 days before a phase comes online.
    construction_lead_days: Annotated[Assumed, Field(ge=0, le=3650)] = 122.0
    # FACTS.md: Colossus 2's first phase online in 91 days -> its GPUs are delivered (and paid)
    # over the 91 days before online; payment terms are not public (assumed 30-270 days).
    gpu_lead_days: Annotated[Assumed, Field(ge=0, le=3650)] = 91.0
    # assumed: site opex besides power (maintenance, site staff, security, insurance), USD per
    # facility MW-year; no public figure for xAI (assumed 50k-400k).
    facility_opex_usd_per_mw_year: Annotated[Assumed, Field(ge=0, le=1e8)] = 150_000.0


class RepairTime(Strict):
    """Hours a failed NVLink domain stays down: lognormal by median and sigma, clipped."""

    median_h: AssumedFloat = Field(default=8.0, gt=0, le=10_000)  # assumed: a node swap or a rack fix
    sigma: AssumedFloat = Field(default=1.0, ge=0, le=5)
    min_h: float = Field(default=0.5, gt=0)
    max_h: float = Field(default=240.0, gt=0, le=100_000)

    def problems(self) -> list[Problem]:
        if self.min_h > self.max_h:
            return [Problem("min_h", f"is above max_h ({self.max_h:g})", self.min_h)]
        return []


class FailureRates(Strict):
    """Failure rates of one GPU type. A failure takes its whole NVLink domain down."""

    # Llama 3 (Dubey et al. 2024): 419 unexpected interruptions in 54 days on 16,384 H100
    # -> 419 / (54 x 24 x 16,384) = 1.97e-5 per GPU-hour (one per ~3.1 h for the job).
    gpu_per_hour: AssumedFloat = Field(default=419 / (54 * 24 * 16_384), ge=0, le=1)
    # A per-domain term for faults that take out a whole NVL72 rack (NVLink switch trays,
    # power shelves, liquid cooling). No public rate exists: assumed 1 per rack per 50 days
    # for NVL72, 0 for HGX; a sensitivity parameter.
    domain_per_day: AssumedFloat | None = Field(default=None, ge=0, le=100)


class Failures(Strict):
    """Failures and checkpoint-restart. `scale` multiplies every rate (a sensitivity knob)."""

    enabled: bool = True
    scale: AssumedFloat = Field(default=1.0, ge=0, le=1000)
    rates: dict[str, FailureRates] = {}  # per GPU type; missing types use the defaults
    repair: RepairTime = RepairTime()
    # assumed, Llama-3-like automated recovery: detect, reschedule on spares, load checkpoint.
    restart_minutes: AssumedFloat = Field(default=2.0, ge=0, le=10_000)
    # assumed: asynchronous checkpointing stalls training ~10 s per checkpoint.
    checkpoint_write_minutes: AssumedFloat = Field(default=10 / 60, ge=0, le=10_000)


class Scenario(Strict):
    name: SafeName  # one folder of the output: letters, digits, _ . -, not "." or ".."
    description: str = ""
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    horizon: Horizon
    campus: Campus = Campus()
    sites: list[SiteRef] = Field(min_length=1)
    workloads: list[FilePath] = []
    policy: Policy = Policy()
    prices: Prices = Prices()
    failures: Failures = Failures()
    expect: Expectations = {}  # checks on the run's KPIs (sim/spec/expect.py)
    # figures to hold the statement against: period -> line -> { value, source }
    reported: ReportedTable = {}
    contract_risk: ContractRisk = ContractRisk()  # tenant behaviour, notice terms, market prices

    def problems(self) -> list[Problem]:
        found = []
        if self.horizon.end <= self.horizon.start:
            found.append(
                Problem(
                    "horizon.end",
                    f"must be after horizon.start ({self.horizon.start})",
                    self.horizon.end,
                )
            )
        for key in ("start", "end"):
            day = getattr(self.horizon, key)
            if not limits.EARLIEST <= day <= limits.LATEST:
                found.append(
                    Problem(
                        f"horizon.{key}",
                        f"must be between {limits.EARLIEST} and {limits.LATEST}",
                        day,
                    )
                )
        years = (self.horizon.end - self.horizon.start).days / 365.25
        if years > limits.MAX_HORIZON_YEARS:
            found.append(
                Problem(
                    "horizon.end",
                    f"a horizon spans at most {limits.MAX_HORIZON_YEARS} years "
                    f"(this one {years:.0f})",
                    self.horizon.end,
                )
            )
        found += [
            Problem(f"failures.repair.{p.path}", p.message, p.value)
            for p in self.failures.repair.problems()
        ]
        gpus = sorted(catalog())
        for gpu in self.failures.rates:
            if gpu not in gpus:
                close = difflib.get_close_matches(gpu, gpus, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                found.append(
                    Problem(
                        f"failures.rates.{gpu}",
                        f"unknown GPU type; the catalog has {gpus}{hint}",
                        gpu,
                    )
                )
        named: dict[Path, int] = {}
        for i, w in enumerate(self.workloads):
            if w in named:
                found.append(
                    Problem(
                        f"workloads[{i}]",
                        f"already named by workloads[{named[w]}] (its jobs would run twice)",
                        str(w),
                    )
                )
            named.setdefault(w, i)
        seen: dict[str, int] = {}
        for i, site in enumerate(self.sites):
            if site.topology in seen:
                found.append(
                    Problem(
                        f"sites[{i}].topology",
                        f"already named by sites[{seen[site.topology]}]",
                        str(site.topology),
                    )
                )
            seen.setdefault(site.topology, i)
        return found


def load_scenario(path: str | Path) -> tuple[Scenario, list[TopologyFile]]:
    """Load a scenario and the topology files it names, reporting every problem in all of them."""
    scenario = load(Scenario, path, check=False)
    problems = [Problem(p.path, p.message, p.value, str(path)) for p in scenario.problems()]
    topologies = []
    for i, site in enumerate(scenario.sites):
        try:
            topo = load(TopologyFile, site.topology)
        except InputError as err:
            problems.extend(referenced(err.problems, f"sites[{i}].topology", str(path)))
            continue
        topologies.append(topo)
        phases = {ph.name for ph in topo.phases}
        for key, overrides in (
            ("phase_online", site.phase_online),
            ("phase_gpus", site.phase_gpus),
        ):
            for name, value in overrides.items():
                if name not in phases:
                    problems.append(
                        Problem(
                            f"sites[{i}].{key}.{name}",
                            f"no such phase in {site.topology.name}; phases are {sorted(phases)}",
                            value,
                            str(path),
                        )
                    )
    for i, workload in enumerate(scenario.workloads):
        try:
            read_toml(workload)
        except InputError as err:
            problems.extend(
                Problem(f"workloads[{i}]", p.message, str(workload), str(path))
                for p in err.problems
            )
    if problems:
        raise InputError(problems)
    return scenario, topologies
