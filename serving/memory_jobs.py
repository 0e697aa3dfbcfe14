"""Background jobs kept in the server's own memory (the servers with a pool of their own): POST /jobs hands them to
the strategy's compute, and GET /jobs/<id> reads them here. Lost when the server stops."""

import asyncio
import collections
import threading
import time
import uuid

from .contract import Unavailable


class JobBook:
    """The jobs of this process, by id: queued, running, then done or failed, each finished one forgotten `ttl_s`
    after it ended. At most `limit` unfinished ones (beyond: Unavailable, a 503, none queued). Every one is lost if
    the process stops: nothing outside it knows of them. Safe from any thread (FastAPI runs a plain def job in
    one)."""

    def __init__(self, limit=None, ttl_s=300):
        self.limit, self.ttl_s, self.lock = limit, ttl_s, threading.Lock()
        self.jobs, self.expiry = {}, collections.deque()  # expiry: (when, id), oldest first

    def add(self, n):
        with self.lock:
            unfinished = len(self.jobs) - len(self.expiry)
            if self.limit and unfinished >= self.limit:
                raise Unavailable(f"{unfinished} jobs are unfinished already: try again later")
            job = {"id": uuid.uuid4().hex, "status": "queued", "n": n}
            self.jobs[job["id"]] = job
            return job

    def run(self, job, compute):
        """compute(n) for a job, its outcome recorded: the job itself, a plain def (FastAPI's BackgroundTasks)."""
        job["status"] = "running"
        try:
            self.finish(job, compute(job["n"]))
        except Exception as error:  # noqa: BLE001 - the job says why
            self.finish(job, error=error)

    async def run_async(self, job, compute):
        """The same for an async compute."""
        job["status"] = "running"
        try:
            self.finish(job, await compute(job["n"]))
        except Exception as error:  # noqa: BLE001 - the job says why
            self.finish(job, error=error)

    def finish(self, job, computed=None, error=None):
        if error is None:
            job.update(computed, status="done")
        else:
            job.update(status="failed", error=f"{type(error).__name__}: {error}")
        job["done_at"] = round(time.time(), 4)  # epoch seconds, as Celery's date_done
        with self.lock:
            self.expiry.append((time.monotonic() + self.ttl_s, job["id"]))

    def expire(self):
        with self.lock:
            while self.expiry and self.expiry[0][0] < time.monotonic():
                self.jobs.pop(self.expiry.popleft()[1], None)

    def find(self, job_id):
        self.expire()
        return self.jobs.get(job_id)

    def tally(self):
        self.expire()
        with self.lock:
            found = collections.Counter(job["status"] for job in self.jobs.values())
        return {status: found[status] for status in ("queued", "running", "done", "failed")}


class MemoryJobs(JobBook):
    """Jobs run `slots` at a time through the strategy's async compute, on the IOLoop (the Tornado servers)."""

    def __init__(self, compute, slots, limit=None, ttl_s=300):
        super().__init__(limit, ttl_s)
        self.compute, self.slots, self.running = compute, asyncio.Semaphore(slots), set()

    async def submit(self, n):
        job = self.add(n)
        runner = asyncio.ensure_future(self.run_job(job))
        self.running.add(runner)  # a reference, or the loop may drop it
        runner.add_done_callback(self.running.discard)
        return job["id"]

    async def run_job(self, job):
        async with self.slots:
            await self.run_async(job, self.compute)

    async def get(self, job_id):
        return self.find(job_id)

    async def counts(self):
        return self.tally()
