"""5_async_dask.py against a real external cluster: a `dask scheduler` and two `dask worker`s on loopback."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import wait_for
from distributed import Client

from harness.instruments.verify import prime_count
from harness.network import HOST, request
from harness.server_process import ServerProcess
from harness.servers import by_name
from processes import free_port

DASK = str(Path(sys.executable).with_name("dask"))


class Cluster:
    """A scheduler and workers run from an empty folder: they cannot import this project's code on their own."""

    def __init__(self, folder):
        self.folder, self.port = folder, free_port()
        self.address = f"tcp://{HOST}:{self.port}"
        self.scheduler, self.workers = None, []

    def start(self, workers=2):
        self.scheduler = self._spawn("scheduler", "--host", HOST, "--port", str(self.port), "--no-dashboard")
        for _ in range(workers):
            self.add_worker()
        with Client(self.address, timeout=30) as client:
            if workers:
                client.wait_for_workers(workers, timeout=60)
        return self

    def add_worker(self):
        worker = self._spawn("worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--host", HOST)
        self.workers.append(worker)
        return worker

    def _spawn(self, *args):
        # TMPDIR: their dask-scratch-space goes to the test's folder, not /tmp, and goes with it.
        return subprocess.Popen(
            [DASK, *args],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "TMPDIR": str(self.folder)},
        )

    def alive_workers(self):
        return [w for w in self.workers if w.poll() is None]

    def stop(self):
        """Every process started, by pid, with bounded waits: SIGTERM, then SIGKILL. The workers first, all at once,
        then the scheduler: a worker whose scheduler has gone first tries to reach it until SIGKILL."""
        for group in (self.workers, [self.scheduler] if self.scheduler else []):
            for process in group:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 3
            for process in group:
                try:
                    process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def start_dask_server(start_server, cluster):
    return start_server(by_name("5_async_dask"), "--scheduler", cluster.address)


def test_results_come_from_the_external_workers(start_server, cluster):
    server = start_dask_server(start_server, cluster)
    pids = set()
    for n in (10, 1000, 10_000, 100_000, 54_321, 77):
        status, _, body = request(server.port, f"/?n={n}")
        assert status == 200
        assert body["result"] == prime_count(n)
        pids.add(body["pid"])
    assert pids <= {worker.pid for worker in cluster.workers}
    assert server.process.pid not in pids


def test_a_server_started_before_its_workers_joined_runs_background_jobs(start_server, tmp_path):
    """Found on hosts of their own (make cluster): the job slots were the cluster's threads at start, 0 here, and
    POST /jobs answered 405 for as long as the server ran."""
    cluster = Cluster(tmp_path)
    try:
        cluster.start(workers=0)
        server = start_dask_server(start_server, cluster)
        cluster.add_worker()
        assert wait_for(lambda: request(server.port, "/?n=10")[0] == 200, 60), "the worker joined"
        status, _, body = request(server.port, "/jobs?n=1000", method="POST")
        assert status == 202, body
        assert wait_for(lambda: request(server.port, f"/jobs/{body['id']}")[2]["status"] == "done", 60)
    finally:
        cluster.stop()


def test_a_killed_worker_does_not_fail_requests(start_server, cluster):
    server = start_dask_server(start_server, cluster)
    victim = cluster.workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for _ in range(5):
        status, _, body = request(server.port, "/?n=20000")
        assert status == 200, body
        assert body["result"] == prime_count(20000)
        assert body["pid"] == cluster.workers[1].pid


def test_no_worker_is_a_503_and_the_server_recovers(start_server, cluster):
    server = start_dask_server(start_server, cluster)
    for worker in cluster.workers:
        worker.kill()
        worker.wait()
    assert wait_for(lambda: request(server.port, "/?n=100")[0] == 503, timeout=15)
    status, headers, body = request(server.port, "/?n=100")
    assert status == 503 and "worker" in body["error"] and headers["Retry-After"] == "1"
    assert request(server.port, "/health")[0] == 200
    cluster.add_worker()
    assert wait_for(lambda: request(server.port, "/?n=100")[0] == 200, timeout=30)


def test_requests_waiting_when_the_last_worker_dies_get_a_503(start_server, cluster):
    server = start_dask_server(start_server, cluster)
    answers = []
    clients = [
        threading.Thread(target=lambda: answers.append(request(server.port, "/?n=2000000", timeout=60)[0]))
        for _ in range(6)
    ]  # tasks of about 5 s
    for client in clients:
        client.start()
    time.sleep(1)
    assert answers == [], "none is done when the workers die"
    for worker in cluster.workers:
        worker.kill()
    for client in clients:
        client.join(timeout=60)
    assert sorted(answers) == [503] * 6


def test_stopping_the_server_leaves_the_cluster_running_and_idle(start_server, cluster):
    server = start_dask_server(start_server, cluster)

    def long_request():
        try:
            request(server.port, "/?n=600000", timeout=30)
        except OSError:
            pass  # the server stops before it answers: that is the point

    for _ in range(8):  # a backlog: 8 tasks of about 1 s on 2 workers
        threading.Thread(target=long_request, daemon=True).start()
    time.sleep(1)
    assert server.stop()
    assert cluster.scheduler.poll() is None and len(cluster.alive_workers()) == 2
    # Queued tasks are released when the client goes; the running ones end within ~1 s.
    workers = [psutil.Process(worker.pid) for worker in cluster.workers]
    time.sleep(2)
    for worker in workers:
        worker.cpu_percent()
    time.sleep(1)
    assert sum(worker.cpu_percent() for worker in workers) < 30, "the workers still compute for nobody"


def test_unreachable_scheduler_is_a_one_line_error():
    process = ServerProcess(by_name("5_async_dask"), free_port(), ("--scheduler", f"tcp://{HOST}:{free_port()}"))
    process.start()
    try:
        assert process.process.wait(timeout=30) == 1
        output = process.output().strip()
        assert len(output.splitlines()) == 1 and "cannot reach the Dask scheduler" in output, output
        assert process.leftovers() == []
    finally:
        process.stop()
