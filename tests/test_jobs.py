"""Background jobs (POST /jobs, GET /jobs/<id>) on every server that keeps them in memory: 202 at once, done later
with the right result while /health answers, --max-pending and --job-ttl as documented, and every job lost when
the server stops; the servers that cannot run them say so."""
import time

import pytest

import tasks
from harness.servers import SERVERS, by_name, request
from harness.verify import expected_result

IN_MEMORY = [s.name for s in SERVERS if s.jobs == "memory"]
LONG_N = 600_000  # about 1 s


def submit(port, n):
    started = time.monotonic()
    status, headers, body = request(port, f"/jobs?n={n}", method="POST")
    return status, headers, body, time.monotonic() - started


def wait_done(port, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while (job := request(port, f"/jobs/{job_id}")[2])["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    return job


@pytest.mark.parametrize("name", IN_MEMORY)
def test_jobs_in_memory(start_server, name):
    server = start_server(by_name(name), "--max-pending", "3", "--job-ttl", "1")
    accepted = []
    for n in (LONG_N, LONG_N, 1000):
        status, headers, body, took = submit(server.port, n)
        assert status == 202 and took < 0.5, f"202 at once, without waiting for the work: {status} in {took:.2f} s"
        assert body["status"] == "queued" and headers["Location"] == body["url"] == f"/jobs/{body['id']}"
        accepted.append((body["id"], n))
    status, _, body, _ = submit(server.port, 10)
    assert status == 503 and "3 jobs are unfinished already" in body["error"], "--max-pending bounds the jobs"
    started = time.monotonic()
    assert request(server.port, "/health")[0] == 200 and time.monotonic() - started < 0.3
    assert request(server.port, "/jobs")[2]["queued"] + request(server.port, "/jobs")[2]["running"] >= 2
    for job_id, n in accepted:
        job = wait_done(server.port, job_id)
        assert job["status"] == "done" and job["result"] == expected_result(tasks.Task(), n), job
        assert job["strategy"] == name and job["n"] == n and job["task_ms"] > 0 and job["pid"] > 0
    assert submit(server.port, 10)[0] == 202, "finished jobs no longer count against --max-pending"
    time.sleep(1.2)
    status, _, body = request(server.port, f"/jobs/{accepted[-1][0]}")
    assert status == 404 and "forgotten" in body["error"], "a finished job expires after --job-ttl"


def test_jobs_in_memory_are_lost_when_the_server_stops(start_server):
    server = start_server(by_name("4_async_processexecutor"))
    job_id = submit(server.port, LONG_N)[2]["id"]
    assert server.stop()
    server.start()
    assert server.wait_healthy()
    status, _, body = request(server.port, f"/jobs/{job_id}")
    assert status == 404 and "no such job" in body["error"], "nothing outside the process knew of the job"


def test_a_job_whose_task_raises_is_failed_and_says_why(start_server, user_module):
    server = start_server(by_name("3_async_threadexecutor"), "--task", "userjob:explode")
    job = wait_done(server.port, submit(server.port, 3)[2]["id"])
    assert job["status"] == "failed" and job["error"] == "RuntimeError: no good with 3" and "result" not in job, job


@pytest.mark.parametrize("name", [s.name for s in SERVERS if not s.jobs])
def test_servers_without_workers_refuse_jobs(start_server, name):
    server = start_server(by_name(name))
    status, _, body = request(server.port, "/jobs?n=5", method="POST")
    assert status == 405 and "runs no background jobs" in body["error"]
    status, _, body = request(server.port, "/jobs/abc")
    assert status == 404 and "runs no background jobs" in body["error"]
    assert request(server.port, "/?n=10")[2]["result"] == 4
