"""Shutdown under load: every process of the tree gone within 5 s, exit status 0, port free; busy port errors."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from harness.servers import HOST, ROOT, SERVERS, ServerProcess, by_name, port_is_free
from conftest import cpu_used


@pytest.fixture
def siege_on():
    """Load a port with siege for up to 20 s, in the background; stopped (by pid) afterwards."""
    started = []

    def load(server):
        siege = subprocess.Popen([str(ROOT / "run_benchmark.sh"), f"{HOST}:{server.port}"], env={
            "DURATION": "20S", "PATH": os.environ["PATH"]}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(siege)
        time.sleep(2)  # siege's users are all connected and the pool's queue is full
        assert siege.poll() is None, "siege is running"
        assert cpu_used(server, 0.5) > 0.3, "and the server is computing for it"
        return siege

    yield load
    for siege in started:
        siege.terminate()
        try:
            siege.wait(timeout=10)
        except subprocess.TimeoutExpired:
            siege.kill()
            siege.wait(timeout=10)


pytestmark = pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")


@pytest.mark.parametrize("signum, group", [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
                         ids=["SIGTERM", "SIGINT", "Ctrl-C to the process group"])
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


@pytest.mark.parametrize("name", [s.name for s in SERVERS if not s.args]  # one per script)
def test_sigterm_under_load(start_server, siege_on, name):
    server = start_server(by_name(name))
    siege_on(server)
    server.send(signal.SIGTERM)
    assert server.leftovers(timeout=5) == []
    assert server.process.returncode == 0
    assert port_is_free(server.port)


@pytest.mark.parametrize("name", [s.name for s in SERVERS if not s.args]  # one per script)
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
