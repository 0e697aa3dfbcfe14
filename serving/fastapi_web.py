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

from . import granian_server, lifecycle, pools, totals
from .contract import (
    BadRequest,
    Problem,
    TaskFailed,
    health,
    method_not_allowed,
    no_jobs,
    no_such_job,
    no_such_path,
    parse_n,
    task_response,
)
from .memory_jobs import JobBook
from .pending import PendingLimit

ALLOWED = {"/": "GET or HEAD", "/jobs": "POST (or GET for the counts)"}


def answer(problem):
    """The one place a Problem becomes its HTTP answer on FastAPI."""
    status, headers, body = problem.answer()
    return JSONResponse(body, status, headers=headers or None)


def task_size(request, kind):
    """n from the raw query, as every server parses it (not FastAPI's validation, which answers 422)."""
    return parse_n(request.url.query, kind)


@contextlib.contextmanager
def task_errors():
    """A task that raises is a 500 that says why (a user's function); the suite's own Problems pass as they are."""
    try:
        yield
    except Problem:
        raise
    except Exception as problem:  # noqa: BLE001
        raise TaskFailed(problem) from None


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
    limit = PendingLimit(max_pending)

    async def one_more():
        with limit.one_more():
            yield

    return one_more


def strategy(args):
    """The server's name for its answers and its start-up line: 8_fastapi, and the options that change it."""
    endpoint = f" --endpoint {args.endpoint}" if args.endpoint != "def" else ""
    server = " --server granian" if args.server == "granian" else ""
    return f"8_fastapi{endpoint}{server}" + (" --processes" if args.processes else "")


def settings(args):
    """What the start-up line says of the endpoint style: where GET / runs, on how many threads or processes."""
    threads = f"{args.workers} threads" if args.workers else "anyio's default of 40 threads"
    return {
        "def": f"def endpoint, {threads}",
        "async": "async def endpoint, the task on the event loop",
        "cooperative": "async def endpoint awaiting the task written for the loop",
        "process": f"async def endpoint, {args.workers} worker processes",
    }[args.endpoint]


async def start_workers(pool, args):
    """pools.start_workers in the app's lifespan: a pool that cannot start is its one line and exit status 2, not
    uvicorn's traceback and exit status 3."""
    try:
        await pools.start_workers(pool.executor, args)
    except SystemExit as failed:
        lifecycle.exit_now(failed.code)


def make_app(args, compute, lifespan=None):
    """The FastAPI application: compute(n) (def or async def) behind GET /, the same interface as every server;
    background jobs in this process's memory (BackgroundTasks), except with --processes: a job's status would live
    in one worker process, and a poll could reach another."""
    task, name = args.task, strategy(args)
    no_jobs_because = "its jobs would live in one of its processes" if args.processes else None
    jobs = None if no_jobs_because else JobBook(args.max_pending, args.job_ttl)
    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)  # no extra paths
    if args.server == "granian":
        granian_server.in_worker()
    elif multiprocessing.parent_process():  # one of uvicorn's worker processes: none outlives its supervisor
        die_with_parent()
    counts = totals.TaskTotals()
    compute = counts.counted(compute)
    kind = task.spec()

    @app.exception_handler(Problem)  # what the code raises: BadRequest, Unavailable, NotFound...
    async def contract_problem(request, problem):
        return answer(problem)

    @app.exception_handler(HTTPException)
    async def starlette_error(request, problem):  # Starlette's own, for a path or a method it has no route for
        if problem.status_code == 405:
            return answer(method_not_allowed(request.method, ALLOWED.get(request.url.path, "GET or HEAD")))
        if problem.status_code == 404 and problem.detail == "Not Found":
            return answer(no_such_path(request.url.path))
        return answer(Problem(str(problem.detail), problem.status_code))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, problem):  # FastAPI's 422: the suite's 400, naming the problem
        return answer(BadRequest("; ".join(str(item.get("msg")) for item in problem.errors()) or "invalid request"))

    app.api_route("/", methods=["GET", "HEAD"], dependencies=[Depends(pending_limit(args.max_pending))])(
        endpoint_for(compute, name, task)
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
            raise no_jobs(name, "POST", no_jobs_because)
        job = jobs.add(task_size(request, kind))
        # After the answer, in this process: nothing outside it knows of the job.
        background.add_task(run_job, job, compute)
        url = f"/jobs/{job['id']}"
        return JSONResponse({"id": job["id"], "status": "queued", "url": url}, 202, headers={"Location": url})

    @app.api_route("/jobs", methods=["GET", "HEAD"])
    async def job_counts():
        if jobs is None:
            raise no_jobs(name, "GET", no_jobs_because)
        return jobs.tally()

    @app.api_route("/jobs/{job_id}", methods=["GET", "HEAD"])
    async def job(job_id: str):
        if jobs is None:
            raise no_jobs(name, "GET", no_jobs_because)
        found = jobs.find(job_id)
        if found is None:
            raise no_such_job(job_id, jobs.ttl_s)
        return {**task_response(name, task, found["n"], found), **found} if "result" in found else found

    return app


class Server(uvicorn.Server):
    def capture_signals(self):
        # The suite's stop (serving/lifecycle.py: at once, exit status 0), not uvicorn's handlers, which wait for
        # the requests in flight: here, tasks of seconds. (uvicorn's worker processes keep theirs: their
        # supervisor stops them by pid, SIGTERM then SIGKILL, processes.stop_children.)
        return contextlib.nullcontext()


def run(args, factory):
    """Serve with uvicorn until SIGINT or SIGTERM: in this process, or with --processes N in N worker processes
    of uvicorn's own on one socket (its supervisor), each building the app by calling `factory` (a function of
    the script, found there by its name). With --server granian: on Granian's workers (serving/granian_server.py)."""
    if args.server == "granian":
        return granian_server.run(strategy(args), args, factory, "asgi", settings(args))
    lifecycle.check_port(strategy(args), args)
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
    lifecycle.announce(strategy(args), args, settings(args))
    if args.processes:
        Multiprocess(config, sockets=[socket]).run()
    else:  # in the loop a stop signal stops first, so that nothing in it starts a process while they are stopped
        lifecycle.run_in_loop(Server(config).serve(sockets=[socket]))
