"""What a run of make cluster measures, all of it sent from the client host: jobs POSTed at a steady rate by the
suite's job driver (harness.load.jobs, in a process of its own there, as the background mode's), each with an n of
its own (so that a job run twice is seen twice) and long jobs among them at the fault, then followed until the
server has none queued or running and each read once; users sending GET / beside them, and the suite's health
probe (harness.instruments.measure.HealthProbe: GET /health on an open schedule, a probe unanswered within 1 s
failed and slower than any answer), as every other table has it (harness/hosts/cluster.py runs these in the
client host's threads); and from what they recorded, the fault table's row (every accepted job accounted for, how
long until the jobs' throughput is back) and the open loop's.
"""

import collections
import statistics
import threading
import time
from pathlib import Path

from harness.instruments.measure import HealthProbe, probe_interval
from harness.load import jobs

RATE, RUN_S, FAULT_AT_S, FOLLOW_S, USERS = 4, 40, 10, 60, 2  # jobs/s; seconds; users beside the jobs
N_JOB, N_USER = 100_000, 99_999  # a job's n is N_JOB + its number: unique, so that a second run of it is seen
N_LONG, LONG_JOBS = 1_200_000, 4  # jobs of about 1.7 s each (n from N_LONG on), sent just before a worker is cut
OPEN_RATE, OPEN_S = 10, 20  # the open loop on hosts and on loopback: requests/s of GET /, seconds
USER_PATH = f"/?n={N_USER}"


class Record:
    """What the users record as they go (their answers, counted by status); `stopping` is set when the run ends
    (or ends early, Ctrl-C): the parts end too."""

    def __init__(self):
        self.users = collections.Counter()
        self.stopping = threading.Event()


def schedule(long_jobs_at=None):
    """Each job's (due second, n): RATE a second for RUN_S, each n its own, and LONG_JOBS long jobs at the
    second `long_jobs_at` (a fault's), if any."""
    steady = [(number / RATE, N_JOB + number) for number in range(RATE * RUN_S)]
    long = [] if long_jobs_at is None else [(long_jobs_at, n) for n in range(N_LONG, N_LONG + LONG_JOBS)]
    return steady + long


def send_jobs(placement, started, long_jobs_at=None):
    """The run's jobs, by the job driver on the client host, its second 0 at `started` (time.monotonic()), and
    followed for up to FOLLOW_S after: its figures, with `jobs` (each accepted job's n and last look)."""
    run = jobs.run(
        placement.url("/jobs"),
        RATE,
        RUN_S,
        FOLLOW_S,
        schedule=schedule(long_jobs_at),
        start=started,
        on=placement.hosts.runner("client"),
    )
    if "jobs" not in run:
        raise RuntimeError(run.get("error", "the job driver said nothing of the jobs"))
    return run


def during(placement, record, client, started):
    """The health probe and the users of a run under a fault, each in a thread of `client`, from `started` on:
    their futures, the probe's first (its result the probe, started)."""
    probe = client.submit(start_probe, placement, RUN_S, started)
    return [probe, *[client.submit(load_users, placement, record, started) for _ in range(USERS)]]


def start_probe(placement, seconds, at=0.0):
    """The suite's health probe of the web server, started at `at` (time.monotonic(); or now) for `seconds` (call
    this in a thread of the client host: its threads are then there too); stop() returns its figures."""
    time.sleep(max(0.0, at - time.monotonic()))
    probe = HealthProbe(
        placement.ports["web"], seconds, interval=probe_interval(seconds), host=placement.hosts.addresses["web"]
    )
    probe.start()
    return probe


def load_users(placement, record, started):
    if record.stopping.wait(max(0.0, started - time.monotonic())):
        return
    while time.monotonic() - started < RUN_S and not record.stopping.is_set():
        status, _ = placement.outcome(USER_PATH)
        record.users[str(status)] += 1
        if status != 200:
            time.sleep(0.2)


