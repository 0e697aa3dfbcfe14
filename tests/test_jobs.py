"""Background jobs (POST /jobs, GET /jobs/<id>) on every server that keeps them in memory: 202 at once, done later
with the right result while /health answers, --max-pending and --job-ttl as documented, and every job lost when
the server stops; the servers that cannot run them say so."""
import json
import subprocess
import sys
import time

import pytest

import tasks
from conftest import marked_environment
from harness.load import jobs
from harness.servers import ROOT, SERVERS, by_name, request
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


def test_the_background_figures_from_known_jobs():
    """summarize() on jobs whose times are known: every figure computed by hand."""
    accepted = {"a": 100.0, "b": 100.5, "c": 101.0, "d": 101.5}  # id -> due time
    followed = {"a": {"status": "done", "done_at": 102.0}, "b": {"status": "done", "done_at": 104.0},
                "c": {"status": "unfinished"}, "d": {"status": "lost"}}
    submitted = {"planned": 5, "failed": 1, "errors": {"HTTP 503": 1}, "latency_ms": {"p50": 1.0},
                 "send_lag_ms": {"p99": 0.5}, "valid": True}
    run = jobs.summarize(submitted, accepted, followed, [3, 7, 5], rate=2.5, seconds=2, last_accept=103.0)
    assert run["accept_rate"] == round(4 / 3, 2), "4 accepted over 3 s: the last 202 came after the schedule's 2 s"
    assert run["completion_rate"] == 0.5, "2 done between the first submission (100) and the last done (104)"
    assert (run["done"], run["unfinished"], run["lost"], run["failed"], run["refused"]) == (2, 1, 1, 0, 1)
    assert run["max_backlog"] == 7
    assert run["submit_to_done_ms"]["p50"] == pytest.approx(2000, rel=0.001)
    assert run["submit_to_done_ms"]["max"] == pytest.approx(3500, rel=0.001)


def test_the_suite_in_background_mode(tmp_path):
    """run_all.py --mode background end to end: tiny jobs, all done within the deadline, none lost; the servers
    that run no jobs left out, saying so."""
    env, find = marked_environment()
    run = subprocess.run([sys.executable, "run_all.py", "--servers", "2,4", "--mode", "background", "--rate", "40",
                          "--duration", "2", "--deadline", "20", "--n", "1000", "--quick", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=240, env=env)
    assert find() == [], "processes left behind"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert ("left out of the background mode, as they run no jobs: 2_async, 2_async --cooperative, "
            "2_async --processes") in run.stderr
    (out_dir,) = tmp_path.iterdir()
    (result,) = json.loads((out_dir / "results.json").read_text())["runs"]
    assert result["mode"] == "background" and result["rate"] == 40 and result["deadline_s"] == 20
    assert result["planned"] == result["accepted"] == result["done"] == 80
    assert result["unfinished"] == result["lost"] == result["failed"] == result["refused"] == 0
    assert 30 <= result["accept_rate"] <= 40 and result["completion_rate"] > 0
    assert result["accept_ms"]["p99"] is not None and result["health_ms"]["count"] > 10
    assert "background jobs submitted at 40/s for 2 s" in run.stdout
