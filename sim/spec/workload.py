"""Models of a workload file: training jobs, job streams, tenant leases, internal serving.

A training job's `model`, `training` and `parallelism` tables take the same keys as a
`sim mfu` file, so a layout checked with `sim mfu` can be pasted into a workload.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from sim.assumptions import Assumed, AssumedFloat, AssumedInt
from sim.errors import Problem
from sim.finance.chart import GIVEN_ACCOUNTS
from sim.spec.base import FilePath, Strict
from sim.spec.mfu import ModelSpec, ParallelismSpec, TrainingSpec
from sim.spec.money import Series
from sim.spec.risk import TenantBehaviour, within

Pools = list[str]
MAX_DRAW = 1e6  # largest parameter of a Distribution (replicas, days)
# Output tokens a day: finite and not negative; 1e16 is ~10,000x today's largest APIs.
TokensPerDay = Annotated[float, Field(ge=0, le=1e16, allow_inf_nan=False)]


class Distribution(Strict):
    """A positive random quantity: lognormal by median and sigma, exponential by mean, or fixed."""

    dist: Literal["lognormal", "exponential", "fixed"]
    # Bounded so that draws stay finite: 1e6 replicas or days is beyond any real job.
    median: float | None = Field(default=None, gt=0, le=MAX_DRAW)
    sigma: float | None = Field(default=None, ge=0, le=5)
    mean: float | None = Field(default=None, gt=0, le=MAX_DRAW)
    value: float | None = Field(default=None, gt=0, le=MAX_DRAW)
    min: float | None = Field(default=None, gt=0, le=MAX_DRAW)
    max: float | None = Field(default=None, gt=0, le=MAX_DRAW)

    @model_validator(mode="after")
    def _parameters_of_the_kind(self):
        need = {"lognormal": ("median", "sigma"), "exponential": ("mean",), "fixed": ("value",)}
        missing = [k for k in need[self.dist] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.dist} distribution needs {', '.join(missing)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self


class JobShape(Strict):
    """The transformer, recipe and layout of a training job (the keys of a `sim mfu` file)."""

    model: ModelSpec
    training: TrainingSpec
    parallelism: ParallelismSpec
    partitioning: Literal["uniform", "proportional"] = "uniform"

    @field_validator("checkpoint_interval_h", check_fields=False)
    @classmethod
    def _positive_interval(cls, v):
        if not isinstance(v, str) and not 0 < v <= 24 * 30:
            raise ValueError('must be between 0 and 720 hours, or "young-daly"')
        return v


class TrainingJob(JobShape):
    name: str = Field(min_length=1)
    job_class: str = Field(default="pretrain", min_length=1)
    submit: dt.date
    tokens: float = Field(gt=0, le=1e18)
    priority: int = 0
    pools: Pools = Field(min_length=1)
    min_dp: int | None = Field(default=None, ge=1)  # elastic: start with fewer replicas
    # hours between checkpoints, or "young-daly": sqrt(2 x write time x the job's MTBF)
    checkpoint_interval_h: float | Literal["young-daly"] = 1.0


class JobStream(JobShape):
    """Seeded arrivals of jobs of one class; each job's dp and duration are drawn."""

    name: str = Field(min_length=1)
    job_class: str = Field(min_length=1)
    start: dt.date
    end: dt.date | None = None  # default: the horizon's end
    arrivals_per_day: float = Field(gt=0, le=1e4)
    replicas: Distribution  # data-parallel degree, rounded to an integer >= 1
    duration_days: Distribution  # on the stream's first pool at the drawn size
    priority: int = 0
    pools: Pools = Field(min_length=1)
    checkpoint_interval_h: float | Literal["young-daly"] = 1.0


