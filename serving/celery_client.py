"""The web server's side of Celery (6_async_celery.py): tasks sent, results awaited on the event loop without a thread
per request, background jobs kept in Redis, and an embedded redis-server with its worker. The workers themselves
import jobqueue.py only.
"""

import asyncio
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import kombu.exceptions
import redis.asyncio
import redis.exceptions

from jobqueue import app, prepare, run_task
from processes import die_with_parent, free_port, script_name

from . import lifecycle
from .contract import Unavailable

QUEUE = "celery"  # Celery's default queue: a Redis list
RESULT = "celery-task-meta-"  # the Redis backend stores each result under this prefix + id, and publishes it there
STATUS = {
    "PENDING": "queued",
    "STARTED": "running",
    "RETRY": "queued",
    "SUCCESS": "done",
    "FAILURE": "failed",
    "REVOKED": "failed",
}


def use(url):
    """Send to, and read results from, the Redis at `url`."""
    app.conf.broker_url = app.conf.result_backend = url


def send(task, n, task_id):
    """Queue one run of `task` (blocking: Celery's client is synchronous, so the server calls it in a thread)."""
    try:
        run_task.apply_async((task.kind, task.backend, n, task.database, task.db_pool), task_id=task_id)
    except kombu.exceptions.OperationalError as error:  # Redis down, after Celery's own retries
        raise Unavailable(f"cannot queue the task: {error}") from None


def answer(meta):
    """A finished task's answer from its result in Redis, or its error raised again, named as the worker saw it."""
    if meta["status"] == "SUCCESS":
        return meta["result"]
    error = meta.get("result") or {}
    message = " ".join(map(str, error.get("exc_message") or ())) or meta["status"].lower()
    raise type(error.get("exc_type", "TaskFailed"), (Exception,), {})(message)


class Results:
    """Celery's results, awaited on the event loop: one connection subscribed to everything the Redis backend
    publishes (celery-task-meta-*), a future per task that a request waits for. No thread per waiting request, no
    polling; and once a second, one MGET for the tasks still awaited, for a result published while the
    subscription was down (Redis restarting)."""

    def __init__(self, url):
        # At most 32 connections, and a request waits for a free one: the default pool refuses the 101st at once
        # ("Too many connections"), which turned a burst of 500 jobs/s into 503s.
        self.redis = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(url, max_connections=32, timeout=10)
        )
        self.waiting = {}  # task id -> future
        self.subscribed = asyncio.Event()
        # The loop keeps only weak references to its tasks: this list is what keeps these two running.
        self.helpers = [asyncio.ensure_future(self.listen()), asyncio.ensure_future(self.sweep())]

    def expect(self, task_id):
        """A future for the task's result (its meta), set up before the task is sent: it may finish at once."""
        future = self.waiting[task_id] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self.waiting.pop(task_id, None))
        return future

    def deliver(self, meta):
        future = self.waiting.get(meta.get("task_id"))
        if future and not future.done() and meta["status"] in ("SUCCESS", "FAILURE", "REVOKED"):
            future.set_result(meta)

    async def listen(self):
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.psubscribe(RESULT + "*")
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message["type"] == "pmessage":
                            self.deliver(json.loads(message["data"]))
            except (redis.exceptions.ConnectionError, OSError):
                await asyncio.sleep(0.5)  # Redis is down: subscribe again when it is back

    async def sweep(self):
        while True:
            await asyncio.sleep(1)
            if self.waiting:
                try:
                    found = await self.redis.mget([RESULT + task_id for task_id in self.waiting])
                except (redis.exceptions.ConnectionError, OSError):
                    continue
                for meta in filter(None, found):
                    self.deliver(json.loads(meta))


def unavailable(method):
    """A method of RedisJobs, answering 503 while Redis cannot be reached (restarting, say) rather than 500."""

    async def guarded(self, *args):
        try:
            return await method(self, *args)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as error:
            raise Unavailable(f"Redis cannot be reached now ({error}): try again later") from None

    return guarded


