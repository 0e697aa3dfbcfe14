"""6_async_celery.py with a real redis-server and real Celery workers: nothing accepted is lost when a worker
process is killed mid-task, when the web server is killed and restarted, or when Redis itself restarts (with its
append-only file)."""

import subprocess
import sys
import threading
import time

import psutil
import pytest
import redis

import processes
from harness.instruments.verify import prime_count
from harness.network import HOST, request
from harness.servers import by_name
from processes import free_port

CELERY = by_name("6_async_celery")
pytestmark = pytest.mark.skipif(bool(CELERY.missing), reason=f"6_async_celery: {CELERY.missing}")
JOB_N = 300_000  # about 0.4 s


class Redis:
    """redis-server on a free loopback port, saving every write to its append-only file before answering
    (appendfsync always: a restart, even after SIGKILL, loses nothing that was acknowledged)."""

    def __init__(self, folder):
        self.folder, self.port, self.process = folder, free_port(), None
        self.url = f"redis://{HOST}:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                HOST,
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return self
            except redis.exceptions.ConnectionError:
                assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
                time.sleep(0.05)

    def kill(self):
        self.process.kill()
        self.process.wait(5)


def start_worker(url, concurrency=2):
    """`celery --app jobqueue --broker URL worker`, as the README says to start one on another machine."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--quiet",
            "--app",
            "jobqueue",
            "--broker",
            url,
            "worker",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "ERROR",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )


def stop_tree(process):
    """A process we started and everything below it, by pid."""
    if process is None or process.poll() is not None:
        return
    tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    for proc in tree:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tree, timeout=5)
    processes.kill_all(alive)


@pytest.fixture
def external(tmp_path):
    """(redis, workers): a Redis of the test's own, and a list to start workers into; all stopped afterwards."""
    store, workers = Redis(tmp_path).start(), []
    try:
        yield store, workers
    finally:
        for worker in workers:
            stop_tree(worker)
        store.kill()


def submit_jobs(port, count, n=JOB_N):
    ids = []
    for _ in range(count):
        status, _headers, body = request(port, f"/jobs?n={n}", method="POST")
        assert status == 202, body
        ids.append(body["id"])
    return ids


def all_done(port, ids, timeout=60):
    """Every job's final state, polled until none is queued or running (or the timeout)."""
    deadline, jobs = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        jobs = {job_id: request(port, f"/jobs/{job_id}")[2] for job_id in ids}
        if all(job.get("status") in ("done", "failed") for job in jobs.values()):  # 503 while Redis restarts
            break
        time.sleep(0.2)
    return jobs


def test_a_worker_process_killed_mid_task_loses_nothing(start_server):
    """acks_late + reject_on_worker_lost: the task goes back to the queue and another process runs it."""
    server = start_server(CELERY)
    answers = []
    client = threading.Thread(target=lambda: answers.append(request(server.port, f"/?n={JOB_N * 2}", timeout=60)))
    client.start()
    job_ids = submit_jobs(server.port, 1, JOB_N * 2)
    killed = set()
    deadline = time.monotonic() + 10
    while len(killed) < 2 and time.monotonic() < deadline:  # both pool processes, each mid-task
        for proc in server.processes():
            try:
                if proc.pid not in killed and proc.cpu_percent(0.05) > 50 and "celery" in " ".join(proc.cmdline()):
                    proc.kill()
                    killed.add(proc.pid)
            except psutil.NoSuchProcess:
                pass
    assert len(killed) == 2, "two busy worker processes were found and killed"
    client.join(60)
    status, _, body = answers[0]
    assert status == 200 and body["result"] == prime_count(JOB_N * 2) and body["pid"] not in killed
    job = all_done(server.port, job_ids)[job_ids[0]]
    assert job["status"] == "done" and job["result"] == prime_count(JOB_N * 2) and job["pid"] not in killed


def test_jobs_survive_the_web_server_killed_and_restarted(start_server, external):
    store, workers = external
    workers.append(start_worker(store.url))
    server = start_server(CELERY, "--broker", store.url)
    ids = submit_jobs(server.port, 8)
    server.process.kill()  # SIGKILL: no goodbye
    server.process.wait(5)
    server.start()
    assert server.wait_healthy(60), server.output()
    jobs = all_done(server.port, ids)
    assert [job["status"] for job in jobs.values()] == ["done"] * 8, jobs
    assert {job["result"] for job in jobs.values()} == {prime_count(JOB_N)}


def test_queued_jobs_survive_a_redis_restart(start_server, external):
    store, workers = external
    server = start_server(CELERY, "--broker", store.url, healthy=False)  # no worker yet: it waits for one
    worker = start_worker(store.url)
    workers.append(worker)
    assert server.wait_healthy(60), server.output()
    stop_tree(worker)  # jobs now wait in Redis, with nobody to take them
    ids = submit_jobs(server.port, 5)
    assert redis.Redis.from_url(store.url).llen("celery") == 5
    store.kill()  # SIGKILL: only the append-only file keeps the queue
    store.start()
    workers.append(start_worker(store.url))
    jobs = all_done(server.port, ids)
    assert [job["status"] for job in jobs.values()] == ["done"] * 5, jobs
    assert request(server.port, f"/?n={JOB_N}")[2]["result"] == prime_count(JOB_N), "the server reconnected too"


def test_no_worker_is_a_one_line_error(start_server, external):
    store, _ = external
    server = start_server(CELERY, "--broker", store.url, "--wait", "2", healthy=False)
    assert server.process.wait(timeout=30) == 2
    lines = server.output().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"6_async_celery: no Celery worker ran a task at {store.url}")
