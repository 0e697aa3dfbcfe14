"""The open-loop driver, checked against an independent tool (h2load) and against siege in a stall; its honesty
checks (send lag, unanswered requests); the capacity search; and both in the suite, end to end."""

import json
import math
import shutil
import subprocess
import sys
import threading

import numpy
import pytest
from conftest import marked_environment, named, run_all
from hdrh.histogram import HdrHistogram
from hypothesis import given, settings
from hypothesis import strategies as st

import processes
from harness import columns
from harness.experiments import stall
from harness.instruments import measure
from harness.load import openloop
from harness.network import HOST
from harness.records.suite import Run
from harness.report import charts, tables
from harness.run import capacity
from harness.servers import BACKEND, ROOT
from processes import port_is_free


def test_a_constant_schedule_is_evenly_spaced_and_a_poisson_one_has_the_rate_and_replays_from_its_seed():
    due = openloop.schedule(20, 3)
    assert len(due) == 60 and due[0] == 0 and numpy.allclose(numpy.diff(due), 0.05)
    assert len(openloop.schedule(12.5, 8)) == 100
    poisson = openloop.schedule(200, 30, "poisson", seed=7)
    assert poisson == openloop.schedule(200, 30, "poisson", seed=7) != openloop.schedule(200, 30, "poisson", seed=8)
    assert 5700 < len(poisson) < 6300 and max(poisson) < 30
    gaps = numpy.diff(poisson)
    assert 0.9 < gaps.std() / gaps.mean() < 1.1, "exponential gaps: standard deviation = mean"


@settings(max_examples=300, deadline=None)
@given(threshold=st.floats(0.05, 800), start=st.floats(1, 50))
def test_the_capacity_search_never_reports_a_rate_that_failed_and_lands_close_below_the_threshold(threshold, start):
    tried = []

    def passes(rate):
        tried.append(rate)
        return rate <= threshold

    found, failed = capacity.search(passes, start, highest=500)
    assert found <= threshold and len(tried) <= 12
    assert found in tried or found == 0
    assert failed is None or (failed > threshold and failed in tried), "the bracket's other end: a rate that failed"
    if threshold >= 500:
        assert found == 500
    elif start / 4 <= threshold <= 16 * start:  # within reach of 12 runs: up (or down) by doubling, then bisection
        assert found >= 0.9 * threshold, (found, tried)


def h2load_percentiles(port, path, rate, seconds, log):
    """h2load (nghttp2) at a fixed rate, one request per new connection, every request logged: p50/p99 in ms."""
    count = round(rate * seconds)
    subprocess.run(
        [
            "h2load",
            "--h1",
            "-n",
            str(count),
            "-c",
            str(count),
            "-r",
            "1",
            f"--rate-period={1000 / rate:g}ms",
            f"--log-file={log}",
            f"http://{HOST}:{port}{path}",
        ],
        check=True,
        capture_output=True,
        timeout=seconds + 60,
    )
    rows = [line.split("\t") for line in log.read_text().splitlines()]
    assert len(rows) == count and all(status == "200" for _, status, _ in rows)
    found = measure.percentiles([int(us) / 1000 for _, _, us in rows], (50, 99))  # the suite's one definition
    return found["p50"], found["p99"]


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load is not installed (apt-get install nghttp2-client)")
def test_the_driver_agrees_with_h2load_about_a_stall(start_server, tmp_path):
    """backend.py (answers after 100 ms), loaded by the driver and by h2load at once, 20 requests/s each, and
    frozen with SIGSTOP for 2 s mid-run: h2load, too, sends on schedule (the kernel accepts connections for a
    stopped process), so both must see the stall in their p99, and the same p50."""
    backend = start_server(BACKEND)
    path, rate, seconds = "/?ms=100", 20, 10
    found = {}
    thread = threading.Thread(
        target=lambda: found.update(
            h2load=h2load_percentiles(backend.port, path, rate, seconds, tmp_path / "h2load.log")
        )
    )
    thread.start()
    pause = threading.Timer(4, stall.pause, args=([backend], 2.0))
    pause.start()
    run = openloop.run(f"http://{HOST}:{backend.port}{path}", rate, seconds)
    pause.join()
    thread.join(seconds + 70)
    h2load_p50, h2load_p99 = found["h2load"]
    assert run["ok"] == 200 and run["failed"] == 0, json.dumps(run)
    # Not run["valid"]: when the server wakes, 80 answers arrive at once, and reading them can delay a send by a
    # few ms on this 2-core machine; what is compared here is the latency, seconds long.
    assert run["send_lag_ms"]["p99"] < 20, run["send_lag_ms"]
    p50, p99 = run["latency_ms"]["p50"], run["latency_ms"]["p99"]
    assert h2load_p99 > 1500, "h2load saw the stall"
    assert abs(p50 - h2load_p50) <= 0.15 * h2load_p50, (p50, h2load_p50)
    assert abs(p99 - h2load_p99) <= 0.15 * h2load_p99, (p99, h2load_p99)


