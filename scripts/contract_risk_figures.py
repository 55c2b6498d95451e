"""The figures of docs/contract-risk.md from a `sim value-of-notice` output folder, as Markdown.

    python scripts/contract_risk_figures.py runs/out/value-of-notice/memphis

prints the option value of each notice variant with its 95% interval (paired and unpaired), the
effect on each pre-training finish day, and P10/P50/P90 over the seeds of the "mutual" variant
(the scenario as written) and of "none".
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from sim.compare import MONTE_CARLO
from sim.risk import percentiles


def _b(v) -> str:
    return "n/a" if v is None else f"{v / 1e9:+,.2f}"


def _d(v) -> str:
    return "n/a" if v is None else f"{v:+,.1f}"


def main(folder: str) -> None:
    out = Path(folder)
    doc = json.loads((out / "value-of-notice.json").read_text())
    table = pd.read_parquet(out / "value-of-notice.parquet")
    print(f"Seeds 1-{doc['seeds']}, runs {doc['runs']}, wall {doc['wall_s']:,.0f} s.\n")
    jobs = sorted({j for v in doc["variants"].values() for j in v["milestones"]})
    head = ["variant", "option value $B", "95% CI $B", "unpaired 95% CI $B"]
    head += [f"{j} finish, days" for j in jobs]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, v in doc["variants"].items():
        cells = [
            name,
            _b(v["option_value_usd"]),
            f"{_b(v['ci_low_usd'])} to {_b(v['ci_high_usd'])}",
            f"{_b(v['unpaired_ci_low_usd'])} to {_b(v['unpaired_ci_high_usd'])}",
        ]
        for j in jobs:
            m = v["milestones"].get(j, {})
            cells.append(
                f"{_d(m.get('finish_day_difference'))} ({_d(m.get('ci_low_days'))} to "
                f"{_d(m.get('ci_high_days'))}; {m.get('seeds_finished_both', 0)} seeds)"
            )
        print("| " + " | ".join(cells) + " |")
    print()
    for name, v in doc["variants"].items():
        print(
            f"- {name}: mean operating result ${v['operating_result_mean_usd'] / 1e9:,.2f}B, "
            f"revenue at risk ${v['lease_revenue_at_risk_mean_usd'] / 1e9:,.2f}B, tenant "
            f"notices {v['notices_by_tenant_mean']:.2f}, lessor notices "
            f"{v['notices_by_lessor_mean']:.2f}, GPU-hours taken back "
            f"{v['tenant_gpu_hours_taken_back_mean'] / 1e6:,.1f}M"
        )
    cols = [*MONTE_CARLO, *sorted(c for c in table.columns if c.startswith("finish_day:"))]
    mc = percentiles(table, [c for c in cols if c in table.columns], by="variant")
    print("\n| variant | KPI | P10 | P50 | P90 |\n|---|---|---|---|---|")
    for v in ("mutual", "none"):
        if v not in mc.index:
            continue
        for col in mc.columns.get_level_values(0).unique():
            vals = [mc.loc[v, (col, p)] for p in ("P10", "P50", "P90")]
            if col.endswith("_usd"):
                cells = [f"${x / 1e9:,.2f}B" for x in vals]
            elif col.startswith("finish_day:"):
                cells = ["not by the end" if x == float("inf") else f"{x:,.0f}" for x in vals]
            else:
                cells = [f"{x / 1e6:,.1f}M" for x in vals]
            print(f"| {v} | {col} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
