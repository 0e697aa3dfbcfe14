"""Tasks counted in steady state (harness/instruments/steady.py): a real closed-loop run reads the server's own totals
inside siege's time, a run whose reads fail says why and ranks by siege's rate, and the rule that marks a server's
count and siege's as disagreeing."""

import shutil
import time

import pytest

import tasks
from harness.instruments import steady
from harness.records.suite import Run
from harness.run import drive
from harness.run.settings import Settings
from harness.servers import by_name
from processes import free_port


def test_counts_disagree_only_beyond_the_requests_in_flight_the_failures_and_the_slack():
    users, failed = 25, 3
    assert steady.count_check(125, 100, users) == {"count_gap": 25, "counts_disagree": False}, "one a user in flight"
    allowed = users + failed + steady.SLACK
    assert not steady.count_check(100 + allowed, 100, users, failed)["counts_disagree"]
    assert steady.count_check(100 + allowed + 1, 100, users, failed) == {
        "count_gap": allowed + 1,
        "counts_disagree": True,
    }
    assert steady.count_check(100 - allowed - 1, 100, users, failed)["counts_disagree"], "the server counted fewer"


def test_a_run_is_ranked_by_its_steady_rate_where_it_has_one_and_older_results_still_load():
    older = Run.from_json({"server": "2_async", "strategy": "2_async", "task": "cpu", "transaction_rate": 9.69})
    assert older.steady_tasks_per_s is None and older.counts_disagree is None
    assert older.throughput == 9.69, "no steady rate: siege's"
    assert (
        Run(server="2_async", strategy="2_async", task="cpu", transaction_rate=9.69, steady_tasks_per_s=11.2).throughput
        == 11.2
    )


def test_reads_that_get_no_answer_leave_the_steady_rate_unknown_and_say_why():
    count = steady.SteadyCount(free_port(), seconds=2)  # nothing listens there: every read is refused
    count.begin(time.monotonic())
    time.sleep(1.1)  # the window: 0.3 s to 1 s (siege's last second left out)
    found = count.stop()
    assert found["steady_tasks_per_s"] is None
    assert found["steady_error"].startswith("0 of 2 reads") and "ConnectionRefusedError" in found["steady_error"]


@pytest.mark.skipif(shutil.which("siege") is None, reason="siege is not installed")
def test_a_closed_loop_run_counts_its_tasks_between_reads_inside_siege_s_time(start_server):
    """A thread pool on the sleep kind queues nothing inside it beyond its workers: the steady rate is siege's,
    within its edges, and the server counts what siege counted, give or take the requests in flight."""
    server = by_name("3_async_threadexecutor")
    process = start_server(server, "--task", "sleep")
    users, kind = 10, {"n": 100, "t1_s": 0.1, "waits": True, "t1_cpu_s": None}
    measuring = drive.Measuring(
        run={"task_s": 0.1},
        process=process,
        port=process.port,
        path="/?n=100",
        task=tasks.Task("sleep"),
        level=users,
        settings=Settings(duration_s=4, warmup_s=0),
        env={"cpu_count": 2, "tasks": {"sleep": kind}},
        progress=lambda phase: None,
    )
    run = drive.closed_loop(measuring)
    assert run["measured"] and run["transactions"] > 20, run
    assert run["steady_tasks_per_s"] is not None, run.get("steady_error")
    assert 0.75 < run["steady_tasks_per_s"] / run["transaction_rate"] < 1.33
    assert run["steady_s"] >= 1.2, "the first and last answered reads span at least half the 0.6 s to 3 s window"
    assert 0 < run["steady_tasks"] < run["tasks_counted"], "inside the run, its edges left out"
    assert abs(run["count_gap"]) <= users and run["counts_disagree"] is False
    assert (
        Run.from_json({"server": server.label, "strategy": server.name, "task": "sleep", **run}).throughput
        == (run["steady_tasks_per_s"])
    )
