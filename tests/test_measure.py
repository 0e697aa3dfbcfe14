"""The harness's instruments, each pointed at something wrong on purpose: a server that refuses, stalls (SIGSTOP),
answers garbage or wrong results; a worker that lives and dies between two readings; a CPU quota."""

import http.server
import pkgutil
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hdrh.histogram import HdrHistogram

import processes
from harness.instruments import measure, verify
from harness.network import HOST
from harness.server_process import ServerProcess
from harness.servers import ROOT, by_name
from harness.subprocesses import run_bounded
from processes import free_port
from serving import contract


@pytest.fixture
def fake_server():
    """An http.server on a free port whose answer to every GET is `respond(handler)`; stopped afterwards."""
    servers = []

    def start(respond):
        class Handler(http.server.BaseHTTPRequestHandler):
            count = 0

            def do_GET(self):
                Handler.count += 1
                respond(self)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], Handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def reply(status, body, content_type="application/json"):
    def respond(handler):
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return respond


def probe_for(port, seconds):
    probe = measure.HealthProbe(port, max_seconds=seconds + 5)
    probe.start()
    time.sleep(seconds)
    started = time.monotonic()
    result = probe.stop()
    return result, time.monotonic() - started


def test_a_refused_probe_fails_at_once():
    result, stop_took = probe_for(free_port(), 1)  # nothing listens there
    assert 9 <= result["count"] <= 12 and result["count"] == result["planned"]
    assert result["failed"] == result["count"] and result["unavailable_pct"] == 100
    assert result["errors"] == ["ConnectionRefusedError"]
    assert stop_took < 1, "a refused connection is a failure at once, not a 10 s sample"


def test_a_probe_that_gets_garbage_or_an_error_counts_it_and_goes_on(fake_server):
    def garbage(handler):
        handler.wfile.write(b"this is not HTTP\r\n\r\n")
        handler.close_connection = True

    for respond, error in ((garbage, "BadStatusLine"), (reply(500, "{}"), "status 500")):
        port, _ = fake_server(respond)
        result, _ = probe_for(port, 1)
        assert result["count"] == result["planned"] >= 9, "the probe thread survived every failure"
        assert result["failed"] == result["count"] and result["errors"] == [error]


def test_a_stalled_server_is_unavailable_for_the_time_it_stalls(start_server):
    server = start_server(by_name("3_async_threadexecutor"))
    probe = measure.HealthProbe(server.port, max_seconds=10)
    probe.start()
    time.sleep(1)
    server.process.send_signal(signal.SIGSTOP)
    time.sleep(2)
    server.process.send_signal(signal.SIGCONT)
    time.sleep(1)
    result = probe.stop()
    # ~41 probes in 4.1 s. Of those meant for the 2 s stall, the ones sent in its first second got no answer
    # within 1 s of when they were meant to go, and failed (the last second's were answered within 1 s):
    # (2 - 1) / 4.1 = 24 %.
    assert result["count"] == result["planned"] and result["failed"] == result["slow_or_failed"]
    assert 15 <= result["unavailable_pct"] <= 35, result
    assert result["p99"] is None and result["max"] is None, "the stalled probes are slower than any answer"
    assert result["p50"] < 1000


def test_wait_healthy_waits_between_tries(fake_server):
    port, handler = fake_server(reply(503, '{"error": "starting"}'))
    process = ServerProcess(by_name("1_sync"), port)
    process.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert not process.wait_healthy(timeout=1)
    finally:
        process.process.kill()
        process.process.wait()
    assert 5 <= handler.count <= 25, f"{handler.count} tries in 1 s: it spun"


