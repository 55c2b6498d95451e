"""`sim report`: one offline page with interactive figures (or PNGs with --static), user text
escaped, robust to whatever a sweep's summary holds (a KPI constant across runs, NaN, a single
run, failed runs); opened in a real headless browser when one is installed (.ci/run installs
Chromium), where every figure must draw and nothing may be fetched."""

import json
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import sweep as sw
from sim.cli import main
from sim.htmlreport import RUN_SECTIONS, write_report
from sim.plots.run import fig_money
from sim.plots.rundata import RunData, holders, lease_delivery, read_run
from sim.plots.style import color, fmt, money
from sim.runner import run

DATA = Path(__file__).resolve().parent / "data"
HOSTILE = '<script>alert("x")</script> & $\\alpha$'
RUN_FIGS = [
    "gpus_by_holder",
    "lease_delivery",
    "lease_timeline",
    "sites_power_idle",
    "mfu_over_time",
    "mfu_waterfall",
    "money_by_month",
    "cash-burn",
]
MAX_PAGE_BYTES = 6_000_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    for f in ("small.toml", "small-workload.toml"):
        shutil.copy(DATA / f, tmp / f)
    text = (DATA / "small-scenario.toml").read_text()
    scenario = tmp / "scenario.toml"
    scenario.write_text(f"description = {json.dumps(HOSTILE)}\n" + text)
    out_dir, _ = run(scenario, 1, tmp / "out")
    return out_dir


@pytest.fixture(scope="module")
def run_page(run_dir):
    page, figs = write_report(run_dir)
    return page, figs, page.read_text()


def make_sweep(tmp: Path, axes: str, seeds: str = "[1, 2]") -> Path:
    f = tmp / "s.toml"
    f.write_text(
        f'name = "s"\nscenario = "{DATA / "small-scenario.toml"}"\nseeds = {seeds}\n{axes}'
    )
    plan = sw.expand(f, tmp / "out")
    with ThreadPoolExecutor(2) as ex:
        sw.run_sweep(plan, ex, 2)
    return plan.out_dir


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    return make_sweep(
        tmp_path_factory.mktemp("sweep"),
        '[[axes]]\npath = "policy.kind"\nvalues = ["fifo", "mfu-aware"]\n'
        '[[axes]]\nname = "power"\npath = "prices.power_usd_per_mwh"\nvalues = [50, 90]\n',
    )


def sim(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return ex.value.code, out.out, out.err


def labels(fig) -> list[str]:
    """Every text a reader sees on a plotly figure: category ticks, trace names, titles."""
    out = [a.text for a in fig.layout.annotations or ()]
    for t in fig.data:
        out.append(t.name or "")
        for v in (getattr(t, "x", None), getattr(t, "y", None)):
            if v is not None:
                out += [x for x in v if isinstance(x, str)]
    return out


# -- the run page ------------------------------------------------------------------------------


def test_run_page_is_one_offline_file_with_every_figure(run_page):
    page, figs, html = run_page
    assert [f.slug for f in figs] == RUN_FIGS
    # plotly's JavaScript once, inline; one drawing call per figure; nothing fetched from outside
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()[:300]) == 1
    assert html.count("Plotly.newPlot(") == len(figs)
    ours = html.replace(get_plotlyjs(), "")  # the library's own text names its website
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", ours)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert page.stat().st_size < MAX_PAGE_BYTES
    # user text is escaped, one heading per section
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    heads = re.findall(r"<h2>(.*?)</h2>", html)
    assert len(heads) == len(set(heads))
    assert "<h3>" not in html


def test_headline_table_has_labels_units_and_red_only_for_nonzero_failures(run_page):
    html = run_page[2]
    head = html.split("<h2>Headline numbers</h2>", 1)[1].split("</table>", 1)[0]
    assert "<td class=l>Lease revenue</td>" in head and "<code>revenue.lease_usd</code>" in head
    assert "revenue.lease_usd</td>" not in head  # the dotted name is not the label
    # the small scenario runs without failures: its zero is not red
    row = re.search(r"<td class=l>Failures</td><td>(.*?)</td>", head).group(1)
    assert row == "0"


