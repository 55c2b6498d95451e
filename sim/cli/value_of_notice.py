"""`sim value-of-notice FILE [--seeds K]`: what the mutual notice clause is worth, and to whom."""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sim.notice_value import BASE, VARIANTS, option_values, run_variants


def _b(v: float) -> str:
    return "-" if v is None or v != v else f"${v / 1e9:+,.3f}B"


def _d(v: float) -> str:
    return "-" if v is None or v != v else f"{v:+,.1f}"


def _clean(x):
    """nan -> None, for JSON."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@click.command("value-of-notice")
@click.argument("file", type=click.Path())
@click.option("--seeds", type=int, default=8, show_default=True, help="Seeds 1..K per variant.")
@click.option("--workers", type=int, default=None, help="Processes (default: every core).")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Folder for runs and the table (default: runs/out/value-of-notice/<scenario file>).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the option values as JSON.")
def command(file: str, seeds: int, workers: int | None, out: str | None, as_json: bool) -> None:
    """Run FILE with no notice, mutual notice, lessor-only and tenant-only notice on the same
    seeds, and print each variant's option value (mean paired difference in operating result
    against no notice) with its 95% interval, and its effect on pre-training finish days."""
    if seeds < 2:
        raise click.BadParameter("needs at least 2 seeds for an interval", param_hint="--seeds")
    out_dir = Path(out) if out else Path(file).parent / "out" / "value-of-notice" / Path(file).stem
    t0 = time.perf_counter()
    n = len(VARIANTS) * seeds
    with ProcessPoolExecutor(max_workers=min(n, workers or os.cpu_count() or 1)) as ex:
        table = run_variants(file, range(1, seeds + 1), out_dir, executor=ex)
    wall_s = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out_dir / "value-of-notice.parquet", index=False)
    values = option_values(table)
    runs = {str(k): int(v) for k, v in table.run.value_counts().items()}
    doc = {
        "scenario": file,
        "seeds": seeds,
        "base": BASE,
        "wall_s": round(wall_s, 1),
        "runs": runs,  # simulated, reused (an earlier folder), "as mutual" (not simulated)
        "variants": values,
    }
    (out_dir / "value-of-notice.json").write_text(json.dumps(_clean(doc), indent=2) + "\n")
    if as_json:
        click.echo(json.dumps(_clean(doc), indent=2))
        return
    t = Table(title=f"{Path(file).name}: value of the notice clause, {seeds} paired seeds (95% CI)")
    for col in ("variant", "option value (op. result vs none)", "95% CI", "unpaired CI"):
        t.add_column(col, justify="right" if col != "variant" else "left")
    jobs = sorted({j for v in values.values() for j in v["milestones"]})
    for j in jobs:
        t.add_column(f"{j} finish, days vs none", justify="right")
    for v, r in values.items():
        cells = [
            v,
            _b(r["option_value_usd"]),
            f"{_b(r['ci_low_usd'])} .. {_b(r['ci_high_usd'])}",
            f"{_b(r['unpaired_ci_low_usd'])} .. {_b(r['unpaired_ci_high_usd'])}",
        ]
        for j in jobs:
            m = r["milestones"].get(j, {})
            cells.append(
                f"{_d(m.get('finish_day_difference'))} ({_d(m.get('ci_low_days'))}..{_d(m.get('ci_high_days'))})"
            )
        t.add_row(*cells)
    Console(width=max(140, 60 + 30 * len(jobs))).print(t)
    click.echo(
        f"{n} variant-seeds ({', '.join(f'{v} {k}' for k, v in runs.items())}) in "
        f"{wall_s:,.0f} s; table: {out_dir / 'value-of-notice.parquet'}"
    )
