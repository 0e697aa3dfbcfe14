"""Servers 5 and 6 with their scheduler or broker and their workers each on a host of its own (network namespaces,
harness/hosts/namespaces.py), and one host cut off or killed mid-run: what was accepted is still done."""

import ast
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import marked_environment, named, wait_for

from harness.hosts import engines, faults, measured
from harness.hosts.namespaces import Hosts, is_root, namespaces, remove_leftovers
from harness.instruments.measure import HealthProbe
from harness.instruments.verify import prime_count
from harness.load import openloop
from harness.network import request
from harness.servers import ROOT
from processes import tree

pytestmark = pytest.mark.skipif(
    not is_root() or not shutil.which("ip"), reason="network namespaces need root and iproute2's ip"
)
PYTHON = sys.executable
QUIET = {**os.environ, "PYTHONWARNINGS": "ignore:You're running the worker with superuser"}


@pytest.fixture
def hosts(tmp_path):
    made = Hosts()
    try:
        yield made.up()
    finally:
        made.down()
        assert [n for n in namespaces() if n.startswith(made.prefix)] == [], "every namespace removed"
        assert all(process.poll() is not None for process in made.started)
        assert not os.path.exists(made.tmpdir), "the programs' TMPDIR removed, with what killed ones left there"


def healthy(client, address, port):
    def answers():
        try:
            return client.submit(request, port, "/health", timeout=2, host=address).result()[0] == 200
        except OSError:
            return False

    return answers


def started_probe(port, host):
    probe = HealthProbe(port, 30, interval=0.05, host=host)
    probe.start()
    return probe


def test_hosts_reach_each_other_and_a_cut_host_is_unreachable(hosts):
    """And the suite's health probe, started in a thread of the client host, probes from there (the web host is
    reachable from no other): answered while the host is up, failed while it is cut off."""
    server = hosts.start(
        "web",
        [PYTHON, "backend.py", "--host", hosts.addresses["web"], "--port", "8100"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with hosts.client() as client:
        assert wait_for(healthy(client, hosts.addresses["web"], 8100), 30), "backend.py on the web host never answered"
        probe = client.submit(started_probe, 8100, hosts.addresses["web"]).result()
        time.sleep(1)
        hosts.cut("web")
        with pytest.raises(OSError):
            client.submit(request, 8100, "/health", timeout=1, host=hosts.addresses["web"]).result()
        time.sleep(1)
        hosts.restore("web")
        assert wait_for(healthy(client, hosts.addresses["web"], 8100), 10), "not back after the restore"
        time.sleep(0.5)
        health = probe.stop()
    assert server.poll() is None, "cut off, not killed"
    assert health["count"] - health["failed"] >= 20, f"answered from the client host while it was up: {health}"
    assert health["failed"] >= 20, f"the 2 s cut off failed its probes: {health}"
    assert health["p99"] is None and health["p99_above"] > 0, "failures slower than any answer: the p99 among them"


def test_no_part_of_make_cluster_sends_a_health_request_of_its_own():
    """The fault table's health columns are the suite's probe's (measure.HealthProbe), as every other table's."""
    for path in (ROOT / "harness" / "hosts").glob("*.py"):
        strings = [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)]
        asked = [text for text in strings if isinstance(text, str) and text.startswith("/health")]
        assert asked == [], f"{path.name} asks /health itself: use measure.HealthProbe"


def test_no_part_of_make_cluster_submits_or_reads_a_job_of_its_own():
    """The fault table's jobs are POSTed and followed by the suite's job driver (harness.load.jobs), as the
    background mode's are: one job driver."""
    for path in (ROOT / "harness" / "hosts").glob("*.py"):
        strings = [node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)]
        sent = [text for text in strings if isinstance(text, str) and (text == "POST" or text.startswith("/jobs/"))]
        asked = [text for text in strings if isinstance(text, str) and text.startswith("/jobs?")]
        assert sent == asked == [], f"{path.name} submits or reads jobs itself: use harness.load.jobs"


