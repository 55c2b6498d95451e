"""`sim report`: a self-contained page with its figures, user text escaped, checked in a real
headless browser when one is installed (skipped otherwise: CI installs no browser)."""

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sim import sweep as sw
from sim.cli import main
from sim.htmlreport import write_report
from sim.runner import run

DATA = Path(__file__).resolve().parent / "data"
HOSTILE = '<script>alert("x")</script> & $\\alpha$'


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
def sweep_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    f = tmp / "s.toml"
    f.write_text(
        f'name = "s"\nscenario = "{DATA / "small-scenario.toml"}"\nseeds = [1, 2]\n'
        '[[axes]]\npath = "policy.kind"\nvalues = ["fifo", "mfu-aware"]\n'
        '[[axes]]\nname = "power"\npath = "prices.power_usd_per_mwh"\nvalues = [50, 90]\n'
    )
    plan = sw.expand(f, tmp / "out")
    with ThreadPoolExecutor(2) as ex:
        sw.run_sweep(plan, ex, 2)
    return plan.out_dir


def test_run_page_has_every_figure_and_escapes_user_text(run_dir):
    page, figs = write_report(run_dir)
    html = page.read_text()
    slugs = [f.slug for f in figs]
    assert slugs == [
        "gpus_by_owner",
        "mfu_over_time",
        "mfu_waterfall",
        "money_by_month",
        "lease_timeline",
    ]
    assert html.count('<img src="data:image/png;base64,') == len(figs)  # self-contained
    assert all((page.parent / f"{s}.png").is_file() for s in slugs)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)  # nothing fetched from outside


def test_money_figure_without_a_ledger(run_dir, tmp_path):
    bare = tmp_path / "run"
    shutil.copytree(run_dir, bare)
    (bare / "ledger.parquet").unlink(missing_ok=True)
    page, figs = write_report(bare)
    money = next(f for f in figs if f.slug == "money_by_month")
    assert "leases.revenue_usd" in money.description


def test_sweep_page(sweep_dir, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["report", str(sweep_dir)])
    assert ex.value.code == 0
    out = capsys.readouterr().out
    assert "kpis_vs_axes" in out and "policy_comparison" in out
    html = (sweep_dir / "report" / "index.html").read_text()
    assert "Policy comparison" in html and "mfu-aware" in html


def test_not_a_run_folder_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["report", str(tmp_path)])
    assert ex.value.code == 2


def chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def load_in_browser(page: Path) -> tuple[str, list[str]]:
    """The page's DOM after load and the console lines Chromium logged."""
    res = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout, [line for line in res.stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.skipif(chromium() is None, reason="no chromium binary (apt-get install chromium)")
def test_pages_load_in_a_headless_browser(run_dir, sweep_dir, tmp_path):
    # the check itself catches console errors
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('broken')</script></body></html>")
    assert load_in_browser(bad)[1]
    for target in (run_dir, sweep_dir):
        page, figs = write_report(target, tmp_path / target.name)
        dom, console = load_in_browser(page)
        assert console == []
        m = re.search(r'data-figures-loaded="(\d+)"', dom)
        assert m and int(m.group(1)) == len(figs) > 0
