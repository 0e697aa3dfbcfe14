"""3_async_threadexecutor: Tornado hands the task to a ThreadPoolExecutor.

The IOLoop stays free to answer other requests. A pure-Python task holds the GIL: the threads take turns on one
core, so the pool adds responsiveness, not throughput; C code that releases the GIL (hash) and waits (sleep, http)
do run in parallel, as many at once as there are threads.
"""
from concurrent.futures import ThreadPoolExecutor

from tornado.ioloop import IOLoop

import common
import tasks


async def main():
    args = common.parse_args(__doc__, port=8002, workers=True)
    executor = ThreadPoolExecutor(args.workers)

    async def compute(n):
        return await IOLoop.current().run_in_executor(executor, tasks.run, args.task, n)

    await common.serve("3_async_threadexecutor", compute, args, f"{args.workers} threads",
                       background=args.workers)


if __name__ == "__main__":
    common.run(main)
