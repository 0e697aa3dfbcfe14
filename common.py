"""What every server shares: the HTTP interface, the command line, start-up and shutdown (the tasks are in
tasks.py).

The numbered scripts import this module so that each of them shows one strategy and nothing else.
"""
import argparse
import asyncio
import collections
import ctypes
import http.server
import json
import logging
import os
import random
import re
import select
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs

import psutil
import tornado.web
from tornado import httputil

import tasks
from serving.cli import OneLineParser, parse_args  # noqa: F401
from processes import (STOP_SIGNALS, bind_error, cpu_count, cpu_quota, descendants, die_with_parent,  # noqa: F401
                       forget_stop_signals, free_port, ignore_sigint, kill_all, live_descendants, on_stop_signals,
                       port_is_free, script_name, stop_children)

# The HTTP interface: GET /?n=N runs the task, GET /health does not.
class BadRequest(ValueError):
    pass


def parse_n(query, kind=tasks.KINDS["cpu"]):
    """The task size asked for by a raw query string ('' -> the kind's default); BadRequest says what is wrong."""
    params = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"n"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0][:40]!r}: only n is accepted")
    values = params.get("n", [str(kind.default_n)])
    if len(values) > 1:
        raise BadRequest("n is given more than once")
    value = values[0]
    if value == "":
        raise BadRequest("n needs a value, e.g. ?n=1000")
    # A strict pattern: int() would also take ' 5', '1_000' and full-width digits.
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", value):
        raise BadRequest(f"n must be an integer, got {value[:40]!r}")
    n = int(value)
    if not 1 <= n <= kind.max_n:
        raise BadRequest(f"n must be from 1 to {kind.max_n} for the {kind.name} task, got {value}")
    return n


def task_response(strategy, task, n, computed):
    return {"strategy": strategy, "task": task.kind, "n": n, **computed}


HEALTH = {"status": "ok"}


def method_not_allowed(method, allowed="GET or HEAD"):
    return f"method {method[:20]} not allowed: use {allowed}"


class SyncHandler(http.server.BaseHTTPRequestHandler):
    """The same HTTP interface for http.server; a subclass sets `strategy` and defines compute(n) -> answer().
    serve_sync sets `task` and `kind`."""

    timeout = 5  # seconds a client may stall while sending: one slow client holds a one-thread server this long

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/health":
            return self.send_json(200, HEALTH)
        if path == "/jobs" or path.startswith("/jobs/"):
            return self.send_json(404, {"error": no_jobs(self.strategy)})
        if path != "/":
            return self.send_json(404, {"error": f"no such path: {path[:80]}"})
        try:
            n = parse_n(query, self.kind)
        except BadRequest as error:
            return self.send_json(400, {"error": str(error)})
        try:
            computed = self.compute(n)
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            return self.send_json(500, {"error": f"the task raised {type(error).__name__}: {error}"})
        self.send_json(200, task_response(self.strategy, self.task, n, computed))

    do_HEAD = do_GET

    def do_POST(self):
        if self.path.partition("?")[0] == "/jobs":
            return self.send_json(405, {"error": no_jobs(self.strategy)})
        self.send_json(405, {"error": method_not_allowed(self.command)})

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

    allowed = "GET or HEAD"  # what a 405 says

    def initialize(self, strategy, task, kind, compute):
        self.strategy, self.task, self.kind, self.compute = strategy, task, kind, compute
        self.running = None

    async def get(self):
        try:
            n = parse_n(self.request.query, self.kind)
        except BadRequest as error:
            raise tornado.web.HTTPError(400, reason="Bad Request", log_message=str(error)) from None
        self.running = asyncio.ensure_future(self.compute(n))
        try:
            computed = await self.running
        except asyncio.CancelledError:
            return  # the client has gone (on_connection_close): nobody to answer
        except tornado.web.HTTPError:
            raise
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            raise tornado.web.HTTPError(500, log_message=f"the task raised {type(error).__name__}: {error}") from None
        self.write(task_response(self.strategy, self.task, n, computed))

    def on_connection_close(self):
        # The client gave up: cancel its task. Work still queued is dropped (a pool's queue, a Dask task, the rest
        # of a cooperative task); what already runs in a thread or process finishes, unanswered.
        if self.running:
            self.running.cancel()

    head = get  # Tornado sends the headers only for HEAD

    def compute_etag(self):
        return None  # every answer is fresh

    def write_error(self, status_code, **kwargs):
        if status_code == 503:
            self.set_header("Retry-After", "1")
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None)
        if status_code == 405 and not message:
            message = method_not_allowed(self.request.method, self.allowed)
        message = message or self._reason
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


