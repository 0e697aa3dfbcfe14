"""The HTTP interface on Tornado: the handlers, the application, and serve(), which the async servers end in.

A strategy is one async function, compute(n) -> the task's answer; everything else here is the same for all.
"""

import asyncio

import tornado.web
from tornado import httputil

from . import lifecycle
from .contract import BadRequest, Unavailable, health, method_not_allowed, no_jobs, parse_n, task_response
from .memory_jobs import MemoryJobs
from .totals import TaskTotals


class JsonHandler(tornado.web.RequestHandler):
    """What every handler shares: errors answered in JSON that says what is wrong, no ETag, no access log."""

    allowed = "GET or HEAD"  # what a 405 says

    def initialize(self, strategy, task, kind):
        self.strategy, self.task, self.kind = strategy, task, kind

    def task_size(self):
        """n from the query, or a 400 that says what is wrong with it."""
        try:
            return parse_n(self.request.query, self.kind)
        except BadRequest as error:
            raise tornado.web.HTTPError(400, reason="Bad Request", log_message=str(error)) from None

    def compute_etag(self):
        return None  # every answer is fresh

    def write_error(self, status_code, **kwargs):
        if status_code == 503:
            self.set_header("Retry-After", "1")
        error = kwargs.get("exc_info", (None, None))[1]
        message = getattr(error, "log_message", None)
        if status_code == 405 and not message:
            message = method_not_allowed(self.request.method, self.allowed)
        self.finish({"error": message or self._reason})

    def log_exception(self, typ, value, tb):
        if not isinstance(value, tornado.web.HTTPError):  # the client's mistakes are answered, not logged
            super().log_exception(typ, value, tb)


class TaskHandler(JsonHandler):
    """GET /?n=N: run the task through the strategy's compute, answer what it computed."""

    def initialize(self, compute, **kwargs):
        super().initialize(**kwargs)
        self.compute, self.running = compute, None

    async def get(self):
        n = self.task_size()
        self.running = asyncio.ensure_future(self.compute(n))
        try:
            computed = await self.running
        except asyncio.CancelledError:
            return  # the client has gone (on_connection_close): nobody to answer
        except tornado.web.HTTPError:
            raise
        except Unavailable as error:
            raise tornado.web.HTTPError(503, log_message=str(error)) from None
        except Exception as error:  # noqa: BLE001 - a user's task that raises: a 500 that says why
            raise tornado.web.HTTPError(500, log_message=f"the task raised {type(error).__name__}: {error}") from None
        self.write(task_response(self.strategy, self.task, n, computed))

    head = get  # Tornado sends the headers only for HEAD

    def on_connection_close(self):
        # The client gave up: cancel its task. Work still queued is dropped (a pool's queue, a Dask task, the rest
        # of a cooperative task); what already runs in a thread or process finishes, unanswered.
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
        raise tornado.web.HTTPError(404, log_message=f"no such path: {self.request.path[:80]}")


class JobsBase(JsonHandler):
    """What the two job handlers share: `jobs` (MemoryJobs, or a store of the strategy's own), None on a server
    that runs no background jobs."""

    def initialize(self, jobs, **kwargs):
        super().initialize(**kwargs)
        self.jobs = jobs

    def prepare(self):
        if self.jobs is None:
            status = 405 if self.request.method == "POST" else 404
            raise tornado.web.HTTPError(status, log_message=no_jobs(self.strategy))


class JobsHandler(JobsBase):
    """POST /jobs?n=N: queue a background job, answer 202 with where to ask for it; GET /jobs: how many jobs are in
    each state now."""

    allowed = "POST (or GET for the counts)"

    async def post(self):
        try:
            job_id = await self.jobs.submit(self.task_size())
        except Unavailable as error:
            raise tornado.web.HTTPError(503, log_message=str(error)) from None
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
            raise tornado.web.HTTPError(
                404,
                log_message=f"no such job: {job_id[:80]} (or it finished over "
                f"{self.jobs.ttl_s:g} s ago and was forgotten)",
            )
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
        lifecycle.fail(f"{strategy}: cannot listen on {args.host}:{args.port}: {error.strerror}")
    if not copy:
        lifecycle.announce(strategy, args, settings)
    await asyncio.Event().wait()
