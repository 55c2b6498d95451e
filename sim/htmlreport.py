"""`sim report`: one HTML page for a run folder or a sweep folder, a single offline file.

Figures are interactive plotly figures (zoom, hover) with plotly's JavaScript embedded once in
the page, so nothing is fetched when it is viewed (the page's Content-Security-Policy forbids
it); `static=True` draws the same figures as PNG with matplotlib instead (`sim.plots.static`)
and writes each PNG beside the page.

The page is a list of sections. To add one, write a builder that takes the page's data
(`sim.plots.run.RunData` for a run, `sim.plots.sweep.SweepData` for a sweep) and returns a
`Section` (or None when it has nothing to show), and append it to `RUN_SECTIONS` or
`SWEEP_SECTIONS`; a sweep page also shows every run section for one run in detail:

    def income_statement(d: RunData) -> Section | None:
        return Section("Income statement", [Figure("income", "...", "...", plotly_fig)])

    RUN_SECTIONS.append(income_statement)
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.plots import Figure
from sim.plots import run as runfig
from sim.plots import sweep as sweepfig
from sim.plots.run import RunData, read_run
from sim.plots.style import fmt, kpi_label, kpi_title, money
from sim.plots.sweep import SweepData


@dataclass
class Section:
    """One section of the page: one heading, optional text or tables (HTML the builder has
    escaped), then its figures."""

    heading: str
    figures: list[Figure] = field(default_factory=list)
    html: str = ""


def _esc(x) -> str:
    return html.escape(str(x), quote=True)


def _table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; cells are HTML already; the first `left` columns align left."""

    def cells(tag: str, row: list[str]) -> str:
        return "".join(
            f"<{tag}{' class=l' if i < left else ''}>{c}</{tag}>" for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return f"<table><tr>{cells('th', head)}</tr>{body}</table>"


def _count(n: int, what: str) -> str:
    """`3 failed` in red, `0 failed` plain: red only when there is something to look at."""
    text = f"{n:,} {what}"
    return f"<span class=bad>{text}</span>" if n else text


def _only(*figs: Figure | None) -> list[Figure]:
    return [f for f in figs if f is not None]


# -- run sections ------------------------------------------------------------------------------

HEADLINE = (
    "mfu.all_training",
    "revenue.total_usd",
    "revenue.lease_usd",
    "revenue.token_usd",
    "cost.total_usd",
    "margin.total_usd",
    "gpu_hours.lease",
    "gpu_hours.training",
    "gpu_hours.serving",
    "gpu_hours.idle",
    "failures.total",
    "failures.lease_gpu_hours_short",
)


def _kpi_rows(k: dict[str, float], keys) -> list[list[str]]:
    rows = []
    for n in keys:
        if n not in k:
            continue
        label, unit = kpi_label(n)
        value = fmt(n, k[n])
        if n.startswith("failures.") and k[n]:
            value = f"<span class=bad>{value}</span>"
        rows.append([_esc(label), value, f"<code>{_esc(n)}</code>"])
    return rows


def sec_headline(d: RunData) -> Section | None:
    k = d.kpis
    if not k:
        return Section(
            "Headline numbers",
            html=f"<p class=bad>{_esc(d.manifest.get('note', 'KPIs unavailable'))}</p>",
        )
    return Section(
        "Headline numbers", html=_table(["", "value", "KPI name"], _kpi_rows(k, HEADLINE))
    )


def sec_holders(d: RunData) -> Section | None:
    return Section("Who held which pool", _only(runfig.fig_holders(d)))


def sec_leases(d: RunData) -> Section | None:
    figs = _only(runfig.fig_lease_delivery(d), runfig.fig_leases(d))
    leases = d.table("leases")
    rows = []
    if leases is not None:
        for r in leases.itertuples():
            frac = (
                r.gpu_hours_delivered / r.gpu_hours_contracted if r.gpu_hours_contracted else None
            )
            rows.append(
                [
                    _esc(f"{r.contract} #{r.tranche}"),
                    _esc(r.tenant),
                    f"{r.gpus_contracted:,}",
                    f"{r.gpus_held:,}",
                    "n/a" if frac is None else f"{100 * frac:.1f}%",
                    money(r.revenue_usd),
                    _esc(r.end_reason),
                ]
            )
    table = (
        _table(
            [
                "tranche",
                "tenant",
                "GPUs contracted",
                "GPUs held",
                "delivered (of contracted GPU-hours)",
                "revenue",
                "ended by",
            ],
            rows,
            2,
        )
        if rows
        else ""
    )
    return Section("Leases", figs, table) if figs or table else None


def sec_sites(d: RunData) -> Section | None:
    return Section("Power and idle capacity per site", _only(runfig.fig_sites(d)))


def sec_training(d: RunData) -> Section | None:
    return Section(
        "Training efficiency (MFU)", _only(runfig.fig_mfu_over_time(d), runfig.fig_waterfall(d))
    )


def sec_money(d: RunData) -> Section | None:
    return Section("Money", _only(runfig.fig_money(d)))


def sec_failures(d: RunData) -> Section | None:
    pools = d.table("pools")
    if pools is None or "failures" not in pools:
        return None
    n = pools.groupby("pool", observed=True, sort=False).failures.sum()
    down = pools.groupby("pool", observed=True, sort=False).gpu_hours_down.sum()
    rows = [[_esc(p), _count(int(v), "failures"), f"{down[p] / 1e6:,.2f}M"] for p, v in n.items()]
    return Section("Failures", html=_table(["pool", "failures", "GPU-hours down"], rows))


def sec_all_kpis(d: RunData) -> Section | None:
    if not d.kpis:
        return None
    table = _table(["", "value", "KPI name"], _kpi_rows(d.kpis, sorted(d.kpis)))
    return Section(
        "All KPIs", html=f"<details><summary>show all {len(d.kpis)}</summary>{table}</details>"
    )


RUN_SECTIONS: list[Callable[[RunData], Section | None]] = [
    sec_headline,
    sec_holders,
    sec_leases,
    sec_sites,
    sec_training,
    sec_money,
    sec_failures,
    sec_all_kpis,
]
# The run sections a sweep page repeats for its run in detail (no headline: the tables above
# have it; no KPI list).
DETAIL_SKIP = {"sec_headline", "sec_all_kpis"}


# -- sweep sections ----------------------------------------------------------------------------


def sec_sweep_overview(s: SweepData) -> Section | None:
    df, plan = s.df, s.plan
    st = df.status.value_counts()
    text = (
        f"<p>Base scenario <code>{_esc(plan.get('scenario', ''))}</code>; "
        f"{len(plan.get('points', []))} scenarios x {len(plan.get('seeds', []))} seeds = "
        f"{len(df)} runs: {int(st.get('ok', 0))} ok, {_count(int(st.get('failed', 0)), 'failed')}, "
        f"{_count(int(st.get('missing', 0)), 'missing')}. Baseline for the differences: "
        f"<b>{_esc(s.label(s.baseline)) if s.baseline else 'none'}</b>.</p>"
    )
    rows = [
        [_esc(a["key"]), f"<code>{_esc(a['path'])}</code>", _esc(", ".join(map(str, a["labels"])))]
        for a in plan.get("axes", [])
    ]
    if rows:
        text += _table(["axis", "scenario field", "values"], rows, 3)
    return Section("The sweep", html=text)


def sec_sweep_axes(s: SweepData) -> Section | None:
    return Section("KPIs against the axes", _only(sweepfig.fig_kpis_vs_axes(s)))


def _axis_cells(s: SweepData, sid: str) -> list[str]:
    r = s.df[s.df.scenario == sid].iloc[0]
    return [_esc(sweepfig._v(r[a])) for a in s.axes]


def sec_sweep_baseline(s: SweepData) -> Section | None:
    d = sweepfig.deltas(s)
    if d.empty:
        return None
    means = s.ok.groupby("scenario")[s.kpis].mean()
    rows = []
    for p in s.plan.get("points", []):
        sid = p["id"]
        if sid not in d.index:
            continue
        cells = [
            fmt(k, means.loc[sid, k])
            + (
                ""
                if sid == s.baseline
                else f"<span class=muted> ({fmt(k, d.loc[sid, k], signed=True)})</span>"
            )
            for k in s.kpis
        ]
        name = "baseline" if sid == s.baseline else ""
        rows.append([*_axis_cells(s, sid), name, *cells])
    head = [_esc(a[5:]) for a in s.axes] + [""] + [_esc(kpi_title(k)) for k in s.kpis]
    table = _table(head, rows, len(s.axes) + 1)
    note = "<p class=muted>Mean over seeds; in brackets the difference from the baseline.</p>"
    return Section("Against the baseline", _only(sweepfig.fig_deltas(s)), table + note)


def sec_sweep_policies(s: SweepData) -> Section | None:
    pol = sweepfig.policy_axis(s)
    if pol is None:
        return None
    ok = s.ok
    rows = []
    for name in dict.fromkeys(s.df[pol].tolist()):
        sub = ok[ok[pol] == name]
        cells = [
            (fmt(k, sub[k].mean()) if len(sub) else "n/a")
            + (
                f"<span class=muted> ± {fmt(k, sub[k].std())}</span>"
                if len(sub) > 1 and np.isfinite(sub[k].std())
                else ""
            )
            for k in s.kpis
        ]
        rows.append([_esc(name), str(len(sub)), *cells])
    table = _table([_esc(pol[5:]), "runs ok"] + [_esc(kpi_title(k)) for k in s.kpis], rows)
    note = "<p class=muted>Mean ± standard deviation over runs (seeds and the other axes).</p>"
    return Section("Policy comparison", _only(sweepfig.fig_policies(s)), table + note)


def sec_sweep_scenarios(s: SweepData) -> Section | None:
    rows = []
    for p in s.plan.get("points", []):
        sub = s.df[s.df.scenario == p["id"]]
        if sub.empty:
            continue
        ok = sub[sub.status == "ok"]
        cells = []
        for k in s.kpis:
            v = ok[k].dropna() if k in ok else pd.Series(dtype=float)
            if v.empty:
                cells.append("n/a")
            elif len(v) > 1 and fmt(k, v.min()) != fmt(k, v.max()):
                cells.append(
                    f"{fmt(k, v.mean())}<span class=muted> ({fmt(k, v.min())} to {fmt(k, v.max())})</span>"
                )
            else:
                cells.append(fmt(k, v.mean()))
        n_ok = f"{len(ok)}/{len(sub)}"
        rows.append(
            [
                *_axis_cells(s, p["id"]),
                f"<code>{_esc(p['id'])}</code>",
                n_ok if len(ok) == len(sub) else f"<span class=bad>{n_ok}</span>",
                *cells,
            ]
        )
    head = [_esc(a[5:]) for a in s.axes] + ["id", "runs ok"] + [_esc(kpi_title(k)) for k in s.kpis]
    note = "<p class=muted>Mean over seeds, with the range over seeds in brackets where they differ.</p>"
    return Section("Scenarios", html=_table(head, rows, len(s.axes) + 1) + note)


def sec_sweep_failed(s: SweepData) -> Section | None:
    failed = s.df[s.df.status == "failed"]
    if failed.empty:
        return None
    rows = [
        [_esc(s.label(r.scenario)), _esc(r.seed), f"<span class=bad>{_esc(r.error)}</span>"]
        for r in failed.itertuples()
    ]
    return Section("Failed runs", html=_table(["scenario", "seed", "error"], rows, 3))


SWEEP_SECTIONS: list[Callable[[SweepData], Section | None]] = [
    sec_sweep_overview,
    sec_sweep_axes,
    sec_sweep_baseline,
    sec_sweep_policies,
    sec_sweep_scenarios,
    sec_sweep_failed,
]


# -- the page ----------------------------------------------------------------------------------

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
    cap = f"<figcaption><b>{_esc(f.title)}.</b> {_esc(f.description)}</figcaption>"
    if static:
        data = base64.b64encode(f.png).decode()
        body = f'<img src="data:image/png;base64,{data}" alt="{_esc(f.title)}">'
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
    return f'<figure id="fig-{_esc(f.slug)}">{body}{cap}</figure>'


def _page(title: str, subtitle: str, sections: list[Section], static: bool) -> str:
    js = ""
    if not static:
        from plotly.offline import get_plotlyjs

        js = f"<script>{get_plotlyjs()}</script>"
    body = []
    for s in sections:
        body.append(f"<section><h2>{_esc(s.heading)}</h2>{s.html}")
        body += [_figure_html(f, static) for f in s.figures]
        body.append("</section>")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style>{js}</head><body>"
        f"<h1>{_esc(title)}</h1><p class=muted>{_esc(subtitle)}</p>"
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
        result = json.loads((run_dir / "result.json").read_text())
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
        html=f"<p>{_esc(sc.get('description', ''))}</p><p>Seed {_esc(d.manifest.get('seed'))}, "
        f"policy {_esc(policy_label(sc.get('policy', {})))}, horizon "
        f"{_esc(d.start.date())} to {_esc(d.end.date())}.</p>",
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
                f"<p>Scenario {_esc(s.label(str(first.scenario)))} "
                f"(<code>{_esc(first.scenario)}</code>), seed {_esc(first.seed)}.</p>"
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


# -- what to report on ---------------------------------------------------------------------


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