# Background jobs: POST /jobs?n=N answers 202 at once with the job's id; GET /jobs/<id> says how it is doing.
def no_jobs(strategy):
    return f"{strategy} runs no background jobs: it has no workers to hand them to (servers 3 to 7 do)"


class JobsHandler(TaskHandler):
    """POST /jobs?n=N: queue a job, answer 202 with where to ask for it; GET /jobs: how many jobs are in each
    state now. `jobs` is None on a server that cannot run them."""

    allowed = "POST (or GET for the counts)"

    def initialize(self, jobs, **kwargs):
        super().initialize(**kwargs)
        self.jobs = jobs

    def prepare(self):
        if self.jobs is None:
            status = 405 if self.request.method == "POST" else 404
            raise tornado.web.HTTPError(status, log_message=no_jobs(self.strategy))

    async def post(self):
        try:
            n = parse_n(self.request.query, self.kind)
        except BadRequest as error:
            raise tornado.web.HTTPError(400, reason="Bad Request", log_message=str(error)) from None
        job_id = await self.jobs.submit(n)
        self.set_status(202)
        self.set_header("Location", f"/jobs/{job_id}")
        self.write({"id": job_id, "status": "queued", "url": f"/jobs/{job_id}"})

    async def get(self):
        self.write(await self.jobs.counts())

    head = get


class JobHandler(JobsHandler):
    """GET /jobs/<id>: the job's status, and once done its answer, as GET / would have given it."""

    async def get(self, job_id):
        job = await self.jobs.get(job_id)
        if job is None:
            raise tornado.web.HTTPError(404, log_message=f"no such job: {job_id[:80]} (or it finished over "
                                                         f"{self.jobs.ttl_s:g} s ago and was forgotten)")
        if "result" in job:
            job = {**task_response(self.strategy, self.task, job["n"], job), **job}
        self.write(job)

    head = get
    allowed = "GET or HEAD"

    async def post(self, job_id):
        raise tornado.web.HTTPError(405)


class MemoryJobs:
    """Jobs kept in the server's own memory, run `slots` at a time through the strategy's compute. At most
    `limit` unfinished ones (beyond: 503, none queued), each finished one forgotten `ttl_s` after it ended, and
    every one lost if the server stops: nothing outside this process knows of them."""

    def __init__(self, compute, slots, limit=None, ttl_s=300):
        self.compute, self.slots, self.limit, self.ttl_s = compute, asyncio.Semaphore(slots), limit, ttl_s
        self.jobs, self.expiry, self.running = {}, collections.deque(), set()  # expiry: (when, id), oldest first

    async def submit(self, n):
        unfinished = len(self.jobs) - len(self.expiry)
        if self.limit and unfinished >= self.limit:
            raise tornado.web.HTTPError(503, log_message=f"{unfinished} jobs are unfinished already: try again later")
        job = {"id": uuid.uuid4().hex, "status": "queued", "n": n}
        self.jobs[job["id"]] = job
        runner = asyncio.ensure_future(self.run(job))
        self.running.add(runner)  # a reference, or the loop may drop it
        runner.add_done_callback(self.running.discard)
        return job["id"]

    async def run(self, job):
        async with self.slots:
            job["status"] = "running"
            try:
                job.update(await self.compute(job["n"]), status="done")
            except Exception as error:  # noqa: BLE001 - the job says why
                job.update(status="failed", error=f"{type(error).__name__}: {getattr(error, 'log_message', error)}")
        job["done_at"] = round(time.time(), 4)  # epoch seconds, as Celery's date_done
        self.expiry.append((time.monotonic() + self.ttl_s, job["id"]))

    def expire(self):
        while self.expiry and self.expiry[0][0] < time.monotonic():
            self.jobs.pop(self.expiry.popleft()[1], None)

    async def get(self, job_id):
        self.expire()
        return self.jobs.get(job_id)

    async def counts(self):
        self.expire()
        found = collections.Counter(job["status"] for job in self.jobs.values())
        return {status: found[status] for status in ("queued", "running", "done", "failed")}