def test_static_page_has_png_figures_written_beside_it(run_dir, tmp_path, capsys):
    code, out, _ = sim(capsys, "report", run_dir, "--static", "--out", tmp_path / "r")
    assert code == 0
    html = (tmp_path / "r" / "index.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == len(RUN_FIGS)
    assert "Plotly.newPlot" not in html
    for slug in RUN_FIGS:
        assert (tmp_path / "r" / f"{slug}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_money_figure_without_a_ledger(run_dir):
    d = read_run(run_dir)
    del d.tables["ledger"]
    assert "leases.revenue_usd" in fig_money(d).description


def test_a_section_is_added_by_appending_a_builder(run_dir, monkeypatch, tmp_path):
    from sim.htmlreport import Section

    def extra(d):
        return Section("An added section", html=f"<p>{len(d.tables)} tables</p>")

    monkeypatch.setattr("sim.htmlreport.RUN_SECTIONS", [RUN_SECTIONS[0], extra])
    html = write_report(run_dir, tmp_path)[0].read_text()
    assert "<h2>An added section</h2><p>" in html


# -- the numbers behind the planner's figures ---------------------------------------------------


def two_tenant_run() -> RunData:
    """One pool of 300 GPUs over two days; tenants A (100 GPUs contracted at $1,000/h, i.e.
    $10 per GPU-hour) and B (100 GPUs), one training segment of 50 GPUs on day 1."""
    days = pd.date_range("2026-01-01", periods=2, freq="D", tz="UTC")
    pools = pd.DataFrame(
        {
            "date": days,
            "site": "s",
            "pool": "p",
            "gpu": "H100",
            "gpus_online": [300, 300],
            "gpus_lease": [180, 200],
            "gpus_training": [50, 0],
            "gpus_serving": [0, 0],
            "gpus_idle": [70, 100],
            "gpus_down": [0, 0],
            # A is 20 GPUs short all of day 1 (failures); whole on day 2
            "gpu_hours_lease": [24.0 * 180, 24.0 * 200],
            "gpu_hours_training": [24.0 * 50, 0.0],
            "gpu_hours_serving": [0.0, 0.0],
            "gpu_hours_idle": [24.0 * 70, 24.0 * 100],
            "gpu_hours_down": [0.0, 0.0],
            "failures": [0, 0],
            "facility_mw": [1.0, 1.0],
        }
    )
    t0, t2 = days[0], days[0] + pd.Timedelta(days=2)
    leases = pd.DataFrame(
        {
            "contract": ["a", "b"],
            "tenant": ["A", "B"],
            "tranche": [0, 0],
            "pools": ["p=100", "p=100"],
            "gpus_contracted": [100, 100],
            "gpus_held": [100, 100],
            "start_at": [t0, t0],
            "end_at": [t2, t2],
            "held_from": [t0, t0],
            "held_until": [t2, t2],
            "usd_per_hour": [1000.0, 1000.0],
        }
    )
    seg = pd.DataFrame(
        {
            "job_class": ["pretrain"],
            "pools": ["p=50"],
            "start_at": [t0],
            "end_at": [t0 + pd.Timedelta(hours=12)],
        }
    )
    sc = {"horizon": {"start": "2026-01-01", "end": "2026-01-03"}}
    return RunData({"pools": pools, "leases": leases, "segments": seg}, {}, sc)


def test_holders_split_the_pool_owner_counts_by_tenant_and_job_class():
    h = holders(two_tenant_run())["p"]
    # day 1: 180 lease GPUs split 100:100 between the tranches placed there; training is the
    # pretrain segment's; the stack adds up to the online capacity
    assert h["lease: A"].tolist() == [90.0, 100.0]
    assert h["lease: B"].tolist() == [90.0, 100.0]
    assert h["training: pretrain"].tolist() == [50.0, 0.0]
    assert h.sum(axis=1).tolist() == [300.0, 300.0]


def test_revenue_at_risk_is_the_shortfall_priced_at_the_contract():
    ld = lease_delivery(two_tenant_run())
    a = ld["A"]
    assert a.contracted.tolist() == [100.0, 100.0]
    assert a.delivered.tolist() == [90.0, 100.0]
    # 10 GPUs short for 24 h at $1,000/h / 100 GPUs = $10 per GPU-hour
    assert a.at_risk_usd.tolist() == [10 * 24 * 10.0, 10 * 24 * 10.0]


def test_money_and_colours_are_fixed():
    assert money(-0.06e9) == "-$0.06B" and money(2.3e9) == "$2.30B" and money(-5e6) == "-$5.00M"
    assert fmt("margin.total_usd", -6e7) == "-$0.06B"
    assert fmt("mfu.all_training", 0.289) == "28.9%"
    assert color("Anthropic") == color("anthropic") == color("lease: Anthropic")
    assert color("some new tenant") == color("Some New Tenant")  # by name, on every page


# -- the sweep page ----------------------------------------------------------------------------


def test_sweep_page_names_scenarios_by_axis_values(sweep_dir, capsys):
    code, out, _ = sim(capsys, "report", sweep_dir)
    assert code == 0, out
    assert "kpis_vs_axes" in out and "policy_comparison" in out and "deltas_vs_baseline" in out
    page, figs = write_report(sweep_dir)  # the same page, for its figures
    html = page.read_text()
    assert "<h2>Policy comparison</h2>" in html and "mfu-aware" in html
    assert page.stat().st_size < MAX_PAGE_BYTES
    assert html.count("Plotly.newPlot(") == len(re.findall(r"^  \S+: ", out, re.M)) == len(figs)
    # every sweep figure names scenarios by their axis values, never by their ids
    sweep_figs = [f for f in figs if not f.slug.startswith("detail-")]
    assert len(sweep_figs) == 3
    for f in sweep_figs:
        texts = labels(f.fig)
        assert not [t for t in texts if re.fullmatch(r"s\d+", t)], f.slug
        assert any("kind=" in t for t in texts), f.slug
        if f.slug != "policy_comparison":  # that one is by policy alone
            assert any("power=" in t for t in texts), f.slug
    # the scenario table carries the axis values as columns
    scen = html.split("<h2>Scenarios</h2>", 1)[1].split("</table>", 1)[0]
    assert "<th class=l>policy.kind</th><th class=l>power</th>" in scen
    assert "0 failed" in html and "<span class=bad>0 failed" not in html


def test_sweep_kpis_and_baseline_options(sweep_dir, tmp_path, capsys):
    code, _, _ = sim(
        capsys,
        "report",
        sweep_dir,
        "--out",
        tmp_path,
        "--kpis",
        "mfu.all_training,revenue.lease_usd",
        "--baseline",
        "policy.kind=mfu-aware,power=90",
    )
    assert code == 0
    html = (tmp_path / "index.html").read_text()
    assert "Each scenario against the baseline (policy.kind=mfu-aware, power=90)" in html
    base = html.split("<h2>Against the baseline</h2>", 1)[1].split("</table>", 1)[0]
    heads = re.findall(r"<th[^>]*>(.*?)</th>", base)
    assert heads == ["policy.kind", "power", "", "MFU, all training (%)", "Lease revenue (USD)"]
    code, _, err = sim(capsys, "report", sweep_dir, "--out", tmp_path, "--kpis", "mfu.all_traning")
    assert code == 2 and "mfu.all_training" in err and "Traceback" not in err


def edited_sweep(sweep_dir: Path, tmp: Path, edit) -> Path:
    """A copy of the sweep whose summary is changed by `edit(df)`."""
    out = tmp / "edited"
    shutil.copytree(sweep_dir, out, ignore=shutil.ignore_patterns("report"))
    df = pd.read_parquet(out / "summary.parquet")
    edit(df)
    df.to_parquet(out / "summary.parquet", index=False)
    return out


def test_a_kpi_constant_across_runs_or_nan_draws(sweep_dir, tmp_path, monkeypatch):
    def edit(df):
        # equal in every run but for the last bits: mean - min is then a tiny negative number
        df["revenue.lease_usd"] = 2.298e9 + np.arange(len(df)) * 1e-7
        df["mfu.all_training"] = 0.3
        df["margin.total_usd"] = np.nan

    folder = edited_sweep(sweep_dir, tmp_path, edit)
    # matplotlib (--static) is what refused negative error bars; the run in detail is not
    # what this checks
    monkeypatch.setattr("sim.htmlreport.RUN_SECTIONS", [])
    page, figs = write_report(folder, static=True)
    assert {"kpis_vs_axes", "policy_comparison"} <= {f.slug for f in figs}
    assert "n/a" in page.read_text()


def test_a_failed_run_is_listed_and_the_rest_draws(sweep_dir, tmp_path):
    def edit(df):
        df.loc[0, "status"] = "failed"
        df.loc[0, "error"] = "RuntimeError: <boom>"
        kpis = [c for c in df.columns if "." in c and not c.startswith("axis.")]
        df.loc[0, kpis] = np.nan

    folder = edited_sweep(sweep_dir, tmp_path, edit)
    html = write_report(folder)[0].read_text()
    assert "<h2>Failed runs</h2>" in html and "RuntimeError: &lt;boom&gt;" in html
    assert "<span class=bad>1 failed</span>" in html


def test_a_sweep_of_a_single_run(tmp_path, capsys):
    folder = make_sweep(tmp_path, "", seeds="[1]")
    code, out, _ = sim(capsys, "report", folder)
    assert code == 0, out
    html = (folder / "report" / "index.html").read_text()
    assert "1 scenarios x 1 seeds = 1 runs: 1 ok" in html
    assert "One run in detail" in html


def test_report_finds_the_sweep_in_its_out_folder(sweep_dir, tmp_path, capsys):
    out_folder = sweep_dir.parent  # `sim sweep FILE --out DIR` writes DIR/<name>/
    code, out, _ = sim(capsys, "report", out_folder, "--out", tmp_path / "a")
    assert code == 0 and "deltas_vs_baseline" in out
    # two sweeps there: say which folders to pass
    shutil.copytree(sweep_dir, out_folder / "copy", ignore=shutil.ignore_patterns("report"))
    code, _, err = sim(capsys, "report", out_folder, "--out", tmp_path / "b")
    assert code == 2 and str(sweep_dir) in err and "pass one of" in err
    shutil.rmtree(out_folder / "copy")


def test_report_on_one_run_of_a_sweep(sweep_dir, tmp_path, capsys):
    one = sweep_dir / "runs" / "scenario=s01" / "seed=2"
    code, out, err = sim(capsys, "report", one, "--out", tmp_path)
    assert code == 0, err
    assert "gpus_by_holder" in out and "money_by_month" in out
    html = (tmp_path / "index.html").read_text()
    assert "<h2>Headline numbers</h2><table>" in html


def test_report_on_a_scenario_folder_with_one_seed(run_dir, capsys, tmp_path):
    code, out, _ = sim(capsys, "report", run_dir.parent, "--out", tmp_path)
    assert code == 0 and "gpus_by_holder" in out


def test_not_a_run_folder_exits_2(tmp_path, capsys):
    code, _, err = sim(capsys, "report", tmp_path)
    assert code == 2 and "Traceback" not in err


# -- in a browser ------------------------------------------------------------------------------


def chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=3000",
]


def browse(page: Path, *args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
        )


def load_in_browser(page: Path, shot: Path | None = None) -> tuple[str, list[str]]:
    """The page's DOM after load and the console lines Chromium logged; with `shot`, a
    screenshot of the page's first 7000 pixels too (same load)."""
    extra = ["--window-size=1300,7000", f"--screenshot={shot}"] if shot else []
    res = browse(page, "--enable-logging=stderr", "--v=0", "--dump-dom", *extra)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(chromium() is None, reason="no chromium binary (.ci/run installs it)")
def test_pages_draw_in_a_headless_browser_and_fetch_nothing(run_dir, sweep_dir, tmp_path):
    # the check itself sees console errors and fetches
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<html><body><img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('broken')</script></body></html>"
    )
    assert load_in_browser(bad)[1]
    shots = Path(tempfile.gettempdir()) / "sim-report-screenshots"
    shots.mkdir(exist_ok=True)
    for target in (run_dir, sweep_dir):
        page, figs = write_report(target, tmp_path / target.name)
        shot = shots / f"{target.name}.png"
        dom, console = load_in_browser(page, shot)
        assert console == []
        drawn = re.search(r'data-figures-drawn="(\d+)"', dom)
        assert drawn and int(drawn.group(1)) == len(figs) > 0
        assert re.search(r'data-resources-fetched="0"', dom)
        assert shot.read_bytes()[:4] == b"\x89PNG"  # for a person to look at
