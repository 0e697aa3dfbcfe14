"""What every server shares: the CPU-bound task, the HTTP interface, start-up and shutdown.

The numbered scripts import this module so that each of them shows one strategy and nothing else.
``python common.py`` times the task on this machine.
"""
import argparse
import asyncio
import http.server
import json
import logging
import os
import re
import signal
import statistics
import sys
import time
import traceback
from urllib.parse import parse_qs

import psutil
import tornado.web

# The task: count the primes below n by trial division. It is pure Python, so it holds the GIL the whole
# time: threads cannot run two of them at once, which is exactly what the strategies differ on.
DEFAULT_N = 140_000  # about 100 ms on a 2020s server core
MAX_N = 2_000_000  # about 5 s: one request stays under ~10 s even on a slow machine
SLICE = 2_000  # the cooperative variant yields to the IOLoop after each slice of this many numbers


def is_prime(k):
    if k < 2:
        return False
    if k % 2 == 0:
        return k == 2
    d = 3
    while d * d <= k:
        if k % d == 0:
            return False
        d += 2
    return True


def count_primes(lo, hi):
    """The number of primes p with lo <= p < hi."""
    return sum(1 for k in range(lo, hi) if is_prime(k))


def slices(n):
    """[0, n) cut into (lo, hi) slices: the sum of count_primes over them is count_primes(0, n)."""
    return [(lo, min(lo + SLICE, n)) for lo in range(0, n, SLICE)]


def answer(result, started):
    """The part of a response that the process which computed it fills in."""
    return {"result": result, "pid": os.getpid(), "task_ms": round((time.perf_counter() - started) * 1000, 3)}


def run_task(n):
    """Run the whole task here and now; module-level with a plain argument, so a process pool can run it."""
    started = time.perf_counter()
    return answer(count_primes(0, n), started)


# The HTTP interface: GET /?n=N runs the task, GET /health does not.
class BadRequest(ValueError):
    pass


def parse_n(query):
    """The task size asked for by a raw query string ('' -> DEFAULT_N); BadRequest says what is wrong."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"n"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r}: only n is accepted")
    values = params.get("n", [str(DEFAULT_N)])
    if len(values) > 1:
        raise BadRequest("n is given more than once")
    value = values[0]
    if value == "":
        raise BadRequest("n needs a value, e.g. ?n=1000")
    # A strict pattern: int() would also take ' 5', '1_000' and full-width digits.
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", value):
        raise BadRequest(f"n must be an integer, got {value[:40]!r}")
    n = int(value)
    if not 1 <= n <= MAX_N:
        raise BadRequest(f"n must be from 1 to {MAX_N}, got {value}")
    return n


def task_response(strategy, n, computed):
    return {"strategy": strategy, "n": n, **computed}


HEALTH = {"status": "ok"}


def method_not_allowed(method):
    return f"method {method[:20]} not allowed: use GET or HEAD"


class SyncHandler(http.server.BaseHTTPRequestHandler):
    """The same HTTP interface for http.server; a subclass sets `strategy` and defines compute(n) -> answer()."""

    timeout = 5  # seconds a client may stall while sending: one slow client holds a one-thread server this long

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/health":
            return self.send_json(200, HEALTH)
        if path != "/":
            return self.send_json(404, {"error": f"no such path: {path[:80]}"})
        try:
            n = parse_n(query)
        except BadRequest as error:
            return self.send_json(400, {"error": str(error)})
        self.send_json(200, task_response(self.strategy, n, self.compute(n)))

    do_HEAD = do_GET

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code, message=None, explain=None):
        # http.server's own errors (malformed request line, oversize header...) answer in JSON too, and with a
        # status line even when the request line was too garbled to say which HTTP version the client speaks.
        self.request_version = "HTTP/1.0" if self.request_version == "HTTP/0.9" else self.request_version
        self.close_connection = True
        self.send_json(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def __getattr__(self, name):
        # Every other method, even one HTTP does not know, gets 405 (http.server would say 501), as on Tornado.
        if name.startswith("do_"):
            return lambda: self.send_json(405, {"error": method_not_allowed(self.command)})
        raise AttributeError(name)

    def log_message(self, format, *args):
        pass  # no access log, as on the Tornado servers


class TaskHandler(tornado.web.RequestHandler):
    """GET / for every Tornado server; `compute` is the strategy: an async function n -> answer()."""

    def initialize(self, strategy, compute):
        self.strategy, self.compute = strategy, compute
        self.task = None

    async def get(self):
        try:
            n = parse_n(self.request.query)
        except BadRequest as error:
            raise tornado.web.HTTPError(400, reason="Bad Request", log_message=str(error)) from None
        self.task = asyncio.ensure_future(self.compute(n))
        try:
            self.write(task_response(self.strategy, n, await self.task))
        except asyncio.CancelledError:
            pass  # the client has gone (on_connection_close): nobody to answer

    def on_connection_close(self):
        # The client gave up: cancel its task. Work still queued is dropped (a pool's queue, a Dask task, the rest
        # of a cooperative task); what already runs in a thread or process finishes, unanswered.
        if self.task:
            self.task.cancel()

    head = get  # Tornado sends the headers only for HEAD

    def compute_etag(self):
        return None  # every answer is fresh

    def write_error(self, status_code, **kwargs):
        if status_code == 503:
            self.set_header("Retry-After", "1")
        error = kwargs.get("exc_info", (None, None))[1]
        if status_code == 405:
            message = method_not_allowed(self.request.method)
        else:
            message = getattr(error, "log_message", None) or self._reason
        self.finish({"error": message})

    def log_exception(self, typ, value, tb):
        if not isinstance(value, tornado.web.HTTPError):  # the client's mistakes are answered, not logged
            super().log_exception(typ, value, tb)


class HealthHandler(TaskHandler):
    async def get(self):
        self.write(HEALTH)

    head = get


class NotFoundHandler(TaskHandler):
    def prepare(self):
        raise tornado.web.HTTPError(404, log_message=f"no such path: {self.request.path[:80]}")


def make_app(strategy, compute):
    kwargs = {"strategy": strategy, "compute": compute}
    return tornado.web.Application(
        [(r"/", TaskHandler, kwargs), (r"/health", HealthHandler, kwargs)],
        default_handler_class=NotFoundHandler,
        default_handler_args=kwargs,
        log_function=lambda handler: None,  # no access log: it would cost more than some tasks
    )


# Start-up and shutdown.
def cpu_count():
    return len(os.sched_getaffinity(0))


def parse_args(doc, port, workers=False, options=None):
    """The command line every server shares (--host, --port, and --workers for the pools), plus `options`:
    {"--flag": argparse keyword arguments} of the server's own."""
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=port, help="port to listen on (default %(default)s)")
    if workers:
        parser.add_argument("--workers", type=int, default=cpu_count(), help="pool size (default: CPUs, %(default)s)")
        parser.add_argument("--max-pending", type=int, metavar="N",
                            help="answer 503 at once while N tasks are already running or queued (default: no limit)")
    for flag, kwargs in (options or {}).items():
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args()
    if workers and args.workers < 1:
        parser.error("--workers must be at least 1")
    if workers and args.max_pending is not None and args.max_pending < 1:
        parser.error("--max-pending must be at least 1")
    return args


