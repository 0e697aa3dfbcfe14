"""8_fastapi: FastAPI on uvicorn, the task in the endpoint style chosen.

FastAPI decides where an endpoint runs from how it is written. --endpoint def (the default, what FastAPI's docs
advise for blocking code): a plain def in anyio's worker threads, 40 at a time unless --workers N sets the
limiter's tokens; pure Python holds the GIL there, as in 3_async_threadexecutor. --endpoint async: an async def
calling the task, which blocks the event loop, as in 2_async; cooperative: an async def awaiting the task written
for the loop (an async client, SQLAlchemy's async engine; CPU work in slices), as in 2_async --cooperative;
process: an async def awaiting a pool of --workers processes, as in 4_async_processexecutor. --processes N:
uvicorn's N worker processes on one socket. Background jobs: FastAPI's BackgroundTasks, after the 202, in the same
process. --server granian: the same app on Granian's workers (--processes N), threads of one process without a GIL.
"""

import contextlib

import anyio.to_thread

import processes
import tasks
from serving import cli, fastapi_web, lifecycle, pools

ENDPOINTS = ("def", "async", "cooperative", "process")


def parse_args():
    args = cli.parse_args(
        __doc__,
        port=8007,
        workers=True,
        copies=True,
        workers_default=None,
        workers_help="threads (def: anyio's default, 40) or processes (process: CPUs)",
        options={
            "--endpoint": dict(choices=ENDPOINTS, default="def", help="how GET / is written (default %(default)s)"),
            "--server": dict(choices=("uvicorn", "granian"), default="uvicorn", help="(default %(default)s)"),
        },
        awaited_by=lambda args: "--endpoint cooperative" if args.endpoint == "cooperative" else None,
    )
    args.workers = args.workers or (processes.cpu_count() if args.endpoint == "process" else None)
    return args


def app():
    """The application, as each uvicorn process builds it (uvicorn's factory)."""
    args = parse_args()
    if args.endpoint == "def":

        def compute(n):
            return tasks.run(args.task, n)  # in one of anyio's threads

    elif args.endpoint == "async":

        async def compute(n):
            return tasks.run(args.task, n)  # on the event loop: nothing else is served until it returns

    elif args.endpoint == "cooperative":

        async def compute(n):
            return await tasks.run_cooperatively(args.task, n)  # the loop serves others at each await

    else:
        pool = pools.ProcessPool(args.workers)

        async def compute(n):
            return await pool.run(tasks.run, args.task, n)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if args.endpoint == "def" and args.workers:  # the usual fix for the 40-thread ceiling
            anyio.to_thread.current_default_thread_limiter().total_tokens = args.workers
        if args.endpoint == "process":
            await fastapi_web.start_workers(pool, args)  # before serving, as in 4_async_processexecutor
        yield

    return fastapi_web.make_app(args, compute, lifespan)


def main():
    fastapi_web.run(parse_args(), app)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
