"""The HTTP interface on Tornado: the handlers, the application, and serve(), which the async servers end in.

A strategy is one async function, compute(n) -> the task's answer; everything else here is the same for all.
"""

import asyncio

import tornado.web
from tornado import httputil

from . import lifecycle
from .contract import (
    Problem,
    TaskFailed,
    Unavailable,
    health,
    method_not_allowed,
    no_jobs,
    no_such_job,
    no_such_path,
    parse_n,
    task_response,
)
from .memory_jobs import MemoryJobs
from .pending import PendingLimit
from .totals import TaskTotals


class JsonHandler(tornado.web.RequestHandler):
    """What every handler shares: errors answered in JSON that says what is wrong, no ETag, no access log."""

    allowed = "GET or HEAD"  # what a 405 says

    def initialize(self, strategy, task, kind):
        self.strategy, self.task, self.kind = strategy, task, kind

    def task_size(self):
        """n from the query, or BadRequest (a 400) that says what is wrong with it."""
        return parse_n(self.request.query, self.kind)

    def compute_etag(self):
        return None  # every answer is fresh

    def send_error(self, status_code=500, **kwargs):
        # The one place a Problem becomes its answer: its status here, its headers and body in write_error.
        problem = kwargs.get("exc_info", (None, None))[1]
        super().send_error(problem.status if isinstance(problem, Problem) else status_code, **kwargs)

    def write_error(self, status_code, **kwargs):
        problem = kwargs.get("exc_info", (None, None))[1]
        if status_code == 405 and not isinstance(problem, Problem):  # Tornado's, for a method the handler has not
            problem = method_not_allowed(self.request.method, self.allowed)
        elif not isinstance(problem, Problem):  # Tornado's own error, or a crash (a 500): what Tornado says of it
            problem = Problem(getattr(problem, "log_message", None) or self._reason, status_code)
        _, headers, body = problem.answer()  # its status: send_error's
        for name, value in headers.items():
            self.set_header(name, value)
        self.finish(body)

    def log_exception(self, typ, value, tb):
        if not isinstance(value, Problem | tornado.web.HTTPError):  # the client's mistakes are answered, not logged
            super().log_exception(typ, value, tb)


class TaskHandler(JsonHandler):
    """GET /?n=N: run the task through the strategy's compute, answer what it computed."""

    def initialize(self, compute, **kwargs):
        super().initialize(**kwargs)
        self.compute, self.running, self.gone = compute, None, False

    async def get(self):
        n = self.task_size()
        self.running = asyncio.ensure_future(self.compute(n))
        try:
            computed = await self.running
        except asyncio.CancelledError:
            if self.gone:
                return  # the client has gone (on_connection_close): nobody to answer
            # Cancelled by something else (the strategy's engine dropped it): a 503 that says so, never an empty 200.
            raise Unavailable("the task was cancelled before it finished: try again") from None
        except Problem:
            raise
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            raise TaskFailed(error) from None
        self.write(task_response(self.strategy, self.task, n, computed))

    head = get  # Tornado sends the headers only for HEAD

    def on_connection_close(self):
        # The client gave up: cancel its task. Work still queued is dropped (a pool's queue, a Dask task, the rest
        # of a cooperative task); what already runs in a thread or process finishes, unanswered.
        self.gone = True
        if self.running:
            self.running.cancel()


class HealthHandler(JsonHandler):
    def get(self):
        self.write(health())

    head = get


class StatsHandler(JsonHandler):
    """GET /stats: the running totals of the tasks run so far (serving/totals.py)."""

    def initialize(self, totals, **kwargs):
        super().initialize(**kwargs)
        self.totals = totals

    def get(self):
        self.write(self.totals.snapshot())

    head = get


class NotFoundHandler(JsonHandler):
    def prepare(self):
        raise no_such_path(self.request.path)


class JobsBase(JsonHandler):
    """What the two job handlers share: `jobs` (MemoryJobs, or a store of the strategy's own), None on a server
    that runs no background jobs."""

    def initialize(self, jobs, **kwargs):
        super().initialize(**kwargs)
        self.jobs = jobs

    def prepare(self):
        if self.jobs is None:
            raise no_jobs(self.strategy, self.request.method)


class JobsHandler(JobsBase):
    """POST /jobs?n=N: queue a background job, answer 202 with where to ask for it; GET /jobs: how many jobs are in
    each state now."""

    allowed = "POST (or GET for the counts)"

    async def post(self):
        job_id = await self.jobs.submit(self.task_size())
        self.set_status(202)
        self.set_header("Location", f"/jobs/{job_id}")
        self.write({"id": job_id, "status": "queued", "url": f"/jobs/{job_id}"})

    async def get(self):
        self.write(await self.jobs.counts())

    head = get


class JobHandler(JobsBase):
    """GET /jobs/<id>: the job's status, and once done its answer, as GET / would have given it."""

    async def get(self, job_id):
        job = await self.jobs.get(job_id)
        if job is None:
            raise no_such_job(job_id, self.jobs.ttl_s)
        if "result" in job:
            job = {**task_response(self.strategy, self.task, job["n"], job), **job}
        self.write(job)

    head = get


def make_app(strategy, task, compute, totals, jobs=None):
    every = {"strategy": strategy, "task": task, "kind": task.spec()}  # what every handler is given
    return tornado.web.Application(
        [
            (r"/", TaskHandler, {**every, "compute": compute}),
            (r"/health", HealthHandler, every),
            (r"/stats", StatsHandler, {**every, "totals": totals}),
            (r"/jobs", JobsHandler, {**every, "jobs": jobs}),
            (r"/jobs/([^/]+)", JobHandler, {**every, "jobs": jobs}),
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=every,
        log_function=lambda handler: None,  # no access log: it would cost more than some tasks
    )


def limit_pending(compute, max_pending):
    """compute(), but Unavailable (a 503) at once instead of queuing while max_pending tasks are unfinished."""
    limit = PendingLimit(max_pending)

    async def limited(n):
        with limit.one_more():
            return await compute(n)

    return limited


async def serve(strategy, compute, args, settings, job_slots=None, jobs=None, copy=False):
    """Serve the Tornado application until SIGINT or SIGTERM. With `job_slots`, POST /jobs runs background jobs in
    memory, that many at a time (or hands them to `jobs`, a store of their own, such as Celery's). A pre-fork `copy`
    shares the port with its siblings (SO_REUSEPORT) and leaves the announcing to the process that started it."""
    # Tornado answers a query of over 1 000 arguments with a bare 400, before any handler runs. The query is bounded
    # by the 64 kB header limit anyway (at most ~16 000 fields, parsed in milliseconds): let parse_n say, in JSON.
    httputil.set_parse_body_config(httputil.ParseBodyConfig(urlencoded=httputil.ParseUrlEncodedConfig(100_000)))
    totals = TaskTotals()
    compute = totals.counted(compute)  # GET / and the background jobs alike
    if job_slots:
        jobs = MemoryJobs(compute, job_slots, args.max_pending, args.job_ttl)
        settings += f", background jobs in memory ({job_slots} at a time)"
    if getattr(args, "max_pending", None):
        compute = limit_pending(compute, args.max_pending)
        settings += f", at most {args.max_pending} pending"
    try:
        # A client that stalls while sending its request (or idles between requests) is dropped after 10 s.
        make_app(strategy, args.task, compute, totals, jobs).listen(
            args.port, args.host, idle_connection_timeout=10, body_timeout=10, reuse_port=copy
        )
    except OSError as error:
        lifecycle.cannot_listen(strategy, args, error)
    if not copy:
        lifecycle.announce(strategy, args, settings)
    await asyncio.Event().wait()
