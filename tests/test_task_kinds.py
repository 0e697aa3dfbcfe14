"""Task kinds under every strategy: each answer checked against the harness's own computation; what the kinds
change (threads run GIL-releasing C in parallel, not pure Python; the cooperative variant awaits waits); a user's
own function, run where the strategy runs tasks; bad --task values as one-line errors."""

import threading
import time

import pytest

import tasks
from harness.instruments import verify
from harness.instruments.measure import tree_cpu_seconds
from harness.network import request
from harness.server_process import ServerProcess
from harness.servers import BACKEND, GIL_ROWS, SERVERS, by_name
from processes import free_port

# The cpu kind, the default, is checked on every row by tests/test_http.py; pre-fork copies run a task as their
# single-process twin does (2_async, 8_fastapi's def endpoint), where their script has one (9_flask's has none).
# The db kind needs a PostgreSQL: tests/test_db.py starts one, and runs it once for each place tasks run.
KINDS = [kind for kind in tasks.KINDS if kind not in ("cpu", "db")]
SINGLE = {server.script for server in GIL_ROWS if server.runs_in != "copies"}
ROWS = [server for server in GIL_ROWS if server.runs_in != "copies" or server.script not in SINGLE]


@pytest.fixture(scope="module")
def backend():
    """backend.py on a free port, for the http kind; stopped after the module, nothing left."""
    process = ServerProcess(BACKEND, free_port()).start()
    try:
        assert process.wait_healthy(), process.output()
        yield f"http://127.0.0.1:{process.port}"
    finally:
        assert process.stop(), "backend.py left processes behind or its port busy"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("server", ROWS, ids=[s.name for s in ROWS])  # a free-threaded twin: the same
def test_every_kind_under_every_strategy(start_server, backend, server, kind):
    process = start_server(server, "--task", kind, "--backend", backend)
    task = tasks.Task(kind, backend)
    assert verify.problems(process.port, server.name, task) == []
    status, _, body = request(process.port, f"/?n={tasks.KINDS[kind].max_n + 1}")
    assert status == 400 and f"from 1 to {tasks.KINDS[kind].max_n} for the {kind} task" in body["error"]


def test_the_backend_holds_hundreds_of_delayed_answers_at_once(backend):
    port = int(backend.rsplit(":", 1)[1])
    answers, started = [], time.monotonic()
    threads = [threading.Thread(target=lambda: answers.append(request(port, "/?ms=500")[2])) for _ in range(300)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [{"ms": 500}] * 300
    assert time.monotonic() - started < 3, "300 waits of 0.5 s overlap: the backend is not the bottleneck"


def cores_busy(server, n):
    """The CPU seconds the server's processes used while two tasks of size n ran together, per second of wall time:
    about 2 if the two run in parallel (on two cores), about 1 if they take turns. A ratio of the server's own
    CPU time to the wall time, so a machine that runs slower now than a moment ago does not change it."""
    threads = [threading.Thread(target=request, args=(server.port, f"/?n={n}")) for _ in range(2)]
    cpu, started = tree_cpu_seconds(server.process.pid), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return (tree_cpu_seconds(server.process.pid) - cpu) / (time.monotonic() - started)


def most_cores_busy(server, n, attempts=3):
    """The largest of a few attempts: a busy neighbour (or the hypervisor) can only take CPU time away."""
    return max(cores_busy(server, n) for _ in range(attempts))


def test_threads_run_two_hash_tasks_in_parallel_but_not_two_cpu_tasks(start_server):
    hashing = start_server(by_name("3_async_threadexecutor"), "--task", "hash")
    computing = start_server(by_name("3_async_threadexecutor"), "--task", "cpu")
    cores = most_cores_busy(hashing, 8_000)  # ~0.4 s each
    assert cores > 1.5, f"hash: two together kept {cores:.2f} cores busy: they should run in parallel"
    cores = most_cores_busy(computing, 500_000)  # ~0.8 s each
    assert cores < 1.3, f"cpu: two together kept {cores:.2f} cores busy: the GIL should let one run at a time"


def test_subinterpreters_run_two_cpu_tasks_in_parallel_in_one_process(start_server):
    server = start_server(by_name("7_async_interpreterpool"), "--task", "cpu")
    cores = most_cores_busy(server, 500_000)
    assert cores > 1.5, f"cpu: two together kept {cores:.2f} cores busy: each interpreter has a GIL of its own"
    assert [p.pid for p in server.processes()] == [server.process.pid], "one process: interpreters are threads"


def test_threads_without_a_gil_run_two_cpu_tasks_in_parallel_in_one_process(start_server):
    """Server 3 unchanged on a free-threaded Python: what its twin with the GIL cannot (the test above)."""
    server = start_server(by_name("3_async_threadexecutor (free-threaded)"), "--task", "cpu")
    assert request(server.port, "/health")[2]["gil_enabled"] is False, "tornado and psutil keep the GIL off"
    cores = most_cores_busy(server, 500_000)
    assert cores > 1.6, f"cpu: two together kept {cores:.2f} cores busy: without a GIL two threads compute at once"
    assert [p.pid for p in server.processes()] == [server.process.pid], "one process: the pool's threads"


def test_a_module_that_refuses_subinterpreters_is_a_start_up_error(start_server, user_module):
    """psutil (a C extension of the old, single-phase kind) cannot be imported in a subinterpreter."""
    (user_module / "needs_psutil.py").write_text("import psutil\n\ndef count(n):\n    return n\n")
    server = start_server(by_name("7_async_interpreterpool"), "--task", "needs_psutil:count", healthy=False)
    assert server.process.wait(timeout=60) == 2
    lines = server.output().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "7_async_interpreterpool: cannot start its workers: --task needs_psutil:count: cannot import needs_psutil"
    ), lines
    assert "does not support loading in subinterpreters" in lines[0] and "Traceback" not in server.output()


