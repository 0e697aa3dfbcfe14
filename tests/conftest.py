import os
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from harness.instruments.measure import tree_cpu_seconds
from harness.server_process import ServerProcess
from harness.servers import ROOT, SERVERS
from processes import free_port


def run_all(*args, timeout=120, env=None):
    """run_all.py with these arguments, from the project's root, waited for: its status and output."""
    return subprocess.run(
        [sys.executable, "run_all.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def start_server():
    """Start servers on free ports, each waited for until /health answers; all are stopped afterwards, and a
    test fails if any of their processes outlived the stop."""
    started = []

    def start(server, *extra_args, healthy=True):
        if server.missing:
            pytest.skip(f"{server.label}: {server.missing}")
        process = ServerProcess(server, free_port(), extra_args).start()
        started.append(process)
        if healthy:
            assert process.wait_healthy(), f"{server.name} did not come up:\n{process.output()}"
        return process

    yield start
    unclean = []
    for process in started:  # every one, even if stopping an earlier one failed
        try:
            if not process.stop():
                unclean.append(process.server.name)
        except Exception as error:  # noqa: BLE001 - reported below, after the others are stopped
            unclean.append(f"{process.server.name}: {error!r}")
    assert not unclean, f"processes or temporary files left behind, or port busy, after stopping {unclean}"


INTERFACES = [server for server in SERVERS if not server.answers_as]  # one row per app and HTTP server


@pytest.fixture(scope="module", params=INTERFACES, ids=[server.label for server in INTERFACES])
def running(request):
    """Each app on each HTTP server, started once for a module's tests."""
    if request.param.missing:
        pytest.skip(f"{request.param.label}: {request.param.missing}")
    process = ServerProcess(request.param, free_port()).start()
    try:
        assert process.wait_healthy(), f"{request.param.name} did not come up:\n{process.output()}"
        yield process
    finally:
        assert process.stop(), f"{request.param.name} left processes behind or its port busy"


REPORTED = []


@pytest.fixture
def say():
    """Report a line at the end of the run (what a test did: how many tries, its seed), pass or fail."""
    return REPORTED.append


def pytest_terminal_summary(terminalreporter):
    if REPORTED:
        terminalreporter.section("what the tests report")
        for line in REPORTED:
            terminalreporter.write_line(line)


def marked_environment():
    """(environment, find): every process started with `environment`, and all their descendants (servers, pool
    workers, siege), carry a marker of their own; find() lists those still alive, by pid, and nothing else."""
    marker = f"BENCH_TEST_MARK={uuid.uuid4().hex}".encode()

    def find():
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as environ:
                    if marker in environ.read().split(b"\0") and psutil.Process(int(pid)).status() != "zombie":
                        found.append(int(pid))
            except (OSError, psutil.Error):
                pass
        return found

    name, value = marker.decode().split("=")
    return {**os.environ, name: value}, find


def wait_for(condition, timeout, interval=0.2):
    """condition()'s first true value within `timeout` seconds, asked every `interval`; None if it never was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(interval)
    return None


def named(pids):
    """{pid: its command line} of `pids`, for a failure's message (an empty string for one gone meanwhile)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            found[pid] = ""
    return found


def responsive(server):
    """Whether /health is answered at once while a task runs: not where the task runs on the server's only thread,
    nor by pre-fork copies (only when the kernel hands the probe to a free one)."""
    return server.runs_in not in ("server", "copies")


def cpu_used(process, seconds):
    """CPU seconds a server's whole tree uses during the next `seconds`."""
    before = tree_cpu_seconds(process.process.pid)
    time.sleep(seconds)
    return tree_cpu_seconds(process.process.pid) - before


USER_MODULE = """
import os

DEFAULT_N = 7


def square(n):
    return {"square": n * n, "worker": os.getpid()}


async def square_async(n):
    return {"square": n * n}


def explode(n):
    raise RuntimeError(f"no good with {n}")


not_callable = 42
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's own, in a temporary folder put on PYTHONPATH (servers started now inherit it)."""
    (tmp_path / "userjob.py").write_text(USER_MODULE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    return tmp_path
