"""7_async_interpreterpool: Tornado hands the task to a pool of subinterpreters (Python 3.13+).

Each worker thread runs an interpreter of its own, with its own GIL (PEP 684), so pure-Python tasks run on every
core at once, in one process: threads that scale, with no worker processes and no forkserver. The call crosses by
pickle, like a process pool's, and each interpreter imports tasks.py (standard library only: psutil and other C
extensions that refuse subinterpreters stay in the server's own interpreter).
"""

from tornado.ioloop import IOLoop

import tasks
from serving import cli, lifecycle, pools, web

InterpreterPoolExecutor = pools.interpreter_pool()  # Python 3.14's, or on 3.13 the interpreters-pep-734 backport's


async def main():
    args = cli.parse_args(__doc__, port=8006, workers=True)
    executor = await pools.start_workers(
        InterpreterPoolExecutor(args.workers), args, remake=lambda: InterpreterPoolExecutor(args.workers)
    )

    async def compute(n):
        return await IOLoop.current().run_in_executor(executor, tasks.run, args.task, n)

    await web.serve("7_async_interpreterpool", compute, args, f"{args.workers} subinterpreters", job_slots=args.workers)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
