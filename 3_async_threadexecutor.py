"""3_async_threadexecutor: Tornado hands the task to a ThreadPoolExecutor.

The IOLoop stays free to answer other requests. A pure-Python task holds the GIL: the threads take turns on one
core, so the pool adds responsiveness, not throughput; C code that releases the GIL (hash) and waits (sleep, http)
do run in parallel, as many at once as there are threads.
"""

from concurrent.futures import ThreadPoolExecutor

from tornado.ioloop import IOLoop

import tasks
from serving import cli, lifecycle, web


async def main():
    args = cli.parse_args(__doc__, port=8002, workers=True)
    executor = ThreadPoolExecutor(args.workers)

    async def compute(n):
        return await IOLoop.current().run_in_executor(executor, tasks.run, args.task, n)

    await web.serve("3_async_threadexecutor", compute, args, f"{args.workers} threads", job_slots=args.workers)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
