"""6_async_celery: Tornado hands the task to Celery workers, through Redis.

The workers are processes of their own, here or on other machines, that take tasks from a list in Redis; each
result comes back through Redis, where the IOLoop awaits it (celery_client.Results: no thread per waiting request).
Background jobs (POST /jobs) live in Redis, not in this process: one accepted is done even if this server is
killed meanwhile. By default the server starts its own redis-server (a free port, nothing saved to disk) and a
Celery worker of --workers processes; with --broker it uses a running Redis and the workers started for it.
"""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

from serving import celery_client, cli, lifecycle, web


async def main():
    args = cli.parse_args(
        __doc__,
        port=8005,
        workers=True,
        job_ttl=False,
        options={
            "--broker": dict(metavar="redis://HOST:PORT/N", help="use this Redis, and the workers started for it"),
            "--wait": dict(
                type=float, default=60, metavar="S", help="for a worker at start-up (default %(default)g s)"
            ),
        },
    )
    lifecycle.check_port("6_async_celery", args)  # before starting Redis and workers for nothing
    url = args.broker or celery_client.start_embedded(args.workers, args.task)
    celery_client.use(url)
    results = celery_client.Results(url)
    sender = ThreadPoolExecutor(1)  # Celery's client blocks while it sends: not on the IOLoop
    loop = asyncio.get_running_loop()

    async def submit(n, task_id):
        await loop.run_in_executor(sender, celery_client.send, args.task, n, task_id)

    async def compute(n):
        task_id = uuid.uuid4().hex
        result = results.expect(task_id)  # before sending: the result may be published at once
        await submit(n, task_id)
        try:
            return celery_client.answer(await result)
        except asyncio.CancelledError:  # the client has gone: its task is dropped if no worker has it yet
            sender.submit(celery_client.app.control.revoke, task_id)
            raise

    try:
        await celery_client.wait_for_a_worker(results, args.task, args.wait)
    except Exception as error:  # noqa: BLE001 - whatever it is, one line
        said = celery_client.last_words() if not args.broker else ""
        lifecycle.fail(
            f"6_async_celery: no Celery worker ran a task at {url} within {args.wait:g} s: "
            f"{error or type(error).__name__}{said}",
            status=2,
        )
    where = args.broker or f"an embedded redis-server and {args.workers} worker processes"
    await web.serve(
        "6_async_celery",
        compute,
        args,
        f"Celery on {where}",
        jobs=celery_client.RedisJobs(results, submit, args.max_pending),
    )


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
