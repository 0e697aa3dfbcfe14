"""Background jobs (POST /jobs, GET /jobs/<id>) on every server that keeps them in memory: 202 at once, done later
with the right result while /health answers, --max-pending and --job-ttl as documented, and every job lost when
the server stops; the servers that cannot run them say so."""

import json
import re
import threading
import time

import pytest
from conftest import marked_environment, named, responsive, run_all

import tasks
from harness.instruments.verify import expected_result
from harness.load import jobs, openloop
from harness.network import request
from harness.servers import GIL_ROWS, by_name

IN_MEMORY = [s.name for s in GIL_ROWS if s.jobs == "memory"]
# Jobs lost at a stop, on each web stack: Tornado's MemoryJobs (the process pool's row), FastAPI's BackgroundTasks
# (its default row, a def endpoint).
LOST_AT_STOP = [
    s.name
    for s in GIL_ROWS
    if s.jobs == "memory" and s.runs_in == ("processes" if s.http_stack == "tornado" else "threads")
]
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


# The rows whose pool bounds the jobs at once (on a loop, every job runs at once, interleaved), /health answered.
POOLED = [name for name in IN_MEMORY if responsive(by_name(name)) and by_name(name).pool_option]


@pytest.mark.parametrize("name", POOLED)
def test_jobs_in_memory(start_server, name):
    # Two at a time (FastAPI's BackgroundTasks would otherwise start all at once, in its 40 threads).
    two = ("--workers", "2") if by_name(name).pool_option == "--workers" else ()
    server = start_server(by_name(name), "--max-pending", "3", "--job-ttl", "1", *two)
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


def test_an_async_def_background_task_blocks_the_requests_after_its_answer(start_server):
    """FastAPI runs an async def background task on the event loop after the 202: the next request waits for it
    (a plain def one runs in a thread: test_jobs_in_memory)."""
    server = start_server(by_name("8_fastapi --endpoint async"))
    status, _, body, took = submit(server.port, LONG_N)
    assert status == 202 and took < 0.5, "the 202 is sent before the task runs"
    started = time.monotonic()
    assert request(server.port, "/health")[0] == 200
    assert time.monotonic() - started > 0.3, "/health waited for the background task"
    assert wait_done(server.port, body["id"])["status"] == "done"


@pytest.mark.parametrize("name", LOST_AT_STOP)
def test_jobs_in_memory_are_lost_when_the_server_stops(start_server, name):
    server = start_server(by_name(name))
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


@pytest.mark.parametrize("name", [s.name for s in GIL_ROWS if not s.jobs])
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
    followed = {
        "a": {"status": "done", "done_at": 102.0},
        "b": {"status": "done", "done_at": 104.0},
        "c": {"status": "unfinished"},
        "d": {"status": "lost"},
    }
    submitted = {
        "planned": 5,
        "failed": 1,
        "errors": {"HTTP 503": 1},
        "latency_ms": {"p50": 1.0},
        "send_lag_ms": {"p99": 0.5},
        "valid": True,
    }
    run = jobs.summarize(submitted, accepted, followed, 7, rate=2.5, seconds=2, looked_at=110.0)
    assert run["accepted_share"] == 0.8 and run["done_share"] == 0.5, "4 of 5 accepted, 2 of those done"
    assert run["completion_rate"] == 0.5, "2 done between the first submission (100) and the last done (104)"
    assert (run["done"], run["unfinished"], run["lost"], run["failed"], run["refused"]) == (2, 1, 1, 0, 1)
    assert run["max_backlog"] == 7 and "accept_rate" not in run
    # Of 4 accepted, p50 is rank 2: b's 3.5 s, below the 8.5 s the censored c and d had waited at least.
    # p99 is rank 4: among the jobs not done, so only a bound: above 8.5 s (d, due 101.5, looked at 110).
    assert run["submit_to_done_s"] == {"p50": 3.5, "p99": None, "p99_above": 8.5, "max": None}


def test_the_follow_line_never_counts_more_jobs_than_it_names():
    """Server 6 once read "1879 of 625 jobs still queued or running": its 202s came so late that the submitter's
    drain cut off 4 375 POSTs, which the server had queued all the same. The line counts against the POSTs sent."""
    line = jobs.follow_line(12.4, 30, backlog=1879, accepted=625, sent=5000)
    counted, total = map(int, re.search(r"(\d+) of the (\d+) jobs sent", line).groups())
    assert (counted, total) == (1879, 5000) and "(625 accepted with a 202)" in line
    assert line.startswith("12 s of 30 after sending: ")
    assert " s of " in line, "the form harness/load/openloop.py's in_a_process passes on as progress"
    assert "? of the 0 jobs sent" in jobs.follow_line(5, 30, backlog=None, accepted=0, sent=0), "no count yet"