def make_app(strategy, task, compute, jobs=None):
    kwargs = {"strategy": strategy, "task": task, "kind": task.spec(), "compute": compute}
    return tornado.web.Application(
        [(r"/", TaskHandler, kwargs), (r"/health", HealthHandler, kwargs),
         (r"/jobs", JobsHandler, {**kwargs, "jobs": jobs}), (r"/jobs/([^/]+)", JobHandler, {**kwargs, "jobs": jobs})],
        default_handler_class=NotFoundHandler,
        default_handler_args=kwargs,
        log_function=lambda handler: None,  # no access log: it would cost more than some tasks
    )


# Start-up and shutdown.

def fail(message, status=1):
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(status)


def announce(strategy, args, settings):
    kind = args.task.spec()
    print(f"{strategy}: serving http://{args.host}:{args.port}/ (task {kind.name}, n={kind.default_n} by default; "
          f"{settings})", flush=True)


def serve_sync(server_class, handler_class, args, settings):
    """Serve http.server requests until SIGINT or SIGTERM."""
    handler_class.task, handler_class.kind = args.task, args.task.spec()
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


async def serve(strategy, compute, args, settings, background=None, jobs=None):
    """Serve the Tornado application until SIGINT or SIGTERM. With `background`, POST /jobs runs jobs in memory
    that many at a time (or hands them to `jobs`, a store of their own such as Celery's)."""
    # Tornado answers a query of over 1 000 arguments with a bare 400, before any handler runs. The query is bounded
    # by the 64 kB header limit anyway (at most ~16 000 fields, parsed in milliseconds): let parse_n say, in JSON.
    httputil.set_parse_body_config(httputil.ParseBodyConfig(urlencoded=httputil.ParseUrlEncodedConfig(100_000)))
    if background:
        jobs = MemoryJobs(compute, background, args.max_pending, args.job_ttl)
        settings += f", background jobs in memory ({background} at a time)"
    if getattr(args, "max_pending", None):
        compute = limit_pending(compute, args.max_pending)
        settings += f", at most {args.max_pending} pending"
    copy_of = getattr(args, "copy_of", None)
    if getattr(args, "processes", 0):
        strategy += " --processes"
        if not copy_of:
            return await run_copies(strategy, args, settings)
        exit_with_parent(copy_of)
    try:
        # A client that stalls while sending its request (or idles between requests) is dropped after 10 s.
        make_app(strategy, args.task, compute, jobs).listen(args.port, args.host, idle_connection_timeout=10,
                                                            body_timeout=10, reuse_port=bool(copy_of))
    except OSError as error:
        fail(f"{strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")
    if not copy_of:
        announce(strategy, args, settings)
    await asyncio.Event().wait()


async def run_copies(strategy, args, settings):
    """Pre-fork, as Tornado's deployment guide describes: args.processes copies of this very server, each
    listening on the port with SO_REUSEPORT, so that the kernel hands each new connection to one of them (by a
    hash of its addresses: busy or not). This process serves nothing: it starts the copies and replaces one that
    a signal ended (a crash, the OOM killer, a kill); a copy that exits with an error status of its own (port
    busy, a task that cannot load) ends it all with that status. Its stop stops the copies (exit_now)."""
    check_port(strategy, args)  # a busy port is one line from here, not N from the copies
    command = [sys.executable, *sys.argv, "--copy-of", str(os.getpid())]

    async def keep_one_running():
        while True:
            copy = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
            status = await copy.wait()
            if status > 0:
                raise SystemExit(status)
            print(f"{strategy}: copy {copy.pid} ended by {signal.Signals(-status).name if status else 'exit 0'}: "
                  f"starting another", file=sys.stderr, flush=True)
            await asyncio.sleep(0.2)  # no busy loop if copies keep dying

    announce(strategy, args, f"{args.processes} copies, {settings}")
    await asyncio.gather(*(keep_one_running() for _ in range(args.processes)))


