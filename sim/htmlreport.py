"""`sim report`: one HTML page for a run folder or a sweep folder, a single offline file.

Figures are interactive plotly figures (zoom, hover) with plotly's JavaScript embedded once in
the page, so nothing is fetched when it is viewed (the page's Content-Security-Policy forbids
it); `static=True` draws the same figures as PNG with matplotlib instead (`sim.plots.static`)
and writes each PNG beside the page.

The page is a list of sections. To add one, write a builder that takes the page's data
(`sim.plots.rundata.RunData` for a run, `sim.plots.sweep.SweepData` for a sweep) and returns a
`Section` (or None when it has nothing to show), and append it to `RUN_SECTIONS` or
`SWEEP_SECTIONS`; a sweep page also shows every run section for one run in detail:

    from sim.plots import Figure, Section

    def income_statement(d: RunData) -> Section | None:
        ledger = d.table("ledger")  # any table of the run, or None
        if ledger is None:
            return None
        return Section("Income statement", [Figure("income", "title", "caption", plotly_fig)])

    RUN_SECTIONS.insert(RUN_SECTIONS.index(sec_money) + 1, income_statement)

Section builders live in `sim.plots.sections` (tables and headings) and figure builders in
`sim.plots.run` / `sim.plots.sweep` (plotly figures; the numbers behind them in
`sim.plots.rundata`); colours, KPI labels and number formats in `sim.plots.style`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from sim.errors import InputError
from sim.output import read_object
from sim.plots import Figure, Section
from sim.plots import sweep as sweepfig
from sim.plots.rundata import RunData, read_run
from sim.plots.sections import (
    esc,
    sec_all_kpis,
    sec_failures,
    sec_headline,
    sec_holders,
    sec_leases,
    sec_money,
    sec_sites,
    sec_sweep_axes,
    sec_sweep_baseline,
    sec_sweep_failed,
    sec_sweep_overview,
    sec_sweep_policies,
    sec_sweep_scenarios,
    sec_training,
)
from sim.plots.sweep import SweepData
from sim.statement import report_parts


def sec_statement(d: RunData) -> Section | None:
    """The income statement and cash flow by year, and the monthly cash-burn chart."""
    parts = report_parts(d.tables.get("ledger"), d.scenario)
    if parts is None:
        return None
    table, fig = parts
    caption = "monthly capex, operating cash flow and cumulative free cash flow (sim statement)"
    return Section(
        "Income statement and cash flow",
        [Figure("cash-burn", "Cash burn", caption, fig)],
        html=table,
    )


RISK_COLUMNS = ("risk.lease_revenue_at_risk_usd", "risk.tenant_gpu_hours_taken_back")


def sec_sweep_risk(s: SweepData) -> Section | None:
    """Contract risk over the sweep's runs: P10/P50/P90 boxes of lease revenue at risk and of
    GPU-hours taken back from tenants, one box per policy (or per point without a policy axis)."""
    from sim import risk

    cols = [c for c in RISK_COLUMNS if c in s.df.columns]
    ok = s.ok
    if not cols or ok.empty:
        return None
    by = sweepfig.policy_axis(s)
    if by is None:
        ok = ok.assign(point=[s.label(x) for x in ok.scenario])
        by = "point"
    caption = "box: P10-P90 over runs with the P50 line; whiskers: min and max (sim.risk)"
    return Section(
        "Contract risk",
        [Figure("contract-risk", "Contract risk", caption, risk.figure(ok, cols, by=by))],
    )


RUN_SECTIONS: list[Callable[[RunData], Section | None]] = [
    sec_headline,
    sec_holders,
    sec_leases,
    sec_sites,
    sec_training,
    sec_money,
    sec_statement,
    sec_failures,
    sec_all_kpis,
]


# The run sections a sweep page repeats for its run in detail (no headline: the tables above
# have it; no KPI list).
DETAIL_SKIP = {"sec_headline", "sec_all_kpis"}


SWEEP_SECTIONS: list[Callable[[SweepData], Section | None]] = [
    sec_sweep_overview,
    sec_sweep_axes,
    sec_sweep_baseline,
    sec_sweep_risk,
    sec_sweep_policies,
    sec_sweep_scenarios,
    sec_sweep_failed,
]


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1240px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#444;font-size:.92em;max-width:950px}figcaption b{color:#222}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}th{background:#f5f5f5}
td.l,th.l{text-align:left}.muted{color:#777}.bad{color:#b00;font-weight:600}code{font-size:.9em}
"""


