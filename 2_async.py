"""2_async: Tornado runs the task inline, on the IOLoop thread.

The loop is blocked while a task runs: nothing else is served, not even /health. With --cooperative the task is
written for the loop (the original project's "2_group"): CPU work runs in slices and yields to the loop between
them, a wait is awaited (asyncio.sleep, Tornado's AsyncHTTPClient): same result, and other requests interleave.
With --processes N (pre-fork) the code is unchanged: N copies of it share the port, one task each at a time, and
a request waits, /health included, when the kernel hands it to a copy that is busy.
"""
import common
import tasks


async def main():
    args = common.parse_args(__doc__, port=8001, copies=True, options={"--cooperative": dict(
        action="store_true", help="run the task written for the IOLoop: yielding in slices, awaiting its waits")})

    async def compute(n):
        return tasks.run(args.task, n)  # blocks the IOLoop until it is done

    async def compute_cooperatively(n):
        return await tasks.run_cooperatively(args.task, n)  # the IOLoop serves others at each await

    if args.cooperative:
        await common.serve("2_async --cooperative", compute_cooperatively, args, "cooperative: yields and awaits")
    else:
        await common.serve("2_async", compute, args, "task inline on the IOLoop")


if __name__ == "__main__":
    common.run(main)
