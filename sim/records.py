"""Output row schemas, declared once: every table's columns with their Arrow type, unit and meaning.

`docs/columns.md` is generated from these declarations (a test keeps it in step).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from sim.perf import FACTORS

TS = pa.timestamp("us", tz="UTC")
STR = pa.dictionary(pa.int32(), pa.string())  # dictionary-encoded categories


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    unit: str
    doc: str


def _cols(*rows: tuple[str, pa.DataType, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*r) for r in rows)


_ATTRIBUTION = tuple(
    (f"att_{f}", pa.float64(), "fraction", f"MFU factor lost to or kept by `{f}` (1 = no loss)")
    for f in (*FACTORS, "fragmentation")
)

TABLES: dict[str, tuple[Column, ...]] = {
    "jobs": _cols(
        ("job_id", pa.int32(), "", "owner id of the job, unique in the run"),
        ("name", STR, "", "job name (stream jobs: stream name and sequence number)"),
        ("job_class", STR, "", "pretrain, rl, experiment, ..."),
        ("stream", STR, "", "the stream that generated the job, or empty"),
        ("submit_at", TS, "UTC", "when the job asked for capacity"),
        ("first_start_at", TS, "UTC", "when it first ran (null if never)"),
        ("end_at", TS, "UTC", "when it finished (null if it did not by the horizon)"),
        ("state", STR, "", "finished, running (at the horizon), waiting, excluded"),
        ("gpus_requested", pa.int64(), "GPUs", "GPUs of its declared layout"),
        ("tokens_target", pa.float64(), "tokens", "tokens to train (0 for a replayed trace job)"),
        (
            "duration_hours",
            pa.float64(),
            "h",
            "recorded duration of a replayed trace job (else null)",
        ),
        ("tokens_trained", pa.float64(), "tokens", "tokens trained by the horizon"),
        ("running_hours", pa.float64(), "h", "wall time holding capacity"),
        ("waiting_hours", pa.float64(), "h", "wall time submitted but not running"),
        ("gpu_hours", pa.float64(), "GPU-h", "allocated GPUs x time (whole domains)"),
        ("model_flops", pa.float64(), "FLOP", "model FLOPs done (no recomputation)"),
        ("segments", pa.int32(), "", "constant-rate intervals run"),
        (
            "interruptions",
            pa.int32(),
            "",
            "times it lost its placement (preemption, failure without spare)",
        ),
        (
            "failures",
            pa.int32(),
            "",
            "failures that hit it (each a restart from its last checkpoint)",
        ),
        (
            "ettr",
            pa.float64(),
            "fraction",
            "effective training time ratio: compute hours kept / running hours",
        ),
        (
            "mfu",
            pa.float64(),
            "fraction",
            "model FLOPs / (allocated GPUs' dense peak x running time)",
        ),
        ("mfu_with_wait", pa.float64(), "fraction", "mfu x running / (running + waiting) time"),
        *_ATTRIBUTION,
    ),
    "segments": _cols(
        ("job_id", pa.int32(), "", "owner id of the job"),
        ("name", STR, "", "job name"),
        ("job_class", STR, "", "job class"),
        ("start_at", TS, "UTC", "segment start"),
        ("end_at", TS, "UTC", "segment end"),
        ("end_reason", STR, "", "finished, preempted, failure, horizon"),
        ("pools", STR, "", "pool=GPUs allocated, comma separated"),
        ("gpu_types", STR, "", "GPU type=GPUs allocated, comma separated"),
        ("gpus", pa.int64(), "GPUs", "GPUs allocated (whole NVLink domains)"),
        ("gpus_used", pa.int64(), "GPUs", "GPUs the parallel layout uses (tp*pp*cp*dp)"),
        ("dp", pa.int32(), "", "data-parallel degree on this placement"),
        ("tier", STR, "", "outermost fabric tier the placement spans"),
        ("fabric_gbit_per_s", pa.float64(), "Gbit/s", "per-GPU bandwidth at that tier"),
        ("step_time_s", pa.float64(), "s", "time of one optimizer step"),
        ("tokens_per_s", pa.float64(), "tokens/s", "training throughput"),
        ("tokens", pa.float64(), "tokens", "tokens trained in the segment"),
        ("model_flops", pa.float64(), "FLOP", "model FLOPs done in the segment"),
        ("peak_flop", pa.float64(), "FLOP", "what the allocated GPUs could do at dense peak in it"),
        ("mfu", pa.float64(), "fraction", "model_flops / peak_flop"),
        ("mfu_bf16", pa.float64(), "fraction", "the same against the BF16 dense peak"),
        ("failures", pa.int32(), "", "failures within the segment (restarted on spares)"),
        *_ATTRIBUTION,
    ),
    "leases": _cols(
        ("lease_id", pa.int32(), "", "owner id of the lease tranche"),
        ("contract", STR, "", "lease contract name"),
        ("tenant", STR, "", "tenant"),
        ("tranche", pa.int32(), "", "tranche index within the contract"),
        ("pools", STR, "", "pool=GPUs held, comma separated (empty if never held)"),
        ("gpus_contracted", pa.int64(), "GPUs", "GPUs the tranche promises"),
        ("gpus_held", pa.int64(), "GPUs", "GPUs held (whole domains; 0 if never started)"),
        ("start_at", TS, "UTC", "contracted start of the tranche"),
        ("end_at", TS, "UTC", "end: contracted, renewed, or set by a notice"),
        ("held_from", TS, "UTC", "when the capacity was handed over (null if never)"),
        ("held_until", TS, "UTC", "when it was returned (the horizon if still held)"),
        (
            "end_reason",
            STR,
            "",
            "term, notice-lessor, notice-tenant, horizon, unserved, never-started",
        ),
        ("notice_at", TS, "UTC", "when notice was given (null if none)"),
        ("notice_by", STR, "", "lessor, tenant, or empty"),
        (
            "gpu_hours_contracted",
            pa.float64(),
            "GPU-h",
            "contracted GPUs x contracted time (renewals in, notices ignored) within the horizon",
        ),
        (
            "gpu_hours_delivered",
            pa.float64(),
            "GPU-h",
            "min(GPUs held, contracted) x time held, less gpu_hours_short",
        ),
        (
            "gpu_hours_short",
            pa.float64(),
            "GPU-h",
            "held GPUs down after a failure with no spare to replace them",
        ),
        ("facility_mw_held", pa.float64(), "MW", "facility power of the GPUs held (IT x PUE)"),
        ("usd_per_hour", pa.float64(), "USD/h", "revenue of the tranche per hour held"),
        ("revenue_usd", pa.float64(), "USD", "revenue booked in the ledger while held"),
        (
            "termination_fee_usd",
            pa.float64(),
            "USD",
            "fee booked at notice (+ from tenant, - to tenant)",
        ),
    ),
    "pools": _cols(
        ("date", TS, "UTC", "the day (00:00 UTC); GPU-hours cover the 24 h from it"),
        ("site", STR, "", "site"),
        ("pool", STR, "", "pool"),
        ("gpu", STR, "", "GPU type"),
        ("gpus_online", pa.int64(), "GPUs", "capacity online at 00:00"),
        ("gpus_lease", pa.int64(), "GPUs", "held by tenant leases at 00:00"),
        ("gpus_training", pa.int64(), "GPUs", "held by training jobs at 00:00"),
        ("gpus_serving", pa.int64(), "GPUs", "held by internal serving at 00:00"),
        ("gpus_idle", pa.int64(), "GPUs", "online, healthy, unowned at 00:00"),
        ("gpus_down", pa.int64(), "GPUs", "online but failed at 00:00"),
        ("gpu_hours_online", pa.float64(), "GPU-h", "capacity x time online during the day"),
        ("gpu_hours_lease", pa.float64(), "GPU-h", "held by leases during the day (exact)"),
        ("gpu_hours_training", pa.float64(), "GPU-h", "held by training during the day (exact)"),
        ("gpu_hours_serving", pa.float64(), "GPU-h", "held by serving during the day (exact)"),
        ("gpu_hours_idle", pa.float64(), "GPU-h", "online, healthy, unowned during the day"),
        ("gpu_hours_down", pa.float64(), "GPU-h", "online but failed during the day"),
        ("failures", pa.int32(), "", "domain failures in the pool that day"),
        ("it_mw", pa.float64(), "MW", "IT load of the online capacity at full draw"),
        ("facility_mw", pa.float64(), "MW", "it_mw x PUE"),
        (
            "gpus_idle_fragmented",
            pa.int64(),
            "GPUs",
            "of gpus_idle, those inside domains partly held by packed jobs at 00:00 (usable "
            "only by jobs smaller than a domain): the pool's fragmentation",
        ),
    ),
    "serving": _cols(
        ("date", TS, "UTC", "day"),
        ("name", STR, "", "served model"),
        ("gpus", pa.int64(), "GPUs", "GPUs held that day"),
        ("tokens_per_s_per_gpu", pa.float64(), "tokens/s", "output tokens/s per GPU (perf model)"),
        ("demand_tokens", pa.float64(), "tokens", "output tokens asked for that day"),
        ("served_tokens", pa.float64(), "tokens", "output tokens served (capped by capacity)"),
        ("revenue_usd", pa.float64(), "USD", "input + output token revenue of the day"),
        ("input_tokens", pa.float64(), "tokens", "prompt tokens of the served requests"),
        ("input_revenue_usd", pa.float64(), "USD", "prompt tokens at the input prices"),
        ("output_revenue_usd", pa.float64(), "USD", "served tokens x output price per million"),
    ),
    "ledger": _cols(
        ("date", TS, "UTC", "the day (00:00 UTC) the amounts accrued in"),
        ("site", STR, "", "site ('' for the segment's given series)"),
        ("pool", STR, "", "pool ('' for the segment's given series)"),
        ("counterparty", STR, "", "tenant, served model, utility, site, capex, or a given series"),
        (
            "account",
            STR,
            "",
            "an account of the chart (sim/finance/chart.py), e.g. lease_revenue, power_cost_cor",
        ),
        ("amount_usd", pa.float64(), "USD", "revenue positive, costs negative"),
    ),
    "events": _cols(
        ("at", TS, "UTC", "when"),
        (
            "kind",
            STR,
            "",
            "phase-online, submit, start, finish, preempt, lease-start, lease-end, ...",
        ),
        ("owner_id", pa.int32(), "", "owner id (-1 for none)"),
        ("subject", STR, "", "job, lease, pool or phase name"),
        ("gpus", pa.int64(), "GPUs", "GPUs concerned"),
        ("detail", pa.string(), "", "free text"),
    ),
}


def schema(table: str) -> pa.Schema:
    return pa.schema([pa.field(c.name, c.type) for c in TABLES[table]])


def columns_markdown() -> str:
    """The column reference, one section per table."""
    out = [
        "# Output columns",
        "",
        "Generated from `sim/records.py` by `python -m sim.records`; instants are UTC timestamps.",
        "",
    ]
    for table, cols in TABLES.items():
        out += [
            f"## `{table}.parquet`",
            "",
            "| column | type | unit | meaning |",
            "|---|---|---|---|",
        ]
        out += [f"| `{c.name}` | {c.type} | {c.unit} | {c.doc} |" for c in cols]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(columns_markdown())