# Nothing may be fetched when the page is viewed: scripts, styles and images are inline.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)


# Marks the page once every figure has drawn (the browser test reads it): the count of plotly
# figures with an SVG drawn plus images decoded, and the resources the page fetched.
SCRIPT = """
window.addEventListener('load', function () {
  var plots = document.querySelectorAll('.plotly-graph-div');
  var done = function () {
    var ok = 0;
    plots.forEach(function (p) { if (p.querySelector('.main-svg g.trace')) ok++; });
    for (var i = 0; i < document.images.length; i++) {
      var im = document.images[i]; if (im.complete && im.naturalWidth > 0) ok++;
    }
    var fetched = performance.getEntriesByType('resource').filter(function (e) {
      return !/^(data|blob):/.test(e.name); }).length;
    document.body.setAttribute('data-figures-drawn', String(ok));
    document.body.setAttribute('data-resources-fetched', String(fetched));
  };
  setTimeout(done, 300);
});
"""


def _figure_html(f: Figure, static: bool) -> str:
    cap = f"<figcaption><b>{esc(f.title)}.</b> {esc(f.description)}</figcaption>"
    if static:
        data = base64.b64encode(f.png).decode()
        body = f'<img src="data:image/png;base64,{data}" alt="{esc(f.title)}">'
    else:
        import plotly.io as pio

        f.fig.update_layout(
            margin={"l": 70, "r": 20, "t": 70, "b": 50},
            template="plotly_white",
            legend={"yanchor": "top", "y": 1.0, "font": {"size": 11}},
        )
        body = pio.to_html(
            f.fig,
            include_plotlyjs=False,
            full_html=False,
            div_id=f.slug,
            config={"displaylogo": False, "responsive": True},
        )
    return f'<figure id="fig-{esc(f.slug)}">{body}{cap}</figure>'


def _page(title: str, subtitle: str, sections: list[Section], static: bool) -> str:
    js = ""
    if not static:
        from plotly.offline import get_plotlyjs

        js = f"<script>{get_plotlyjs()}</script>"
    body = []
    for s in sections:
        body.append(f"<section><h2>{esc(s.heading)}</h2>{s.html}")
        body += [_figure_html(f, static) for f in s.figures]
        body.append("</section>")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style>{js}</head><body>"
        f"<h1>{esc(title)}</h1><p class=muted>{esc(subtitle)}</p>"
        + "\n".join(body)
        + f"<script>{SCRIPT}</script></body></html>\n"
    )


def _sections(builders, data) -> list[Section]:
    out = []
    for make in builders:
        s = make(data)
        if s is not None and (s.figures or s.html):
            out.append(s)
    return out


def run_sections(d: RunData) -> list[Section]:
    return _sections(RUN_SECTIONS, d)


def _run_data(run_dir: Path) -> RunData:
    from sim.report import kpis

    root = run_dir.parents[1] if len(run_dir.parents) > 1 else run_dir
    if not any(run_dir.glob("*.parquet")) and (root.parent / "sweep.json").is_file():
        # a sweep's run (runs/scenario=<id>/seed=<n>): its tables are the sweep's partitions
        sid, seed = run_dir.parent.name.partition("=")[2], run_dir.name.partition("=")[2]
        d = read_run(run_dir, _tables_of_sweep_run(root.parent, sid, int(seed)))
        result = read_object(run_dir / "result.json")
        d.kpis = {k: float(v) for k, v in result.get("kpis", {}).items() if v is not None}
        return d
    d = read_run(run_dir)
    try:
        d.kpis = kpis(run_dir)
    except Exception as exc:  # an older run folder: figures still render
        d.manifest["note"] = f"KPIs unavailable: {type(exc).__name__}: {exc}"
    return d


