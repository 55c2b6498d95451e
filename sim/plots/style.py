"""Colours, labels and number formats shared by every figure and table of the report, so that
a counterparty has one colour and a KPI one label on every page."""

from __future__ import annotations

import math
import zlib

# Owner classes of a pool's GPUs, and the holders a pool's GPUs are split into.
OWNER_COLORS = {
    "lease": "#4c78a8",
    "training": "#f58518",
    "serving": "#54a24b",
    "idle": "#c7c7c7",
    "down": "#d62728",
}
# Fixed colours for the names the default scenario uses; any other name gets one from PALETTE
# by a hash of its name, the same on every page and every run.
NAMED = {
    "anthropic": "#4c78a8",
    "google": "#72b7b2",
    "reflection": "#b279a2",
    "grok-api": "#54a24b",
    "tokens": "#54a24b",
    "serving": "#54a24b",
    "utility": "#9d755d",
    "capex": "#7f7f7f",
    "pretrain": "#f58518",
    "rl": "#eeca3b",
    "experiment": "#ff9da6",
    "training": "#f58518",
    "idle": "#c7c7c7",
    "down": "#d62728",
    "lease": "#4c78a8",
    "net": "#000000",
}
PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#393b79",
    "#637939",
    "#843c39",
)
SITE_DASH = ("solid", "dash", "dot", "dashdot")


def color(name: str) -> str:
    """The colour of a counterparty, tenant, job class or owner class (case-insensitive);
    `lease: X` and `training: X` take X's colour."""
    key = str(name).lower().split(": ", 1)[-1]
    if key in NAMED:
        return NAMED[key]
    return PALETTE[zlib.crc32(key.encode()) % len(PALETTE)]


def money(usd: float | None, digits: int = 2) -> str:
    """USD in billions (millions below $10M), the sign before the dollar: `-$0.06B`."""
    if usd is None or not math.isfinite(usd):
        return "n/a"
    sign = "-" if usd < 0 else ""
    a = abs(usd)
    if a and a < 1e7:
        return f"{sign}${a / 1e6:,.{digits}f}M"
    return f"{sign}${a / 1e9:,.{digits}f}B"


# KPI name (exact, or a prefix ending in ".") -> (label, unit); the unit picks the format.
LABELS = {
    "mfu.all_training": ("MFU, all training", "%"),
    "mfu.job_class.": ("MFU, {0}", "%"),
    "mfu.pool.": ("MFU on {0}", "%"),
    "revenue.total_usd": ("Revenue", "USD"),
    "revenue.lease_usd": ("Lease revenue", "USD"),
    "revenue.token_usd": ("Token revenue", "USD"),
    "revenue.per_year_usd": ("Revenue per year", "USD"),
    "revenue.usd_per_gw_year": ("Revenue per facility GW-year", "USD"),
    "revenue.usd_per_gpu_hour.": ("Revenue per GPU-hour online, {0}", "USD/h"),
    "cost.total_usd": ("Cost (power + depreciation)", "USD"),
    "cost.per_year_usd": ("Cost per year", "USD"),
    "margin.total_usd": ("Margin (revenue - cost)", "USD"),
    "margin.per_year_usd": ("Margin per year", "USD"),
    "gpu_hours.lease": ("GPU-hours held by tenants", "GPU-h"),
    "gpu_hours.training": ("GPU-hours of internal training", "GPU-h"),
    "gpu_hours.serving": ("GPU-hours of serving", "GPU-h"),
    "gpu_hours.idle": ("GPU-hours idle", "GPU-h"),
    "gpu_hours.down": ("GPU-hours down (failed)", "GPU-h"),
    "training.gpu_hours": ("GPU-hours of internal training", "GPU-h"),
    "training.tokens": ("Tokens trained", "tokens"),
    "failures.total": ("Failures", "count"),
    "failures.pool.": ("Failures on {0}", "count"),
    "failures.lease_gpu_hours_short": ("Lease GPU-hours short (failures)", "GPU-h"),
    "failures.training_gpu_hours_lost.": ("Training GPU-hours lost to failures, {0}", "GPU-h"),
    "notices.lessor": ("Lease notices given by the lessor", "count"),
    "notices.tenant": ("Lease notices given by tenants", "count"),
    "finish_day.": ("{0} finished (days from start)", "days"),
    "ledger.": ("Ledger: {0}", "USD"),
    "jobs.": ("Jobs: {0}", ""),
    "lease.": ("Lease {0}", ""),
    "contract.": ("Contract {0}", ""),
}


