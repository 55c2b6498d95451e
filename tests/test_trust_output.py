"""The output folder is the only place a run writes, and a run folder is complete or absent
(issue 19 items 1, 6 --out, 7, 9)."""

from __future__ import annotations

import json
import multiprocessing
import os

import pyarrow as pa
import pytest

from sim import runner
from sim.errors import InputError
from sim.output import write_run
from tests.fuzzkit import clean_error, scenario_with, sim


@pytest.mark.parametrize("name", ["..", ".", "x" * 256, "a" * 300])
def test_a_scenario_name_that_is_not_one_safe_path_component_is_bad_input(tmp_path, capsys, name):
    # issue 19 item 1: name = ".." passed validation and the tables went to --out/../seed=7
    path = scenario_with(tmp_path, name=name)
    (tmp_path / "v" / "seed=7").mkdir(parents=True)
    keep = tmp_path / "v" / "seed=7" / "keep.txt"
    keep.write_text("mine")
    clean_error(*sim(capsys, "validate", path)[::2], "name")
    clean_error(*sim(capsys, "run", path, "--out", tmp_path / "v" / "out")[::2], "name")
    assert keep.read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["seed=7"]


def test_a_run_never_replaces_a_folder_it_did_not_create(tmp_path, capsys):
    path = scenario_with(tmp_path, name="small")
    mine = tmp_path / "out" / "small" / "seed=7"
    mine.mkdir(parents=True)
    (mine / "keep.txt").write_text("mine")
    code, _, err = sim(capsys, "run", path, "--out", tmp_path / "out")
    clean_error(code, err, "not a run folder")
    assert (mine / "keep.txt").read_text() == "mine"
    # a folder a run wrote is replaced by the next run
    (mine / "keep.txt").unlink()
    mine.rmdir()
    assert sim(capsys, "run", path, "--out", tmp_path / "out")[0] == 0
    first = json.loads((mine / "manifest.json").read_text())
    assert sim(capsys, "run", path, "--out", tmp_path / "out")[0] == 0
    assert json.loads((mine / "manifest.json").read_text())["rows"] == first["rows"]


def test_an_unusable_out_folder_is_bad_input(tmp_path, capsys):
    path = scenario_with(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:
        for out in (afile / "sub", "/dev/null", readonly / "out"):
            if out == readonly / "out" and os.access(readonly, os.W_OK):
                continue  # running as root: a read-only mode does not stop us
            clean_error(*sim(capsys, "run", path, "--out", out)[::2], "--out")
    finally:
        readonly.chmod(0o755)


def _writer(out_dir: str, n: int, errors) -> None:
    try:
        for i in range(n):
            table = pa.table({"x": list(range(i + 1))})
            write_run(out_dir, [("t", table)], {"i": i}, {"versions": {"colossus-sim": "test"}})
    except Exception as exc:  # reported to the parent
        errors.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_runs_on_one_out_folder_never_break_each_other(tmp_path):
    # issue 19 item 7: one process's cleanup of stale temporaries deleted another's live one
    out_dir = str(tmp_path / "out" / "s" / "seed=1")
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(out_dir, 15, errors)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert sorted(os.listdir(out_dir)) == ["manifest.json", "scenario.json", "t.parquet"]
    assert os.listdir(tmp_path / "out" / "s") == ["seed=1"]  # no temporaries left


def test_a_dead_runs_temporaries_are_removed_and_a_live_ones_kept(tmp_path):
    out_dir = tmp_path / "s" / "seed=1"
    table = pa.table({"x": [1]})
    ctx = multiprocessing.get_context("fork")
    # a temporary of a process that is still alive: write_run in a child blocked mid-write
    r, w = ctx.Pipe(duplex=False)
    gate = ctx.Event()

    def slow_tables():
        w.send("writing")
        gate.wait(30)
        yield "t", table

    child = ctx.Process(target=write_run, args=(out_dir, slow_tables(), {}, {}))
    child.start()
    assert r.recv() == "writing"
    live = [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]
    assert len(live) == 1
    write_run(out_dir, [("t", table)], {}, {})  # another run meanwhile
    assert live[0].exists()
    gate.set()
    child.join()
    assert child.exitcode == 0
    # a temporary whose owner died (SIGKILL) is removed by the next run
    child = ctx.Process(target=write_run, args=(out_dir, slow_tables(), {}, {}))
    gate.clear()
    child.start()
    assert r.recv() == "writing"
    child.kill()
    child.join()
    assert [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]
    write_run(out_dir, [("t", table)], {}, {})
    assert sorted(p.name for p in out_dir.parent.iterdir()) == ["seed=1"]


def test_an_interrupt_while_computing_kpis_leaves_no_folder(tmp_path, monkeypatch):
    # issue 19 item 9: Ctrl-C in the final KPI step left a folder without kpis that `sim check`
    # passed
    path = scenario_with(tmp_path)

    def interrupted(*_a, **_k):
        raise KeyboardInterrupt

    import sim.report  # the runner imports kpis_of from here when it runs

    monkeypatch.setattr(sim.report, "kpis_of", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run(path, out=tmp_path / "out")
    parent = tmp_path / "out" / "small"
    assert not (parent / "seed=7").exists()
    assert not parent.exists() or [p.name for p in parent.iterdir()] == []


def test_every_run_folder_has_its_kpis(tmp_path):
    path = scenario_with(tmp_path)
    run_dir, manifest = runner.run(path, out=tmp_path / "out")
    on_disk = json.loads((run_dir / "manifest.json").read_text())
    assert on_disk["kpis"] and on_disk["kpis"] == manifest["kpis"]


def test_bad_name_is_an_input_error_before_anything_is_written(tmp_path):
    path = scenario_with(tmp_path, name="..")
    with pytest.raises(InputError):
        runner.run(path, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()
