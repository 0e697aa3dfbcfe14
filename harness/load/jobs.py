"""Background load: POST /jobs at a steady rate (the open-loop driver's schedule), then the jobs followed until the
server has none left queued or running, or a deadline passes; then each accepted job read once.

Reports how many of the planned jobs were accepted (and the 202's latency from when each POST was due), how fast
they were finished (jobs done/s, and submit-to-done p50/p99 from the server's own done_at, of every accepted job:
one not done by the last look is *censored*, and a percentile that falls among those reads "> S s", S the least
time such a job had been waiting), the largest backlog (queued + running, sampled from GET /jobs every 0.5 s), and
what became of the rest at the last look: still queued or running (unfinished), failed, lost (an accepted id the
live server no longer knows), or unreachable (no answer: the server is gone). Accepting is bounded by the web
server, finishing by cpus / T1: the backlog grows by the difference every second.

The submitter runs as the open-loop driver does (SCHED_FIFO where allowed, send lag recorded and guarded), with
the backlog sampler in a thread of its own beside it; once the schedule is done the driver drops to normal
priority, and the follow phase sends only the sampler's GET /jobs (2 a second) and one GET /jobs/<id> per job at
the end, 8 at a time: `status_requests` counts them. A failed job is never done: in the percentiles it counts as
one still waiting.

Given a schedule of its own, (due second, n) pairs, each job is POSTed with its own n at its own time, and the run
says what became of each (`jobs`: id -> its n and its last look): make cluster's (harness/hosts/measured.py),
whose jobs each have an n of their own, so that one run twice is seen twice, and whose long jobs join them at the
fault. Its schedule's second 0 is then the caller's (`start`, a time.monotonic(), which processes share), and it
runs on a host of make cluster's (`on`, as the open-loop driver does).

    .venv/bin/python -m harness.load.jobs http://127.0.0.1:8003/jobs?n=140000 --rate 500 --duration 10
"""

import asyncio
import json
import os
import sys
import time
import urllib.parse

import aiohttp

from harness.cli import OneLineParser
from harness.instruments.measure import Periodic, rank
from harness.load import openloop
from harness.network import request

READERS = 8  # the last look's requests in flight at once: gentle on the server the probe is still measuring
READ_TIMEOUT_S = 10  # one job's status, from when its request may be sent (not while it waits for a reader)
GONE_AFTER = 3  # refused connections in a row at the last look: the server is gone, the rest are unreachable


class BacklogSampler(Periodic):
    """GET /jobs every 0.5 s in a thread of its own (at the submitter's priority: the GIL is all they share, for
    microseconds twice a second): queued + running, with when each request was sent."""

    def __init__(self, host, port, max_seconds):
        super().__init__(0.5, max_seconds)
        self.host, self.port, self.samples, self.requests = host, port, [], 0  # samples: (monotonic sent, backlog)

    def step(self):
        self.requests += 1
        sent = time.monotonic()
        try:
            status, _, counts = request(self.port, "/jobs", timeout=5, host=self.host)
        except (OSError, ValueError):
            return
        if status == 200:
            self.samples.append((sent, sum(counts.get(key) or 0 for key in ("queued", "running"))))

    def drained(self, since):
        """Whether a count asked for after `since` (the last 202) found nothing queued or running."""
        return bool(self.samples) and self.samples[-1][0] > since and self.samples[-1][1] == 0

    def result(self):
        return max((backlog for _, backlog in self.samples), default=None)


def classify(status, body):
    """The last look at one job: its final state, by the answer's status and body."""
    if status == 200 and body.get("status") in ("done", "failed"):
        return body
    if status == 200:
        return {"status": "unfinished"}  # queued or running
    if status == 404:
        return {"status": "lost"}  # a live server that no longer knows an id it accepted
    return {"status": "unreachable"}  # no answer, or not one about the job: the server is gone or broken


async def read_jobs(base, ids):
    """Each job's (status, body) now, READERS at a time, each given READ_TIMEOUT_S once it is sent; (None, None)
    for one that got no answer, and at once for the rest once the server refused GONE_AFTER in a row."""
    readers, refused = asyncio.Semaphore(READERS), [0]

    async def one(session, job_id):
        async with readers:
            if refused[0] >= GONE_AFTER:
                return None, None
            try:
                async with session.get(f"{base}/jobs/{job_id}") as response:
                    refused[0] = 0
                    return response.status, await response.json(content_type=None)
            except aiohttp.ClientConnectorError:
                refused[0] += 1
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                pass
            return None, None

    timeout = aiohttp.ClientTimeout(total=READ_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=READERS), timeout=timeout) as session:
        return await asyncio.gather(*(one(session, job_id) for job_id in ids))