def test_a_stall_shows_in_the_open_loop_and_hides_from_siege(say):
    results = stall.demonstrate(seconds=15, rate=20, users=25, pause_s=2, progress=lambda line: None)
    say("stall demonstration:\n" + stall.table(results))
    assert results["open_paused"]["p99"] >= 1500, results
    assert results["siege_paused"]["p99"] < 300, results
    assert results["open_unpaused"]["p99"] < 300, results
    assert results["open_paused"]["answers"] == results["open_unpaused"]["answers"] == 300


def test_send_lag_stays_within_bounds_with_every_core_busy(start_server, say):
    """The better of two attempts: on this virtual machine a hypervisor pause now and then delays a few sends by
    several ms whatever the driver does (seen once in four CI runs: p99 6.0 ms), and noise only ever adds lag."""
    backend = start_server(BACKEND)
    busy = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"
    loops = [subprocess.Popen([sys.executable, "-c", busy]) for _ in range(processes.cpu_count())]
    attempts = []
    try:
        for _ in range(2):
            attempts.append(openloop.run(f"http://{HOST}:{backend.port}/?ms=100", 50, 6))
            if attempts[-1]["valid"]:
                break
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    say(f"send lag at 50/s, every core busy: p99 {', then '.join(str(a['send_lag_ms']['p99']) for a in attempts)} ms")
    run = attempts[-1]
    assert run["sent"] == run["planned"] == 300 and run["ok"] == 300
    assert run["send_lag_ms"]["p99"] <= openloop.MAX_SEND_LAG_MS and run["valid"], [a["send_lag_ms"] for a in attempts]


def test_unanswered_and_refused_requests_are_failures_never_dropped(start_server):
    backend = start_server(BACKEND)
    slow = openloop.run(f"http://{HOST}:{backend.port}/?ms=3000", 10, 1, drain_s=0.5)
    assert (slow["planned"], slow["sent"], slow["ok"], slow["unfinished"], slow["failed"]) == (10, 10, 0, 10, 10)
    assert slow["latency_ms"]["p99"] is None and slow["elapsed_s"] < 3
    port = backend.port
    backend.stop()
    assert port_is_free(port)
    refused = openloop.run(f"http://{HOST}:{port}/", 10, 1, drain_s=0.5)
    assert (refused["sent"], refused["failed"], refused["unfinished"]) == (10, 10, 0)
    assert set(refused["errors"]) == {"ClientConnectorError"}
    # The send lag is the driver's: taken when it starts to connect; the connection itself is timed apart.
    assert refused["send_lag_ms"]["p99"] is not None and refused["connect_ms"]["p99"] is None, "none connected"
    assert slow["send_lag_ms"]["p99"] is not None and slow["connect_ms"]["p99"] is not None and slow["valid"]


def test_the_early_stop_allows_exactly_the_late_answers_the_p99_can_bear():
    """A step stops once its p99 could no longer be within the SLO, by the p99 the report prints (the histogram's):
    for every count of answers, `allowed_late` of them over the SLO keep the p99 within it, one more does not."""
    for count in range(1, 700):
        allowed = openloop.allowed_late(count)
        for late, within in ((allowed, True), (allowed + 1, False)):
            if late > count:
                continue
            histogram = HdrHistogram(1, openloop.HIGHEST_US, 3)
            for value, times in ((1_000, count - late), (5_000_000, late)):  # 1 ms, and 5 s: over a 1 s target
                if times:
                    histogram.record_value(value, times)
            p99 = openloop.histogram_summary(histogram)["p99"]
            assert (p99 <= 1000) == within, (count, late, p99)
    assert openloop.allowed_late(51) == 1 and openloop.allowed_late(151) == 2, "more than a flat 1 % would allow"