def check_port(strategy, args):
    """Fail in one line now if the port is taken, before starting what would be stopped again at once."""
    error = bind_error(args.port, args.host)
    if error:
        fail(f"{strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")


def exit_with_parent(parent):
    """In a copy: no copy outlives its supervisor."""
    die_with_parent()
    if os.getppid() != parent:  # it ended before the line above
        raise SystemExit(0)


async def start_workers(executor, args, timeout_s=60):
    """Start every worker of a pool, and import the task there, before serving: no request pays for it, and a
    task that cannot run in those workers (a module that refuses subinterpreters, say) is a one-line error at
    start-up (exit status 2), not a 500 on every request."""
    loop = asyncio.get_running_loop()
    started = [loop.run_in_executor(executor, tasks.prepare, args.task) for _ in range(args.workers)]
    try:
        await asyncio.wait_for(asyncio.gather(*started), timeout_s)
    except Exception as error:  # noqa: BLE001 - whatever it is, it is reported in one line
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"{script_name()}: cannot start its workers: {reason}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def interpreter_pool():
    """concurrent.futures.InterpreterPoolExecutor (Python 3.14), or on 3.13 the same from the PEP 734 backport."""
    try:
        from concurrent.futures import InterpreterPoolExecutor
    except ImportError:
        try:
            from interpreters_backport.concurrent.futures import InterpreterPoolExecutor
        except ImportError:
            print(f"{script_name()}: needs Python 3.14, or 3.13 with interpreters-pep-734 (this is "
                  f"{sys.version.split()[0]}): run it with .venv313/bin/python (make venv313)", file=sys.stderr,
                  flush=True)
            raise SystemExit(2) from None
    return InterpreterPoolExecutor


def exit_now(status):
    """Stop every process this one started, by pid, and exit with `status` at once: nothing is drained, no thread
    still inside a task is waited for (its answer has nobody left to go to)."""
    logging.disable()  # what pool threads say about the workers stopped now is noise
    stop_children()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


LOOP = {}  # the running asyncio loop of run(), for the thread that stops it
STOPPING, PARKED = threading.Event(), threading.Event()  # a stop signal came / the main thread stands aside


def stop_server(signum):
    """The first stop signal, in a thread of its own: stop the IOLoop through the loop itself, so that nothing in
    it (a Dask nanny, a pool) starts new processes while they are stopped; if the loop is blocked inside a task,
    do not wait for it longer than a moment. Then stop the children and exit 0."""
    STOPPING.set()
    print(f"{os.path.basename(sys.argv[0])}: {signum.name}: stopping", file=sys.stderr, flush=True)
    loop = LOOP.get("loop")
    if loop is not None:
        loop.call_soon_threadsafe(loop.stop)
        PARKED.wait(0.5)
    exit_now(0)


def run(main):
    """Run a server's main() (sync or async) until SIGINT or SIGTERM, then stop every process it started.

    Exit status 0 after a signal (within HARD_EXIT_AFTER_S even if a child will not stop), 1 after a start-up
    error. A second signal ends it at once, its children killed."""
    on_stop_signals(stop_server, status=0)
    status = 0
    try:
        if asyncio.iscoroutinefunction(main):
            LOOP["loop"] = asyncio.new_event_loop()
            LOOP["loop"].run_until_complete(main())
        else:
            main()
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        if not STOPPING.is_set():  # else: the loop was stopped on purpose, or a child was killed under it
            traceback.print_exc()
        status = 1
    if STOPPING.is_set():
        PARKED.set()
        threading.Event().wait()  # stop_server ends the process
    exit_now(status)
