"""The harness's own parts: siege parsing on captured real output, the arithmetic, the README section, its CLI,
and one short end-to-end run."""
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness import measure, report, siege
from harness.servers import ROOT, port_is_free

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
    assert measure.percentiles(values) == {"p50": 50.5, "p90": 90.1, "p99": 99.01, "max": 100}
    assert measure.percentiles([7.0], (50, 99)) == {"p50": 7.0, "p99": 7.0, "max": 7.0}
    assert measure.percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}


def test_efficiency():
    assert measure.efficiency(16.0, cpus=2, task_s=0.1) == 0.8  # limit: 2 / 0.1 = 20 tasks/s
    assert measure.efficiency(9.0, cpus=1, task_s=0.1) == 0.9


README = """Intro

.. begin results

old table

.. end results

.. begin sweep

old sweep

.. end sweep
"""


def test_readme_section_replacement():
    updated = report.replace_section(README, "results", "new table\n")
    assert "new table" in updated and "old table" not in updated
    assert "old sweep" in updated, "the other section is untouched"
    assert report.replace_section(updated, "results", "newer") == report.replace_section(README, "results", "newer")


def test_readme_section_without_markers():
    with pytest.raises(ValueError, match="no '.. begin other'"):
        report.replace_section(README, "other", "x")


def run_all(*args, timeout=120):
    return subprocess.run([sys.executable, "run_all.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, says", [
    (["--servers", "9"], "unknown server '9'"),
    (["--concurrency", "0"], "at least 1"),
    (["--concurrency", "a"], "not a comma-separated list"),
    (["--duration", "ten"], "not a comma-separated list"),
    (["--duration", "1,2"], "one number"),
])
def test_bad_arguments_are_one_line_errors(args, says):
    run = run_all(*args)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and says in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def our_processes(since):
    """Processes started since `since` by a suite run: servers, pool workers, siege."""
    found = []
    for proc in psutil.process_iter(["create_time", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["create_time"] >= since and any(
                word in cmdline for word in ("1_sync.py", "4_async_processexecutor", "multiprocessing", "siege ")):
            found.append(cmdline)
    return found


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_a_short_suite_end_to_end(tmp_path):
    started = time.time() - 1
    offset = 21000
    run = run_all("--servers", "1,4", "--duration", "2", "--out", str(tmp_path), "--port-offset", str(offset))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[2/2] 4_async_processexecutor @ 25 users: measuring" in run.stdout
    (out_dir,) = tmp_path.iterdir()
    results = json.loads((out_dir / "results.json").read_text())
    env = results["environment"]
    for key in ("cpu", "cpu_count", "ram_gb", "os", "python", "tornado", "siege", "commit", "started", "task_n",
                "task_s"):
        assert env[key], key
    assert [r["server"] for r in results["runs"]] == ["1_sync", "4_async_processexecutor"]
    for result in results["runs"]:
        assert result["verified"] and result["measured"] and result["clean_shutdown"]
        assert result["transactions"] > 0 and result["availability"] > 0
        assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
        assert set(result["health_ms"]) >= {"p50", "p99", "max", "slow_or_failed"}
        assert result["peak_rss_mb"] > 5 and result["cpu_s"] > 0
        assert 0 < result["efficiency"] < 1.5
        assert result["siege_summary"].startswith("Transactions:")
        assert result["port"] > offset
    pool = results["runs"][1]
    assert pool["processes"] >= 3, "server, forkserver and workers were sampled"
    rst = (out_dir / "results.rst").read_text()
    assert "4_async_processexecutor" in rst and "=====" in rst
    assert (out_dir / "results.png").read_bytes()[:4] == b"\x89PNG"
    assert our_processes(started) == []
    assert port_is_free(8000 + offset) and port_is_free(8003 + offset)


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_sigterm_mid_run_stops_everything_and_keeps_what_finished(tmp_path):
    started = time.time() - 1
    offset = 22000
    log = tmp_path / "suite.log"
    with open(log, "w") as output:
        suite = subprocess.Popen([sys.executable, "run_all.py", "--servers", "1,4", "--duration", "3", "--out",
                                  str(tmp_path / "out"), "--port-offset", str(offset)],
                                 cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "[2/2] 4_async_processexecutor @ 25 users: measuring" not in log.read_text():
            assert time.monotonic() < deadline and suite.poll() is None, log.read_text()
            time.sleep(0.1)
        suite.send_signal(signal.SIGTERM)
        assert suite.wait(timeout=30) == 1
    finally:
        if suite.poll() is None:
            suite.kill()
            suite.wait()
    assert "Interrupted" in log.read_text()
    (out_dir,) = (tmp_path / "out").iterdir()
    runs = json.loads((out_dir / "results.json").read_text())["runs"]
    assert [run["server"] for run in runs] == ["1_sync"], "the finished run is kept, the interrupted one is not"
    assert our_processes(started) == []
    assert port_is_free(8000 + offset) and port_is_free(8003 + offset)


def test_a_run_counts_503_answers_once_and_only_200_as_success():
    import run_all

    stdout = (DATA / "siege_503_stdout.txt").read_text()
    stderr = (DATA / "siege_503_stderr.txt").read_text()
    run = {"duration_s": 2}
    run_all.measured(run, stdout, stderr, health={}, tree={}, env={"cpu_count": 2, "task_s": 0.1})
    # siege counted the 157 answers 503 as failed and the 11 answers 200 as its transactions.
    assert (run["siege"]["failed_transactions"], run["siege"]["transactions"]) == (157, 11)
    assert (run["transactions"], run["non_200"], run["failed"]) == (168, 157, 157)
    assert run["availability"] == round(100 * 11 / 168, 2)
    assert run["transaction_rate"] == round(11 / run["siege"]["elapsed_time"], 2)
    assert run["efficiency"] == measure.efficiency(run["transaction_rate"], 2, 0.1)


def test_a_run_without_summary_still_counts_its_transactions():
    import run_all

    run = {"duration_s": 2}
    run_all.measured(run, (DATA / "siege_verbose_stdout.txt").read_text(), "Lifting the server siege...",
                     health={}, tree={}, env={"cpu_count": 2, "task_s": 0.1})
    assert run["measured"] and run["transactions"] == 18 and run["transaction_rate"] == 9.0
    assert "no summary" in run["note"]
