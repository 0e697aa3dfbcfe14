"""Background load: POST /jobs at a steady rate (the open-loop driver's schedule), then follow every accepted job
until it is done or a deadline passes.

Reports how fast jobs are accepted (jobs/s, and the 202's latency from when each POST was due), how fast they are
finished (completed jobs/s, submit-to-done p50/p99 from the server's own done_at), the largest backlog (queued +
running, sampled from GET /jobs every 0.5 s), and what became of the rest: still unfinished at the deadline, failed,
or lost (an accepted id the server no longer knows). Accepting is bounded by the web server, finishing by
cpus / T1: the backlog grows by the difference every second.

    .venv/bin/python -m harness.load.jobs http://127.0.0.1:8003/jobs?n=140000 --rate 500 --duration 10
"""
import asyncio
import json
import sys
import time

import aiohttp
from hdrh.histogram import HdrHistogram

from ..cli import OneLineParser
from . import openloop

FINAL = ("done", "failed")


async def get_json(session, url):
    try:
        async with session.get(url) as response:
            return response.status, await response.json(content_type=None)
    except (aiohttp.ClientError, OSError, ValueError) as error:
        return None, {"error": f"{type(error).__name__}: {error}"}


async def drive(url, rate, seconds, deadline_s=60.0, progress=None):
    base = url.split("/jobs", 1)[0]
    wall_offset = time.time() - asyncio.get_running_loop().time()  # loop time -> epoch seconds
    accepted = {}  # id -> due time (epoch)
    last_accept = [0.0]  # when the last 202 came (epoch)

    def accept(body, due):
        accepted[body["id"]] = due + wall_offset
        last_accept[0] = time.time()

    backlog = []
    stop_sampling = asyncio.Event()

    async def sample(session):
        while not stop_sampling.is_set():
            status, counts = await get_json(session, f"{base}/jobs")
            if status == 200:
                backlog.append(sum(counts.get(key) or 0 for key in ("queued", "running")))
            try:
                await asyncio.wait_for(stop_sampling.wait(), 0.5)
            except asyncio.TimeoutError:
                pass

    async def look(session, ids):
        """Each job's (status, body) now, 64 requests at a time (the connector's limit)."""
        return await asyncio.gather(*(get_json(session, f"{base}/jobs/{job_id}") for job_id in ids))

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        sampler = asyncio.ensure_future(sample(session))
        submitted = await openloop.drive(url, rate, seconds, drain_s=10, progress=progress, method="POST",
                                         accepted=accept)
        jobs, unfinished = {}, list(accepted)  # in submission order: they finish roughly in that order
        deadline = time.monotonic() + deadline_s
        next_report = time.monotonic() + 5
        while unfinished and time.monotonic() < deadline:
            batch = unfinished[:64]  # the oldest: while these are not done, the later ones are not either
            for job_id, (status, job) in zip(batch, await look(session, batch), strict=True):
                if status == 404 or (status == 200 and job["status"] in FINAL):
                    jobs[job_id] = job if status == 200 else {"status": "lost"}
            unfinished = [job_id for job_id in unfinished if job_id not in jobs]
            if progress and time.monotonic() >= next_report:
                progress(f"{deadline_s - (deadline - time.monotonic()):.0f} s of {deadline_s:g} after sending: "
                         f"{len(jobs)} of {len(accepted)} jobs finished")
                next_report += 5
            if batch and all(job_id in unfinished for job_id in batch):
                await asyncio.sleep(0.2)
        # At the deadline: each job not finished is still known (queued or running), or lost.
        for job_id, (status, _) in zip(unfinished, await look(session, unfinished), strict=True):
            jobs[job_id] = {"status": "lost"} if status == 404 else {"status": "unfinished"}
        stop_sampling.set()
        await sampler
    return summarize(submitted, accepted, jobs, backlog, rate, seconds, last_accept[0])


def summarize(submitted, accepted, jobs, backlog, rate, seconds, last_accept):
    times = HdrHistogram(1, openloop.HIGHEST_US, 3)
    done = [(job_id, job) for job_id, job in jobs.items() if job["status"] == "done" and "done_at" in job]
    for job_id, job in done:
        times.record_value(max(1, round((job["done_at"] - accepted[job_id]) * 1e6)))
    first_due = min(accepted.values(), default=0)
    last_done = max((job["done_at"] for _, job in done), default=first_due)
    count = {status: sum(1 for job in jobs.values() if job["status"] == status)
             for status in ("done", "failed", "unfinished", "lost")}
    return {
        "mode": "background", "rate": rate, "duration_s": seconds, "planned": submitted.get("planned"),
        "accepted": len(accepted), "refused": submitted.get("failed"), "errors": submitted.get("errors"),
        # over the time it took to accept them: the schedule's, or longer if the 202s fell behind it
        "accept_rate": round(len(accepted) / max(seconds, last_accept - first_due), 2),
        "accept_ms": submitted.get("latency_ms"),
        "send_lag_ms": submitted.get("send_lag_ms"), "valid": submitted.get("valid"),
        **count, "completion_rate": round(count["done"] / max(last_done - first_due, 1e-9), 2) if done else 0.0,
        "submit_to_done_ms": openloop.histogram_summary(times), "max_backlog": max(backlog, default=None),
    }


def run(url, rate, seconds, deadline_s=60.0, tick=None):
    """The driver in a process of its own, bounded in time; its figures as a dict."""
    arguments = [url, "--rate", repr(rate), "--duration", repr(seconds), "--deadline", repr(deadline_s)]
    run = openloop.in_a_process("harness.load.jobs", arguments, seconds + deadline_s + 120, tick)
    return {"mode": "background", "rate": rate, **run} if "error" in run else run


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="e.g. http://127.0.0.1:8003/jobs?n=140000")
    parser.add_argument("--rate", type=float, required=True, help="jobs submitted per second")
    parser.add_argument("--duration", type=float, default=10, help="seconds of submitting (default 10)")
    parser.add_argument("--deadline", type=float, default=60, help="seconds to follow the jobs after (default 60)")
    args = parser.parse_args(argv)
    openloop.check_url_and_rate(parser, args, path="/jobs")
    if not 0 <= args.deadline <= 3600:
        parser.error("--deadline must be from 0 to 3600 seconds")
    print(f"jobs: {args.rate:g} jobs/s for {args.duration:g} s -> {args.url}", file=sys.stderr, flush=True)
    run = asyncio.run(drive(args.url, args.rate, args.duration, args.deadline,
                            progress=lambda line: print(f"jobs: {line}", file=sys.stderr, flush=True)))
    print(json.dumps(run, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