class Tranche(Strict):
    """A block of leased GPUs from a date: a GPU count, or IT megawatts converted with the
    first pool's IT watts per GPU."""

    start: dt.date | None = None  # default: the lease start
    pools: Pools = Field(min_length=1)
    gpus: AssumedInt | None = Field(default=None, gt=0, le=10_000_000)
    mw: float | None = Field(default=None, gt=0, le=100_000)

    @model_validator(mode="after")
    def _one_size(self):
        if (self.gpus is None) == (self.mw is None):
            raise ValueError("give exactly one of gpus or mw")
        return self


class Lease(Strict):
    """A tenant's bare-metal lease: a price, a term, notice rules and tranches of capacity.

    Either party may give notice (`notice_days`, default 90: FACTS.md); the lease then ends at
    the later of the notice's end and the minimum term, and never after `end`. A tenant that
    renews extends `end` by `renewal_days`, `renewals` times, unless notice was given first.
    """

    name: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    start: dt.date
    end: dt.date
    price_usd_per_month: float | None = Field(default=None, ge=0, le=1e12)
    price_usd_per_year: float | None = Field(default=None, ge=0, le=1e13)
    price_usd_per_gpu_hour: float | None = Field(default=None, ge=0, le=1e3)
    min_term_days: int = Field(default=0, ge=0, le=36_500)
    notice_days: int = Field(default=90, ge=0, le=36_500)  # FACTS.md: 90 days' mutual notice
    lessor_may_reclaim: bool = True
    termination_fee_usd: float = Field(default=0.0, ge=0, le=1e12)  # paid by whoever gives notice
    renewals: int = Field(default=0, ge=0, le=100)
    renewal_days: int = Field(default=365, gt=0, le=36_500)
    tenant_notice: dt.date | None = None  # the tenant gives notice on this date
    lessor_notice: dt.date | None = (
        None  # the lessor gives notice on this date (a planner's what-if)
    )
    priority: int = 100
    tranches: list[Tranche] = Field(min_length=1)
    # Contract terms priced by sim/finance/leasing.py: a price per GPU-hour by GPU type (alone,
    # or with a contract price as the weights of its split over tranches); a ramp (a reduced
    # fee for the first days after delivery); an SLA on delivered GPU-hours (shortfall beyond
    # 1 - sla_availability credited).
    price_usd_per_gpu_hour_by_type: dict[str, Annotated[float, Field(ge=0, le=1e3)]] = {}
    ramp_days: float = Field(default=0.0, ge=0, le=36_500)
    ramp_fee_fraction: float = Field(default=1.0, ge=0, le=1)
    sla_availability: float | None = Field(default=None, gt=0, le=1)
    behaviour: TenantBehaviour | None = None  # the tenant's hazard of notice and of renewing

    @model_validator(mode="after")
    def _one_price(self):
        prices = (self.price_usd_per_month, self.price_usd_per_year, self.price_usd_per_gpu_hour)
        given = sum(p is not None for p in prices)
        by_type = bool(self.price_usd_per_gpu_hour_by_type)
        if given > 1 or (given == 0 and not by_type):
            raise ValueError(
                "give exactly one of price_usd_per_month, price_usd_per_year, "
                "price_usd_per_gpu_hour (or price_usd_per_gpu_hour_by_type)"
            )
        if by_type and self.price_usd_per_gpu_hour is not None:
            raise ValueError(
                "price_usd_per_gpu_hour and price_usd_per_gpu_hour_by_type exclude each other"
            )
        return self


class LeaseArrivals(Strict):
    """New tenants asking for leases: a Poisson stream of requests, each with a drawn size, term
    and price (a multiple of the market price of the first pool's GPU type on its arrival day).
    The policy accepts a request by placing it; one it never places ends unserved."""

    name: str = Field(min_length=1)
    start: dt.date
    end: dt.date | None = None  # default: the horizon's end
    arrivals_per_year: Annotated[Assumed, within(0.0, 1e4)]
    pools: list[str] = Field(min_length=1)
    gpus: Distribution  # rounded to a whole number of GPUs >= 1
    term_days: Distribution
    price_to_market: Distribution  # contract price / market price
    min_term_days: int = Field(default=0, ge=0, le=36_500)
    notice_days: int = Field(default=90, ge=0, le=36_500)
    lessor_may_reclaim: bool = True
    priority: int = 100
    behaviour: TenantBehaviour | None = None