def refused(run):
    """The job driver's POSTs that were not accepted, by why: the answer's status ("503"), the error's name, or
    "no answer" (none by the end of the driver's drain)."""
    why = {key.removeprefix("HTTP "): count for key, count in (run.get("errors") or {}).items()}
    unanswered = (run.get("refused") or 0) - sum(why.values())
    return {**why, **({"no answer": unanswered} if unanswered else {})}


def figures(run, record, epoch_start, marks, health):
    """The fault table's figures of one run: `run` the job driver's (send_jobs), `record` the users', `epoch_start`
    the run's start in time.time(), `marks` the path of the file each job's n was written to once computed,
    `health` the probe's figures (HealthProbe.stop())."""
    accepted = run["jobs"]  # id -> n, and the last look: its status (jobs.classify's), done_at if done
    states = collections.Counter(job["status"] for job in accepted.values())
    marked = collections.Counter(Path(marks).read_text().split()) if Path(marks).exists() else collections.Counter()
    twice = sum(marked[str(job["n"])] > 1 for job in accepted.values())
    per_second = collections.Counter(
        int(job["done_at"] - epoch_start) for job in accepted.values() if job["status"] == "done" and job.get("done_at")
    )
    before = statistics.median(per_second.get(s, 0) for s in range(2, FAULT_AT_S)) or RATE
    # Back: by the end of the first 3 seconds from the fault on that completed at least 0.8 times as many jobs
    # as 3 seconds before it (the median second before, times 3), while jobs are still submitted.
    back = next(
        (
            s + 3 - FAULT_AT_S
            for s in range(FAULT_AT_S, RUN_S - 2)
            if sum(per_second.get(t, 0) for t in range(s, s + 3)) >= 0.8 * 3 * before
        ),
        None,
    )
    lowest = min(
        sum(per_second.get(t, 0) for t in range(s, s + 3)) / (3 * before) for s in range(FAULT_AT_S, RUN_S - 2)
    )
    return {
        "accepted": len(accepted),
        "refused": refused(run),
        "done": states["done"],
        "failed": states["failed"],
        "lost": states["lost"],
        "unfinished": states["unfinished"] + states["unreachable"],  # still queued or running, or no answer
        "ran_twice": twice,
        "back_after_s": back,
        "lowest_share": round(lowest, 2),
        "users": dict(record.users),
        **health_figures(health),
        **({"driver_note": run["error"]} if run.get("error") else {}),
    }


def health_figures(health):
    """The probe's figures as the tables show them: p99 in ms (None where it fell among the failures: then
    health_p99_above_ms, the probe's timeout, which every failure took at least), failures of how many probes."""
    among_failures = health["p99"] is None and health["failed"]
    return {
        "health_p99_ms": None if health["p99"] is None else round(health["p99"], 1),
        "health_p99_above_ms": health["timeout_s"] * 1000 if among_failures else None,
        "health_failed": health["failed"],
        "health_probes": health["count"],
    }


def open_figures(run, health, cpu_seconds):
    """The open loop's figures: `run` the open-loop driver's result, `health` the probe's figures
    (HealthProbe.stop()), `cpu_seconds` each role's CPU seconds over the run."""
    answered = run.get("ok") or 0
    return {
        "rate": OPEN_RATE,
        "seconds": OPEN_S,
        "answered_per_s": run.get("transaction_rate"),
        "failed": run.get("failed"),
        "p50_ms": run.get("latency_ms", {}).get("p50"),
        "p99_ms": run.get("latency_ms", {}).get("p99"),
        "p99_above_ms": run.get("latency_ms", {}).get("p99_above"),
        **health_figures(health),
        "cpu_ms_per_answer": {
            role: round(seconds * 1000 / answered, 1) if answered else None for role, seconds in cpu_seconds.items()
        },
        **({"error": run["error"]} if "error" in run else {}),
    }