def test_cpu_of_a_child_that_lived_between_two_readings_is_counted():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            """import subprocess, sys, time
time.sleep(0.5)
busy = "import time\\nend = time.process_time() + 0.6\\nwhile time.process_time() < end: pass"
subprocess.run([sys.executable, "-c", busy])
time.sleep(30)""",
        ]
    )
    try:
        time.sleep(0.2)
        before = measure.tree_cpu_seconds(parent.pid)
        deadline = time.monotonic() + 20
        while not processes.descendants(parent.pid) and time.monotonic() < deadline:  # until the child has started
            time.sleep(0.05)
        while processes.descendants(parent.pid) and time.monotonic() < deadline:  # and until it has ended
            time.sleep(0.2)
        assert processes.descendants(parent.pid) == [], "the child has ended: only its parent's record of it is left"
        assert measure.tree_cpu_seconds(parent.pid) - before >= 0.55
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize(
    "files, quota",
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cpu_quota(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert processes.cpu_quota(str(tmp_path)) == quota


def test_cpu_count_is_the_smaller_of_affinity_and_quota(monkeypatch):
    monkeypatch.setattr(processes, "cpu_quota", lambda: 1.5)
    assert processes.cpu_count() == 1
    monkeypatch.setattr(processes, "cpu_quota", lambda: None)
    assert processes.cpu_count() == len(__import__("os").sched_getaffinity(0))


def test_free_port_gives_threads_side_by_side_different_ports():
    # Drawn at random from some 12,000 ports, 2,000 draws would repeat one almost surely; two threads given the same
    # port race to bind it, and one server fails with "Address already in use".
    with ThreadPoolExecutor(4) as pool:
        ports = list(pool.map(lambda _: processes.free_port(), range(2000)))
    assert len(set(ports)) == len(ports)


def right(handler):
    """A right answer for the n asked (the harness's own count), for the wrong servers to differ from."""
    query = handler.path.partition("?")[2]
    try:
        n = contract.parse_n(query)
    except contract.BadRequest as error:
        return reply(400, f'{{"error": "{error}"}}')(handler)
    reply(200, f'{{"strategy": "fake", "task": "cpu", "n": {n}, "result": {verify.prime_count(n)}}}')(handler)


@pytest.mark.parametrize(
    "respond, says",
    [
        (right, None),
        (lambda h: reply(200, '{"strategy": "fake", "n": 1000, "result": 169}')(h), "expected"),
        (
            lambda h: reply(200, '{"strategy": "fake", "n": 1000, "result": 168}', "text/plain")(h),
            "Content-Type text/plain",
        ),
        (lambda h: reply(200, "{}")(h) if "abc" in h.path else right(h), "GET /?n=abc: expected 400"),
        (lambda h: reply(500, '{"error": "boom"}')(h), "status 500"),
        (lambda h: h.wfile.write(b"garbage\r\n\r\n"), "BadStatusLine"),
    ],
)
def test_verify_names_each_problem(fake_server, respond, says):
    port, _ = fake_server(respond)
    problems = verify.problems(port, "fake", timeout=5)
    if says is None:
        assert problems == []
    else:
        assert problems and any(says in problem for problem in problems), problems


# Every module of the harness, found rather than listed (harness.experiments.celery_waits included).
WITHOUT_TORNADO = [module.name for module in pkgutil.walk_packages([str(ROOT / "harness")], "harness.")]


def test_the_harness_that_starts_measures_and_reports_imports_no_tornado():
    """Each in a fresh interpreter (harness.instruments.provenance asks Tornado its version only when it records it)."""
    assert len(WITHOUT_TORNADO) > 20
    check = "import importlib, sys; importlib.import_module(sys.argv[1]); assert 'tornado' not in sys.modules"
    started = {
        module: subprocess.Popen([sys.executable, "-c", check, module], cwd=ROOT, stderr=subprocess.PIPE, text=True)
        for module in WITHOUT_TORNADO
    }
    failed = {
        module: process.communicate(timeout=60)[1].strip().splitlines()[-1:] for module, process in started.items()
    }
    assert not {module: error for module, error in failed.items() if started[module].returncode}


@pytest.mark.parametrize("count", [1, 2, 3, 49, 50, 51, 99, 100, 101, 150, 151, 999, 1000])
def test_raw_percentiles_are_hdrhistograms_definition(count):
    """One definition for raw values and histograms: integer values (which HdrHistogram keeps exactly below 2048)
    give the same percentiles by measure.percentiles as by HdrHistogram itself."""
    values = [random.Random(count * 1000 + i).randrange(1, 2000) for i in range(count)]
    histogram = HdrHistogram(1, 10_000, 3)
    for value in values:
        histogram.record_value(value)
    points = (50, 90, 99, 99.9)
    found = measure.percentiles(values, points)
    assert [found[f"p{point:g}"] for point in points] == [histogram.get_value_at_percentile(p) for p in points]
    assert found["max"] == histogram.get_max_value()


def test_a_program_that_outstays_its_time_is_ended_by_pid_and_its_progress_seen_in_whole_lines():
    program = (
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('out')\n"
        "for i in range(100):\n    print(f'line {i}', file=sys.stderr, end='', flush=True)\n"
        "    time.sleep(0.05)\n    print(' of 100', file=sys.stderr, flush=True)"
    )
    ticks = []
    done = run_bounded([sys.executable, "-c", program], 1, ticks.append, every_s=0.2, grace_s=0.5)
    assert done.status == -signal.SIGKILL, "SIGTERM ignored: SIGKILL after the grace period"
    assert 1.4 <= done.seconds < 5 and done.stdout == "out\n"
    seen = "".join(ticks)
    assert len(ticks) >= 4 and seen and done.stderr.startswith(seen) and seen.endswith(" of 100\n")
    finished = run_bounded([sys.executable, "-c", "print('done')"], 30)
    assert (finished.status, finished.stdout) == (0, "done\n") and finished.seconds < 10
