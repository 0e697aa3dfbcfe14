"""8_fastapi: FastAPI on uvicorn, the task in the endpoint style chosen.

FastAPI decides where an endpoint runs from how it is written. --endpoint def (the default, what FastAPI's docs
advise for blocking code): a plain def, run in anyio's worker threads, at most 40 at a time unless --workers N
sets the limiter's tokens; a pure-Python task holds the GIL there, as in 3_async_threadexecutor. --endpoint async:
an async def calling the task, which blocks the event loop, as in 2_async. --endpoint process: an async def
awaiting a pool of --workers processes, as in 4_async_processexecutor. --processes N: uvicorn's own N worker
processes on one socket. Background jobs are FastAPI's BackgroundTasks, run after the 202 in the same process.
--server granian: the same app on Granian's workers (its --processes N), threads of one process without a GIL.
"""

import contextlib

import anyio.to_thread

import processes
import tasks
from serving import cli, fastapi_web, lifecycle, pools


def parse_args():
    args = cli.parse_args(
        __doc__,
        port=8007,
        workers=True,
        copies=True,
        workers_default=None,
        workers_help="threads (def: anyio's default, 40) or processes (process: CPUs)",
        options={
            "--endpoint": dict(
                choices=("def", "async", "process"), default="def", help="how GET / is written (default %(default)s)"
            ),
            "--server": dict(choices=("uvicorn", "granian"), default="uvicorn", help="(default %(default)s)"),
        },
    )
    if args.endpoint == "process":
        args.workers = args.workers or processes.cpu_count()
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
