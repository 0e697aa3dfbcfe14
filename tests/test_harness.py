"""The harness's own parts: siege parsing on captured real output, the arithmetic, the README section, its CLI,
and one short end-to-end run."""

import importlib
import json
import os
import pkgutil
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import marked_environment, named, run_all

from harness import columns, experiments, limits
from harness.instruments import measure
from harness.load import jobs, openloop, siege
from harness.report import readme
from harness.run.modes import MODES
from harness.servers import ROOT, SERVERS
from processes import port_is_free

DATA = Path(__file__).parent / "data"


def test_summary_of_a_clean_run():
    figures = siege.parse_summary((DATA / "siege_verbose_stderr.txt").read_text())
    assert figures["transactions"] == 18
    assert figures["availability"] == 100.0
    assert figures["transaction_rate"] == 16.51
    assert figures["failed_transactions"] == 0
    assert figures["shortest_transaction"] == 0.13
    assert len(figures) == 12, "every figure of the summary"


def test_summary_with_socket_errors_and_colour_codes():
    text = (DATA / "siege_sync_stderr.txt").read_text()
    figures = siege.parse_summary(text)
    assert (figures["transactions"], figures["failed_transactions"], figures["availability"]) == (461, 4, 99.14)
    block = siege.summary_block(text)
    assert block.startswith("Transactions:") and block.endswith("17.15\nShortest transaction:\t        0.16")
    assert "error" not in block


def test_no_summary():
    assert siege.parse_summary("[error] Address resolution failed") == {}
    assert siege.summary_block("nothing") == ""


def test_transaction_lines():
    lines = siege.parse_transactions((DATA / "siege_verbose_stdout.txt").read_text())
    figures = siege.parse_summary((DATA / "siege_verbose_stderr.txt").read_text())
    assert len(lines) == figures["transactions"]
    assert lines[0] == (200, 0.15)
    assert all(status == 200 for status, _ in lines)


def test_transaction_lines_with_errors_that_siege_calls_successful():
    lines = siege.parse_transactions((DATA / "siege_400_stdout.txt").read_text())
    figures = siege.parse_summary((DATA / "siege_400_stderr.txt").read_text())
    # siege printed one line more than it counted: the answer that came in as its clock ran out.
    assert (len(lines), figures["transactions"]) == (2816, 2815)
    assert {status for status, _ in lines} == {400}
    assert figures["availability"] == 100.0, "siege counts a 400 as available: the harness must not"


def test_percentiles():
    values = list(range(1, 101))  # 1..100
    assert measure.percentiles(values) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}  # nearest rank
    assert measure.percentiles([7.0], (50, 99)) == {"p50": 7.0, "p99": 7.0, "max": 7.0}
    assert measure.percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_efficiency():
    computes = {"cpu_count": 2, "tasks": {"cpu": {"waits": False, "t1_s": 0.1}}}
    assert limits.efficiency(16.0, limits.limit(computes, "cpu").per_s) == 0.8  # limit: 2 / 0.1 = 20 tasks/s
    assert limits.efficiency(9.0, limits.limit({**computes, "cpu_count": 1}, "cpu").per_s) == 0.9


README = """Intro

.. begin results

old table

.. end results

.. begin sweep

old sweep

.. end sweep
"""


def test_readme_section_replacement():
    updated = readme.replace_section(README, "results", "new table\n")
    assert "new table" in updated and "old table" not in updated
    assert "old sweep" in updated, "the other section is untouched"
    assert readme.replace_section(updated, "results", "newer") == readme.replace_section(README, "results", "newer")


def test_readme_section_without_markers():
    with pytest.raises(ValueError, match=r"no '\.\. begin other'"):
        readme.replace_section(README, "other", "x")