def test_a_percentile_is_censored_where_a_done_job_took_longer_than_an_unfinished_one_had_waited():
    """A job done late can rank above one still waiting: its time is then no percentile, only the bound is."""
    accepted = {"early": 0.0, "late": 9.0, "quick": 1.0}
    followed = {
        "early": {"status": "done", "done_at": 12.0},
        "quick": {"status": "done", "done_at": 1.5},
        "late": {"status": "unfinished"},
    }
    found = jobs.censored_percentiles(accepted, followed, looked_at=15.0, points=(50, 90))
    # "late" had waited 6 s; "early" took 12 s: the second-ranked value is only known to be above 6 s.
    assert found == {"p50": None, "p50_above": 6.0, "p90": None, "p90_above": 6.0, "max": None}
    followed["late"] = {"status": "done", "done_at": 11.0}
    assert jobs.censored_percentiles(accepted, followed, 15.0, (50, 90)) == {"p50": 2.0, "p90": 12.0, "max": 12.0}
    # "quick" raised at once: never done. Counted as a 0.5 s done job it would make the p50 2 s (of 0.5, 2, 12);
    # censored (it waited 14 s by the last look), the p50 is rank 2 of 2, 12 and "> 14": 12 s.
    followed["quick"] = {"status": "failed", "done_at": 1.5}
    assert jobs.censored_percentiles(accepted, followed, 15.0, (50, 90)) == {
        "p50": 12.0,
        "p90": None,
        "p90_above": 14.0,
        "max": None,
    }


@pytest.mark.parametrize(
    ("status", "body", "state"),
    [
        (200, {"status": "done", "done_at": 5.0}, "done"),
        (200, {"status": "failed", "done_at": 5.0}, "failed"),
        (200, {"status": "running"}, "unfinished"),
        (200, {"status": "queued"}, "unfinished"),
        (404, {}, "lost"),
        (None, None, "unreachable"),
        (503, {}, "unreachable"),
    ],
)
def test_the_last_look_classifies_by_the_answer(status, body, state):
    assert jobs.classify(status, body)["status"] == state


# One row: what is counted is the driver's reading of the answers (a 404 lost, no connection unreachable), the same
# whichever stack lost the jobs (test_jobs_in_memory_are_lost_when_the_server_stops shows both lose them).
@pytest.mark.parametrize("name", LOST_AT_STOP[:1])
def test_jobs_lost_at_a_restart_are_counted_lost_and_those_of_a_server_gone_unreachable(start_server, name):
    """Through the driver itself: a server with jobs in memory stopped and started again while jobs are submitted,
    then stopped for good while the rest are followed."""
    server = start_server(by_name(name), "--workers", "1")
    found = {}
    driver = threading.Thread(
        target=lambda: found.update(
            jobs.run(f"http://127.0.0.1:{server.port}/jobs?n=200000", rate=10, seconds=5, deadline_s=2)
        )
    )
    driver.start()
    time.sleep(1.5)
    assert server.stop()  # the jobs accepted so far are gone with it
    server.start()
    assert server.wait_healthy()
    driver.join(timeout=60)
    assert not driver.is_alive() and "accepted" in found, found
    assert found["lost"] >= 5, f"the jobs accepted before the restart, read from the live server: {found}"
    assert found["done"] + found["unfinished"] >= 3, found
    assert found["unreachable"] == 0 and found["done"] + found["unfinished"] + found["lost"] == found["accepted"]
    assert found["status_requests"] <= found["accepted"] + 2 * 13, "the counts twice a second, each job once"
    assert found["submit_to_done_s"]["p99"] is None and found["submit_to_done_s"]["p99_above"] > 0, found
    driver = threading.Thread(
        target=lambda: found.update(
            jobs.run(f"http://127.0.0.1:{server.port}/jobs?n={LONG_N}", rate=5, seconds=1, deadline_s=3)
        )
    )
    driver.start()
    time.sleep(2)  # submitted, and followed: the jobs queue behind one worker
    assert server.stop()
    driver.join(timeout=60)
    assert found["accepted"] == 5 and found["unreachable"] == 5 and found["lost"] == 0, found


