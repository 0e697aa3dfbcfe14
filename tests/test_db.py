"""The db task kind on a PostgreSQL of the suite's own (harness/postgres.py), started for real: the query's answer
checked wherever a strategy runs its tasks, SQLAlchemy's default pool seen capping the queries at once from
PostgreSQL's side, a wrong --database as one line, and run_all.py starting and removing its own cluster."""

import json
import re
import threading
import time

import psycopg
import pytest
from conftest import marked_environment, named, run_all

import tasks
from harness.experiments import db_faults
from harness.instruments import verify
from harness.interpreters import lacks
from harness.network import request
from harness.postgres import Postgres, missing
from harness.server_process import ServerProcess
from harness.servers import GIL_ROWS, by_name
from processes import free_port

pytestmark = pytest.mark.skipif(missing() is not None, reason=f"PostgreSQL: {missing()}")
DB = tasks.KINDS["db"]
# One row for each place a strategy runs its tasks (harness/servers.py runs_in): where the task, and the database's
# URL with it, crosses to (threads, worker processes, Dask's and Celery's workers) and is run sync or awaited.
PLACES = list(
    {server.runs_in: server for server in reversed(GIL_ROWS) if not lacks(server.python, DB.needs_modules)}.values()
)


@pytest.fixture(scope="module")
def database():
    cluster = Postgres(max_connections=60)
    url = cluster.start()
    try:
        yield url
    finally:
        cluster.stop()


@pytest.mark.parametrize("server", PLACES, ids=[server.runs_in for server in PLACES])
def test_the_db_kind_answers_wherever_a_strategy_runs_its_tasks(start_server, database, server):
    process = start_server(server, "--task", "db", "--database", database)
    task = tasks.Task("db", database=database)
    assert verify.problems(process.port, server.name, task) == []
    status, _, body = request(process.port, f"/?n={DB.max_n + 1}")
    assert status == 400 and f"from 1 to {DB.max_n} for the db task" in body["error"]


def most_queries_at_once(url, port, users, ms=1000):
    """The most queries of the db task that PostgreSQL ran at once while `users` requests of `ms` were in flight
    (after as many once before, so that the connections a pool keeps are open)."""
    seen, answers = [], []

    def ask():
        answers.append(request(port, f"/?n={ms}")[0])

    for measured in (False, True):
        threads = [threading.Thread(target=ask) for _ in range(users)]
        with psycopg.connect(url, autocommit=True) as watcher:
            for thread in threads:
                thread.start()
            while measured and any(thread.is_alive() for thread in threads):
                (running,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%' "
                    "AND pid <> pg_backend_pid()"
                ).fetchone()
                seen.append(running)
                time.sleep(0.02)
            for thread in threads:
                thread.join(30)
    assert answers == [200] * 2 * users, "every query answered, none waited past the pool's timeout"
    return max(seen)