def test_the_cooperative_variant_serves_health_while_25_waits_run(start_server):
    server = start_server(by_name("2_async --cooperative"), "--task", "sleep")
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(request(server.port, "/?n=1500"))) for _ in range(25)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    health_started = time.monotonic()
    assert request(server.port, "/health")[0] == 200
    assert time.monotonic() - health_started < 0.1
    for thread in threads:
        thread.join(30)
    assert [answer[0] for answer in answers] == [200] * 25
    assert time.monotonic() - started < 3, "25 waits of 1.5 s overlap on one thread"


@pytest.mark.parametrize(
    "name",
    [
        "1_sync",
        "3_async_threadexecutor",
        "4_async_processexecutor",
        "5_async_dask",
        "6_async_celery",
        "7_async_interpreterpool",
    ],
)
def test_a_users_function_runs_where_the_strategy_runs_tasks(start_server, user_module, name):
    server = start_server(by_name(name), "--task", "userjob:square")
    status, _, body = request(server.port, "/?n=12")
    assert status == 200 and body["task"] == "userjob:square" and body["result"]["square"] == 144
    assert body["pid"] == body["result"]["worker"], "the pid is the process that ran the function"
    if server.server.own_processes:
        assert body["pid"] != server.process.pid and body["pid"] in {p.pid for p in server.processes()}
    assert request(server.port, "/")[2]["n"] == 7, "the module's DEFAULT_N"


@pytest.mark.parametrize("name", [s.name for s in SERVERS if s.runs_in == "loop"])
def test_an_async_users_function_where_the_server_awaits_the_task(start_server, user_module, name):
    server = start_server(by_name(name), "--task", "userjob:square_async")
    assert request(server.port, "/?n=9")[2]["result"] == {"square": 81}


@pytest.mark.parametrize("name", ["1_sync", "4_async_processexecutor", "6_async_celery", "7_async_interpreterpool"])
def test_a_task_that_raises_is_a_json_500_and_the_server_goes_on(start_server, user_module, name):
    server = start_server(by_name(name), "--task", "userjob:explode")
    status, headers, body = request(server.port, "/?n=3")
    assert status == 500 and headers["Content-Type"].startswith("application/json")
    assert body["error"] == "the task raised RuntimeError: no good with 3"
    assert request(server.port, "/health")[0] == 200


@pytest.mark.parametrize(
    "name, task, says",
    [
        ("3_async_threadexecutor", "nosuchmodule:f", "cannot import nosuchmodule: ModuleNotFoundError"),
        ("3_async_threadexecutor", "userjob:nothing", "module userjob has no nothing"),
        ("3_async_threadexecutor", "userjob:not_callable", "userjob.not_callable is not callable"),
        ("3_async_threadexecutor", "userjob:square_async", "is an async def: only a server that awaits it can run it"),
        ("2_async --cooperative", "userjob:square", "--cooperative awaits the task: make it an async def"),
        ("8_fastapi --endpoint cooperative", "userjob:square", "--endpoint cooperative awaits the task"),
        ("1_sync", "gpu", "expected a kind (cpu, hash, sleep, http, db) or MODULE:FUNCTION"),
    ],
)
def test_a_bad_task_is_a_one_line_error(user_module, name, task, says):
    process = ServerProcess(by_name(name), free_port(), ("--task", task)).start()
    try:
        assert process.process.wait(timeout=30) == 2
        output = process.output().strip()
        assert len(output.splitlines()) == 1 and says in output, output
    finally:
        process.stop()


def test_over_a_thousand_query_arguments_get_a_json_400(start_server):
    server = start_server(by_name("3_async_threadexecutor"))
    status, headers, body = request(server.port, "/?" + "&".join(f"a{i}=1" for i in range(1001)))
    assert status == 400 and headers["Content-Type"].startswith("application/json")
    assert "unknown parameter 'a0'" in body["error"]


def test_a_task_its_workers_cannot_import_is_a_start_up_error_on_fastapi_too(start_server, user_module):
    """The pool's workers start in the app's lifespan: their failure is the suite's one line and status 2, not
    uvicorn's traceback ("Application startup failed") and status 3."""
    (user_module / "not_in_workers.py").write_text(
        "import multiprocessing\nif multiprocessing.parent_process():\n    raise ImportError('not in a worker')\n\n"
        "def count(n):\n    return n\n"
    )
    server = start_server(by_name("8_fastapi --endpoint process"), "--task", "not_in_workers:count", healthy=False)
    assert server.process.wait(timeout=60) == 2
    lines = [line for line in server.output().strip().splitlines() if "serving http" not in line]
    assert len(lines) == 1 and lines[0].startswith("8_fastapi: cannot start its workers:"), lines
    assert "Traceback" not in server.output()