class RedisJobs:
    """Background jobs kept in Redis: a record job:<id> (its n) written before the task is queued, and Celery's
    own result. Both outlive the web server; a record is kept a day (Celery's result_expires)."""

    ttl_s = 24 * 3600

    def __init__(self, results, submit, limit=None):
        self.redis, self.submit_task, self.limit = results.redis, submit, limit

    @unavailable
    async def submit(self, n):
        if self.limit and (queued := await self.redis.llen(QUEUE)) >= self.limit:
            raise Unavailable(f"{queued} jobs are queued already: try again later")
        job_id = uuid.uuid4().hex
        await self.redis.set(f"job:{job_id}", n, ex=self.ttl_s)
        await self.submit_task(n, job_id)
        return job_id

    @unavailable
    async def get(self, job_id):
        n, meta = await self.redis.mget(f"job:{job_id}", RESULT + job_id)
        if n is None:
            return None
        meta = json.loads(meta) if meta else {"status": "PENDING"}
        job = {"id": job_id, "status": STATUS.get(meta["status"], "queued"), "n": int(n)}
        if meta.get("date_done"):  # ISO 8601, in UTC
            done = datetime.datetime.fromisoformat(meta["date_done"])
            job["done_at"] = round((done if done.tzinfo else done.replace(tzinfo=datetime.UTC)).timestamp(), 4)
        if meta["status"] == "SUCCESS":
            job.update(meta["result"])
        elif job["status"] == "failed":
            try:
                answer(meta)
            except Exception as error:  # noqa: BLE001 - the job says why
                job["error"] = f"{type(error).__name__}: {error}"
        return job

    @unavailable
    async def counts(self):
        """What Redis knows without scanning: tasks waiting in the queue, and taken by a worker but not acknowledged
        (running, or prefetched). Finished jobs are not counted."""
        queued, taken = await self.redis.llen(QUEUE), await self.redis.hlen("unacked")
        return {"queued": queued, "running": taken, "done": None, "failed": None}


WORKER_LOG = tempfile.TemporaryFile("w+")  # the embedded worker's: read when it fails to start, else unread


def start_embedded(workers, task=None):
    """A redis-server on a free loopback port (nothing saved to disk: its jobs end with it) and a Celery worker
    with `workers` processes, both ended by the kernel if this process dies (PR_SET_PDEATHSIG), prepared for
    `task` unless it is a user's function (jobqueue.SERVED: a module that fails to import there is reported by
    wait_for_a_worker, not a worker dead at start-up). Its URL.
    The worker writes to WORKER_LOG: what it says at a stop (a task it saw interrupted) is not news."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                os.environ.get("TMPDIR", "/tmp"),
            ],
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    except FileNotFoundError:
        lifecycle.fail(
            f"{script_name()}: no redis-server on this machine: install it (apt-get install "
            "redis-server, or make tools), or give --broker redis://HOST:PORT/N",
            status=2,
        )
    quieter = {
        **os.environ,
        "PYTHONWARNINGS": "ignore:You're running the worker with superuser",  # "not as root"
        "JOBQUEUE_TASK": json.dumps(
            None if not task or task.user_function else [task.kind, task.backend, task.database, task.db_pool]
        ),
    }
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--quiet",
            "--app",
            "jobqueue",
            "--broker",
            url,
            "worker",
            "--concurrency",
            str(workers),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        stdin=subprocess.DEVNULL,
        stdout=WORKER_LOG,
        stderr=subprocess.STDOUT,
        env=quieter,
        preexec_fn=die_with_parent,
    )
    return url


async def wait_for_a_worker(results, task, timeout_s=60):
    """Run jobqueue.prepare on a worker and wait for it: a worker is there, and the task loads in it."""
    task_id = uuid.uuid4().hex
    await results.subscribed.wait()
    done = results.expect(task_id)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: prepare.apply_async(
                    (task.kind, task.backend, task.database, task.db_pool), task_id=task_id, retry=False
                ),
            )
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    return answer(await asyncio.wait_for(done, max(1, deadline - time.monotonic())))


def last_words():
    """The embedded worker's last line of output, to say why it never ran a task."""
    WORKER_LOG.seek(0)
    lines = [line.strip() for line in WORKER_LOG.read().splitlines() if line.strip()]
    return f" (the worker said: {lines[-1][:300]})" if lines else ""