def test_celerys_worker_processes_each_connect_before_the_first_request(start_server, database):
    # Else each of them imports SQLAlchemy and sets up its engine on its first task, in the middle of the load.
    start_server(by_name("6_async_celery"), "--task", "db", "--database", database, "--workers", "3")
    deadline, connected = time.monotonic() + 20, None
    with psycopg.connect(database, autocommit=True) as watcher:
        while connected != 3 and time.monotonic() < deadline:
            (connected,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()
            time.sleep(0.1)
    assert connected == 3, "one connection in each of the worker's 3 processes, no request sent"


@pytest.mark.parametrize(
    "name, options",
    [
        ("3_async_threadexecutor", ("--workers", "25")),
        ("2_async --cooperative", ()),
        ("9_flask --worker-class gevent", ("--processes", "1")),  # its driver waits on the hub, as time.sleep does
    ],
    ids=["threads", "loop", "greenlets"],
)
def test_sqlalchemys_default_pool_runs_15_queries_at_once_and_a_sized_one_all(start_server, database, name, options):
    default = start_server(by_name(name), "--task", "db", "--database", database, *options)
    assert most_queries_at_once(database, default.port, 25) == 15, "5 connections, and 10 more on overflow"
    sized = start_server(by_name(name), "--task", "db", "--database", database, "--db-pool", "25", *options)
    assert most_queries_at_once(database, sized.port, 25) == 25


@pytest.mark.parametrize(
    "options, says",
    [
        ((), "--task db needs --database URL"),
        (
            ("--database", "mysql://nobody:secret@127.0.0.1/x"),
            "'mysql://nobody:***@127.0.0.1/x': expected postgresql://",
        ),
        (("--database", "postgresql://nobody:secret@[::1/x"), "'postgresql://nobody:***@[::1/x' (Invalid IPv6 URL)"),
        (("--database", "postgresql://bench@127.0.0.1:{free}/postgres"), "cannot query it: connection failed"),
        (("--database", "{url}", "--db-pool", "0"), "--db-pool must be at least 1"),
    ],
)
def test_a_database_that_cannot_be_used_is_a_one_line_error(database, options, says):
    given = [option.format(free=free_port(), url=database) for option in options]
    process = ServerProcess(by_name("3_async_threadexecutor"), free_port(), ("--task", "db", *given)).start()
    try:
        assert process.process.wait(timeout=30) == 2
        output = process.output().strip()
        assert len(output.splitlines()) == 1 and says in output and "secret" not in output, output
    finally:
        process.stop()


def test_the_suite_starts_its_own_postgresql_for_the_db_kind_and_leaves_nothing(tmp_path):
    env, find = marked_environment()
    run = run_all(
        "--tasks",
        "db",
        "--servers",
        "2_async --cooperative",  # no pool of threads to size: the default pool, then the pool sized for 25 users
        "--quick",
        "--duration",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--port-offset",
        "25000",
        timeout=180,
        env=env,
    )
    assert named(find()) == {}, "no PostgreSQL process, no server left"
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PostgreSQL for the db task: postgresql://" in run.stdout
    (out_dir,) = (tmp_path / "out").iterdir()
    runs = json.loads((out_dir / "results.json").read_text())["runs"]
    assert sorted(run["server"] for run in runs) == ["2_async --cooperative", "2_async --cooperative --db-pool 25"]
    for result in runs:
        assert result["verified"] and result["measured"] and result["clean_shutdown"], result.get("error")
    url = re.search(r"PostgreSQL for the db task: (\S+)", run.stdout).group(1)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()


def test_the_suite_says_in_a_line_when_the_given_database_does_not_answer(tmp_path):
    given = f"postgresql://bench@127.0.0.1:{free_port()}/postgres"
    run = run_all("--tasks", "db", "--servers", "3", "--database", given, "--out", str(tmp_path), timeout=60)
    assert run.returncode == 2 and f"--database {given}: cannot query it" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not any(tmp_path.iterdir()), "nothing measured, nothing saved"


def test_rows_sharing_one_pool_run_again_with_it_sized_and_rows_without_the_driver_are_left_out(capsys):
    import run_all as suite

    args = suite.parse_args(["--tasks", "db", "--servers", "1,2,3,4,7", "--database", "postgresql://x@127.0.0.1/y"])
    env = {"cpu_count": 2, "tasks": {"db": {"t1_s": 0.1, "waits": True}}}
    labels = [server.label for _, server, _ in suite.plan(args, env)]
    assert "3_async_threadexecutor --workers 25 --db-pool 25" in labels, "threads sized, then their connections"
    assert "2_async --cooperative --db-pool 25" in labels, "the loop's coroutines share one pool too"
    assert "4_async_processexecutor --workers 25" in labels
    assert not any("--db-pool" in label for label in labels if label.startswith(("1_", "4_", "2_async --processes")))
    interpreters = by_name("7_async_interpreterpool")
    if not interpreters.missing and lacks(interpreters.python, DB.needs_modules):
        assert not any(label.startswith("7_") for label in labels)
        assert "left out of the db task: 7_async_interpreterpool: its Python lacks" in capsys.readouterr().err


def test_past_max_connections_a_query_is_a_json_500_at_once_and_the_server_goes_on(start_server):
    """More connections than PostgreSQL's max_connections (pre-forked copies or workers, each with a pool of its
    own, add up to it): the queries over it fail at once with PostgreSQL's reason, counted as errors, no hang."""
    with Postgres(max_connections=4) as url:
        server = start_server(by_name("3_async_threadexecutor"), "--task", "db", "--database", url, "--workers", "8")
        answers = []
        threads = [
            threading.Thread(target=lambda: answers.append(request(server.port, "/?n=1500", timeout=10)))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        statuses = sorted(status for status, _, _ in answers)
        assert len(answers) == 8 and statuses[0] == 200 and statuses[-1] == 500, statuses
        refused = [body["error"] for status, _, body in answers if status == 500]
        assert all("too many clients" in error and "\n" not in error for error in refused), refused
        assert request(server.port, "/health")[0] == 200


@pytest.mark.parametrize("name", ["3_async_threadexecutor", "2_async --cooperative"], ids=["threads", "loop"])
def test_a_database_restarted_under_load_fails_requests_while_it_is_down_and_none_hangs(name):
    """make db-faults's restart, on a cluster of its own: PostgreSQL shut down fast mid-run and started again."""
    cluster = Postgres()
    cluster.start()
    try:
        row = db_faults.under_restart(db_faults.sized(by_name(name)), cluster, threading.Event())
    finally:
        cluster.stop()
    assert "error" not in row, row
    assert row["failed_down"] > 0 and row["failed_before"] == 0, "requests fail from the fault on, none before"
    assert set(row["errors"]) == {"HTTP 500"}, "answered by the server, which went on: no reset, no refusal"
    assert row["failing_for_s"] < 1, "queries succeed again within a second of PostgreSQL taking connections"
    assert not row["unanswered"] and row["longest_ms"] < 5000, "no request hangs"
    assert row["answered"] >= db_faults.RATE * (db_faults.RUN_S - db_faults.DOWN_S - 1), "the rest answered"


def test_the_restart_tables_figures_from_known_failures():
    failures = [[0.5, 0.01], [3.98, 0.05], [4.2, 0.02], [5.9, 0.01], [6.4, 0.3]]  # [due second, wait]
    run = {"ok": 400, "failures": failures, "longest_wait_ms": 300.0}
    row = db_faults.restart_figures(run, start=100.0, fault_at=104.0, up_at=106.0)
    assert (row["failed_before"], row["failed_down"], row["failed_after"]) == (1, 3, 1), "in flight at it: down"
    assert row["failing_for_s"] == pytest.approx(0.4) and row["down_s"] == 2.0 and row["longest_ms"] == 300.0
    assert db_faults.restart_figures({"ok": 1}, 0.0, 1.0, 2.0)["failing_for_s"] == 0.0, "none after: 0"