def run_page(run_dir: Path, static: bool = False) -> tuple[str, list[Figure]]:
    from sim.report import policy_label

    d = _run_data(run_dir)
    sections = run_sections(d)
    sc = d.scenario
    intro = Section(
        "The run",
        html=f"<p>{esc(sc.get('description', ''))}</p><p>Seed {esc(d.manifest.get('seed'))}, "
        f"policy {esc(policy_label(sc.get('policy', {})))}, horizon "
        f"{esc(d.start.date())} to {esc(d.end.date())}.</p>",
    )
    title = f"{d.manifest.get('scenario', run_dir.name)}, seed {d.manifest.get('seed')}"
    figs = [f for s in sections for f in s.figures]
    _render(figs, static)
    return _page(title, f"sim report of {run_dir}", [intro, *sections], static), figs


def sweep_data(
    sweep_dir: Path, kpis: list[str] | None = None, baseline: str | None = None
) -> SweepData:
    """The sweep's plan and summary, the KPIs to compare (checked against the summary) and the
    baseline scenario (an id such as `s01`, or axis values `policy=mfu-aware,...`)."""
    from sim.expect import close_matches

    plan = json.loads((sweep_dir / "sweep.json").read_text())
    df = pd.read_parquet(sweep_dir / "summary.parquet")
    axes = [c for c in df.columns if c.startswith("axis.")]
    if kpis:
        fixed = {"scenario", "seed", "status", "error", "wall_s"}
        known = [c for c in df.columns if c not in fixed and not c.startswith("axis.")]
        bad = [k for k in kpis if k not in known]
        if bad:
            from sim.errors import Problem

            raise InputError(
                [
                    Problem(
                        "--kpis",
                        f"no such KPI in this sweep's summary; close: {', '.join(close_matches(k, known)) or 'none'}",
                        k,
                    )
                    for k in bad
                ]
            )
    s = SweepData(sweep_dir, plan, df, kpis or sweepfig.default_kpis(df), None, axes)
    s.baseline = _baseline(s, baseline) if baseline else sweepfig.default_baseline(plan)
    return s


def _baseline(s: SweepData, text: str) -> str:
    ids = [p["id"] for p in s.plan.get("points", [])]
    if text in ids:
        return text
    want = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
    for sid in ids:
        row = s.df[s.df.scenario == sid]
        if not row.empty and all(
            _same_value(row.iloc[0].get(f"axis.{k}"), v) for k, v in want.items()
        ):
            return sid
    choices = "; ".join(f"{sid} ({s.label(sid)})" for sid in ids)
    raise InputError.single(
        "--baseline", f"no such scenario; give an id or axis values: {choices}", text
    )


def _same_value(have, text: str) -> bool:
    """An axis value against what the user typed: `1`, `1.0` and `1e0` are the same number."""
    try:
        return float(have) == float(text)
    except (TypeError, ValueError):
        return str(have) == text


