"""2_async: Tornado runs the task inline, on the IOLoop thread.

The loop is blocked while a task runs: nothing else is served, not even /health. With --cooperative the task
runs in slices and yields to the loop between them (the original project's "2_group"): same result, and other
requests interleave with it.
"""
import asyncio
import time

import common


async def compute(n):
    return common.run_task(n)  # blocks the IOLoop until it is done


async def compute_cooperatively(n):
    started = time.perf_counter()
    result = 0
    for lo, hi in common.slices(n):
        result += common.count_primes(lo, hi)
        await asyncio.sleep(0)  # let the IOLoop serve other requests between slices
    return common.answer(result, started)


async def main():
    args = common.parse_args(__doc__, port=8001, options={"--cooperative": dict(
        action="store_true", help=f"run the task in slices of {common.SLICE} numbers, yielding in between")})
    if args.cooperative:
        await common.serve("2_async --cooperative", compute_cooperatively, args, "cooperative: yields between slices")
    else:
        await common.serve("2_async", compute, args, "task inline on the IOLoop")


if __name__ == "__main__":
    common.run(main)
