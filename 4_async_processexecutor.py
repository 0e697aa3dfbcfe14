"""4_async_processexecutor: Tornado hands the task to a ProcessPoolExecutor.

Each worker process has its own interpreter and GIL, so tasks run on every core at once, and the IOLoop stays
free to answer other requests. The pool is started from a forkserver, and replaced if a worker dies
(serving/pools.py: ProcessPool).
"""

import tasks
from serving import cli, lifecycle, pools, web


async def main():
    args = cli.parse_args(__doc__, port=8003, workers=True)
    pool = pools.ProcessPool(args.workers)

    async def compute(n):
        return await pool.run(tasks.run, args.task, n)

    await pools.start_workers(pool.executor, args)
    await web.serve(
        "4_async_processexecutor", compute, args, f"{args.workers} worker processes", job_slots=args.workers
    )


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
