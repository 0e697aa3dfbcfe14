"""The HTTP interface on FastAPI and uvicorn (8_fastapi.py): the same paths, answers and JSON errors as the Tornado
servers (serving/web.py), and run(), which serves it in one uvicorn process or in uvicorn's worker processes.

FastAPI decides where an endpoint runs from how it is written: an `async def` on the event loop, a plain `def` in
anyio's worker threads (at most the default limiter's tokens at a time, 40 unless set). GET / and the background
jobs take the style of the strategy's compute; /health, /stats and the jobs' bookkeeping are `async def`, so
that none of them waits for a thread.
"""

import contextlib
import inspect
import multiprocessing
import os
import tempfile

import uvicorn
from fastapi import BackgroundTasks, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from uvicorn.supervisors import Multiprocess

from processes import die_with_parent, script_name

from . import lifecycle, totals
from .contract import BadRequest, Unavailable, health, method_not_allowed, no_jobs, parse_n, task_response
from .memory_jobs import JobBook

ALLOWED = {"/": "GET or HEAD", "/jobs": "POST (or GET for the counts)"}


def error(status, message):
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"error": message}, status, headers=headers)


def task_size(request, kind):
    """n from the raw query, as every server parses it (not FastAPI's validation, which answers 422)."""
    try:
        return parse_n(request.url.query, kind)
    except BadRequest as problem:
        raise HTTPException(400, str(problem)) from None


@contextlib.contextmanager
def task_errors():
    """A task that raises is a 500 that says why (a user's function); the suite's own errors pass as they are."""
    try:
        yield
    except (HTTPException, Unavailable):
        raise
    except Exception as problem:  # noqa: BLE001
        raise HTTPException(500, f"the task raised {type(problem).__name__}: {problem}") from None


def endpoint_for(compute, strategy, task):
    """GET /'s endpoint, written as compute is: FastAPI runs a plain def in its threads, an async def on the loop."""
    kind = task.spec()
    if inspect.iscoroutinefunction(compute):

        async def task_endpoint(request: Request):
            n = task_size(request, kind)
            with task_errors():
                return task_response(strategy, task, n, await compute(n))
    else:

        def task_endpoint(request: Request):
            n = task_size(request, kind)
            with task_errors():
                return task_response(strategy, task, n, compute(n))

    return task_endpoint


def pending_limit(max_pending):
    """A dependency of GET / that answers 503 at once while max_pending tasks are unfinished. An async def, so it
    runs on the loop, before a def endpoint waits for a thread (FastAPI runs a plain def dependency in one too)."""
    pending = 0

    async def one_more():
        nonlocal pending
        if max_pending and pending >= max_pending:
            raise Unavailable(f"{pending} tasks are pending already: try again later")
        pending += 1
        try:
            yield
        finally:
            pending -= 1

    return one_more


def make_app(strategy, args, compute, lifespan=None, no_jobs_because=None):
    """The FastAPI application: compute(n) (def or async def) behind GET /, the same interface as every server;
    background jobs in this process's memory (BackgroundTasks), unless `no_jobs_because` says why there are none."""
    task = args.task
    jobs = None if no_jobs_because else JobBook(args.max_pending, args.job_ttl)
    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)  # no extra paths
    if multiprocessing.parent_process():  # one of uvicorn's worker processes: none outlives its supervisor
        die_with_parent()
    counts = totals.TaskTotals()
    compute = counts.counted(compute)
    kind = task.spec()

    @app.exception_handler(HTTPException)
    async def http_error(request, problem):
        if problem.status_code == 405:
            return error(405, method_not_allowed(request.method, ALLOWED.get(request.url.path, "GET or HEAD")))
        if problem.status_code == 404 and problem.detail == "Not Found":  # no route: Starlette's own 404
            return error(404, f"no such path: {request.url.path[:80]}")
        return error(problem.status_code, str(problem.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, problem):  # FastAPI's 422: the suite's 400, naming the problem
        return error(400, "; ".join(str(item.get("msg")) for item in problem.errors()) or "invalid request")

    @app.exception_handler(Unavailable)
    async def unavailable(request, problem):
        return error(503, str(problem))

    app.api_route("/", methods=["GET", "HEAD"], dependencies=[Depends(pending_limit(args.max_pending))])(
        endpoint_for(compute, strategy, task)
    )

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def healthy():
        return health()

    @app.api_route("/stats", methods=["GET", "HEAD"])
    async def stats():
        return counts.snapshot()

    # A job runs as compute is written: a plain def in one of anyio's threads, an async def on the loop.
    run_job = None if jobs is None else jobs.run_async if inspect.iscoroutinefunction(compute) else jobs.run

    @app.post("/jobs")
    async def submit(request: Request, background: BackgroundTasks):
        if jobs is None:
            return error(405, no_jobs(strategy, no_jobs_because))
        job = jobs.add(task_size(request, kind))
        # After the answer, in this process: nothing outside it knows of the job.
        background.add_task(run_job, job, compute)
        url = f"/jobs/{job['id']}"
        return JSONResponse({"id": job["id"], "status": "queued", "url": url}, 202, headers={"Location": url})

    @app.api_route("/jobs", methods=["GET", "HEAD"])
    async def job_counts():
        return jobs.tally() if jobs else error(404, no_jobs(strategy, no_jobs_because))

    @app.api_route("/jobs/{job_id}", methods=["GET", "HEAD"])
    async def job(job_id: str):
        if jobs is None:
            return error(404, no_jobs(strategy, no_jobs_because))
        found = jobs.find(job_id)
        if found is None:
            return error(
                404, f"no such job: {job_id[:80]} (or it finished over {jobs.ttl_s:g} s ago and was forgotten)"
            )
        return {**task_response(strategy, task, found["n"], found), **found} if "result" in found else found

    return app


class Server(uvicorn.Server):
    def capture_signals(self):
        # The suite's stop (serving/lifecycle.py: at once, exit status 0), not uvicorn's handlers, which wait for
        # the requests in flight: here, tasks of seconds. (uvicorn's worker processes keep theirs: their
        # supervisor stops them by pid, SIGTERM then SIGKILL, processes.stop_children.)
        return contextlib.nullcontext()


def run(strategy, args, settings, factory):
    """Serve with uvicorn until SIGINT or SIGTERM: in this process, or with --processes N in N worker processes
    of uvicorn's own on one socket (its supervisor), each building the app by calling `factory` (a function of
    the script, found there by its name)."""
    lifecycle.check_port(strategy, args)
    where = factory if not args.processes else f"{script_name()}:{factory.__name__}"  # a worker imports it
    config = uvicorn.Config(
        where,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.processes or None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=10,
        loop="asyncio",
        http="h11",
    )  # as requirements.txt installs it, even if uvloop is there
    socket = config.bind_socket()
    if args.processes:  # every worker's GET /stats answers for all of them (serving/totals.py)
        os.environ[totals.SHARED_ENV] = tempfile.mkdtemp(prefix="totals-")
    lifecycle.announce(strategy, args, settings)
    if args.processes:
        Multiprocess(config, sockets=[socket]).run()
    else:  # in the loop a stop signal stops first, so that nothing in it starts a process while they are stopped
        lifecycle.run_in_loop(Server(config).serve(sockets=[socket]))