@pytest.mark.parametrize(
    "args, says",
    [
        (["--servers", "99"], "unknown server '99'"),
        (["--concurrency", "0"], "at least 1"),
        (["--concurrency", "a"], "not a comma-separated list"),
        (["--duration", "ten"], "not a comma-separated list"),
        (["--duration", "1,2"], "one number"),
        (["--max-pending", "0"], "at least 1"),
        (["--update-readme", "nosuchsection"], "no '.. begin nosuchsection' marker"),
        (["--rate", "0"], "every rate must be above 0"),
        (["--rate", "fast"], "not a comma-separated list of numbers"),
        (["--mode", "background", "--rate", "0x"], "'0x': a share of the limit must be above 0 and at most 4x"),
        (["--mode", "background", "--rate", "0.5x,5x"], "'5x': a share of the limit must be above 0 and at most 4x"),
        (["--rate", "halfx"], "not a comma-separated list of numbers (per second) or shares of the limit (0.5x)"),
        (["--rate", "5", "--concurrency", "25"], "choose one load"),
        (["--rate", "5", "--find-capacity"], "choose one load"),
        (["--repeat", "0"], "--repeat must be from 1 to 20"),
        (
            ["--servers", "4", "--mode", "background", "--deadline", "240"],
            "--duration + --deadline must be at most 240",
        ),
        (["--find-capacity", "--slo-ms", "-1"], "--slo-ms must be above 0"),
        (["--arrivals", "bursty"], "invalid choice: 'bursty'"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, says):
    run = run_all(*args)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and says in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_a_rate_as_a_share_of_the_limit_is_made_a_rate_per_task_kind_at_the_start():
    import run_all as suite

    args = suite.parse_args(["--mode", "background", "--rate", "0.4x,500", "--servers", "4", "--tasks", "cpu,hash"])
    env = {"cpu_count": 2, "tasks": {"cpu": {"t1_s": 0.08, "waits": False}, "hash": {"t1_s": 0.2, "waits": False}}}
    loads = {(task.kind, load) for task, _, load in suite.plan(args, env)}
    assert loads == {
        ("cpu", ("background", 10.0, 0.4)),  # 0.4 × 2 CPUs / 80 ms
        ("cpu", ("background", 500.0, None)),
        ("hash", ("background", 4.0, 0.4)),
        ("hash", ("background", 500.0, None)),
    }


@pytest.mark.parametrize(
    "module",
    ["harness.hosts.cluster"]
    + [f"harness.experiments.{found.name}" for found in pkgutil.iter_modules(experiments.__path__)],
)
def test_every_experiment_refuses_an_unknown_option_in_one_line_before_starting_anything(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--no-such-option"])
    said = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(said.splitlines()) == 1 and ": error: " in said, said


def test_a_share_of_the_limit_above_what_the_driver_keeps_is_a_one_line_error_once_t1_is_timed():
    run = run_all("--servers", "4", "--mode", "background", "--rate", "4x", "--n", "1000", "--quick")
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith("run_all.py: error: --rate 4x is ") and "it must be above 0 and at most 500" in line


def test_quick_and_max_pending_options():
    import run_all as suite

    quick = suite.parse_args(["--quick"])
    assert (quick.duration, quick.warmup) == (5, 1)
    assert suite.parse_args(["--quick", "--duration", "9"]).duration == 9
    bounded = suite.parse_args(["--max-pending", "7"])
    with_option = [s.name for s in bounded.servers if s.options == ("--max-pending", "7")]
    assert with_option == [s.name for s in SERVERS if s.takes_max_pending and not s.missing]
    assert {"3_async_threadexecutor", "4_async_processexecutor", "5_async_dask"} <= set(with_option)
    assert all(s.options == () for s in bounded.servers if s.name not in with_option)


def test_a_pool_is_sized_for_the_tasks_at_once_per_worker_process_where_its_option_says_so():
    rows = {server.name: server for server in SERVERS if not server.free_threaded}
    assert rows["3_async_threadexecutor"].sized_for(21, cpus=2).options == ("--workers", "21")
    assert rows["5_async_dask"].sized_for(21, cpus=2).options == ("--threads", "11"), "threads per worker, one a CPU"
    assert rows["1_sync"].sized_for(21, cpus=2) is rows["1_sync"], "no pool to size"


def test_the_drivers_get_their_values_as_keyword_arguments_and_refuse_a_wrong_one_in_a_line():
    off_loopback = openloop.run("http://example.com/", 5, 1)
    assert off_loopback["error"].startswith("driver failed: openloop: error: the url must be on loopback")
    too_long = jobs.run("http://127.0.0.1:1/jobs", 5, 200, deadline_s=100)
    assert too_long["error"] == (
        "driver failed: jobs: error: --duration + --deadline must be at most 240 s: the servers forget a finished "
        "job after 300 s"
    )
    call = {"function": "openloop.drive_here", "kwargs": {"url": "http://127.0.0.1:1/", "rate": 5.0, "seconds": 0}}
    refused = subprocess.run(
        [sys.executable, "-m", "harness.load.child", json.dumps(call)], cwd=ROOT, capture_output=True, text=True
    )
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        "openloop: error: --duration must be above 0 and at most 100000"
    ]


def test_the_run_path_gets_frozen_settings_built_once_from_the_command_line():
    import dataclasses

    import run_all as suite

    settings = suite.settings_from(suite.parse_args(["--quick", "--rate", "5", "--arrivals", "poisson", "--n", "7"]))
    assert (settings.duration_s, settings.warmup_s, settings.arrivals, settings.n) == (5, 1, "poisson", 7)
    assert settings.seed is not None, "a Poisson schedule's seed is drawn once, and recorded"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.duration_s = 9
    assert dataclasses.replace(settings, duration_s=9).duration_s == 9 and settings.duration_s == 5


@contextmanager
def suite_run(*args, log):
    """run_all.py in the background, with every process it starts marked; whatever happens, everything it started
    is stopped by pid afterwards, and the test fails if anything was left."""
    env, find = marked_environment()
    with open(log, "w") as output:
        suite = subprocess.Popen(
            [sys.executable, "run_all.py", *args], cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, env=env
        )
    try:
        yield suite
    finally:
        if suite.poll() is None:
            suite.kill()
            suite.wait(10)
        left = named(find())
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    assert left == {}, "processes left behind by the suite"


def wait_for_line(suite, log, line, timeout=120):
    """Until the log has a line matching the regular expression `line`."""
    deadline = time.monotonic() + timeout
    while not re.search(line, log.read_text()):
        assert time.monotonic() < deadline and suite.poll() is None, log.read_text()
        time.sleep(0.1)


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_a_short_suite_end_to_end(tmp_path):
    offset = 21000
    readme = tmp_path / "README.rst"
    readme.write_text(README)
    with suite_run(
        "--quick",
        "--servers",
        "1,4",
        "--duration",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--port-offset",
        str(offset),
        "--update-readme",
        "--readme",
        str(readme),
        log=tmp_path / "log",
    ) as suite:
        assert suite.wait(120) == 0, (tmp_path / "log").read_text()
    output = (tmp_path / "log").read_text()
    assert re.search(r"\[2/2\] cpu: \S+ @ 25 users: measuring", output), "the second run of the round"
    (out_dir,) = (tmp_path / "out").iterdir()
    results = json.loads((out_dir / "results.json").read_text())
    env = results["environment"]
    for key in (
        "cpu",
        "cpu_count",
        "cpu_affinity",
        "ram_gb",
        "os",
        "python",
        "tornado",
        "siege",
        "commit",
        "started",
        "tasks",
    ):
        assert env[key], key
    assert "cpu_quota" in env
    assert env["tasks"]["cpu"]["n"] == 140_000 and 0.02 < env["tasks"]["cpu"]["t1_s"] < 1
    assert env["tasks"]["cpu"]["waits"] is False
    assert sorted(r["server"] for r in results["runs"]) == ["1_sync", "4_async_processexecutor"], "in either order"
    for result in results["runs"]:
        assert result["verified"] and result["measured"] and result["clean_shutdown"]
        assert result["transactions"] > 0 and result["availability"] > 0
        assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
        health = result["health_ms"]
        assert health["count"] >= 5 and health["count"] == health["planned"], "every probe planned was sent"
        assert result["peak_pss_mb"] > 5 and result["cpu_s"] > 0
        assert 0 < result["efficiency"] < 1.5
        assert result["siege_summary"].startswith("Transactions:")
        assert result["port"] > offset
    sync, pool = sorted(results["runs"], key=lambda run: run["server"])
    assert sync["health_ms"]["unavailable_pct"] > 20, "the sync server cannot answer /health while it computes"
    assert pool["health_ms"]["unavailable_pct"] == 0
    assert pool["processes"] >= 4, "server, forkserver, resource tracker and workers were sampled"
    assert pool["peak_pss_mb"] < pool["peak_rss_sum_mb"], "forked workers share pages: PSS counts them once"
    assert sync["cores_busy"] < 1.2 < 1.4 < pool["cores_busy"], "the pool computes on both cores, sync on one"
    # The tasks' own accounting (GET /stats): every answer counted; sync computes on one core of two, the pool on both.
    for run in (sync, pool):
        assert run["tasks_counted"] >= run["transactions"] - 30, "each answer counted (siege stops mid-answers)"
        assert 0.8 < run["cost_x"] < 1.5 and run["task_cpu_ms"] > 0 and run["others_cores"] >= -0.1
    assert sync["in_task_share"] < 0.6 < 0.75 < pool["in_task_share"] <= 1.02
    assert sync["efficiency"] == sync["in_task_share"] and pool["efficiency"] == pool["in_task_share"], "cpu computes"
    rst = (out_dir / "results.rst").read_text()
    assert "4_async_processexecutor" in rst and "=====" in rst
    assert (out_dir / "results.png").read_bytes()[:4] == b"\x89PNG"
    updated = readme.read_text()
    assert "old table" not in updated and "4_async_processexecutor" in updated and "old sweep" in updated
    assert (tmp_path / "docs" / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert port_is_free(8000 + offset) and port_is_free(8003 + offset)


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
@pytest.mark.parametrize("signum", [signal.SIGINT], ids=["Ctrl-C"])  # SIGTERM: the same handler (interrupt_once)
def test_a_stop_signal_mid_run_stops_everything_and_keeps_what_finished(tmp_path, signum):
    offset = 22000 + 100 * signum
    log = tmp_path / "suite.log"
    with suite_run(
        "--quick",
        "--servers",
        "1,4",
        "--duration",
        "3",
        "--out",
        str(tmp_path / "out"),
        "--port-offset",
        str(offset),
        log=log,
    ) as suite:
        wait_for_line(suite, log, r"\[2/2\] cpu: \S+ @ 25 users: measuring")
        suite.send_signal(signum)
        assert suite.wait(timeout=30) == 1
    assert "Interrupted" in log.read_text()
    (out_dir,) = (tmp_path / "out").iterdir()
    runs = json.loads((out_dir / "results.json").read_text())["runs"]
    first = re.search(r"\[1/2\] cpu: (\S+) @", log.read_text()).group(1)
    assert [run["server"] for run in runs] == [first], "the finished run is kept, the interrupted one is not"
    assert port_is_free(8000 + offset) and port_is_free(8003 + offset)


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_a_server_that_fails_verification_is_reported_and_the_suite_goes_on(tmp_path):
    wrong = tmp_path / "wrong_server.py"
    wrong.write_text(f"""import sys
sys.path.insert(0, {str(ROOT)!r})
from http.server import HTTPServer
import tasks
from serving import cli, lifecycle, sync_http

class Handler(sync_http.SyncHandler):
    strategy = "wrong"

    def compute(self, n):
        answer = tasks.run(self.task, n)
        return dict(answer, result=answer["result"] + 1)  # one prime too many

lifecycle.run_until_stopped(lambda: sync_http.serve_sync(HTTPServer, Handler, cli.parse_args("wrong", 8090), "wrong"))
""")
    script = f"""import sys, run_all
from harness.servers import Server
run_all.SERVERS.insert(0, Server("wrong", {str(wrong)!r}, 8090))
sys.exit(run_all.main())"""
    log = tmp_path / "log"
    env, find = marked_environment()
    with open(log, "w") as output:
        suite = subprocess.run(
            [
                sys.executable,
                "-c",
                script,
                "--servers",
                "wrong,1",
                "--duration",
                "1",
                "--out",
                str(tmp_path / "out"),
                "--port-offset",
                "23000",
            ],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=120,
        )
    assert named(find()) == {}
    assert suite.returncode == 1, log.read_text()
    (out_dir,) = (tmp_path / "out").iterdir()
    runs = json.loads((out_dir / "results.json").read_text())["runs"]
    sync_run, wrong_run = sorted(runs, key=lambda r: r["server"])
    assert not wrong_run["verified"] and not wrong_run["measured"]
    assert "failed verification" in wrong_run["error"] and "'result': 13011" in wrong_run["error"]
    assert sync_run["verified"] and sync_run["measured"], "the suite went on"
    assert "Not measured cleanly: wrong" in log.read_text()


def measured_from(name, elapsed_s=2.0, summary=True):
    """A run's figures from captured siege output (stdout: transaction lines; stderr: the summary)."""
    stdout = (DATA / f"{name}_stdout.txt").read_text() if (DATA / f"{name}_stdout.txt").exists() else ""
    stderr = (DATA / f"{name}_stderr.txt").read_text() if summary and (DATA / f"{name}_stderr.txt").exists() else ""
    return {"duration_s": 2, **siege.figures(stdout, stderr, elapsed_s)}


def test_a_run_counts_503_answers_once_and_only_200_as_success():
    run = measured_from("siege_503")
    # Read off the capture by hand: 11 lines "HTTP/1.1 200", 157 "HTTP/1.1 503"; siege's summary says 11
    # transactions, 157 failed, 1.71 s elapsed, and "Response time: 0.60 secs" (all answers' time / 11).
    assert (run["transactions"], run["non_200"], run["failed"]) == (168, 157, 157)
    assert run["availability"] == 6.55  # 11 / 168
    assert run["transaction_rate"] == 6.43  # 11 / 1.71 s
    # The 200s took 0.14 0.19 0.17 0.18 0.17 0.18 0.14 0.12 0.15 0.18 0.15 s: 1.77 s / 11 = 0.161 s.
    assert run["response_time_s"] == 0.161
    assert "efficiency" not in run, "the run's efficiency is the suite's, against T1 now (limits.run_efficiency)"


def test_a_run_without_summary_counts_its_transactions_over_the_real_time():
    run = measured_from("siege_verbose", elapsed_s=2.5, summary=False)  # as if siege was stopped before it
    assert run["measured"] and run["transactions"] == 18 and "no summary" in run["note"]
    assert run["transaction_rate"] == 7.2, "18 transactions / the 2.5 s siege really ran, not the nominal 2 s"
    assert run["response_time_s"] == 0.168  # 3.02 s / 18, added up by hand from the capture
    assert "error" not in run


def test_a_run_with_no_siege_output_is_an_error():
    run = measured_from("nothing")
    assert not run["measured"] and "siege printed nothing" in run["error"]


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_the_suite_measures_a_users_function_and_a_chosen_n(tmp_path):
    """The README's example: PYTHONPATH=examples make bench ARGS="--task myjob:render", here with --n."""
    env, find = marked_environment()
    env["PYTHONPATH"] = str(ROOT / "examples")
    run = subprocess.run(
        [
            sys.executable,
            "run_all.py",
            "--task",
            "myjob:render",
            "--n",
            "2000",
            "--servers",
            "4",  # one server: the suite treats a user's function alike for every row (the rows: test_task_kinds)
            "--quick",
            "--duration",
            "2",
            "--out",
            str(tmp_path),
            "--port-offset",
            "24000",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert named(find()) == {}
    assert run.returncode == 0, run.stdout + run.stderr
    (out_dir,) = tmp_path.iterdir()
    results = json.loads((out_dir / "results.json").read_text())
    kind = results["environment"]["tasks"]["myjob:render"]
    assert [result["server"] for result in results["runs"]] == ["4_async_processexecutor"]
    assert kind["n"] == 2000 and kind["waits"] is False, "json work computes: its limit is CPUs / T1"
    for result in results["runs"]:
        assert result["verified"] and result["measured"] and result["task"] == "myjob:render"
        assert result["limit_per_s"] == round(results["environment"]["cpu_count"] / result["task_s"], 2), "T1 now"
    assert "Task myjob:render, 25 concurrent users" in (out_dir / "results.rst").read_text()


def test_a_bad_user_task_is_a_one_line_error_of_the_suite():
    run = run_all("--task", "nosuchmodule:f")
    assert run.returncode == 2 and "cannot import nosuchmodule" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def render(*args):
    return subprocess.run(
        [sys.executable, "-m", "harness.report", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_saved_run_is_rendered_again(tmp_path):
    """tests/data/results.json: the runs of four short real suites (siege's summary text left out), one per load
    mode; re-rendered into its folder, then with two task kinds (the matrix) into --out."""
    saved = tmp_path / "run" / "results.json"
    saved.parent.mkdir()
    shutil.copyfile(DATA / "results.json", saved)
    done = render(saved)
    assert done.returncode == 0, done.stderr
    assert sorted(path.name for path in saved.parent.iterdir()) == [
        "hockey.png",
        "results.json",
        "results.png",
        "results.rst",
    ]
    text = (saved.parent / "results.rst").read_text()
    for heading in (
        "Task cpu, 25 concurrent users, 5 s: limit 2 CPUs / T1 now = 25.9 tasks/s",
        "Task cpu, open loop at 5 requests/s (constant arrivals), 5 s",
        "Task cpu: capacity, the highest open-loop rate confirmed with p99 ≤ 1000 ms, no failure and a steady "
        "backlog, 3 s steps",
        "Task cpu: background jobs submitted at 20/s for 5 s, followed for 60 s more: limit 2 CPUs / T1 now = 26.0",
    ):
        assert f"\n{heading}" in text
    assert "12.9✓ 25.8✓ 51.6✗ 38.7✗ 32.2✗ 29✓ 30.6✓" in text
    assert text.count("Open loop: requests sent on schedule") == 1, "the legend the open loop and capacity share"
    results = json.loads(saved.read_text())
    results["environment"]["tasks"]["sleep"] = {"n": 100, "t1_s": 0.1, "waits": True}
    results["runs"] += [{**run, "task": "sleep", "task_s": 0.1} for run in results["runs"] if run["mode"] == "closed"]
    saved.write_text(json.dumps(results))
    done = render(saved, "--out", tmp_path / "two")
    assert done.returncode == 0, done.stderr
    for name in ("results.png", "matrix.png", "hockey.png"):
        assert (tmp_path / "two" / name).read_bytes()[:4] == b"\x89PNG", name
    assert "limit 25 users / T1 now = 250.0 tasks/s" in (tmp_path / "two" / "results.rst").read_text()


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "No such file"),
        ("{", "not the results of a run"),
        ("[]", "not the results of a run"),
        ('{"environment": {}, "runs": [{"server": "1_sync"}]}', "not the results of a run"),
    ],
)
def test_rendering_a_missing_or_malformed_file_is_a_one_line_error(tmp_path, content, says):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    done = render(path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and says in done.stderr, done.stderr


@pytest.mark.parametrize("mode", list(MODES))
def test_every_column_a_mode_shows_is_defined_in_its_legend(mode):
    """Each header's term (its unit left off) is named in the legend parts printed under the mode's tables: a bare
    latency percentile in the mode's own part, by a range ("p50 to max", "p50/p99"); a qualified one ("Health
    p99", "202 p50") by its qualifier."""
    shared = (columns.HEALTH, columns.UNAVAILABLE, columns.RUN_FIGURES)  # every mode's parts; the rest its own
    own = " ".join(part for part in MODES[mode].legend if part not in shared)
    legend = " ".join(MODES[mode].legend)
    for header, *_ in MODES[mode].columns:
        term = re.sub(r" (ms|s|MB|req/s)\b", "", header).split(" (")[0]
        if re.fullmatch(r"p[0-9.]+|max", term):
            assert re.search(r"p50 to max|p50/p99", own), f"{mode}: {header!r} is not defined under its table"
            continue
        qualifier = re.sub(r" ?\b(p[0-9.]+|max)\b ?", " ", term).strip()
        assert qualifier in legend or header in legend, f"{mode}: {header!r} is not defined under its table"


def test_a_saved_run_is_put_into_a_readme_section(tmp_path):
    """python -m harness.report.results: the section replaced, its chart beside it; a wrong section or file is a
    one-line error that leaves nothing in docs/."""
    saved = tmp_path / "run" / "results.json"
    saved.parent.mkdir()
    shutil.copyfile(DATA / "results.json", saved)
    readme = tmp_path / "README.rst"
    readme.write_text("Intro\n\n.. begin results\n\nTO BE REPLACED\n\n.. end results\n")

    def put(*args):
        return subprocess.run(
            [sys.executable, "-m", "harness.report.results", *map(str, args), "--readme", readme],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    wrong = put(saved, "--update-readme", "nosuch")
    assert (
        wrong.returncode == 2 and "no '.. begin nosuch' marker" in wrong.stderr and len(wrong.stderr.splitlines()) == 1
    )
    assert not (tmp_path / "docs").exists(), "nothing copied for a section that is not there"
    (tmp_path / "bad.json").write_text("{}")
    bad = put(tmp_path / "bad.json", "--update-readme", "results")
    assert bad.returncode == 2 and "not the results of a run" in bad.stderr and "Traceback" not in bad.stderr
    done = put(saved, "--update-readme", "results")
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert "TO BE REPLACED" not in text and "Task cpu, 25 concurrent users" in text and text.startswith("Intro")
    assert (tmp_path / "docs" / "results.png").exists()


def test_servers_are_chosen_by_number_name_or_label_and_a_twin_only_by_its_own():
    from harness.cli import server_list

    gil = ["3_async_threadexecutor"]
    assert [s.label for s in server_list("3")] == gil
    assert [s.label for s in server_list("3_async_threadexecutor")] == gil
    assert [s.label for s in server_list("3t")] == ["3_async_threadexecutor (free-threaded)"]
    assert [s.label for s in server_list("4_async_processexecutor (free-threaded)")] == [
        "4_async_processexecutor (free-threaded)"
    ]


def test_the_process_pool_runs_beside_a_row_on_another_python_where_the_comparison_has_one():
    from harness.servers import by_name, with_yardsticks

    seven, pool, sync = by_name("7_async_interpreterpool"), by_name("4_async_processexecutor"), by_name("1_sync")
    if seven.missing:
        pytest.skip(seven.missing)
    added = with_yardsticks([seven, pool])
    assert [s.label for s in added] == [
        seven.label,
        pool.label,
        "4_async_processexecutor (beside 7_async_interpreterpool)",
    ]
    assert added[-1].python == seven.python != pool.python, "the yardstick on server 7's own interpreter"
    assert with_yardsticks([seven, sync]) == [seven, sync], "no pool chosen: no ratio, nothing added"


def test_make_builds_the_free_threaded_python_only_for_a_command_that_runs_such_a_row():
    from harness import needs

    assert needs.main(["free-threaded"]) == 0, "every row, the free-threaded twins too"
    assert needs.main(["free-threaded", "--servers", "1,4", "--duration", "20"]) == 1
    assert needs.main(["free-threaded", "--duration", "20", "--servers=3t"]) == 0
    assert needs.main(["free-threaded", "--servers", "99"]) == 1, "the command refuses it itself, in one line"
    assert needs.main([]) == 2


@pytest.mark.parametrize("mode", list(MODES))
def test_a_tables_legend_says_what_only_its_own_columns_mean(mode):
    """The converse: a legend under a table defines the columns that table has, and no other (the capacity table
    once carried the open loop's Answered/s and the runs' Peak PSS)."""
    legend = " ".join(MODES[mode].legend)
    headers = [column[0] for column in MODES[mode].columns]
    for term in ("Answered/s", "Send lag", "Peak PSS", "CPU s", "T1 now", "In task %", "Unavail. %", "Done %"):
        if f"{term}:" in legend:
            assert any(header.startswith(term) for header in headers), f"{mode}: {term} defined, not a column"