def with_n(url, n):
    """`url` with its query's n (if any) replaced by `n`."""
    parts = urllib.parse.urlsplit(url)
    query = [(key, value) for key, value in urllib.parse.parse_qsl(parts.query) if key != "n"]
    return parts._replace(query=urllib.parse.urlencode([*query, ("n", n)])).geturl()


async def drive(url, rate, seconds, deadline_s=60.0, progress=None, schedule=None, start=None):
    base = url.split("/jobs", 1)[0]
    wall_offset = time.time() - asyncio.get_running_loop().time()  # loop time -> epoch seconds
    accepted, n_of = {}, {}  # id -> due time (epoch); id -> its n, with a schedule
    last_202 = [0.0]  # monotonic
    urls = {with_n(url, n): n for _, n in schedule or ()}  # the url each n is POSTed to -> that n

    def accept(body, due, sent_to):
        accepted[body["id"]] = due + wall_offset
        n_of[body["id"]] = urls.get(sent_to)
        last_202[0] = time.monotonic()

    parts = urllib.parse.urlsplit(url)
    sampler = BacklogSampler(parts.hostname, parts.port, seconds + deadline_s + 60)
    sampler.start()
    try:
        submitted = await openloop.drive(
            url,
            rate,
            seconds,
            drain_s=10,
            progress=progress,
            method="POST",
            accepted=accept,
            requests=[(due, with_n(url, n)) for due, n in schedule] if schedule else None,
            start=start,
        )
        lower_priority()  # the schedule is kept: following and reading must not crowd the server measured
        deadline = time.monotonic() + deadline_s
        next_report = time.monotonic() + 5
        while accepted and not sampler.drained(since=last_202[0]) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if progress and time.monotonic() >= next_report:
                backlog = sampler.samples[-1][1] if sampler.samples else None
                elapsed = deadline_s - (deadline - time.monotonic())
                progress(follow_line(elapsed, deadline_s, backlog, len(accepted), submitted.get("sent") or 0))
                next_report += 5
        looked_at = time.time()
        answers = await read_jobs(base, list(accepted))
    finally:
        max_backlog = sampler.stop()
    jobs = {job_id: classify(*answer) for job_id, answer in zip(accepted, answers, strict=True)}
    run = summarize(submitted, accepted, jobs, max_backlog, rate, seconds, looked_at)
    run["status_requests"] = sampler.requests + len(accepted)
    if schedule:
        run["jobs"] = {job_id: {"n": n_of[job_id], **last_look(job)} for job_id, job in jobs.items()}
    return run


def last_look(job):
    """What the run keeps of one job's last look: its state, and when it was done (the server's clock)."""
    return {key: job[key] for key in ("status", "done_at") if key in job}


def follow_line(elapsed_s, deadline_s, backlog, accepted, sent):
    """The progress line while the jobs are followed. The backlog is the server's own count, of every job it
    took: a POST whose 202 had not come when the submitter's drain ended was cut off here but may have been
    queued there all the same (server 6, its 202s behind one sending thread, took jobs it never answered), so the
    count is of the POSTs sent, never of the 202s alone."""
    counted = "?" if backlog is None else backlog
    return (
        f"{elapsed_s:.0f} s of {deadline_s:g} after sending: {counted} of the {sent} jobs sent still queued or "
        f"running ({accepted} accepted with a 202)"
    )


def lower_priority():
    """Back to normal scheduling, for this thread (the driver's main thread), after SCHED_FIFO for the schedule."""
    try:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    except (OSError, AttributeError):
        pass


def censored_percentiles(accepted, jobs, looked_at, points=(50, 99)):
    """Submit-to-done percentiles in seconds of every accepted job, by the suite's percentile definition
    (measure.rank). A job not done at the last look took longer than the
    time it had waited then: where a percentile's rank falls past the done jobs known to be below every such time,
    it is only known to be above the least of them, and reads {"pN": None, "pN_above": that time}."""
    # Only a job done ends: one that failed (or was lost) is never done, and is censored like one still waiting.
    finished = sorted(job["done_at"] - accepted[job_id] for job_id, job in jobs.items() if job["status"] == "done")
    waited = [looked_at - accepted[job_id] for job_id, job in jobs.items() if job["status"] != "done"]
    bound = min(waited, default=float("inf"))
    found = {}
    for point in points:
        at = rank(point, len(accepted))
        if at <= len(finished) and finished[at - 1] <= bound:
            found[f"p{point:g}"] = round(finished[at - 1], 3)
        else:
            found.update({f"p{point:g}": None, f"p{point:g}_above": round(bound, 3)})
    found["max"] = round(finished[-1], 3) if finished and not waited else None
    return found


