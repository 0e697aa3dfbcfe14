"""The HTTP interface, identical on every server: right answers, /health, and clear errors for bad input."""

import http.client
import socket
import threading

import pytest

import tasks
from harness.instruments.verify import prime_count
from harness.network import HOST, request
from tests.conftest import responsive, wait_for

CPU = tasks.KINDS["cpu"]


@pytest.mark.parametrize("n", [1, 2, 3, 10, 1000, 10_000, 54_321])
def test_result_is_the_prime_count(running, n):
    status, headers, body = request(running.port, f"/?n={n}")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body["strategy"] == running.server.name
    assert body["task"] == "cpu"
    assert body["n"] == n
    assert body["result"] == prime_count(n)
    assert body["task_ms"] > 0


def test_default_size(running):
    status, _, body = request(running.port, "/")
    assert (status, body["n"], body["result"]) == (200, CPU.default_n, prime_count(CPU.default_n))


def test_known_values(running):
    assert request(running.port, "/?n=10000")[2]["result"] == 1229
    assert request(running.port, "/?n=100000")[2]["result"] == 9592


def test_pid_says_where_the_task_ran(running):
    pid = request(running.port, "/?n=100")[2]["pid"]
    if running.server.own_processes:
        assert pid != running.process.pid
        assert pid in {p.pid for p in running.processes()}, "computed by a worker of the server's own pool"
    else:
        assert pid == running.process.pid


def test_health(running):
    """/health answers, and says whether the server's Python runs with a GIL: only a free-threaded row without."""
    gil = not running.server.free_threaded
    assert request(running.port, "/health")[:3:2] == (200, {"status": "ok", "gil_enabled": gil})


@pytest.mark.parametrize(
    "query, says",
    [
        ("n", "needs a value"),
        ("n=", "needs a value"),
        ("n=abc", "integer"),
        ("n=1.5", "integer"),
        ("n=0", "from 1 to"),
        ("n=-7", "from 1 to"),
        (f"n={CPU.max_n + 1}", f"from 1 to {CPU.max_n} for the cpu task"),
        ("n=1&n=2", "more than once"),
        ("m=5", "unknown parameter"),
    ],
)
def test_bad_n_is_400_with_a_message(running, query, says):
    status, headers, body = request(running.port, f"/?{query}")
    assert status == 400
    assert headers["Content-Type"].startswith("application/json")
    assert says in body["error"]
    assert request(running.port, "/health")[0] == 200, "the server survives it"


def test_unknown_path_is_404(running):
    status, _, body = request(running.port, "/nope")
    assert status == 404 and "/nope" in body["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "BREW"])
def test_other_methods_are_405(running, method):
    status, _, body = request(running.port, "/", method=method)
    assert status == 405 and method in body["error"]


def raw_answer(port, method, path):
    """The bytes a server sends for one request, read from the socket until it closes: http.client never reads
    a HEAD answer's body, so it could not see one."""
    with socket.create_connection((HOST, port), timeout=10) as client:
        client.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := client.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    fields = (line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    headers = {name.lower(): value for name, value in fields}  # uvicorn sends them in lower case
    return head.split(b" ")[1], headers, body


@pytest.mark.parametrize("path", ["/health", "/?n=100"])
def test_head_is_get_without_a_body(running, path):
    status, headers, body = raw_answer(running.port, "HEAD", path)
    get_status, get_headers, get_body = raw_answer(running.port, "GET", path)
    assert (status, get_status) == (b"200", b"200")
    assert body == b"", "nothing after the headers"
    assert headers["content-type"] == get_headers["content-type"]
    assert int(get_headers["content-length"]) == len(get_body)
    # The same answer but for task_ms and task_cpu_ms, whose digits vary from one run of the task to the next.
    assert abs(int(headers["content-length"]) - len(get_body)) <= (0 if path == "/health" else 8)


def test_stats_count_every_task_run_whichever_process_answers(running):
    """GET /stats: running totals of the tasks run, their wall and CPU seconds; on pre-fork copies, all of them."""
    before = request(running.port, "/stats")[2]
    answers = [request(running.port, "/?n=20000")[2] for _ in range(6)]
    after = request(running.port, "/stats")[2]
    assert after["tasks"] - before["tasks"] == 6
    wall = after["task_s"] - before["task_s"]
    cpu = after["task_cpu_s"] - before["task_cpu_s"]
    assert wall == pytest.approx(sum(a["task_ms"] for a in answers) / 1000, abs=1e-3)
    assert cpu == pytest.approx(sum(a["task_cpu_ms"] for a in answers) / 1000, abs=1e-3)
    assert 0 < cpu <= wall * 1.05, "a thread's CPU time, at most its wall time"


def test_no_traceback_in_the_log(running):
    # The status alone: gunicorn answers a request line over 4094 bytes itself, 414 in HTML (docs/wsgi.rst).
    for query in ("n=%00", "n=%ff%fe", "n=" + "9" * 10_000, "n=1e3", "n=0x10", "n=%205", "n=%EF%BC%95"):
        connection = http.client.HTTPConnection(HOST, running.port, timeout=30)
        connection.request("GET", f"/?{query}")
        assert connection.getresponse().status in (400, 414), query[:20]
        connection.close()
    assert "Traceback" not in running.output()


def test_stats_say_how_many_tasks_are_in_progress(running):
    """GET /stats's in_progress: a task running or waiting for a worker, where the server answers meanwhile; none
    once every task has its answer (the soak reads a server "at rest" from it)."""
    assert request(running.port, "/stats")[2]["in_progress"] == 0
    busy = threading.Thread(target=request, args=(running.port, "/?n=1000000"))
    busy.start()
    if responsive(running.server):
        assert wait_for(lambda: request(running.port, "/stats", timeout=5)[2]["in_progress"] == 1, 10)
    busy.join()
    assert request(running.port, "/stats")[2]["in_progress"] == 0