class ServedModelTable(Strict):
    """A served model's shape; a mixture of experts adds active_params, experts and top_k, an
    MLA model (DeepSeek-style compressed KV) its kv_lora_rank."""

    params: float = Field(gt=0, le=1e14)
    layers: int = Field(gt=0, le=10_000)
    hidden: int = Field(gt=0, le=1_000_000)
    heads: int = Field(gt=0, le=10_000)
    kv_heads: int | None = Field(default=None, gt=0)
    active_params: float | None = Field(default=None, gt=0)
    experts: int | None = Field(default=None, ge=1, le=100_000)
    top_k: int | None = Field(default=None, ge=1, le=1_000)
    kv_lora_rank: int | None = Field(default=None, gt=0, le=100_000)
    head_dim: int | None = Field(default=None, gt=0, le=100_000)

    @model_validator(mode="after")
    def _consistent(self):
        # as for training (sim/perf/model.py): whole heads, and whole query heads per KV head
        if self.head_dim is None and self.hidden % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide hidden ({self.hidden}), or give head_dim"
            )
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"kv_heads ({self.kv_heads}) must divide heads ({self.heads})")
        if (self.experts is None) != (self.top_k is None):
            raise ValueError("give experts and top_k together")
        if self.experts is not None and self.top_k is not None:
            if self.top_k >= self.experts:
                raise ValueError(f"top_k ({self.top_k}) must be below experts ({self.experts})")
            if self.active_params is None:
                raise ValueError("a mixture of experts needs active_params")
        if self.active_params is not None and self.active_params > self.params:
            raise ValueError(
                f"active_params ({self.active_params:g}) exceed params ({self.params:g})"
            )
        return self


class Serving(Strict):
    """Internal inference (e.g. the Grok API): token demand over time, served on owned pools."""

    name: str = Field(min_length=1)
    model: ServedModelTable
    precision: Literal["bf16", "fp16", "fp8", "fp4"] = "fp8"
    prompt_tokens: int = Field(default=1000, gt=0, le=10_000_000)
    output_tokens: int = Field(default=500, gt=0, le=1_000_000)
    pools: Pools = Field(min_length=1)
    # [[date, output tokens per day]], linear between points, flat outside.
    demand_tokens_per_day: list[tuple[dt.date, TokensPerDay]] = Field(min_length=1)
    price_usd_per_million_tokens: float = Field(ge=0, le=1e4)  # output tokens
    utilization: AssumedFloat = Field(default=0.6, gt=0, le=1)  # headroom for peaks and latency
    priority: int = 50
    # latency targets the serving rate is sized for (as `sim serve`); none: offline maximum
    tpot_ms: Annotated[Assumed, Field(gt=0, le=1e6)] | None = None
    ttft_ms: Annotated[Assumed, Field(gt=0, le=1e7)] | None = None
    tokens_per_s_per_user: Annotated[Assumed, Field(gt=0, le=1e6)] | None = None
    gpus_per_instance: int | None = Field(default=None, ge=1, le=100_000)
    disaggregated: bool = False  # prefill and decode on separate GPUs of the fleet
    # prices of prompt tokens: fresh, and the share served from a prompt cache at its own price
    price_usd_per_million_input_tokens: Annotated[Assumed, Field(ge=0, le=1e4)] = 0.0
    price_usd_per_million_cached_input_tokens: Annotated[Assumed, Field(ge=0, le=1e4)] = 0.0
    cached_input_fraction: Annotated[Assumed, Field(ge=0, le=1)] = 0.0