def kpi_label(name: str) -> tuple[str, str]:
    """(human label, unit) of a KPI name from `sim.report.kpis`."""
    if name in LABELS:
        return LABELS[name]
    for prefix, (label, unit) in LABELS.items():
        if prefix.endswith(".") and name.startswith(prefix):
            rest = name[len(prefix) :]
            if prefix == "ledger.":
                rest = rest.removesuffix("_usd").replace("_", " ")
            if not unit:
                unit = _unit_of(rest)
            return label.format(rest.replace(",", " + ")), unit
    return name, _unit_of(name)


def _unit_of(name: str) -> str:
    if name.endswith("_usd"):
        return "USD"
    if name.endswith("fraction"):
        return "%"
    if "gpu_hours" in name:
        return "GPU-h"
    return ""


def kpi_title(name: str) -> str:
    """Label with its unit in brackets, for an axis or a column head."""
    label, unit = kpi_label(name)
    shown = {"USD": "USD", "%": "%", "GPU-h": "GPU-hours", "USD/h": "USD per GPU-hour"}
    return f"{label} ({shown.get(unit, unit)})" if unit and unit != "count" else label


def fmt(name: str, v, signed: bool = False) -> str:
    """A KPI value in its unit: `36.8%`, `-$0.06B`, `320.7M GPU-h`, `44,100`."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    _, unit = kpi_label(name)
    plus = "+" if signed and v > 0 else ""
    if unit == "%":
        return f"{plus}{100 * v:.1f}{' pts' if signed else '%'}"
    if unit == "USD":
        return plus + money(v)
    if unit == "USD/h":
        return f"{'-' if v < 0 else plus}${abs(v):,.2f}/h"
    if unit == "GPU-h":
        if abs(v) >= 1e9:
            return f"{plus}{v / 1e9:,.2f}B GPU-h"
        return f"{plus}{v / 1e6:,.1f}M GPU-h" if abs(v) >= 1e5 else f"{plus}{v:,.0f} GPU-h"
    if unit == "tokens":
        return f"{plus}{v:.3g} tokens"
    if unit == "days":
        return f"{plus}{v:,.1f} d"
    if float(v).is_integer():
        return f"{plus}{v:,.0f}"
    return f"{plus}{v:,.4g}"


def scale(name: str, values=None) -> tuple[float, str]:
    """Factor and axis title for plotting a KPI: MFU in %, USD in billions and GPU-h in
    millions (millions and thousands when `values` are all smaller than 0.1 of that)."""
    label, unit = kpi_label(name)
    top = 0.0
    if values is not None:
        finite = [abs(float(v)) for v in values if v is not None and math.isfinite(float(v))]
        top = max(finite, default=0.0)
    if unit == "USD":
        small = values is not None and top < 1e8
        return (1e-6, f"{label} (million USD)") if small else (1e-9, f"{label} (billion USD)")
    if unit == "GPU-h":
        small = values is not None and top < 1e5
        return (
            (1e-3, f"{label} (thousand GPU-hours)")
            if small
            else (1e-6, f"{label} (million GPU-hours)")
        )
    if unit == "%":
        return 100.0, f"{label} (%)"
    return 1.0, kpi_title(name)


LOWER_IS_BETTER = ("cost.", "gpu_hours.idle", "gpu_hours.down", "failures.", "finish_day.")


def higher_is_better(name: str) -> bool:
    """Whether a KPI going up is good news (revenue, MFU) or bad (cost, idle, failures)."""
    return not name.startswith(LOWER_IS_BETTER) and "short" not in name


def wrap(text: str, width: int = 22) -> str:
    """Break a title into lines of about `width` characters (plotly's <br>)."""
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return "<br>".join([*lines, cur])
