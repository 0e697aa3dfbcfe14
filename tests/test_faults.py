"""Faults injected for real: killed workers, clients that give up, overload, slow and malformed clients, signals
at awkward moments. Every server must survive them, answer what it accepted, and leave nothing behind."""

import json
import signal
import socket
import threading
import time

import psutil
import pytest
from conftest import cpu_used, responsive

from harness.experiments.soak import settled, tree_now
from harness.instruments.measure import client_connections, tree_cpu_seconds
from harness.instruments.verify import prime_count
from harness.network import HOST, request
from harness.server_process import ServerProcess
from harness.servers import GIL_ROWS, by_name
from processes import free_port, port_is_free

LONG_N = 600_000  # about 1 s
TORNADO = [s.name for s in GIL_ROWS if s.http_stack == "tornado"]
POOLS = [s.name for s in GIL_ROWS if s.takes_max_pending]
SCRIPTS = [s.name for s in GIL_ROWS if not s.args]  # one per script: a variant shares its script's plumbing


def in_parallel(port, path, count, timeout=60):
    """`count` requests at once; each answer's (status, headers, body), or the exception it raised."""
    answers = [None] * count

    def one(i):
        try:
            answers[i] = request(port, path, timeout=timeout)
        except Exception as error:  # noqa: BLE001 - reported to the test, which says what it expected
            answers[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def join(threads, timeout=90):
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a request hung"


def busy_worker(server, timeout=10):
    """A worker process of the server's tree that is computing now (its CPU time grows)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = {}
        for proc in server.processes():
            try:
                if proc.pid != server.process.pid:
                    before[proc] = proc.cpu_times().user
            except psutil.NoSuchProcess:
                pass  # the worker just killed, still listed as it goes
        time.sleep(0.2)
        for proc, user in before.items():
            try:
                if proc.cpu_times().user - user > 0.1:
                    return proc
            except psutil.NoSuchProcess:
                pass
    raise AssertionError("no worker is computing")


def live_worker_pids(server):
    return {p.pid for p in server.processes() if p.pid != server.process.pid}


# 8_fastapi --endpoint process is left out: its pool is server 4's (serving/pools.py ProcessPool), retries and all.
@pytest.mark.parametrize(
    "name", [s.name for s in GIL_ROWS if s.runs_in in ("processes", "cluster") and s.http_stack == "tornado"]
)
def test_a_worker_killed_mid_task(start_server, name):
    """Every task the dead worker held runs again (a broken process pool is replaced and retries; Dask gives the
    lost task to another worker), and the next requests are computed by live workers, not by the dead one."""
    server = start_server(by_name(name))
    threads, answers = in_parallel(server.port, f"/?n={LONG_N}", 6)
    victim = busy_worker(server)
    victim.kill()
    join(threads)
    assert [answer[0] for answer in answers] == [200] * 6, "every task the dead worker held is run again"
    assert all(answer[2]["result"] == prime_count(LONG_N) for answer in answers)
    for _ in range(3):  # Dask's nanny starts a new worker in its place; requests are served meanwhile
        status, _, body = request(server.port, "/?n=20000")
        assert (status, body["result"]) == (200, prime_count(20000))
        assert body["pid"] in live_worker_pids(server)
    assert victim.pid not in live_worker_pids(server)


def test_a_task_whose_worker_dies_twice_gets_503(start_server):
    server = start_server(by_name("4_async_processexecutor"), "--workers", "1")
    threads, answers = in_parallel(server.port, "/?n=2000000", 1)  # ~5 s: still running when killed
    first = busy_worker(server)
    first.kill()
    second = busy_worker(server)  # the retry, on the new pool's worker
    assert second.pid != first.pid
    second.kill()
    join(threads)
    status, headers, body = answers[0]
    assert status == 503 and headers["Retry-After"] == "1" and "worker process died" in body["error"]
    assert request(server.port, "/?n=100")[2]["result"] == 25, "and the next request is served"


@pytest.mark.parametrize("name", POOLS)
def test_max_pending_answers_503_at_once(start_server, name):
    server = start_server(by_name(name), "--max-pending", "2")
    long_ones = []
    for _ in range(2):  # sent in order from this thread, before anything else
        client = socket.create_connection((HOST, server.port), timeout=30)
        client.sendall(b"GET /?n=800000 HTTP/1.1\r\nHost: x\r\n\r\n")  # ~1.5 s each
        long_ones.append(client)
    deadline = time.monotonic() + 10
    while cpu_used(server, 0.2) < 0.1:  # the server has read them: they are running (or queued): 2 pending
        assert time.monotonic() < deadline, "the long tasks never started"
    for _ in range(5):
        started = time.monotonic()
        status, headers, body = request(server.port, "/?n=10")
        assert time.monotonic() - started < 1, "refused at once, not queued"
        assert status == 503 and headers["Retry-After"] == "1" and "2 tasks are pending" in body["error"]
    for client in long_ones:
        assert exchange(client=client).startswith(b"HTTP/1.1 200"), "the accepted ones are answered"
        client.close()
    assert request(server.port, "/?n=10")[0] == 200, "accepted again once the tasks are done"


def test_max_pending_must_be_positive():
    process = ServerProcess(by_name("3_async_threadexecutor"), free_port(), ("--max-pending", "0")).start()
    try:
        assert process.process.wait(timeout=30) == 2
        assert "--max-pending must be at least 1" in process.output()
    finally:
        process.stop()


# Tornado cancels in each strategy's own way; uvicorn cancels no endpoint, so one FastAPI row (its def endpoint)
# says it for 8_fastapi --endpoint process too.
@pytest.mark.parametrize(
    "name", [s.name for s in GIL_ROWS if responsive(s) and (s.drops_work_of_clients_gone or s.runs_in == "threads")]
)
def test_work_of_clients_that_gave_up_is_cancelled_by_tornado_not_by_fastapi(start_server, name):
    server = start_server(by_name(name))
    dropped = server.server.drops_work_of_clients_gone
    tasks_sent = 16 if dropped else 8  # tasks of ~1 s: ~16 (or 8) CPU s of work
    clients = []
    for _ in range(tasks_sent):
        client = socket.create_connection((HOST, server.port))
        client.sendall(f"GET /?n={LONG_N} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        clients.append(client)
    assert cpu_used(server, 0.5) > 0.3, "the tasks are running before the clients leave"
    before = tree_cpu_seconds(server.process.pid)
    for client in clients:
        client.close()
    # Tornado: what had already started finishes unanswered: the running tasks, and in a process pool its call
    # queue (workers + 1 tasks that cannot be cancelled); the rest is dropped. Then the tree goes idle.
    # FastAPI on uvicorn: nothing is cancelled; every task runs to its end, for nobody. uvicorn sees a client's
    # close on its event loop, which the def endpoint's computing threads starve of the GIL: the sockets of clients
    # that left may stay open (CLOSE_WAIT) while the work drains, the descriptors a soak once read "at rest".
    deadline = time.monotonic() + 20
    while cpu_used(server, 0.5) > 0.1:
        assert time.monotonic() < deadline, "the server still computes for clients that have gone"
    after_leaving = tree_cpu_seconds(server.process.pid) - before
    if dropped:
        assert after_leaving < 8, f"{after_leaving:.1f} CPU s after the clients left: at most 5 of 16 tasks may run"
    else:
        counted = request(server.port, "/stats")[2]["tasks"]
        assert counted == tasks_sent, f"{counted} of {tasks_sent} tasks ran to their end ({after_leaving:.1f} CPU s)"
    # Not leaked: once the work is done, every socket of a client that left is closed (within a few loop turns).
    deadline = time.monotonic() + 10
    while client_connections(server):
        assert time.monotonic() < deadline, f"{client_connections(server)} sockets of clients gone still open"
        time.sleep(0.2)
    assert request(server.port, "/?n=1000")[2]["result"] == 168


def test_sync_server_is_freed_from_a_stalled_client(start_server):
    server = start_server(by_name("1_sync"))
    staller = socket.create_connection((HOST, server.port))
    staller.sendall(b"GET /?n=10 HT")  # and nothing more
    started = time.monotonic()
    assert request(server.port, "/health", timeout=30)[0] == 200
    waited = time.monotonic() - started
    assert 3 < waited < 8, f"held for {waited:.1f} s: by the 5 s socket timeout, no longer"
    staller.close()


def test_tornado_servers_serve_others_while_a_client_stalls_and_drop_it_after_10_s(start_server):
    servers = [start_server(by_name(name)) for name in TORNADO]
    stallers = []
    for server in servers:
        staller = socket.create_connection((HOST, server.port), timeout=15)
        staller.sendall(b"GET /?n=10 HT")
        stallers.append(staller)
        started = time.monotonic()
        assert request(server.port, "/health")[0] == 200
        assert time.monotonic() - started < 1
    started = time.monotonic()
    for server, staller in zip(servers, stallers, strict=True):
        assert staller.recv(100) == b"", f"{server.server.name} closes the stalled connection"
        assert 8 < time.monotonic() - started < 13, "after the 10 s idle timeout"
        staller.close()


def exchange(port=None, raw=b"", timeout=5, client=None):
    """Send `raw` (on a new connection, or on `client`), read until the server closes or has answered in full; a
    hang longer than `timeout` fails the test."""
    client = client or socket.create_connection((HOST, port), timeout=timeout)
    reply = b""
    with client:
        try:
            client.sendall(raw)
        except OSError:
            pass  # it may hang up before reading it all; what it answered is still read below
        try:
            while chunk := client.recv(65536):
                reply += chunk
                head, _, body = reply.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(body) >= length[0]:
                    break
        except ConnectionResetError:
            pass
        except TimeoutError:
            raise AssertionError(f"no answer and no close within {timeout} s to {raw[:40]!r}") from None
    return reply


@pytest.mark.parametrize("name", SCRIPTS)
def test_malformed_requests_leave_the_server_serving(start_server, name):
    server = start_server(by_name(name))
    garbage = [
        b"\x00\xff\xfe garbage \x01\r\n\r\n",
        b"GET /?n=10 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /?n=1&" + b"x" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /?n=10 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        b"NOT-HTTP\r\n\r\n",
    ]
    for raw in garbage:
        reply = exchange(server.port, raw)
        if not reply:
            assert server.server.http_stack != "http.server", "http.server answers every malformed request"
            continue  # Tornado, gunicorn and Granian close a connection they cannot parse, answered or not
        assert reply.startswith(b"HTTP/1."), reply[:100]
        status = int(reply.split()[1])
        assert status < 500, reply[:200]
        head, _, body = reply.partition(b"\r\n\r\n")
        if server.server.http_stack == "http.server" or status == 200 or b"application/json" in head:
            assert b"application/json" in head
            assert json.loads(body), reply[:200]  # the JSON that the README promises
    status, _, body = request(server.port, "/?n=10")
    assert (status, body["result"]) == (200, 4)
    assert "Traceback" not in server.output()


@pytest.mark.parametrize("name", [s.name for s in GIL_ROWS if s.own_processes])
def test_sigterm_while_the_pool_starts(name):
    server = ServerProcess(by_name(name), free_port()).start()
    try:
        deadline = time.monotonic() + 30
        while len(server.processes()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the pool or cluster is starting
        server.send(signal.SIGTERM)
        assert server.leftovers(timeout=5) == []
        assert server.process.returncode == 0
        assert port_is_free(server.port)
    finally:
        server.stop()


def test_a_second_ctrl_c_during_the_shutdown_ends_it_at_once(start_server):
    server = start_server(by_name("4_async_processexecutor"))
    threads, _ = in_parallel(server.port, f"/?n={LONG_N}", 6)
    busy_worker(server)
    server.send(signal.SIGINT, group=True)
    deadline = time.monotonic() + 5
    while "SIGINT: stopping" not in server.output():  # the first is seen: the shutdown is under way
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.005)
    server.send(signal.SIGINT, group=True)
    assert server.leftovers(timeout=5) == []
    assert server.process.returncode == 0
    join(threads)


def forkserver_children(server):
    """The pool's workers: the forkserver's children (and the forkserver)."""
    forkserver = next(
        p for p in server.processes() if p.ppid() == server.process.pid and "forkserver" in " ".join(p.cmdline())
    )
    return forkserver, forkserver.children()


def test_a_worker_started_as_the_pool_breaks_is_not_left_behind(start_server):
    server = start_server(by_name("4_async_processexecutor"), "--workers", "2")
    forkserver, first_pool = forkserver_children(server)
    first_pool[0].kill()  # the pool breaks; a new one replaces it, whose workers start on demand
    deadline = time.monotonic() + 10
    while request(server.port, "/?n=10")[2]["pid"] in {p.pid for p in first_pool}:
        assert time.monotonic() < deadline, "the broken pool was never replaced"
    threads, answers = in_parallel(server.port, "/?n=2000000", 1)  # ~5 s on the new pool's only worker
    busy = busy_worker(server)
    forkserver.suspend()  # the next submit() must start a second worker: it waits for the forkserver...
    try:
        late, late_answers = in_parallel(server.port, "/?n=10", 1)
        time.sleep(0.5)
        busy.kill()  # ...while the pool breaks
        time.sleep(0.5)
    finally:
        forkserver.resume()  # now the second worker starts, after the pool broke
    join(threads + late)
    assert [a[0] for a in answers + late_answers] == [200, 200], "both retried on a new pool"
    time.sleep(1)
    _, workers = forkserver_children(server)
    assert len(workers) <= 2, f"{len(workers)} workers for a pool of 2: the broken pool left one behind"


def test_a_pool_whose_threads_could_not_start_is_made_again():
    """Server 7's start-up on Python 3.13: a subinterpreter created beside others fails now and then (CPython
    issues 128381, 131485) and breaks its pool; pools.start_workers makes the pool again. Here a thread pool whose
    initializer fails stands for it: the second pool is the one started."""
    import asyncio
    import types
    from concurrent.futures import ThreadPoolExecutor

    import tasks
    from serving import pools

    def fails():
        raise RuntimeError("Failed to import encodings module")

    args = types.SimpleNamespace(task=tasks.Task("cpu"), workers=2)
    broken, made = ThreadPoolExecutor(2, initializer=fails), []

    def remake():
        made.append(ThreadPoolExecutor(2))
        return made[-1]

    started = asyncio.run(pools.start_workers(broken, args, remake=remake))
    assert made and started is made[-1] and len(made) == 1
    started.shutdown()
    # Broken before its workers are asked (its first thread failed first): the submit itself refuses, at once.
    already = ThreadPoolExecutor(2, initializer=fails)
    with pytest.raises(Exception, match="initializer failed"):
        already.submit(int).result(10)
    started = asyncio.run(pools.start_workers(already, args, remake=remake))
    assert started is made[-1] and len(made) == 2
    started.shutdown()


def test_the_soaks_reading_before_the_load_waits_for_every_gunicorn_worker(start_server):
    # gunicorn answers /health from its first worker while it still forks the second: a reading then would say a
    # process appeared under the load.
    server = start_server(by_name("9_flask --worker-class gthread"), "--processes", "3")
    at_first = tree_now(server)[2]
    assert settled(server)[2] == 4, f"the arbiter and its 3 workers (at first {at_first})"
