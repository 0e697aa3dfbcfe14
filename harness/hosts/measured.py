"""What a run of make cluster measures, all of it sent from the client host (harness/hosts/cluster.py runs these
in the client host's threads): jobs POSTed at a steady rate and each accepted one followed to its end, users
sending GET / beside them, and the suite's health probe (harness.instruments.measure.HealthProbe: GET /health on
an open schedule, a probe unanswered within 1 s failed and slower than any answer), as every other table has it;
and from what they recorded, the fault table's row (every accepted job accounted for, how long until the jobs'
throughput is back) and the open loop's.

The job submitter and follower are still this module's own: each job has an n of its own (so that a job run twice
is seen twice) and long jobs join them at the fault, which the suite's job driver (harness.load.jobs: one n, one
schedule) does not do.
"""

import collections
import statistics
import threading
import time
from pathlib import Path

from harness.instruments.measure import HealthProbe, probe_interval

RATE, RUN_S, FAULT_AT_S, FOLLOW_S, USERS = 4, 40, 10, 60, 2  # jobs/s; seconds; users beside the jobs
N_JOB, N_USER = 100_000, 99_999  # a job's n is N_JOB + its number: unique, so that a second run of it is seen
N_LONG, LONG_JOBS = 1_200_000, 4  # jobs of about 1.7 s each (n from N_LONG on), sent just before a worker is cut
OPEN_RATE, OPEN_S = 10, 20  # the open loop on hosts and on loopback: requests/s of GET /, seconds
USER_PATH = f"/?n={N_USER}"


class Record:
    """What the parts of one run record as it goes: the jobs accepted (id: n), the answers of those refused and
    of the users (counted by status); `stopping` is set when the run ends (or ends early, Ctrl-C): the parts end
    too."""

    def __init__(self):
        self.accepted, self.refused, self.users = {}, collections.Counter(), collections.Counter()
        self.stopping = threading.Event()


def during(placement, record, client, started):
    """The jobs and the users of a run under a fault, each in a thread of `client`: their futures."""
    parts = (submit_jobs, *[load_users] * USERS)
    return [client.submit(part, placement, record, started) for part in parts]


def start_probe(placement, seconds):
    """The suite's health probe of the web server, started (call this in a thread of the client host: its threads
    are then there too), for at most `seconds`; stop() returns its figures."""
    probe = HealthProbe(
        placement.ports["web"], seconds, interval=probe_interval(seconds), host=placement.hosts.addresses["web"]
    )
    probe.start()
    return probe


def submit_jobs(placement, record, started):
    for number in range(RATE * RUN_S):
        if record.stopping.wait(max(0.0, started + number / RATE - time.monotonic())):
            return
        status, body = placement.outcome(f"/jobs?n={N_JOB + number}", "POST", timeout=5)
        if status == 202:
            record.accepted[body["id"]] = N_JOB + number
        else:
            record.refused[str(status)] += 1


def send_long_jobs(placement, record):
    """LONG_JOBS jobs of about 1.7 s each, at once (a fault's step: just before a worker is cut off)."""
    for n in range(N_LONG, N_LONG + LONG_JOBS):
        status, body = placement.outcome(f"/jobs?n={n}", "POST", timeout=5)
        if status == 202:
            record.accepted[body["id"]] = n


def load_users(placement, record, started):
    while time.monotonic() - started < RUN_S and not record.stopping.is_set():
        status, _ = placement.outcome(USER_PATH)
        record.users[str(status)] += 1
        if status != 200:
            time.sleep(0.2)


def follow(placement, client, accepted):
    """Each accepted job's last status, read until none is queued or running, or FOLLOW_S."""
    found, deadline = {}, time.monotonic() + FOLLOW_S
    while time.monotonic() < deadline:
        todo = [job for job in accepted if found.get(job, {}).get("status") not in ("done", "failed", "lost")]
        if not todo:
            break
        outcomes = client.map(lambda job: placement.outcome(f"/jobs/{job}"), todo)
        for job, (status, body) in zip(todo, outcomes, strict=True):
            found[job] = body if status == 200 else {"status": "lost" if status == 404 else "unreachable"}
        time.sleep(1)
    return found


def figures(record, jobs, epoch_start, marks, health):
    """The fault table's figures of one run: `jobs` each accepted job's last status (follow), `epoch_start` the
    run's start in time.time(), `marks` the path of the file each job's n was written to once computed, `health`
    the probe's figures (HealthProbe.stop())."""
    states = collections.Counter(jobs.get(job, {}).get("status", "unfinished") for job in record.accepted)
    marked = collections.Counter(Path(marks).read_text().split()) if Path(marks).exists() else collections.Counter()
    twice = sum(marked[str(n)] > 1 for n in record.accepted.values())
    per_second = collections.Counter(
        int(job["done_at"] - epoch_start) for job in jobs.values() if job.get("status") == "done" and job.get("done_at")
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
        "accepted": len(record.accepted),
        "refused": dict(record.refused),
        "done": states["done"],
        "failed": states["failed"],
        "lost": states["lost"],
        "unfinished": states["unfinished"] + states["queued"] + states["running"] + states["unreachable"],
        "ran_twice": twice,
        "back_after_s": back,
        "lowest_share": round(lowest, 2),
        "users": dict(record.users),
        **health_figures(health),
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
