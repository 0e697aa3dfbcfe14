"""The faults of make cluster's fault table, as data, and what carries one out during a run: at given seconds of
the run, a host cut off (its link down) and restored, or killed (every process in it SIGKILLed) and its program
started anew. Long jobs sent just before a worker is cut are a fault's too, but the job driver sends them, on its
schedule with the other jobs (measured.schedule).
"""

import time
from dataclasses import dataclass

from harness.hosts.measured import FAULT_AT_S

# The settings that decide what a worker host cut off for long costs: how long until its task is handed to
# another worker. At the suite's (Celery's visibility_timeout 600 s in jobqueue.py, Dask's worker-ttl 5 min), a
# cut of seconds only delays it; the last fault sets both short, and a cut past them.
SHORT_S = 15
SHORT_TIMEOUTS = (
    ("CELERY_VISIBILITY_TIMEOUT", str(SHORT_S)),
    ("DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL", f"{SHORT_S}s"),
)


@dataclass(frozen=True)
class Fault:
    """What it is (the table's words), its steps (second of the run, action, host), the environment variables
    every program of the run gets (an engine's timeouts), and the second the long jobs are sent at, if any."""

    name: str
    steps: tuple = ()
    settings: tuple = ()  # (name, value) pairs: a frozen record that hashes
    long_jobs_at: float = None


FAULTS = [
    # Long jobs just before a worker host is cut off: one of them is on the cut host when it goes (each worker
    # takes one, a second may wait on it).
    Fault(
        "a worker host cut off for 20 s",
        ((FAULT_AT_S, "cut", "worker1"), (FAULT_AT_S + 20, "restore", "worker1")),
        long_jobs_at=FAULT_AT_S - 0.5,
    ),
    Fault(
        "a worker host killed, a new one 5 s later",
        ((FAULT_AT_S, "kill", "worker1"), (FAULT_AT_S + 5, "start worker", "worker1")),
    ),
    Fault(
        "the broker or scheduler host cut off for 10 s",
        ((FAULT_AT_S, "cut", "broker"), (FAULT_AT_S + 10, "restore", "broker")),
    ),
    Fault(
        "the web host killed, restarted 2 s later", ((FAULT_AT_S, "kill", "web"), (FAULT_AT_S + 2, "start web", "web"))
    ),
    Fault(
        f"a worker host cut off for 30 s, the engine's timeout {SHORT_S} s",
        ((FAULT_AT_S, "cut", "worker1"), (FAULT_AT_S + 30, "restore", "worker1")),
        SHORT_TIMEOUTS,
        long_jobs_at=FAULT_AT_S - 0.5,
    ),
]


def inject(fault, placement, started, stopping):
    """Each of the fault's steps at its second from `started` (time.monotonic()), on the placement's hosts, until
    the steps are done or `stopping` is set."""
    for at_s, action, name in fault.steps:
        if stopping.wait(max(0.0, started + at_s - time.monotonic())):
            return
        if action in ("cut", "restore", "kill"):
            getattr(placement.hosts, action)(name)
        else:
            placement.start(action.split()[1], name)
