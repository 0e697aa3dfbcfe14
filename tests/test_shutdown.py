"""Shutdown under load: every process of the tree gone within 5 s, exit status 0, port free; busy port errors."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
from conftest import cpu_used

from harness.network import HOST
from harness.server_process import ServerProcess
from harness.servers import ROOT, SERVERS, by_name
from processes import port_is_free


@pytest.fixture
def siege_on():
    """Load a port with siege for up to 20 s, in the background; killed (by pid) afterwards: siege on SIGTERM now
    and then waited 10 s for its users, and what it prints then is not looked at."""
    started = []

    def load(server):
        siege = subprocess.Popen(
            [str(ROOT / "run_benchmark.sh"), f"{HOST}:{server.port}"],
            env={"DURATION": "20S", "PATH": os.environ["PATH"]},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(siege)
        time.sleep(1)  # siege's users are all connected and the pool's queue is full (checked below: it computes)
        assert siege.poll() is None, "siege is running"
        assert cpu_used(server, 0.5) > 0.3, "and the server is computing for it"
        return siege

    yield load
    for siege in started:
        siege.kill()
        siege.wait(timeout=10)


pytestmark = pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")


# SIGTERM to the server alone: test_sigterm_under_load[4_async_processexecutor].
@pytest.mark.parametrize(
    "signum, group", [(signal.SIGINT, False), (signal.SIGINT, True)], ids=["SIGINT", "Ctrl-C to the process group"]
)
def test_signal_under_load_stops_every_process(start_server, siege_on, signum, group):
    server = start_server(by_name("4_async_processexecutor"))
    siege_on(server)
    tree = server.processes()
    assert len(tree) >= 3, "server, forkserver and workers"
    server.send(signum, group=group)
    assert server.leftovers(timeout=5) == []
    assert server.process.returncode == 0
    assert port_is_free(server.port)
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("name", [s.label for s in SERVERS if not s.args])  # one per script and interpreter
def test_sigterm_under_load(start_server, siege_on, name):
    server = start_server(by_name(name))
    siege_on(server)
    server.send(signal.SIGTERM)
    assert server.leftovers(timeout=5) == []
    assert server.process.returncode == 0
    assert port_is_free(server.port)
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("name", [s.label for s in SERVERS if not s.args])  # one per script and interpreter
def test_busy_port_is_a_one_line_error(name):
    if by_name(name).missing:
        pytest.skip(f"{name}: {by_name(name).missing}")
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServerProcess(by_name(name), port).start()
        try:
            assert server.process.wait(timeout=30) == 1
            assert server.leftovers() == []  # nothing of it left (servers 4 and 5 had started their pools)
        finally:
            server.stop()
        output = server.output().strip()
        assert "cannot listen" in output and str(port) in output
        assert len(output.splitlines()) == 1, output


class Orphaning(ServerProcess):
    """A "server" with a worker in its process group that nothing ends when the server dies (no PDEATHSIG)."""

    def command(self):
        return [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\ntime.sleep(60)",
        ]


def test_a_worker_orphaned_by_a_server_killed_with_sigkill_is_found_killed_and_reaped():
    server = Orphaning(by_name("1_sync"), 0).start()
    try:
        deadline = time.monotonic() + 10
        while len(server.processes()) < 2:
            assert time.monotonic() < deadline, "the worker never started"
            time.sleep(0.05)
        worker = next(p for p in server.processes() if p.pid != server.process.pid)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(5)
        assert worker.ppid() == os.getpid(), "re-parented to the harness (a child subreaper), not to init"
        assert server.processes() == [worker]
        assert server.leftovers(timeout=0.5) == [worker], "still there: found by its process group"
        assert not server.stop(timeout=0.5), "something was left behind, and stop() killed it"
        assert not psutil.pid_exists(worker.pid), "killed, and reaped: no zombie stays"
    finally:
        server.stop(timeout=0.5)
        server.log.close()


def test_what_a_server_killed_with_sigkill_leaves_is_found_and_stopped(start_server):
    server = start_server(by_name("4_async_processexecutor"))
    workers = [p for p in server.processes() if p.pid != server.process.pid]
    assert len(workers) >= 2, "the forkserver and the pool's workers"
    server.process.send_signal(signal.SIGKILL)
    left = server.leftovers(timeout=1)  # today the forkserver and its workers outlive it: nothing tells them
    assert {p.pid for p in left} <= {p.pid for p in workers}
    server.stop(timeout=1)
    assert not any(psutil.pid_exists(p.pid) for p in workers), "each killed, and none a zombie of the harness"


STOPPED_SLOWLY = """
import os, signal, sys, threading, time
sys.path.insert(0, {root!r})
from processes import on_stop_signals

def first(signum):
    time.sleep(1.0)  # a clean stop that takes a moment: children stopped, files removed
    os._exit(0)

signal.signal(signal.SIGCHLD, lambda *_: None)  # handled in Python, as gunicorn's master does
on_stop_signals(first, status=3, grace_s=10)
print("ready", flush=True)
threading.Event().wait()
"""


def test_a_signal_other_than_a_stop_signal_does_not_cut_a_clean_stop_short():
    """After SIGTERM, a SIGCHLD (workers ending as they are stopped) is not a second stop signal: the clean stop
    ends the process (status 0), not the hard exit (status 3) in the middle of it."""
    child = subprocess.Popen(
        [sys.executable, "-c", STOPPED_SLOWLY.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        child.send_signal(signal.SIGCHLD)
        assert child.wait(timeout=10) == 0
    finally:
        child.kill()
        child.wait()
