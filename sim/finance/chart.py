"""The chart of accounts: every ledger account belongs to exactly one statement line.

Declared once here; the engine books by these account names, the statement aggregates by their
lines, and docs/economics.md documents the same table. Ledger amounts are signed (revenue and
cash in positive, costs and cash out negative); statement lines show costs as positive amounts.

Lines of the income statement: revenue (by stream), cost of revenue, R&D, SG&A; operating result
= revenue - cost of revenue - R&D - SG&A. D&A is a memo line: the depreciation already inside
cost of revenue and R&D (as segment disclosures report it). The cash flow is apart: operating
cash flow = operating result + D&A (non-cash), capex, free cash flow = operating cash flow -
capex (no working capital, interest or tax: the filing's segment figures stop at the operating
result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Line = Literal["revenue", "cost_of_revenue", "rnd", "sga", "capex"]
# income-statement lines in display order; capex is the cash-flow line
PNL_LINES: tuple[str, ...] = ("revenue", "cost_of_revenue", "rnd", "sga")
LINES: tuple[str, ...] = (*PNL_LINES, "capex")


@dataclass(frozen=True)
class Account:
    name: str
    line: Line
    stream: str  # revenue stream or cost kind within the line
    given: bool  # True: booked from a given series (workload [[series]]), not simulated
    depreciation: bool = False  # part of the D&A memo line
    doc: str = ""


_ACCOUNTS = (
    # revenue (modelled)
    Account(
        "lease_revenue",
        "revenue",
        "compute leasing",
        False,
        doc="leased tranches while held: the contract price split over tranches by value",
    ),
    Account(
        "sla_credit",
        "revenue",
        "compute leasing",
        False,
        doc="credit to a tenant for GPU-hours short of the contract's SLA (negative)",
    ),
    Account(
        "termination_fee",
        "revenue",
        "termination fees",
        False,
        doc="+ when the tenant gives notice (it pays), - when the lessor does",
    ),
    Account(
        "token_revenue",
        "revenue",
        "Grok API",
        False,
        doc="served output tokens x output price, with their prompt tokens at input prices",
    ),
    # revenue (given)
    Account("x_ads_revenue", "revenue", "X advertising", True, doc="given series"),
    Account(
        "subscription_revenue",
        "revenue",
        "subscriptions",
        True,
        doc="given series: X subscriptions, SuperGrok, data licensing",
    ),
    # cost of revenue: the capacity delivering leases and serving (modelled)
    Account(
        "power_cost_cor",
        "cost_of_revenue",
        "power",
        False,
        doc="electricity of the GPU-hours leased or serving",
    ),
    Account(
        "facility_opex_cor",
        "cost_of_revenue",
        "facility opex",
        False,
        doc="facility opex per MW-year, by the capacity's use",
    ),
    Account(
        "depreciation_cor",
        "cost_of_revenue",
        "depreciation",
        False,
        True,
        doc="straight-line depreciation of GPUs and facility, by the capacity's use",
    ),
    Account(
        "other_cor",
        "cost_of_revenue",
        "other",
        True,
        doc="given series: costs of revenue outside the campus (X platform hosting, ...)",
    ),
    # R&D: the capacity used for internal training and experiments (modelled), staff (given)
    Account(
        "power_cost_rnd",
        "rnd",
        "power",
        False,
        doc="electricity of training GPU-hours and of idle draw",
    ),
    Account("facility_opex_rnd", "rnd", "facility opex", False),
    Account("depreciation_rnd", "rnd", "depreciation", False, True),
    Account("staff_rnd", "rnd", "staff and other", True, doc="given series"),
    # SG&A (given)
    Account("sga", "sga", "SG&A", True, doc="given series"),
    # capex: cash, not cost (modelled from the capacity timeline)
    Account(
        "capex_gpus",
        "capex",
        "GPUs and IT",
        False,
        doc="GPUs of a phase x capex per GPU, spread over the GPU lead time before online",
    ),
    Account(
        "capex_facility",
        "capex",
        "facility construction",
        False,
        doc="facility MW of a phase x construction per MW, over the construction lead time",
    ),
)
ACCOUNTS: dict[str, Account] = {a.name: a for a in _ACCOUNTS}
GIVEN_ACCOUNTS: tuple[str, ...] = tuple(a.name for a in _ACCOUNTS if a.given)

# The use of capacity decides where its costs go: (cost kind, use) -> account.
_BY_USE = {
    ("power", "delivery"): "power_cost_cor",
    ("power", "research"): "power_cost_rnd",
    ("facility_opex", "delivery"): "facility_opex_cor",
    ("facility_opex", "research"): "facility_opex_rnd",
    ("depreciation", "delivery"): "depreciation_cor",
    ("depreciation", "research"): "depreciation_rnd",
}


def account_for(kind: str, use: str) -> str:
    """The account of a capacity cost (`power`, `facility_opex`, `depreciation`) by its use:
    `delivery` (leased or serving: cost of revenue) or `research` (training: R&D)."""
    return _BY_USE[(kind, use)]


def delivery_share(
    lease_h: float, training_h: float, serving_h: float, idle_h: float, down_h: float = 0.0
) -> float:
    """Share of a pool's day that delivers revenue: (lease + serving) / online GPU-hours. The
    rest (training, and idle or failed capacity, kept for internal work) is R&D."""
    online = lease_h + training_h + serving_h + idle_h + down_h
    return (lease_h + serving_h) / online if online > 0 else 0.0


def line_of(account: str) -> str:
    """The statement line of a ledger account; an unknown account is an error, never dropped."""
    try:
        return ACCOUNTS[account].line
    except KeyError:
        raise KeyError(
            f"ledger account {account!r} is not in the chart (sim/finance/chart.py)"
        ) from None


def markdown() -> str:
    """The chart as a Markdown table (docs/economics.md carries this output)."""
    rows = ["| account | line | stream | modelled / given | meaning |", "|---|---|---|---|---|"]
    for a in _ACCOUNTS:
        kind = "given" if a.given else "modelled"
        rows.append(f"| `{a.name}` | {a.line} | {a.stream} | {kind} | {a.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown())
