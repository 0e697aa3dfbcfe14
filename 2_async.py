"""2_async: Tornado runs the task inline, on the IOLoop thread.

The loop is blocked while a task runs: nothing else is served, not even /health. With --cooperative the task is
written for the loop (the original project's "2_group"): CPU work runs in slices and yields to the loop between
them, a wait is awaited (asyncio.sleep, Tornado's AsyncHTTPClient): same result, and other requests interleave.
With --processes N (pre-fork) the code is unchanged: N copies of it share the port, one task each at a time, and
a request waits, /health included, when the kernel hands it to a copy that is busy.
"""

import tasks
from serving import cli, lifecycle, prefork, web


async def main():
    args = cli.parse_args(
        __doc__,
        port=8001,
        copies=True,
        options={
            "--cooperative": dict(
                action="store_true", help="run the task written for the IOLoop: yielding in slices, awaiting its waits"
            )
        },
        awaited_by=lambda args: "--cooperative" if args.cooperative else None,
    )

    async def compute_inline(n):
        return tasks.run(args.task, n)  # blocks the IOLoop until it is done

    async def compute_cooperatively(n):
        return await tasks.run_cooperatively(args.task, n)  # the IOLoop serves others at each await

    if args.cooperative:
        strategy, settings, compute = "2_async --cooperative", "cooperative: yields and awaits", compute_cooperatively
    else:
        strategy, settings, compute = "2_async", "task inline on the IOLoop", compute_inline
    if args.processes:  # pre-fork: this process starts N copies of this script, serves nothing, replaces the dead
        strategy += " --processes"
        if not args.copy_of:
            return await prefork.run_copies(strategy, args, settings)
        prefork.exit_with_parent(args.copy_of)
    await web.serve(strategy, compute, args, settings, copy=bool(args.copy_of))


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
