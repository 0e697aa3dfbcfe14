"""4_async_processexecutor: Tornado hands the task to a ProcessPoolExecutor.

Each worker process has its own interpreter and GIL, so tasks run on every core at once, and the IOLoop stays
free to answer other requests.
"""
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from tornado.ioloop import IOLoop
from tornado.web import HTTPError

import processes
import tasks
from serving import cli, lifecycle, pools, web


def start_pool(workers):
    # forkserver: workers are forked from a clean process started at the first pool's start, before the listening
    # socket exists and not from the running loop, so none inherits the port or the loop's state. Only
    # module-level functions with plain arguments cross to them.
    return ProcessPoolExecutor(workers, multiprocessing.get_context("forkserver"), processes.ignore_sigint)


def stop_pool(pool):
    """Kill what a broken pool still holds. It terminates its workers itself, but not one that a submit() was
    starting as it broke (CPython 3.11 adds it after): left idle, one per replaced pool (seen in the soak)."""
    with pool._shutdown_lock:  # no worker is being started now (private API; Python 3.14 has pool.kill_workers())
        workers = list(pool._processes.values())
    for worker in workers:
        worker.kill()


async def main():
    args = cli.parse_args(__doc__, port=8003, workers=True)
    executor = start_pool(args.workers)

    async def compute(n, retry=True):
        nonlocal executor
        used = executor
        try:
            return await IOLoop.current().run_in_executor(used, tasks.run, args.task, n)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool fails all it holds and takes nothing more.
            if executor is used:  # the first request to see it starts a new pool
                stop_pool(used)
                executor = start_pool(args.workers)
            if retry:
                return await compute(n, retry=False)
            raise HTTPError(503, log_message="a worker process died while running this task") from None

    await pools.start_workers(executor, args)
    await web.serve("4_async_processexecutor", compute, args, f"{args.workers} worker processes",
                    job_slots=args.workers)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
