"""`sim statement` on run and sweep folders: both statements, modelled and given lines marked,
reported figures beside, JSON with the named keys, bad input exits 2."""

import json

import pandas as pd
import pytest

from sim.cli import main


def sim(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


ROWS = [  # (date, account, signed USD a day)
    ("lease_revenue", 3e6),
    ("x_ads_revenue", 1e6),
    ("power_cost_cor", -0.5e6),
    ("depreciation_cor", -1e6),
    ("depreciation_rnd", -2e6),
    ("staff_rnd", -4e6),
    ("sga", -1e6),
    ("capex_gpus", -10e6),
]
REPORTED = {
    "2026Q1": {
        "operating_result_usd": {"value": -400e6, "source": "a filing"},
        "capex_usd": {"value": 1e9, "source": "a filing"},
    }
}


DAYS = pd.date_range("2026-01-01", "2026-06-30", freq="D")


def write_run(folder, days=DAYS, scale=1.0):
    folder.mkdir(parents=True)
    rows = [(d, a, u * scale) for d in days for a, u in ROWS]
    pd.DataFrame(
        {
            "date": pd.DatetimeIndex([r[0] for r in rows]).tz_localize("UTC"),
            "site": "",
            "pool": "",
            "counterparty": "x",
            "account": [r[1] for r in rows],
            "amount_usd": [r[2] for r in rows],
        }
    ).to_parquet(folder / "ledger.parquet")
    scenario = {
        "name": "t",
        "horizon": {"start": "2026-01-01", "end": "2026-07-01"},
        "reported": REPORTED,
    }
    (folder / "scenario.json").write_text(json.dumps({"scenario": scenario}))
    return folder


def test_a_quarter_of_a_run_with_reported_beside(tmp_path, capsys):
    run = write_run(tmp_path / "seed=1")
    code, out, _ = sim(capsys, "statement", run, "--period", "2026Q1")
    assert code == 0
    assert "Operating result" in out and "Free cash flow" in out
    # 90 days: revenue (3 + 1) x 90 = 360M; costs 0.5 + 3 + 4 + 1 = 8.5M a day
    assert " -0.405 " in out and "-0.400" in out  # result beside the reported figure
    assert "given" in out and "modelled" in out and "mixed" in out  # revenue is mixed
    assert "a filing" in out
    code, out, _ = sim(capsys, "statement", run, "--period", "2026Q1", "--json")
    data = json.loads(out)
    assert data["period"] == "2026Q1"
    lines = data["lines"]
    assert lines["revenue_usd"] == pytest.approx(4e6 * 90)
    assert lines["cost_of_revenue_usd"] == pytest.approx(1.5e6 * 90)
    assert lines["rnd_usd"] == pytest.approx(6e6 * 90)
    assert lines["sga_usd"] == pytest.approx(1e6 * 90)
    assert lines["d_and_a_usd"] == pytest.approx(3e6 * 90)
    assert lines["operating_result_usd"] == pytest.approx((4e6 - 8.5e6) * 90)
    assert lines["capex_usd"] == pytest.approx(10e6 * 90)
    assert lines["free_cash_flow_usd"] == pytest.approx((4e6 - 8.5e6 + 3e6 - 10e6) * 90)
    assert data["reported"]["capex_usd"]["value"] == 1e9


def test_periods_of_a_grain_and_bad_periods(tmp_path, capsys):
    run = write_run(tmp_path / "seed=1")
    code, out, _ = sim(capsys, "statement", run, "--period", "month", "--json")
    assert code == 0 and [e["period"] for e in json.loads(out)][:2] == ["2026-01", "2026-02"]
    code, out, _ = sim(capsys, "statement", run, "--period", "2026")
    assert "covers 50% of it" in out
    code, _, err = sim(capsys, "statement", run, "--period", "2026H1")
    assert code == 2 and "--period" in err and "Traceback" not in err
    code, _, err = sim(capsys, "statement", tmp_path / "nothing")
    assert code == 2 and "not a run folder" in err


def test_an_unknown_account_is_bad_input(tmp_path, capsys):
    run = write_run(tmp_path / "seed=1")
    df = pd.read_parquet(run / "ledger.parquet")
    df.loc[0, "account"] = "mystery"
    df.to_parquet(run / "ledger.parquet")
    code, _, err = sim(capsys, "statement", run, "--period", "2026")
    assert code == 2 and "mystery" in err


def test_a_sweep_gives_percentiles_per_line(tmp_path, capsys):
    sweep = tmp_path / "sw"
    for seed, scale in ((1, 1.0), (2, 2.0), (3, 3.0)):
        run = write_run(tmp_path / f"r{seed}", scale=scale)
        part = sweep / "ledger" / "scenario=a" / f"seed={seed}"
        part.mkdir(parents=True)
        pd.read_parquet(run / "ledger.parquet").to_parquet(part / "part.parquet")
    (sweep / "sweep.json").write_text("{}")
    (sweep / "scenarios").mkdir()
    (sweep / "scenarios" / "a.toml").write_text(
        'name = "t"\n[horizon]\nstart = 2026-01-01\nend = 2026-07-01\n'
    )
    code, out, _ = sim(capsys, "statement", sweep, "--period", "2026Q1", "--json")
    assert code == 0
    capex = json.loads(out)["lines"]["capex_usd"]
    # capex 0.9B, 1.8B, 2.7B over the three runs: P50 1.8B, P10 = 0.9 + 0.2 x 0.9
    assert capex["p50"] == pytest.approx(1.8e9)
    assert capex["p10"] == pytest.approx(0.9e9 + 0.2 * 0.9e9)
    code, out, _ = sim(capsys, "statement", sweep, "--period", "2026Q1")
    assert "P50 [P10, P90] over 3 runs" in out


def test_the_report_section_has_the_statement_and_the_cash_burn(tmp_path):
    from sim.statement import html_section

    page = html_section(str(write_run(tmp_path / "seed=1")), "quarter")
    assert "Income statement and cash flow" in page and "Cash burn" in page
    assert "<th>2026Q1</th>" in page and "(reported -0.40)" in page


def test_given_points_show_with_their_sources(tmp_path, capsys):
    run = write_run(tmp_path / "seed=1")
    resolved = json.loads((run / "scenario.json").read_text())
    resolved["workloads"] = [
        {
            "series": [
                {
                    "name": "ads",
                    "account": "x_ads_revenue",
                    "points": [
                        {"period": "2026Q1", "usd": 9e7, "source": "FACTS.md: ads"},
                        {"period": "2026Q3", "usd": 1e8, "source": "later"},
                    ],
                }
            ]
        }
    ]
    (run / "scenario.json").write_text(json.dumps(resolved))
    code, out, _ = sim(capsys, "statement", run, "--period", "2026Q1")
    assert "x_ads_revenue 2026Q1: 0.090 (ads; FACTS.md: ads)" in out and "later" not in out


def test_report_parts_of_a_ledger_or_none_for_an_older_run(tmp_path):
    from sim.statement import report_parts

    run = write_run(tmp_path / "seed=1")
    ledger = pd.read_parquet(run / "ledger.parquet")
    scenario = json.loads((run / "scenario.json").read_text())["scenario"]
    table, fig = report_parts(ledger, scenario, "quarter")
    assert "<th>2026Q2</th>" in table and len(fig.data) == 3
    old = ledger.assign(account=ledger.account.replace({"power_cost_cor": "power_cost"}))
    assert report_parts(old, scenario) is None