def test_the_open_loop_driver_runs_on_the_client_host_and_its_cpu_is_counted_per_host(hosts):
    hosts.start(
        "web",
        [PYTHON, "backend.py", "--host", hosts.addresses["web"], "--port", "8100"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with hosts.client() as client:
        assert wait_for(healthy(client, hosts.addresses["web"], 8100), 30), "backend.py on the web host never answered"
    before = hosts.cpu_seconds("web")
    url = f"http://{hosts.addresses['web']}:8100/?ms=5"
    run = openloop.run(url, 50, 2, drain_s=5, on=hosts.runner("client"))
    assert run.get("ok") == 100 and run["failed"] == 0, run
    assert hosts.cpu_seconds("web") > before, "the web host's CPU seconds grew with the requests it answered"
    assert hosts.cpu_seconds("worker1") == 0, "nothing runs on a host nobody started anything on"


def test_a_celery_worker_host_cut_off_and_restored_loses_no_job(hosts, tmp_path):
    broker = hosts.addresses["broker"]
    url = f"redis://{broker}:6379/0"
    hosts.start("broker", engines.redis(hosts, str(tmp_path)), stdout=subprocess.DEVNULL)
    workers = {
        name: hosts.start(
            name,
            engines.celery_worker(hosts, name),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=QUIET,
        )
        for name in ("worker1", "worker2")
    }
    web = hosts.addresses["web"]
    hosts.start(
        "web",
        [PYTHON, "6_async_celery.py", "--host", web, "--port", "8005", "--broker", url],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with hosts.client() as client:
        assert wait_for(healthy(client, web, 8005), 60), "server 6 on the web host never answered"
        n = 400_000  # about 0.5 s
        ids = [client.submit(request, 8005, f"/jobs?n={n}", "POST", host=web).result()[2]["id"] for _ in range(12)]
        time.sleep(0.7)  # each worker is in its first task
        hosts.cut("worker1")
        try:
            time.sleep(6)
            during = [client.submit(request, 8005, f"/jobs/{job_id}", host=web).result()[2] for job_id in ids]
        finally:
            hosts.restore("worker1")
        other = set(tree(workers["worker2"].pid))
        assert sum(job["status"] == "done" and job["pid"] in other for job in during) >= 3, (
            "the other worker went on meanwhile"
        )

        def every_job_done():
            found = [client.submit(request, 8005, f"/jobs/{job_id}", host=web).result() for job_id in ids]
            return found if all(body.get("status") in ("done", "failed") for _, _, body in found) else None

        found = wait_for(every_job_done, 90)
        assert found, "the jobs accepted were not all done after the restore"
    assert all(
        status == 200 and body["status"] == "done" and body["result"] == prime_count(n) for status, _, body in found
    ), found


def test_a_dask_worker_host_killed_mid_task_has_its_task_rerun_elsewhere(hosts, tmp_path):
    broker = hosts.addresses["broker"]
    scheduler = f"tcp://{broker}:8786"
    hosts.start(
        "broker",
        engines.dask_scheduler(hosts, str(tmp_path)),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = {
        name: hosts.start(
            name, engines.dask_worker(hosts, name), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for name in ("worker1", "worker2")
    }
    web = hosts.addresses["web"]
    hosts.start(
        "web",
        [PYTHON, "5_async_dask.py", "--host", web, "--port", "8004", "--scheduler", scheduler],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    n = 1_200_000  # 1 to 2 s
    with hosts.client() as client:
        assert wait_for(healthy(client, web, 8004), 60), "server 5 on the web host never answered"

        def both_workers_compute():  # two tasks at once ran on two workers: both have joined the scheduler
            found = [client.submit(request, 8004, "/?n=300000", host=web) for _ in range(2)]
            return len({answer.result()[2].get("pid") for answer in found} - {None}) == 2

        assert wait_for(both_workers_compute, 60), "the two Dask workers never both ran a task"
        answers = [client.submit(request, 8004, f"/?n={n}", timeout=60, host=web) for _ in range(2)]
        time.sleep(0.5)  # one task on each worker
        hosts.kill("worker1")
        found = [answer.result() for answer in answers]
    assert workers["worker1"].wait(10) is not None
    assert all(status == 200 and body["result"] == prime_count(n) for status, _, body in found), found
    assert {body["pid"] for _, _, body in found} <= set(tree(workers["worker2"].pid)), "both ran on the worker left"


def test_what_a_sigkilled_run_left_is_removed_by_the_next():
    code = (
        "from harness.hosts.namespaces import Hosts; import time; "
        "Hosts(['a', 'b']).up(); print('up', flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([PYTHON, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "up\n"
        process.kill()  # no chance to clean up
        process.wait()
        left = [n for n in namespaces() if n.startswith(f"tbh{process.pid}-")]
        assert len(left) == 3, "a, b and the switch were left"
        assert sorted(remove_leftovers()) == sorted(left)
        assert not [n for n in namespaces() if n.startswith(f"tbh{process.pid}-")]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        remove_leftovers()


def test_the_fault_tables_figures_from_known_jobs(tmp_path):
    """measured.figures on jobs whose times are known: four done each second, none from 10 s to 14 s, one lost, one
    still running, one whose n was marked twice; and the POSTs refused, by why."""
    assert faults.FAULTS[0].steps[0] == (measured.FAULT_AT_S, "cut", "worker1"), "the fault at 10 s"
    assert faults.FAULTS[0].long_jobs_at == measured.FAULT_AT_S - 0.5, "the long jobs just before it"
    epoch, jobs = 1000.0, {}
    for second in range(measured.RUN_S):
        for k in range(4 if not 10 <= second < 15 else 0):
            jobs[f"{second}-{k}"] = {"status": "done", "done_at": epoch + second + 0.1 * k}
    jobs["lost"], jobs["late"] = {"status": "lost"}, {"status": "unfinished"}  # as the job driver's last look says
    for number, job in enumerate(jobs.values()):
        job["n"] = measured.N_JOB + number
    (tmp_path / "marks").write_text(f"{measured.N_JOB}\n{measured.N_JOB + 1}\n{measured.N_JOB}\n")
    health = {"p99": None, "p99_above": 4.2, "failed": 30, "count": 500, "timeout_s": 1.0}  # as HealthProbe says
    run = {"jobs": jobs, "refused": 4, "errors": {"HTTP 503": 1, "ClientConnectorError": 2}}  # one unanswered
    found = measured.figures(run, measured.Record(), epoch, tmp_path / "marks", health)
    assert (found["done"], found["lost"], found["unfinished"], found["ran_twice"]) == (len(jobs) - 2, 1, 1, 1)
    assert found["accepted"] == len(jobs)
    assert found["refused"] == {"503": 1, "ClientConnectorError": 2, "no answer": 1}
    shown = [found[key] for key in ("health_p99_ms", "health_p99_above_ms", "health_failed", "health_probes")]
    assert shown == [None, 1000.0, 30, 500], "the p99 among the failures: at least the timeout, not the largest answer"
    # 12 jobs in 3 s before; from 10 s: 0, 0, 0, 4 (13-15 s), 8 (14-16 s), 12 (15-17 s): the 3 s from 15 s on
    # are the first at that rate again, so it is back by their end, at 18 s: 8 s after the fault.
    assert found["back_after_s"] == 8 and found["lowest_share"] == 0


# SIGTERM only: cluster.interrupted turns it into Ctrl-C's KeyboardInterrupt, so Ctrl-C takes the same way out.
@pytest.mark.parametrize("signum", [signal.SIGTERM], ids=["SIGTERM"])
def test_make_cluster_stopped_mid_run_leaves_nothing(signum):
    env, find = marked_environment()
    suite = subprocess.Popen(
        [PYTHON, "-m", "harness.hosts.cluster", "--engines", "celery"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert suite.stdout.readline().startswith("[open 1/2] 6_async_celery"), "the first run started"
        time.sleep(8)  # its hosts are up, its servers and workers running
        assert [n for n in namespaces() if n.startswith(f"tbh{suite.pid}-")], "the hosts are there"
        suite.send_signal(signum)
        assert suite.wait(30) == 1
        assert "Interrupted: the hosts and every process on them were removed" in suite.stdout.read()
        left, running = [n for n in namespaces() if n.startswith(f"tbh{suite.pid}-")], named(find())
    finally:
        if suite.poll() is None:
            suite.kill()
            suite.wait()
        remove_leftovers()  # whatever the test found, it leaves nothing
    assert left == [], "every namespace removed"
    assert running == {}, "every process of the hosts stopped"
