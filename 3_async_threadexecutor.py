"""3_async_threadexecutor: Tornado hands the task to a ThreadPoolExecutor.

The IOLoop stays free to answer other requests, but the task holds the GIL: the threads take turns on one core,
so the pool adds responsiveness, not throughput.
"""
from concurrent.futures import ThreadPoolExecutor

from tornado.ioloop import IOLoop

import common


async def main():
    args = common.parse_args(__doc__, port=8002, workers=True)
    executor = ThreadPoolExecutor(args.workers)

    async def compute(n):
        return await IOLoop.current().run_in_executor(executor, common.run_task, n)

    await common.serve("3_async_threadexecutor", compute, args, f"{args.workers} threads")


if __name__ == "__main__":
    common.run(main)
