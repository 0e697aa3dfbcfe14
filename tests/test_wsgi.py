"""Flask on gunicorn and Granian (9_flask.py, 8_fastapi.py --server granian): each worker model does what its docs
say. A sync worker computes alone, and a busy one takes no new connection; a gevent worker overlaps waits but not
computing; Granian accepts while its threads are busy, and on a free-threaded Python computes on every core in one
process."""

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from harness.network import request
from harness.servers import ROOT, SERVERS, by_name
from processes import port_is_free
from tests.conftest import cpu_used, wait_for

FLASK = by_name("9_flask")
LONG_N = 1_500_000  # a cpu task of 1 to 3 s here
# One worker busy beside a free one: does a new connection wait for the busy one? Not on gunicorn's workers that
# accept on the thread that computes (sync; gevent's hub); on Granian's, which accept in Rust whatever Python does.
# (A gthread worker accepts on a thread of its own, when the GIL lets it: sometimes; measured, not asserted.)
ACCEPTS_WHEN_BUSY = {"gunicorn": False, "granian": True}
TWO_WORKERS = [
    s
    for s in SERVERS
    if s.framework == "flask" and not s.free_threaded and (s.http_stack == "granian" or s.pool_option != "--threads")
]
FREE_THREADED_GRANIAN = [s for s in SERVERS if s.http_stack == "granian" and s.free_threaded]


def late_health_checks(server, tries=20, timeout_s=0.3):
    """While one cpu task of LONG_N runs, how many of `tries` /health requests (one after another, each on a new
    connection) got no answer within timeout_s."""
    busy = threading.Thread(target=request, args=(server.port, f"/?n={LONG_N}"))
    busy.start()
    time.sleep(0.3)  # the task is running
    late = 0
    for _ in range(tries):
        try:
            request(server.port, "/health", timeout=timeout_s)
        except TimeoutError:
            late += 1
    busy.join()
    return late


@pytest.mark.parametrize("row", TWO_WORKERS, ids=[s.label for s in TWO_WORKERS])
def test_a_busy_worker_takes_no_new_connection_on_gunicorn_but_does_on_granian(start_server, row):
    one_thread = ("--threads", "1") if row.pool_option == "--threads" else ()
    server = start_server(row, "--processes", "2", *one_thread)
    late = late_health_checks(server)
    if ACCEPTS_WHEN_BUSY[row.http_stack]:
        assert late > 0, "Granian accepted every connection in a free worker: it does not hash them"
    else:
        assert late == 0, f"{late} of 20 /health requests waited behind the busy worker"


def test_two_sync_workers_compute_at_once(start_server):
    server = start_server(FLASK, "--processes", "2")
    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(request, server.port, f"/?n={LONG_N}") for _ in range(2)]
        time.sleep(0.3)
        used = cpu_used(server, 0.5)
        pids = {answer.result()[2]["pid"] for answer in answers}
    assert len(pids) == 2 and server.process.pid not in pids
    assert used > 0.65, f"two sync workers used {used / 0.5:.2f} cores with two cpu tasks"


def test_a_gevent_worker_overlaps_waits_but_not_computing(start_server):
    gevent = by_name("9_flask --worker-class gevent")
    server = start_server(gevent, "--processes", "1", "--task", "sleep")
    started = time.monotonic()
    with ThreadPoolExecutor(25) as pool:
        statuses = list(pool.map(lambda _: request(server.port, "/?n=100")[0], range(25)))
    took = time.monotonic() - started
    assert statuses == [200] * 25
    assert took < 1.25, f"25 sleeps of 100 ms took {took:.2f} s in one gevent worker: the hub did not switch"
    computing = start_server(gevent, "--processes", "1")
    assert late_health_checks(computing, tries=3) == 3, "/health answered while a greenlet computed"


@pytest.mark.parametrize("row", FREE_THREADED_GRANIAN, ids=[s.label for s in FREE_THREADED_GRANIAN])
def test_granian_without_a_gil_computes_on_every_core_in_one_process(start_server, row):
    server = start_server(row)
    assert request(server.port, "/health")[2]["gil_enabled"] is False
    with ThreadPoolExecutor(2) as pool:
        answers = [pool.submit(request, server.port, f"/?n={LONG_N}") for _ in range(2)]
        time.sleep(0.5)
        used = cpu_used(server, 1.0)
        pids = {answer.result()[2]["pid"] for answer in answers}
    assert pids == {server.process.pid}, "the tasks ran in the server's own process"
    assert used > 1.3, f"two cpu tasks used {used:.2f} cores in one process"


def most_threads_under(server, at_once, seconds=1.0):
    """The most threads the server's tree had while `at_once` requests of a 1 s wait ran, less the threads before."""
    before = sum(process.num_threads() for process in server.processes())
    with ThreadPoolExecutor(at_once) as pool:
        for _ in range(at_once):
            pool.submit(request, server.port, "/?n=1000")
        deadline, most = time.monotonic() + seconds, before
        while time.monotonic() < deadline:
            most = max(most, sum(process.num_threads() for process in server.processes()))
            time.sleep(0.05)
    return most - before


def test_granians_wsgi_worker_starts_a_thread_a_request_unless_threads_bounds_them(start_server):
    """Without --threads, Granian's WSGI worker starts blocking threads on demand up to half its share of the
    backlog (hundreds), memory the allocators keep after the threads end (docs/faults.rst); --threads N bounds them."""
    row = by_name("9_flask --server granian")
    unbounded = most_threads_under(start_server(row, "--task", "sleep", "--processes", "1"), 32)
    bounded = most_threads_under(start_server(row, "--task", "sleep", "--processes", "1", "--threads", "4"), 32)
    assert unbounded >= 24, f"{unbounded} threads more for 32 waits at once"
    assert bounded <= 4, f"{bounded} threads more with --threads 4"


WORKER_PROCESSES = [
    s for s in SERVERS if s.http_stack in ("gunicorn", "granian") and s.own_processes and not s.answers_as
]


@pytest.mark.parametrize("row", WORKER_PROCESSES, ids=[s.label for s in WORKER_PROCESSES])
def test_no_worker_outlives_a_master_killed_by_sigkill(start_server, row):
    server = start_server(row, "--processes", "2")
    wait_for(lambda: len(server.processes()) == 3, 10)  # the master forks its workers after it listens
    workers = [p for p in server.processes() if p.pid != server.process.pid]
    assert len(workers) == 2
    server.process.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert alive == [], "the kernel sends each worker SIGKILL when its master dies"
    assert port_is_free(server.port)


@pytest.mark.parametrize(
    "options, said",
    [
        (("--server", "granian", "--worker-class", "gevent"), "--worker-class is gunicorn's"),
        (("--threads", "4"), "--threads needs --worker-class gthread"),
        (("--threads", "0"), "--threads needs --worker-class gthread"),
        (("--processes", "-1"), "must be at least 1"),
        (("--server", "granian", "--threads", "0"), "must be at least 1"),
    ],
)
def test_options_that_do_not_go_together_are_a_one_line_error(options, said):
    done = subprocess.run(
        [sys.executable, "9_flask.py", *options], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
