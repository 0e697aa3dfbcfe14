"""4_async_processexecutor: Tornado hands the task to a ProcessPoolExecutor.

Each worker process has its own interpreter and GIL, so tasks run on every core at once, and the IOLoop stays
free to answer other requests.
"""
import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from tornado.ioloop import IOLoop

import common


async def main():
    args = common.parse_args(__doc__, port=8003, workers=True)
    # forkserver: workers are forked from a clean process started here, before the listening socket exists and
    # not from the running loop, so none inherits the port or the loop's state. Only module-level functions
    # with plain arguments cross to them.
    executor = ProcessPoolExecutor(args.workers, multiprocessing.get_context("forkserver"), common.ignore_sigint)

    async def compute(n):
        return await IOLoop.current().run_in_executor(executor, common.run_task, n)

    # Start every worker before serving, so that no request pays for a process start-up.
    await asyncio.gather(*(compute(1) for _ in range(args.workers)))
    await common.serve("4_async_processexecutor", compute, args, f"{args.workers} worker processes")


if __name__ == "__main__":
    common.run(main)
