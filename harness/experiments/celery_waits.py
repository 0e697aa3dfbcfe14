"""How server 6 should await Celery's results: three ways, measured side by side (make celery-waits).

Celery's client has no awaitable result. Each way below keeps `users` tiny tasks (cpu, n=10) in flight against an
embedded Redis and Celery worker for `seconds`, and reports round trips per second, their p50/p99, and the CPU the
web server's process spends per task (what it takes from serving):

- pubsub: one redis.asyncio connection subscribed to celery-task-meta-*, a future per task (celery_client.Results,
  what server 6 uses);
- polling: every 5 ms, one MGET of every awaited result key;
- a thread each: AsyncResult.get() in a thread pool of `users` threads (one blocked thread per waiting request).
"""

import asyncio
import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio

import tasks
from harness.cli import OneLineParser
from harness.instruments.measure import percentiles
from processes import cpu_count
from serving import celery_client, lifecycle

TINY = tasks.Task("cpu")
N = 10


async def pubsub(url, sender):
    results = celery_client.Results(url)
    await results.subscribed.wait()

    async def one():
        task_id = uuid.uuid4().hex
        done = results.expect(task_id)
        await asyncio.get_running_loop().run_in_executor(sender, celery_client.send, TINY, N, task_id)
        return celery_client.answer(await done)

    return one


async def polling(url, sender):
    store = redis.asyncio.Redis.from_url(url)
    waiting = {}

    async def poll():
        while True:
            await asyncio.sleep(0.005)
            if waiting:
                ids = list(waiting)
                for task_id, meta in zip(ids, await store.mget([celery_client.RESULT + i for i in ids]), strict=True):
                    meta = json.loads(meta) if meta else {}
                    if meta.get("status") in ("SUCCESS", "FAILURE") and not waiting[task_id].done():
                        waiting.pop(task_id).set_result(meta)

    poller = asyncio.ensure_future(poll())

    async def one():
        task_id = uuid.uuid4().hex
        done = waiting[task_id] = asyncio.get_running_loop().create_future()
        await asyncio.get_running_loop().run_in_executor(sender, celery_client.send, TINY, N, task_id)
        return celery_client.answer(await done)

    one.poller = poller  # a reference keeps it running
    return one


async def thread_each(url, sender, users):
    waiters = ThreadPoolExecutor(users)

    def blocking(task_id):
        celery_client.send(TINY, N, task_id)
        return celery_client.app.AsyncResult(task_id).get(timeout=60)

    async def one():
        return await asyncio.get_running_loop().run_in_executor(waiters, blocking, uuid.uuid4().hex)

    return one


async def measure(one, users, seconds):
    times, end = [], time.monotonic() + seconds

    async def user():
        while time.monotonic() < end:
            started = time.perf_counter()
            await one()
            times.append(time.perf_counter() - started)

    await one()  # warm
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(user() for _ in range(users)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    cuts_ms = percentiles([seconds * 1000 for seconds in times], (50, 99))
    return {
        "per_s": len(times) / wall,
        "p50_ms": cuts_ms["p50"],
        "p99_ms": cuts_ms["p99"],
        "cpu_ms_per_task": cpu / len(times) * 1000,
    }


async def compare(users, seconds, rounds):
    """Each way measured `rounds` times, interleaved, `users` tasks in flight for `seconds`: the table printed."""
    url = celery_client.start_embedded(cpu_count())
    celery_client.use(url)
    sender = ThreadPoolExecutor(1)
    results = celery_client.Results(url)
    await celery_client.wait_for_a_worker(results, TINY)
    ways = {
        "pubsub": await pubsub(url, sender),
        "polling every 5 ms": await polling(url, sender),
        "a thread each": await thread_each(url, sender, users),
    }
    found = {name: [] for name in ways}
    for round_ in range(rounds):  # interleaved: a slow minute of this machine falls on every way alike
        for name, one in ways.items():
            found[name].append(await measure(one, users, seconds))
            print(f"round {round_ + 1}/{rounds}: {name} done", file=sys.stderr, flush=True)
    print(f"\n{users} tiny tasks in flight, {seconds:g} s each, medians of {rounds} rounds (range):")
    print(f"{'way':20}{'tasks/s':>22}{'p50 ms':>20}{'p99 ms':>22}{'server CPU ms/task':>22}")
    for name, runs in found.items():
        cells = []
        for key, width in (("per_s", 22), ("p50_ms", 20), ("p99_ms", 22), ("cpu_ms_per_task", 22)):
            values = [run[key] for run in runs]
            cells.append(f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})".rjust(width))
        print(f"{name:20}" + "".join(cells))


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=25, help="tasks in flight (default 25)")
    parser.add_argument("--seconds", type=float, default=10, help="per way and round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    options = parser.parse_args(argv)
    users, seconds, rounds = options.users, options.seconds, options.rounds
    if not 1 <= users <= 500 or not 0 < seconds <= 600 or not 1 <= rounds <= 20:
        parser.error("--users from 1 to 500, --seconds above 0 and at most 600, --rounds from 1 to 20")
    lifecycle.run_until_stopped(lambda: asyncio.run(compare(users, seconds, rounds)))


if __name__ == "__main__":
    main()  # run_until_stopped exits the process with the run's status