def test_a_run_over_its_slo_stops_early(start_server):
    backend = start_server(BACKEND)
    run = openloop.run(f"http://{HOST}:{backend.port}/?ms=1500", 20, 10, slo_ms=1000)
    assert run["stopped_early"] and run["sent"] < 40 and run["elapsed_s"] < 3, run
    assert "could no longer be within the SLO" in run["note"]


@pytest.mark.parametrize(
    "args, says",
    [
        (["http://127.0.0.1:1/", "--rate", "0"], "--rate must be above 0"),
        (["http://example.com/", "--rate", "1"], "must be on loopback"),
        (["http://10.0.0.1:8003/", "--rate", "1"], "must be on loopback"),
        (["http://198.18.1.1:8003/", "--rate", "1"], "must be on loopback"),  # the benchmarking range, not a host's
        (["http://127.0.0.1:1/"], "--rate"),
        (["http://127.0.0.1:1/", "--rate", "5", "--arrivals", "bursty"], "invalid choice: 'bursty'"),
    ],
)
def test_bad_driver_arguments_are_one_line_errors(args, says):
    run = subprocess.run(
        [sys.executable, "-m", "harness.load.openloop", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1 and says in run.stderr, run.stderr


@pytest.mark.parametrize(
    "host, allowed",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("198.18.0.2", True),
        ("198.18.0.254", True),
        ("198.18.1.1", False),
        ("198.20.0.1", False),
        ("10.0.0.1", False),
        ("example.com", False),
        (None, False),
    ],
)
def test_the_drivers_load_only_loopback_and_the_hosts_addresses(host, allowed):
    assert openloop.allowed_host(host) is allowed


def record(fields):
    """A run of the process pool's row, as the suite's results record it (harness.records.suite.Run)."""
    return Run.from_json(
        {"server": "4_async_processexecutor", "strategy": "4_async_processexecutor", "task": "cpu", **fields}
    )


def test_repeated_rounds_show_the_median_and_the_range():
    runs = [
        record(
            {
                "measured": True,
                "transaction_rate": rate,
                "latency_ms": {"p99": p99},
                "health_ms": {"p99": 5.0},
            }
        )
        for rate, p99 in ((10.0, 900), (14.0, 700), (12.0, 800))
    ]
    cells = dict(zip(["Strategy", *[column[0] for column in columns.CLOSED_COLUMNS]], tables.row(runs), strict=True))
    assert cells["Trans/s"] == "12.00 (10.00–14.00)"
    assert cells["p99 ms"] == "800", "latencies pooled, not ranged: without histograms, the median of the rounds"
    assert cells["Mean s"] == "–", "a figure no round has"
    assert tables.median_run(runs).transaction_rate == 12.0


def test_repeated_rounds_pool_their_latencies_so_that_a_stall_in_one_round_stays():
    """Three rounds of 100 answers; the second stalled: 5 answers of 3 s. The median of the rounds' p99s would be
    a quiet round's; the p99 of the 300 answers pooled is rank 297, a stalled answer's, and max the stall's."""
    rounds = []
    for stalled in (0, 5, 0):
        histogram = HdrHistogram(1, openloop.HIGHEST_US, 3)
        for i in range(100):
            histogram.record_value(3_000_000 if i < stalled else 1000 + i)  # µs
        rounds.append(
            record(
                {
                    "mode": "open",
                    "measured": True,
                    "failed": 0,
                    "transaction_rate": 10.0,
                    "latency_ms": openloop.histogram_summary(histogram),
                    "latency_hist": histogram.encode().decode(),
                    "health_ms": {"p99": 5.0},
                }
            )
        )
    assert sorted(run.latency_ms.p99 for run in rounds)[1] < 2, "the median of the rounds' p99s: quiet"
    headers = ["Strategy", *[column[0] for column in columns.OPEN_COLUMNS]]
    cells = dict(zip(headers, tables.row(rounds, columns.OPEN_COLUMNS), strict=True))
    assert cells["p99 ms"] == "3000" and cells["max ms"] == "3000" and cells["p50 ms"] == "1"
    assert tables.median_run(rounds).latency_ms.p99 == pytest.approx(3000, rel=0.001)


def test_rounds_are_shuffled_and_each_load_is_its_own_run():
    import random

    import run_all as suite

    args = suite.parse_args(["--servers", "1,4", "--rate", "5,10", "--repeat", "3"])
    env = {"cpu_count": 2, "tasks": {"cpu": {"waits": False, "t1_s": 0.1}}, "python": "3.11.7"}
    one_round = [(server.number, load) for _, server, load in suite.plan(args, env)]
    assert one_round == [
        ("1", ("open", 5, None)),
        ("4", ("open", 5, None)),
        ("1", ("open", 10, None)),
        ("4", ("open", 10, None)),
    ]
    order = random.Random(7)
    rounds = [suite.this_round(index, suite.plan(args, env), [], env, 3, order) for index in range(3)]
    assert [{planned[0] for planned in one} for one in rounds] == [{0}, {1}, {2}], "each run knows its round"
    assert all(sorted((s.number, load) for _, _, s, load in one) == sorted(one_round) for one in rounds), (
        "an open loop's runs go on every round: only closed-loop tables stop rows early"
    )
    orders = {tuple((s.number, load) for _, _, s, load in one) for one in rounds}
    assert len(orders) > 1, "shuffled: not the same order every round"
    sleep = suite.parse_args(["--servers", "3", "--tasks", "sleep", "--rate", "100"])
    env["tasks"]["sleep"] = {"waits": True, "t1_s": 0.1}
    sized = [server.label for _, server, _ in suite.plan(sleep, env)]
    assert sized == ["3_async_threadexecutor", "3_async_threadexecutor --workers 20"], "2 × 100/s × 0.1 s in flight"


def suite(tmp_path, *args, timeout=240):
    env, find = marked_environment()
    run = run_all("--servers", "4", "--quick", "--out", str(tmp_path), *args, timeout=timeout, env=env)
    assert named(find()) == {}, "processes left behind"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    (out_dir,) = tmp_path.iterdir()
    return json.loads((out_dir / "results.json").read_text()), out_dir, run.stdout


def test_the_suite_in_open_loop_records_what_the_issue_asks(tmp_path):
    results, out_dir, stdout = suite(
        tmp_path, "--rate", "8", "--duration", "4", "--arrivals", "poisson", "--seed", "5", "--port-offset", "25000"
    )
    assert results["environment"]["seed"] == 5 and results["environment"]["probe_floor_ms"]["p99"] > 0
    assert [(run["mode"], run["rate"], run["arrivals"]) for run in results["runs"]] == [("open", 8, "poisson")]
    for run in results["runs"]:
        assert run["verified"] and run["measured"] and run["clean_shutdown"] and run["valid"], json.dumps(run)
        assert set(run["latency_ms"]) == {"p50", "p90", "p99", "p99.9", "max"}
        assert run["latency_ms"]["p50"] <= run["latency_ms"]["p99"] <= run["latency_ms"]["max"]
        assert run["ok"] + run["failed"] == run["sent"] == run["planned"] and run["unfinished"] == 0
        assert run["send_lag_ms"]["p99"] <= openloop.MAX_SEND_LAG_MS
        assert run["health_ms"]["count"] > 10 and run["cpu_s"] > 0
    assert "open loop at 8 requests/s (poisson arrivals)" in stdout
    assert (out_dir / "hockey.png").read_bytes()[:4] == b"\x89PNG" and not (out_dir / "results.png").exists()


def test_the_capacity_search_of_the_process_pool(tmp_path):
    # Steps of 2 s, 10 × an SLO of 200 ms: an overload of 10 % passes the SLO by a step's end, one of 5 % fails on
    # its backlog. A task of ~30 ms (n=40000), so that the SLO is several T1 on a busy machine too; the bound below
    # leaves room for drift.
    results, out_dir, stdout = suite(
        tmp_path,
        *("--find-capacity", "--duration", "2", "--slo-ms", "200", "--confirm", "60", "--n", "40000"),
        *("--port-offset", "26000"),
    )
    (run,) = results["runs"]
    assert run["mode"] == "capacity" and run["slo_ms"] == 200 and run["measured"] and run["duration_s"] == 2
    searched = [step for step in run["steps"] if not step["confirming"]]
    confirming = [step for step in run["steps"] if step["confirming"]]
    passed = [step["rate"] for step in searched if step["passed"]]
    failed = [step["rate"] for step in run["steps"] if not step["passed"]]
    assert passed and max(passed) < min(step["rate"] for step in searched if not step["passed"]), "a bracket"
    assert 1 <= len(confirming) <= capacity.MAX_CONFIRMATIONS and confirming[0]["rate"] == max(passed)
    assert run["failed_per_s"] == min(failed), "the bracket's top: the lowest rate that did not hold"
    held = [step["rate"] for step in confirming if step["passed"]]
    assert run["capacity_per_s"] == (held[0] if held else None) and run["confirmed"] == bool(held), confirming
    assert held == [] or confirming[-1]["passed"], "a confirming run that held ends the search"
    assert confirming[0]["planned"] >= 60
    assert len(run["t1_samples_s"]) == len(run["steps"]) + 1 and run["t1_during_s"] > 0
    limit = results["environment"]["cpu_count"] / run["t1_during_s"]
    assert 0.3 < min(failed) / limit < 1.5, "two processes computing: near CPUs / T1"
    if held:
        assert math.isclose(run["ratio"], held[0] / limit, rel_tol=0.01)
    for step in run["steps"]:
        over = step["stopped_early"] or step["failed"] or step["p99_ms"] > 200 or not step["steady"]
        assert step["passed"] != over and step["seconds"] >= 2, step
        assert step["stopped_early"] or len(step["in_flight_halves"]) == 2, "a step that ran through: its backlog"
    assert "capacity, the highest open-loop rate confirmed with p99 ≤ 200 ms" in stdout
    assert (out_dir / "hockey.png").exists()


def test_failures_censor_the_latency_percentiles():
    """A failure got no answer: it counts as slower than any answer, and a percentile among the failures is a bound."""
    histogram = HdrHistogram(1, openloop.HIGHEST_US, 3)
    for us in range(1, 101):  # 100 answers of 1 to 100 µs (exact in the histogram: below 2048)
        histogram.record_value(us)
    assert openloop.histogram_summary(histogram)["p99"] == 0.099
    # 100 answers and 2 failures: the p99 is rank int(0.99 × 102 + 0.5) = 101, a failure: only "> 0.1 ms" is known.
    two = openloop.histogram_summary(histogram, failed=2)
    assert (two["p99"], two["p99_above"], two["max"]) == (None, 0.1, None)
    assert two["p50"] == 0.051 and two["p90"] == 0.092, "ranks 51 and 92 of 102, both answers"
    one = openloop.histogram_summary(histogram, failed=1)
    assert one["p99"] == 0.1 and "p99_above" not in one, "rank 100 of 101: the slowest answer"


def test_a_server_unavailable_more_than_one_percent_of_the_time_cannot_show_the_best_health_bar():
    """The sweep's server 2 at 512 users answered 0.3 % of its probes, fast: its p99 of those must not be drawn."""
    down = record({"health_ms": {"p99": 3.0, "unavailable_pct": 99.7}})
    up = record({"health_ms": {"p99": 40.0, "unavailable_pct": 0.5}})
    assert charts.health_bar(down) == (1000.0, "≥1000"), "at least the probe's bound, not its fast answers"
    assert charts.health_bar(up) == (40.0, "40")
    assert charts.health_bar(None)[1] == ""
    # The share unavailable is drawn to scale beside it: 99.7 % reads as such, 0.5 % as a sliver.
    assert (charts.down_share(down), charts.down_share(up)) == (99.7, 0.5)
