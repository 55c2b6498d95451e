"""`sim diff`: the same seed moves nothing; a changed price moves exactly the money."""

import json
import shutil
import textwrap

import pytest

from sim.cli import main
from sim.diff import Tolerance, diff, numeric_columns
from sim.records import TABLES, schema
from tests.conftest import DATA

SERVING = """
[[serving]]
name = "api"
pools = ["small-gb200"]
price_usd_per_million_tokens = 2.0
demand_tokens_per_day = [[2026-01-01, 1.0e9]]
[serving.model]
params = 8.0e9
layers = 32
hidden = 4096
heads = 32
kv_heads = 8
"""


def make(tmp_path, name: str, lease_usd_per_month: float = 1.0e6, token_usd: float = 2.0):
    """The small scenario plus a served model, with its two prices as given."""
    folder = tmp_path / name
    folder.mkdir()
    workload = (DATA / "small-workload.toml").read_text() + SERVING
    workload = workload.replace(
        "price_usd_per_month = 1.0e6", f"price_usd_per_month = {lease_usd_per_month}"
    )
    workload = workload.replace(
        "price_usd_per_million_tokens = 2.0", f"price_usd_per_million_tokens = {token_usd}"
    )
    (folder / "w.toml").write_text(workload)
    text = f"""
        name = "small"
        seed = 7
        workloads = ["w.toml"]
        [horizon]
        start = 2026-01-01
        end = 2026-06-01
        [[sites]]
        topology = "{DATA / "small.toml"}"
        """
    (folder / "s.toml").write_text(textwrap.dedent(text))
    return folder / "s.toml"


def sim(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def run(capsys, scenario, out, seed=7):
    code, text, _ = sim(capsys, "run", scenario, "--seed", seed, "--out", out)
    assert code == 0, text
    return out / "small" / f"seed={seed}"


def test_same_seed_reports_no_change(tmp_path, capsys):
    sc = make(tmp_path, "base")
    a, b = run(capsys, sc, tmp_path / "a"), run(capsys, sc, tmp_path / "b")
    report = diff(a, b, Tolerance(0.0))
    assert report.moved == []
    kinds = {i.kind for i in report.items}
    assert kinds == {"kpi", "rows", "sum"}
    assert {i.name for i in report.items if i.kind == "rows"} >= {"jobs", "leases", "serving"}
    code, out, _ = sim(capsys, "diff", a, b, "--rel", 0)
    assert code == 0 and "no change" in out


def test_changed_prices_move_exactly_the_money_columns(tmp_path, capsys):
    a = run(capsys, make(tmp_path, "base"), tmp_path / "a")
    b = run(capsys, make(tmp_path, "dear", 1.5e6, 3.0), tmp_path / "b")
    report = diff(a, b)
    columns = report.moved_names("sum")
    # Money columns are found by their unit, not listed: every one that moved is in USD.
    assert columns >= {"leases.revenue_usd", "serving.revenue_usd"}
    units = {f"{t}.{c.name}": c.unit for t, cols in TABLES.items() for c in cols}
    assert all(units.get(c, "").startswith("USD") for c in columns), columns
    price = [c for c in units if c.startswith("leases.") and units[c].startswith("USD/")]
    assert set(price) <= columns  # the lease's price column, whatever its unit
    assert report.moved_names("rows") == set()
    kpis = report.moved_names("kpi")
    assert {"revenue.lease_usd", "revenue.token_usd", "lease.tenant-a.0.revenue_usd"} <= kpis
    physical = ("mfu.", "jobs.", "gpu_hours.", "finish_day.")
    assert not [k for k in kpis if k.startswith(physical) or k.endswith("delivered_fraction")]
    assert any("scenario_hash" in n for n in report.notes)

    code, out, _ = sim(capsys, "diff", a, b, "--json")
    data = json.loads(out)
    assert code == 1 and data["changed"] is True
    assert {m["name"] for m in data["moved"] if m["kind"] == "sum"} == columns
    # A tolerance wider than the change lets it through, overall or per name (the |relative
    # difference| of two values is at most 2).
    assert sim(capsys, "diff", a, b, "--rel", 2)[0] == 0
    rules = [x for i in report.moved for x in ("--tol", f"{i.name}=2")]
    assert sim(capsys, "diff", a, b, *rules)[0] == 0
    assert sim(capsys, "diff", a, b, *rules[:-2])[0] == 1


def test_sweeps_are_paired_by_run_folder(tmp_path, capsys):
    sc = make(tmp_path, "base")
    for seed in (1, 2):
        run(capsys, sc, tmp_path / "a", seed)
        run(capsys, sc, tmp_path / "b", seed)
    assert diff(tmp_path / "a", tmp_path / "b").moved == []
    shutil.rmtree(tmp_path / "b/small/seed=2")
    report = diff(tmp_path / "a", tmp_path / "b")
    assert [(i.kind, i.name) for i in report.moved] == [("run", "small/seed=2")]
    code, out, _ = sim(capsys, "diff", tmp_path / "a", tmp_path / "b")
    assert code == 1 and "small/seed=2" in out


def test_bad_input_exits_2(tmp_path, capsys):
    code, _, err = sim(capsys, "diff", tmp_path / "x", tmp_path / "y")
    assert code == 2 and "no such run folder" in err and "Traceback" not in err
    a = run(capsys, make(tmp_path, "base"), tmp_path / "a")
    code, _, err = sim(capsys, "diff", a, a, "--tol", "mfu.*")
    assert code == 2 and "PATTERN=REL" in err


def test_ids_and_timestamps_are_not_summed():
    cols = numeric_columns(schema("jobs"))
    assert "job_id" not in cols and "submit_at" not in cols and "name" not in cols
    assert {"gpu_hours", "tokens_trained", "gpus_requested"} <= set(cols)
