"""The two engines make cluster runs (harness/hosts/cluster.py), as the commands that start their programs: server
6 with redis-server and Celery workers, server 5 with a Dask scheduler and Dask workers. Each command takes the
hosts (harness/hosts/namespaces.py: Hosts, or Loopback) for the addresses it binds to or connects to.

The web server runs each job's n through `marked:mark` (MARKED, written into the run's folder), which also writes
the n to a file shared by the hosts once it has computed it, so that a job run twice is seen twice.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PYTHON = sys.executable
DASK = str(Path(sys.executable).with_name("dask"))
MARKED = """import os
import tasks
DEFAULT_N, MAX_N = 100000, 2000000


def mark(n):
    result = tasks.run(tasks.Task("cpu"), n)
    with open(os.environ["CLUSTER_MARKS"], "a") as marks:
        marks.write(f"{n}\\n")
    return result
"""


@dataclass(frozen=True)
class Engine:
    """How to start one engine's broker or scheduler, a worker and the web server on their hosts."""

    name: str
    script: str
    port: int  # the web server's, on hosts of their own (on loopback: a free one)
    broker_port: int
    broker: Callable  # (hosts, folder, port) -> the broker's or scheduler's command
    worker: Callable  # (hosts, host name, port) -> a worker's command
    settings: tuple  # the web server's options that name the broker, "{broker}" and "{port}" filled in

    def web(self, hosts, port, broker_port):
        """The web server's command: on the web host, sending to the broker host, each job's n marked."""
        return [
            PYTHON,
            self.script,
            "--host",
            hosts.addresses["web"],
            "--port",
            str(port),
            "--task",
            "marked:mark",
            *(part.format(broker=hosts.addresses["broker"], port=broker_port) for part in self.settings),
        ]


def redis(hosts, folder, port=6379):
    address = hosts.addresses["broker"]
    return [
        "redis-server",
        "--bind",
        address,
        "--port",
        str(port),
        "--protected-mode",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        folder,
    ]


def celery_worker(hosts, name, port=6379):
    return [
        PYTHON,
        "-m",
        "celery",
        "--quiet",
        "--app",
        "jobqueue",
        "--broker",
        f"redis://{hosts.addresses['broker']}:{port}/0",
        "worker",
        "--concurrency",
        "1",
        "--loglevel",
        "ERROR",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def dask_scheduler(hosts, folder, port=8786):
    return [DASK, "scheduler", "--host", hosts.addresses["broker"], "--port", str(port), "--no-dashboard"]


def dask_worker(hosts, name, port=8786):
    return [
        DASK,
        "worker",
        f"tcp://{hosts.addresses['broker']}:{port}",
        "--nthreads",
        "1",
        "--no-nanny",
        "--no-dashboard",
        "--host",
        hosts.addresses[name],
    ]


ENGINES = {
    "celery": Engine(
        "6_async_celery",
        "6_async_celery.py",
        8005,
        6379,
        redis,
        celery_worker,
        ("--broker", "redis://{broker}:{port}/0"),
    ),
    "dask": Engine(
        "5_async_dask",
        "5_async_dask.py",
        8004,
        8786,
        dask_scheduler,
        dask_worker,
        ("--scheduler", "tcp://{broker}:{port}"),
    ),
}