def fail(message):
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(1)


def announce(strategy, args, settings):
    print(f"{strategy}: serving http://{args.host}:{args.port}/ (n={DEFAULT_N} by default; {settings})", flush=True)


def serve_sync(server_class, handler_class, args, settings):
    """Serve http.server requests until SIGINT or SIGTERM."""
    try:
        server = server_class((args.host, args.port), handler_class)
    except OSError as error:
        fail(f"{handler_class.strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")
    with server:
        announce(handler_class.strategy, args, settings)
        server.serve_forever()


def limit_pending(compute, max_pending):
    """compute(), but answering 503 at once instead of queuing while max_pending tasks are unfinished."""
    pending = 0

    async def limited(n):
        nonlocal pending
        if pending >= max_pending:
            raise tornado.web.HTTPError(503, log_message=f"{pending} tasks are pending already: try again later")
        pending += 1
        try:
            return await compute(n)
        finally:
            pending -= 1

    return limited


async def serve(strategy, compute, args, settings):
    """Serve the Tornado application until SIGINT or SIGTERM."""
    if getattr(args, "max_pending", None):
        compute = limit_pending(compute, args.max_pending)
        settings += f", at most {args.max_pending} pending"
    try:
        # A client that stalls while sending its request (or idles between requests) is dropped after 10 s.
        make_app(strategy, compute).listen(args.port, args.host, idle_connection_timeout=10, body_timeout=10)
    except OSError as error:
        fail(f"{strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")
    announce(strategy, args, settings)
    await asyncio.Event().wait()


def ignore_sigint():
    """Pool worker initializer: Ctrl-C reaches the whole process group, and only the server should act on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def interrupt_once(signum, frame):
    # Raised in the main thread even while it runs a task, so a blocked loop stops too. Further signals are
    # ignored: a second Ctrl-C must not cut the clean-up short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def stop_children(timeout=1):
    """Stop every process this one started (pool workers, forkserver...), by pid: SIGTERM, then SIGKILL. A few
    rounds, for a worker that a pool was starting in another thread just then."""
    for _ in range(3):
        children = psutil.Process().children(recursive=True)
        if not children:
            return
        for child in children:
            try:
                child.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(children, timeout=timeout)
        for child in alive:
            child.kill()
        psutil.wait_procs(alive, timeout=timeout)


def run(main):
    """Run a server's main() (sync or async) until SIGINT or SIGTERM, then stop every process it started.

    Nothing is drained: queued tasks are dropped, pool workers are stopped by pid, and the process exits at
    once without running the loop again or waiting for a thread still inside a task (its answer has nobody left
    to go to). Exit status 0 after a signal, 1 after a start-up error.
    """
    signal.signal(signal.SIGINT, interrupt_once)
    signal.signal(signal.SIGTERM, interrupt_once)
    status = 0
    try:
        if asyncio.iscoroutinefunction(main):
            asyncio.new_event_loop().run_until_complete(main())
        else:
            main()
    except KeyboardInterrupt:
        pass
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        logging.disable()  # what pool threads say about the workers stopped now is noise
        stop_children()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def time_task(n=DEFAULT_N, runs=5):
    """The median time in seconds of one task of size n, run here."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        count_primes(0, n)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


if __name__ == "__main__":
    print(f"n={DEFAULT_N} result={count_primes(0, DEFAULT_N)} median of 5 runs: {time_task() * 1000:.1f} ms")