def test_a_schedule_of_its_own_posts_each_job_with_its_n_at_its_second(start_server):
    """As make cluster drives its jobs (harness/hosts/measured.py): each job's own n and due second, from a second
    0 the caller chose, and each accepted job's n and last look given back. (Not whether every send was on time,
    run["valid"]: a timing, which a loaded machine can miss by a few ms; the harness reports it.)"""
    server = start_server(by_name("3_async_threadexecutor"))
    start, start_epoch = time.monotonic() + openloop.LEAD_S, time.time() + openloop.LEAD_S
    schedule = [(0.5, 1002), (0, 1000), (0.5, 1001)]
    run = jobs.run(f"http://127.0.0.1:{server.port}/jobs?n=5", 4, 1, deadline_s=10, schedule=schedule, start=start)
    assert run["planned"] == run["accepted"] == run["done"] == 3, run
    assert sorted(job["n"] for job in run["jobs"].values()) == [1000, 1001, 1002]
    for job_id, job in run["jobs"].items():
        assert request(server.port, f"/jobs/{job_id}")[2]["n"] == job["n"], "the n the server was given"
        assert job["status"] == "done" and job["done_at"] > start_epoch, "sent from the caller's second 0 on"
    assert jobs.with_n("http://h:1/jobs?task=cpu&n=5", 7) == "http://h:1/jobs?task=cpu&n=7"


def test_the_suite_in_background_mode(tmp_path):
    """run_all.py --mode background end to end: tiny jobs, all done within the deadline, none lost; the servers
    that run no jobs left out, saying so."""
    env, find = marked_environment()
    run = run_all(
        "--servers",
        "2,4",
        "--mode",
        "background",
        "--rate",
        "40",
        "--duration",
        "2",
        "--deadline",
        "20",
        "--n",
        "1000",
        "--quick",
        "--out",
        str(tmp_path),
        timeout=240,
        env=env,
    )
    assert named(find()) == {}, "processes left behind"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert (
        "left out of the background mode, as they run no jobs: 2_async, 2_async --cooperative, 2_async --processes"
    ) in run.stderr
    (out_dir,) = tmp_path.iterdir()
    (result,) = json.loads((out_dir / "results.json").read_text())["runs"]
    assert result["mode"] == "background" and result["rate"] == 40 and result["deadline_s"] == 20
    assert result["planned"] == result["accepted"] == result["done"] == 80
    assert result["unfinished"] == result["lost"] == result["failed"] == result["refused"] == 0
    assert result["accepted_share"] == result["done_share"] == 1 and result["completion_rate"] > 0
    assert result["submit_to_done_s"]["p99"] > 0 and result["scheduling"] in ("SCHED_FIFO", "normal")
    assert result["accept_ms"]["p99"] is not None and result["health_ms"]["count"] > 10
    assert "background jobs submitted at 40/s for 2 s" in run.stdout


def test_a_share_of_the_limit_is_a_rate_the_server_keeps_up_with(tmp_path):
    """run_all.py --rate 0.4x in background mode, for real, on the process pool: the rate made from T1 at the start,
    recorded with its share, and every job done by the deadline, so that Done p50/p99 are figures, not bounds."""
    env, find = marked_environment()
    command = ["--servers", "4", "--mode", "background", "--rate", "0.4x", "--duration", "3", "--deadline", "10"]
    run = run_all(*command, "--quick", "--out", str(tmp_path), env=env)
    assert named(find()) == {}, "processes left behind"
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    (out_dir,) = tmp_path.iterdir()
    saved = json.loads((out_dir / "results.json").read_text())
    (result,) = saved["runs"]
    t1_s = saved["environment"]["tasks"]["cpu"]["t1_s"]
    assert result["rate_share"] == 0.4 and result["rate"] == round(0.4 * saved["environment"]["cpu_count"] / t1_s, 1)
    assert result["planned"] == result["accepted"] == result["done"] > 0, result
    done_s = result["submit_to_done_s"]
    assert done_s["p50"] is not None and done_s["p99"] is not None and done_s["p50"] <= done_s["p99"], done_s
    assert f"background jobs submitted at {result['rate']:g}/s (0.4 × the limit, with T1 at the suite's start)" in (
        run.stdout
    )
