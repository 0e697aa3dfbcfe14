"""Background jobs kept in the server's own memory (the servers with a pool of their own): POST /jobs hands them to
the strategy's compute, a few at a time, and GET /jobs/<id> reads them here. Lost when the server stops."""
import asyncio
import collections
import time
import uuid

import tornado.web


class MemoryJobs:
    """Jobs kept in the server's own memory, run `slots` at a time through the strategy's compute. At most
    `limit` unfinished ones (beyond: 503, none queued), each finished one forgotten `ttl_s` after it ended, and
    every one lost if the server stops: nothing outside this process knows of them."""

    def __init__(self, compute, slots, limit=None, ttl_s=300):
        self.compute, self.slots, self.limit, self.ttl_s = compute, asyncio.Semaphore(slots), limit, ttl_s
        self.jobs, self.expiry, self.running = {}, collections.deque(), set()  # expiry: (when, id), oldest first

    async def submit(self, n):
        unfinished = len(self.jobs) - len(self.expiry)
        if self.limit and unfinished >= self.limit:
            raise tornado.web.HTTPError(503, log_message=f"{unfinished} jobs are unfinished already: try again later")
        job = {"id": uuid.uuid4().hex, "status": "queued", "n": n}
        self.jobs[job["id"]] = job
        runner = asyncio.ensure_future(self.run_job(job))
        self.running.add(runner)  # a reference, or the loop may drop it
        runner.add_done_callback(self.running.discard)
        return job["id"]

    async def run_job(self, job):
        async with self.slots:
            job["status"] = "running"
            try:
                job.update(await self.compute(job["n"]), status="done")
            except Exception as error:  # noqa: BLE001 - the job says why
                job.update(status="failed", error=f"{type(error).__name__}: {getattr(error, 'log_message', error)}")
        job["done_at"] = round(time.time(), 4)  # epoch seconds, as Celery's date_done
        self.expiry.append((time.monotonic() + self.ttl_s, job["id"]))

    def expire(self):
        while self.expiry and self.expiry[0][0] < time.monotonic():
            self.jobs.pop(self.expiry.popleft()[1], None)

    async def get(self, job_id):
        self.expire()
        return self.jobs.get(job_id)

    async def counts(self):
        self.expire()
        found = collections.Counter(job["status"] for job in self.jobs.values())
        return {status: found[status] for status in ("queued", "running", "done", "failed")}
