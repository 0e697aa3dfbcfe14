"""Pre-fork (2_async --processes N): N copies on one port, each answering; a copy that dies is replaced; none
outlives the supervisor, even one killed by SIGKILL; /health waits when it lands on a busy copy."""

import contextlib
import signal
import threading
import time

import psutil

from harness.network import request
from harness.servers import by_name
from processes import port_is_free
from tests.conftest import wait_for

PREFORK = by_name("2_async --processes")
LONG_N = 1_200_000  # 1 to 2 s (600 000 took 0.66 s on a fast day: too close to the bounds asserted)


def copies(server):
    return [p for p in server.processes() if p.pid != server.process.pid]


def pids_answering(server, expected, timeout=15):
    """The pids that answer new connections, until they are `expected` (every copy listening) or the timeout: a
    copy that is still starting is not listening yet, and the kernel hands it nothing."""
    seen, deadline = set(), time.monotonic() + timeout
    while seen != expected and time.monotonic() < deadline:
        seen |= {request(server.port, "/?n=100")[2]["pid"] for _ in range(20)}
    return seen


def test_n_copies_answer(start_server):
    server = start_server(PREFORK, "--processes", "3")
    running = {p.pid for p in copies(server)}
    assert len(running) == 3
    assert pids_answering(server, running) == running, "the kernel spreads connections over all three"


def test_a_killed_copy_is_replaced(start_server):
    server = start_server(PREFORK, "--processes", "2")
    killed = copies(server)[0]
    killed.kill()
    deadline = time.monotonic() + 10
    while len(copies(server)) < 2 or killed.pid in {p.pid for p in copies(server)}:
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    assert f"copy {killed.pid} ended by SIGKILL: starting another" in server.output()
    running = {p.pid for p in copies(server)}
    assert pids_answering(server, running) == running


def test_no_copy_outlives_a_supervisor_killed_by_sigkill(start_server):
    server = start_server(PREFORK, "--processes", "2")
    running = copies(server)
    server.process.send_signal(signal.SIGKILL)
    _, alive = psutil.wait_procs(running, timeout=5)
    assert alive == [], "the kernel sends each copy SIGTERM when its parent dies"
    assert port_is_free(server.port)


def test_health_waits_when_every_copy_is_busy(start_server):
    server = start_server(PREFORK, "--processes", "2")
    running, threads = copies(server), []
    busy = set()
    while len(busy) < len(running):  # new ~1 s tasks until the kernel has handed one to each copy
        assert len(threads) < 12, "a dozen connections all went to one copy"
        threads.append(threading.Thread(target=request, args=(server.port, f"/?n={LONG_N}")))
        threads[-1].start()
        before = {p.pid: sum(p.cpu_times()[:2]) for p in running}
        time.sleep(0.2)
        busy |= {p.pid for p in running if sum(p.cpu_times()[:2]) - before[p.pid] > 0.1}
    started = time.monotonic()
    assert request(server.port, "/health")[0] == 200
    took = time.monotonic() - started
    for thread in threads:
        thread.join(60)
    assert took > 0.3, f"/health answered in {took:.3f} s while every copy ran a task"


def test_a_copy_killed_in_a_task_leaves_no_task_in_progress(start_server):
    """/stats adds up every copy's counts, a dead one's too, but not the tasks it was running: they are gone."""
    server = start_server(PREFORK, "--processes", "2")

    def long_task():
        with contextlib.suppress(OSError):  # its copy is killed under it
            request(server.port, "/?n=2000000")  # the largest: seconds

    busy = threading.Thread(target=long_task)
    busy.start()

    def in_progress():
        with contextlib.suppress(OSError):
            return request(server.port, "/stats", timeout=0.5)[2]["in_progress"]

    assert wait_for(lambda: in_progress() == 1, 10), "the busy copy's task in progress"
    for copy in copies(server):
        copy.kill()
    busy.join(30)
    assert wait_for(lambda: in_progress() == 0, 10), "no task in progress once its copy is dead"