def sweep_page(
    sweep_dir: Path,
    static: bool = False,
    kpis: list[str] | None = None,
    baseline: str | None = None,
) -> tuple[str, list[Figure]]:
    s = sweep_data(sweep_dir, kpis, baseline)
    sections = _sections(SWEEP_SECTIONS, s)
    ok = s.ok
    if len(ok):
        pick = ok[ok.scenario == s.baseline] if (ok.scenario == s.baseline).any() else ok
        first = pick.iloc[0]
        d = read_run(
            sweep_dir / "runs" / f"scenario={first.scenario}" / f"seed={first.seed}",
            _tables_of_sweep_run(sweep_dir, str(first.scenario), int(first.seed)),
        )
        detail = _sections([b for b in RUN_SECTIONS if b.__name__ not in DETAIL_SKIP], d)
        for sec in detail:
            sec.heading = f"One run in detail: {sec.heading[0].lower()}{sec.heading[1:]}"
            for f in sec.figures:
                f.slug = f"detail-{f.slug}"
        if detail:
            detail[0].html = (
                f"<p>Scenario {esc(s.label(str(first.scenario)))} "
                f"(<code>{esc(first.scenario)}</code>), seed {esc(first.seed)}.</p>"
                + detail[0].html
            )
        sections += detail
    figs = [f for sec in sections for f in sec.figures]
    _render(figs, static)
    title = f"Sweep {s.plan.get('sweep', sweep_dir.name)}"
    return _page(title, f"sim report of {sweep_dir}", sections, static), figs


def _tables_of_sweep_run(sweep_dir: Path, scenario: str, seed: int) -> dict[str, pd.DataFrame]:
    out = {}
    for d in sorted(sweep_dir.iterdir()):
        part = d / f"scenario={scenario}" / f"seed={seed}" / "part.parquet"
        if part.is_file():
            out[d.name] = pd.read_parquet(part)
    return out


def _render(figs: list[Figure], static: bool) -> None:
    if static:
        from sim.plots.static import render

        for f in figs:
            f.png = render(f)


def find_target(target: Path) -> tuple[str, Path]:
    """('sweep' | 'run', folder) for a sweep folder, a run folder, or a folder holding exactly
    one of them (a sweep's `--out` folder, `runs/out/<scenario>`); otherwise a clear error
    naming the folders to pass."""
    if (target / "sweep.json").is_file():
        return "sweep", target
    if (target / "manifest.json").is_file():
        return "run", target
    if not target.is_dir():
        raise InputError.single("", "no such folder", file=target)
    sweeps = sorted(p.parent for p in target.glob("*/sweep.json"))
    inside = tuple(str(s) + "/" for s in sweeps)
    runs = sorted(
        m.parent
        for m in target.rglob("manifest.json")
        if not str(m).startswith(inside)
        and not any(p.startswith(".") for p in m.relative_to(target).parts)
    )
    found = [("sweep", s) for s in sweeps] + [("run", r) for r in runs]
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError.single(
            "",
            "not a run folder (manifest.json) or a sweep folder (sweep.json), and none is below it",
            file=target,
        )
    names = ", ".join(str(p) for _, p in found[:8]) + (", ..." if len(found) > 8 else "")
    raise InputError.single(
        "", f"holds {len(found)} runs or sweeps; pass one of: {names}", file=target
    )


def write_report(
    target: str | Path,
    out: str | Path | None = None,
    static: bool = False,
    kpis: list[str] | None = None,
    baseline: str | None = None,
) -> tuple[Path, list[Figure]]:
    """Write `<out>/index.html` (one offline file; default out: `<folder>/report/`) for a run
    folder, a sweep folder, or a folder holding one of them; with `static`, PNG figures, also
    written beside the page. Returns the page and its figures."""
    kind, folder = find_target(Path(target))
    out_dir = Path(out) if out else folder / "report"
    if kind == "sweep":
        if not (folder / "summary.parquet").is_file():
            raise InputError.single(
                "", "sweep has no summary.parquet yet: run sim sweep first", file=folder
            )
        page, figs = sweep_page(folder, static, kpis, baseline)
    else:
        if kpis or baseline:
            raise InputError.single("--kpis/--baseline", "only for a sweep folder", file=folder)
        page, figs = run_page(folder, static)
    out_dir.mkdir(parents=True, exist_ok=True)
    if static:
        for f in figs:
            (out_dir / f"{f.slug}.png").write_bytes(f.png)
    (out_dir / "index.html").write_text(page, encoding="utf-8")
    return out_dir / "index.html", figs
