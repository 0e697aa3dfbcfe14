"""results.json's one loader and one writer (harness/records/file.py): an older file is upgraded and renders the
same, a version this code does not know is refused in one line, a write is whole or not at all, and a field renamed
on one side fails at load rather than as an empty column."""

import json
import os
import stat
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from harness.experiments import soak
from harness.hosts import fault_table
from harness.records import file as results_file
from harness.records.base import RecordError
from harness.records.blocks import ClusterResults, FaultRun, SoakResults, SoakRun
from harness.records.suite import SuiteResults
from harness.report.render import render
from harness.report.results import save
from harness.servers import ROOT, SERVERS

DATA = Path(__file__).parent / "data" / "results.json"  # saved before there were versions: version 1


def rerender(*args):
    return subprocess.run(
        [sys.executable, "-m", "harness.report", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_an_unversioned_file_is_upgraded_and_renders_the_same_once_written_again(tmp_path):
    old = results_file.load(DATA, SuiteResults)
    assert "version" not in json.loads(DATA.read_text())
    assert all(run.mode for run in old.runs), "version 1's runs without a mode ran the closed loop: said on upgrade"
    again = tmp_path / "again" / "results.json"
    results_file.write(again, old)
    assert json.loads(again.read_text())["version"] == results_file.VERSION
    new = results_file.load(again, SuiteResults)
    assert new.to_json() == old.to_json()
    render(old, tmp_path)
    render(new, again.parent)
    for name in ("results.rst", "results.png", "hockey.png"):
        assert (tmp_path / name).read_bytes() == (again.parent / name).read_bytes(), name


def test_version_1_said_a_busy_start_by_a_null_idle_wait_and_version_2_says_it():
    raw = json.loads(DATA.read_text())
    run = next(run for run in raw["runs"] if run.get("mode", "closed") == "closed")
    busy = {**raw, "runs": [{**run, "idle_wait_s": None}, {**run, "idle_wait_s": 1.5}, run]}
    runs = results_file.record_of(busy, SuiteResults).runs
    assert [found.started_busy for found in runs] == [True, False, False]
    assert results_file.record_of(runs[0].to_json() | {"version": 2}, type(runs[0])).started_busy


@pytest.mark.parametrize("version", [results_file.VERSION + 1, 0, "2", None])
def test_a_newer_or_unknown_version_is_refused_in_one_line(tmp_path, version):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**json.loads(DATA.read_text()), "version": version}))
    with pytest.raises(RecordError, match=rf"results version {version!r}, which this code does not read"):
        results_file.load(path, SuiteResults)
    done = rerender(path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"version {version!r}" in done.stderr and "Traceback" not in done.stderr


def test_a_renamed_field_fails_at_load_naming_it_and_where(tmp_path):
    raw = json.loads(DATA.read_text())
    raw["runs"][1]["tasks_per_s"] = raw["runs"][1].pop("transaction_rate")
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(RecordError, match=r"SuiteResults\.runs\[1\]: unknown field 'tasks_per_s'"):
        results_file.load(path, SuiteResults)
    done = rerender(path)
    assert done.returncode == 2 and "unknown field 'tasks_per_s'" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    del raw["runs"][1]["tasks_per_s"], raw["runs"][1]["server"]
    with pytest.raises(RecordError, match=r"runs\[1\]: no 'server'"):
        results_file.record_of(raw, SuiteResults)


def test_a_run_the_suite_built_with_a_field_the_record_lacks_is_refused_when_saved(tmp_path):
    raw = json.loads(DATA.read_text())
    run = {**raw["runs"][0], "new_figure": 1}
    with pytest.raises(RecordError, match="unknown field 'new_figure'"):
        save(tmp_path, raw["environment"], [run], render=False)
    assert not (tmp_path / "results.json").exists()


def test_a_write_is_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    old = results_file.load(DATA, SuiteResults)
    results_file.write(path, old)
    before = path.read_bytes()
    unwritable = replace(old, took_s=object())  # json cannot write it: the write stops midway
    with pytest.raises(TypeError):
        results_file.write(path, unwritable)

    def interrupted(source, target):
        raise KeyboardInterrupt  # a stop signal just before the rename

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results_file.write(path, replace(old, took_s=12))
    assert path.read_bytes() == before, "the old file is left whole"
    assert sorted(found.name for found in tmp_path.iterdir()) == ["results.json"], "no partial file left"


def test_a_written_file_is_readable_as_open_would_make_it(tmp_path):
    """mkstemp makes a file its owner's alone; results.json gets the umask's mode, as a plain open() gave it."""
    path = tmp_path / "results.json"
    results_file.write(path, results_file.load(DATA, SuiteResults))
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~results_file.UMASK


def test_a_run_as_the_suite_builds_it_says_a_busy_start_itself():
    raw = json.loads(DATA.read_text())
    run = {**raw["runs"][0], "idle_wait_s": None, "started_busy": True}
    saved = results_file.record_of(
        {"version": results_file.VERSION, "environment": raw["environment"], "runs": [run]}, SuiteResults
    )
    assert saved.runs[0].started_busy, "the current version reads it as written, no upgrade in between"


def test_every_error_a_soak_or_fault_run_recorded_is_in_its_table():
    """The notes under the soak's and the fault table's tables say every error their results.json holds (each
    with how often), a blank availability, and a fault run that could not be made."""
    soaked = SoakRun(
        server="2_async --processes",
        minutes=3,
        checked=5,
        wrong=0,
        bad_requests=3,
        bad_wrong=0,
        errors=["kill_a_worker: TimeoutError('timed out')"] * 2 + ["n=7: {}"],
        error_count=25,
    )
    said = soak.notes([soaked])
    assert "kill_a_worker: TimeoutError('timed out') (2×)" in said and "n=7: {}" in said
    assert "22 more errors" in said and "siege availability blank" in said
    assert "not at rest" not in said and "not at rest" in soak.notes([replace(soaked, idle_after=False)])
    assert soak.notes([replace(soaked, errors=[], error_count=0, siege_availability=99.0)]) == "", "nothing to say"
    refused = ["check: no answer (ConnectionRefusedError)"] * 300
    kept = soak.kept_errors(refused + ["n=7: {}"] + [f"kind {k}" for k in range(30)])
    assert kept.count(refused[0]) == 300 and "n=7: {}" in kept and len(set(kept)) == 20, "each kind kept, how often"
    failed = FaultRun(engine="5_async_dask", fault="kill a worker host", error="TimeoutError: did not come up")
    assert "kill a worker host: not measured: TimeoutError: did not come up" in fault_table.notes([failed])
    # and in what make report saved
    saved = results_file.load(ROOT / "docs" / "results" / "soak" / "results.json", SoakResults)
    placed = soak.notes(saved.runs)
    assert all(error in placed for run in saved.runs for error in run.errors)
    hosts = results_file.load(ROOT / "docs" / "results" / "cluster" / "results.json", ClusterResults)
    assert all(run.error in fault_table.notes(hosts.runs) for run in hosts.runs if run.error)


def test_a_soaks_maximum_counts_its_readings_at_rest():
    """PSS and descriptors "after" are readings at rest: the "(max)" beside them is of every reading, those too."""
    soaked = soak.Soak(SERVERS[0], 60, threading.Event())
    soaked.samples = [(0.0, 40.0, 9), (5.0, 46.0, 12)]
    soaked.at_rest, soaked.clean_stop, soaked.rest_wait_s = [(30.0, 9, 1), (77.9, 623, 1)], True, None
    found = soaked.result()
    assert found["pss_mb_max"] == 77.9 and found["fds_max"] == 623
    assert found["idle_after"] is False, "the tree was still busy when the bound passed: said"


@pytest.mark.parametrize("args, says", [(["--group", "0"], "--group must be at least 1"), (["--minutes", "0"], "0.1")])
def test_the_soaks_bad_arguments_are_one_line_errors(args, says):
    command = [sys.executable, "-m", "harness.experiments.soak", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