def summarize(submitted, accepted, jobs, max_backlog, rate, seconds, looked_at):
    first_due = min(accepted.values(), default=0)
    done_at = [job["done_at"] for job in jobs.values() if job["status"] == "done"]
    count = {
        status: sum(1 for job in jobs.values() if job["status"] == status)
        for status in ("done", "failed", "unfinished", "lost", "unreachable")
    }
    planned = submitted.get("planned") or 0
    run = {
        "mode": "background",
        "rate": rate,
        "duration_s": seconds,
        "planned": planned,
        "accepted": len(accepted),
        "accepted_share": round(len(accepted) / planned, 4) if planned else None,
        "refused": submitted.get("failed"),
        "errors": submitted.get("errors"),
        "accept_ms": submitted.get("latency_ms"),
        "send_lag_ms": submitted.get("send_lag_ms"),
        "valid": submitted.get("valid"),
        **count,
        "done_share": round(count["done"] / len(accepted), 4) if accepted else None,
        "completion_rate": round(count["done"] / max(max(done_at) - first_due, 1e-9), 2) if done_at else 0.0,
        "submit_to_done_s": censored_percentiles(accepted, jobs, looked_at) if accepted else None,
        "max_backlog": max_backlog,
    }
    if "error" in submitted:
        run["error"] = submitted["error"]  # the submitter could not keep its schedule
    return run


def run(url, rate, seconds, deadline_s=60.0, tick=None, schedule=None, start=None, on=()):
    """The driver in a process of its own (harness/load/child.py), bounded in time; its figures as a dict.
    `schedule`, `start`: the module's doc; `on`: what runs it elsewhere (openloop.run's)."""
    kwargs = {"url": url, "rate": float(rate), "seconds": float(seconds), "deadline_s": float(deadline_s)}
    kwargs.update(schedule=[[float(due), int(n)] for due, n in schedule] if schedule else None, start=start)
    # The last look can take minutes: 5 000 jobs read 8 at a time from a server still busy with its backlog.
    run = openloop.in_a_process("jobs.drive_here", kwargs, seconds + deadline_s + 420, tick, on)
    return {"mode": "background", "rate": rate, **run} if "error" in run and "accepted" not in run else run


def problem(url, rate, seconds, deadline_s):
    """What is wrong with the background driver's values, or None."""
    if found := openloop.url_and_rate_problem(url, rate, seconds, path="/jobs"):
        return found
    if not 0 <= deadline_s or seconds + deadline_s > 240:  # each job is read once, at the end
        return "--duration + --deadline must be at most 240 s: the servers forget a finished job after 300 s"
    return None


def drive_here(url, rate, seconds, deadline_s=60.0, schedule=None, start=None):
    """The driver in this process, as its own program runs it (by hand, or run() through harness/load/child.py):
    the values checked (openloop.Refused if wrong), its priority raised for the schedule, a line on stderr of what
    it sends and its progress lines after it ("jobs: ... s of ..."); its figures, with the scheduling it had."""
    if found := problem(url, rate, seconds, deadline_s):
        raise openloop.Refused(found)
    scheduling = openloop.raise_priority()
    print(f"jobs: {rate:g} jobs/s for {seconds:g} s -> {url}", file=sys.stderr, flush=True)
    run = asyncio.run(
        drive(
            url,
            rate,
            seconds,
            deadline_s,
            progress=lambda line: print(f"jobs: {line}", file=sys.stderr, flush=True),
            schedule=schedule,
            start=start,
        )
    )
    run["scheduling"] = scheduling
    return run


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="e.g. http://127.0.0.1:8003/jobs?n=140000")
    parser.add_argument("--rate", type=float, required=True, help="jobs submitted per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of submitting (default 10)")
    parser.add_argument("--deadline", type=float, default=60, help="seconds to follow the jobs after (default 60)")
    args = parser.parse_args(argv)
    if found := problem(args.url, args.rate, args.duration, args.deadline):
        parser.error(found)
    print(json.dumps(drive_here(args.url, args.rate, args.duration, args.deadline), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