class TraceReplay(Strict):
    """Replay a job trace (as written by `sim trace import`): each job holds `gpus` GPUs of one
    pool for its recorded duration, from its recorded submit time after `start`."""

    name: str = Field(min_length=1)
    file: FilePath  # a Parquet file with job_id, submit_s, duration_s, gpus
    start: dt.date  # trace time 0 lands here
    pools: Pools = Field(min_length=1)
    job_class: str = Field(default="trace", min_length=1)
    priority: int = 0
    time_scale: float = Field(default=1.0, gt=0, le=1e6)  # multiplies submit and duration times
    limit: int | None = Field(default=None, ge=1)  # replay only the first N jobs


class WorkloadFile(Strict):
    training: list[TrainingJob] = []
    streams: list[JobStream] = []
    leases: list[Lease] = []
    serving: list[Serving] = []
    traces: list[TraceReplay] = []
    series: list[Series] = []  # given money series (sim/finance/series.py)
    lease_arrivals: list[LeaseArrivals] = []  # new tenants' lease requests (sim/tenants.py)

    def problems(self) -> list[Problem]:
        found = []
        for i, s in enumerate(self.series):
            if s.account not in GIVEN_ACCOUNTS:
                found.append(
                    Problem(
                        f"series[{i}].account",
                        f"not a given account; given accounts are {list(GIVEN_ACCOUNTS)}",
                        s.account,
                    )
                )
        names: dict[str, str] = {}
        for table in ("training", "streams", "leases", "serving", "traces", "series", "lease_arrivals"):
            for i, item in enumerate(getattr(self, table)):
                if item.name in names:
                    found.append(
                        Problem(
                            f"{table}[{i}].name",
                            f"name already used in {names[item.name]}",
                            item.name,
                        )
                    )
                names.setdefault(item.name, f"{table}[{i}]")
        found += self._pools_listed_twice()
        for i, job in enumerate(self.training):
            if job.min_dp is not None and job.min_dp > job.parallelism.dp:
                found.append(
                    Problem(
                        f"training[{i}].min_dp",
                        f"must be at most parallelism.dp ({job.parallelism.dp})",
                        job.min_dp,
                    )
                )
        for i, lease in enumerate(self.leases):
            if lease.end <= lease.start:
                found.append(
                    Problem(f"leases[{i}].end", f"must be after start ({lease.start})", lease.end)
                )
            for key in ("tenant_notice", "lessor_notice"):
                when = getattr(lease, key)
                if when is not None and not lease.start <= when < lease.end:
                    found.append(
                        Problem(
                            f"leases[{i}].{key}",
                            f"must be within the lease ({lease.start} to {lease.end})",
                            when,
                        )
                    )
            for j, tr in enumerate(lease.tranches):
                if tr.start is not None and not lease.start <= tr.start < lease.end:
                    found.append(
                        Problem(
                            f"leases[{i}].tranches[{j}].start",
                            f"must be within the lease ({lease.start} to {lease.end})",
                            tr.start,
                        )
                    )
        for i, s in enumerate(self.streams):
            if s.end is not None and s.end <= s.start:
                found.append(
                    Problem(f"streams[{i}].end", f"must be after start ({s.start})", s.end)
                )
        for i, s in enumerate(self.serving):
            dates = [d for d, _ in s.demand_tokens_per_day]
            if dates != sorted(dates):
                found.append(
                    Problem(f"serving[{i}].demand_tokens_per_day", "dates must increase", dates)
                )
        return found

    def _pools_listed_twice(self) -> list[Problem]:
        found = []
        for table in ("training", "streams", "serving", "traces"):
            for i, item in enumerate(getattr(self, table)):
                found += _twice(item.pools, f"{table}[{i}].pools")
        for i, lease in enumerate(self.leases):
            for j, tr in enumerate(lease.tranches):
                found += _twice(tr.pools, f"leases[{i}].tranches[{j}].pools")
        return found


def _twice(pools: list[str], where: str) -> list[Problem]:
    """A pool named twice in one list (the allocator would count its capacity twice)."""
    return [
        Problem(f"{where}[{k}]", f"listed twice (first at {where}[{pools.index(p)}])", p)
        for k, p in enumerate(pools)
        if pools.index(p) < k
    ]
