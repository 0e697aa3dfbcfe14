"""make cluster: the fault table. Server 6 (Celery on Redis) and server 5 (Dask) each run with the broker or scheduler
and two workers on hosts of their own (harness/hosts/namespaces.py), under background jobs and a few users, while one
host is cut off or killed: every accepted job accounted for (done, failed, lost, run twice, unfinished at the deadline),
how long until the jobs' throughput is back, what clients saw meanwhile, whether /health stayed up.

    .venv/bin/python -m harness.hosts.cluster [--engines celery,dask]     (make cluster; into docs/: make report)

Root only (network namespaces). Each job's task writes its n to a file shared by the hosts (one machine's disk) once
it has computed it, so that a job run twice is seen twice.
"""

import collections
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from tabulate import tabulate

from harness.block_results import ClusterResults
from harness.cli import OneLineParser
from harness.hosts.namespaces import Hosts, Loopback, is_root
from harness.instruments.measure import percentiles
from harness.instruments.provenance import environment
from harness.load import openloop
from harness.network import request
from harness.results_file import record_of, write
from harness.servers import ROOT
from processes import free_port

PYTHON = sys.executable
DASK = str(Path(sys.executable).with_name("dask"))
RATE, RUN_S, FAULT_AT_S, FOLLOW_S, USERS = 4, 40, 10, 60, 2  # jobs/s; seconds; users beside the jobs
N_JOB, N_USER = 100_000, 99_999  # a job's n is N_JOB + its number: unique, so that a second run of it is seen
N_LONG, LONG_JOBS = 1_200_000, 4  # jobs of about 1.7 s each (n from N_LONG on), sent just before a worker is cut
MARKED = """import os
import tasks
DEFAULT_N, MAX_N = 100000, 2000000


def mark(n):
    result = tasks.run(tasks.Task("cpu"), n)
    with open(os.environ["CLUSTER_MARKS"], "a") as marks:
        marks.write(f"{n}\\n")
    return result
"""


class Engine:
    """How to start one engine's broker or scheduler, a worker and the web server on their hosts."""

    def __init__(self, name, script, port, broker_port, broker, worker, settings):
        self.name, self.script, self.port, self.broker_port, self.settings = name, script, port, broker_port, settings
        self.broker, self.worker = broker, worker  # functions of (hosts, folder or name, port) -> command


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
# The settings that decide what a worker host cut off for long costs: how long until its task is handed to
# another worker. At the suite's (Celery's visibility_timeout 600 s in jobqueue.py, Dask's worker-ttl 5 min), a
# cut of seconds only delays it; the last fault sets both short, and a cut past them.
SHORT_S = 15
SHORT_TIMEOUTS = {"CELERY_VISIBILITY_TIMEOUT": str(SHORT_S), "DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL": f"{SHORT_S}s"}
OPEN_RATE, OPEN_S = 10, 20  # the open loop on hosts and on loopback: requests/s of GET /, seconds
# Each fault: (what it is, [(second of the run, action, host)]).
FAULTS = [
    # Long jobs just before a worker host is cut off: one of them is on the cut host when it goes (each worker
    # takes one, a second may wait on it).
    (
        "a worker host cut off for 20 s",
        [
            (FAULT_AT_S - 0.5, "long jobs", None),
            (FAULT_AT_S, "cut", "worker1"),
            (FAULT_AT_S + 20, "restore", "worker1"),
        ],
    ),
    (
        "a worker host killed, a new one 5 s later",
        [(FAULT_AT_S, "kill", "worker1"), (FAULT_AT_S + 5, "start worker", "worker1")],
    ),
    (
        "the broker or scheduler host cut off for 10 s",
        [(FAULT_AT_S, "cut", "broker"), (FAULT_AT_S + 10, "restore", "broker")],
    ),
    ("the web host killed, restarted 2 s later", [(FAULT_AT_S, "kill", "web"), (FAULT_AT_S + 2, "start web", "web")]),
    (
        f"a worker host cut off for 30 s, the engine's timeout {SHORT_S} s",
        [
            (FAULT_AT_S - 0.5, "long jobs", None),
            (FAULT_AT_S, "cut", "worker1"),
            (FAULT_AT_S + 30, "restore", "worker1"),
        ],
        SHORT_TIMEOUTS,
    ),
]


class Run:
    """One engine under load on its hosts, one fault during it."""

    def __init__(self, engine, fault, folder, hosts=None):
        self.engine, (self.fault, self.steps, *settings), self.folder = engine, fault, folder
        self.hosts = Hosts() if hosts is None else hosts
        self.ports = (
            {"broker": engine.broker_port, "web": engine.port}
            if isinstance(self.hosts, Hosts)
            else dict(zip(("broker", "web"), two_free_ports(), strict=True))
        )  # on loopback: free ones
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join((folder, str(ROOT))),
            "CLUSTER_MARKS": os.path.join(folder, "marks"),
            "PYTHONWARNINGS": "ignore:You're running the worker with superuser",
            **(settings or [{}])[0],
        }
        self.log = open(os.path.join(folder, "log"), "a")
        self.accepted, self.refused, self.users, self.health = {}, collections.Counter(), collections.Counter(), []
        self.stopping = threading.Event()  # set when the run ends early (Ctrl-C): the load's threads end too

    def start(self, what, name):
        port = self.ports["broker"]
        if what == "broker":
            command, cwd = self.engine.broker(self.hosts, self.folder, port), self.folder
        elif what == "worker":
            command, cwd = self.engine.worker(self.hosts, name, port), self.folder
        else:
            broker = self.hosts.addresses["broker"]
            command = [
                PYTHON,
                self.engine.script,
                "--host",
                self.hosts.addresses["web"],
                "--port",
                str(self.ports["web"]),
                "--task",
                "marked:mark",
                *(part.format(broker=broker, port=port) for part in self.engine.settings),
            ]
            cwd = ROOT
        return self.hosts.start(name, command, cwd=cwd, env=self.env, stdout=self.log, stderr=self.log)

    def outcome(self, path, method="GET", timeout=10):
        """(status or the error's name, body)."""
        try:
            status, _, body = request(self.ports["web"], path, method, timeout, host=self.hosts.addresses["web"])
            return status, body
        except TimeoutError:
            return "timeout", None
        except OSError as error:
            return type(error).__name__, None

    def ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answers = [self.client.submit(self.outcome, f"/?n={N_USER}") for _ in range(2)]
            if len({(body or {}).get("pid") for _, body in (a.result() for a in answers)} - {None}) == 2:
                return True
            time.sleep(0.5)
        return False

    def submit_jobs(self, started):
        for number in range(RATE * RUN_S):
            if self.stopping.wait(max(0.0, started + number / RATE - time.monotonic())):
                return
            status, body = self.outcome(f"/jobs?n={N_JOB + number}", "POST", timeout=5)
            if status == 202:
                self.accepted[body["id"]] = N_JOB + number
            else:
                self.refused[str(status)] += 1

    def load_users(self, started):
        while time.monotonic() - started < RUN_S and not self.stopping.is_set():
            status, _ = self.outcome(f"/?n={N_USER}")
            self.users[str(status)] += 1
            if status != 200:
                time.sleep(0.2)

    def probe(self, started, seconds=RUN_S + 10):
        """GET /health every 0.2 s (timeout 1 s): (when, answered, ms)."""
        while (now := time.monotonic()) - started < seconds:
            answered = self.outcome("/health", timeout=1)[0] == 200
            self.health.append((now - started, answered, (time.monotonic() - now) * 1000))
            if self.stopping.wait(max(0.0, 0.2 - (time.monotonic() - now))):
                return

    def faults(self, started):
        for at_s, action, name in self.steps:
            if self.stopping.wait(max(0.0, started + at_s - time.monotonic())):
                return
            if action in ("cut", "restore", "kill"):
                getattr(self.hosts, action)(name)
            elif action == "long jobs":
                for n in range(N_LONG, N_LONG + LONG_JOBS):
                    status, body = self.outcome(f"/jobs?n={n}", "POST", timeout=5)
                    if status == 202:
                        self.accepted[body["id"]] = n
            else:
                self.start(action.split()[1], name)

    def follow(self):
        """Each accepted job's last status, read until none is queued or running, or FOLLOW_S."""
        found, deadline = {}, time.monotonic() + FOLLOW_S
        while time.monotonic() < deadline:
            todo = [job for job in self.accepted if found.get(job, {}).get("status") not in ("done", "failed", "lost")]
            if not todo:
                break
            outcomes = self.client.map(lambda job: self.outcome(f"/jobs/{job}"), todo)
            for job, (status, body) in zip(todo, outcomes, strict=True):
                found[job] = body if status == 200 else {"status": "lost" if status == 404 else "unreachable"}
            time.sleep(1)
        return found

    def measure(self):
        with self.hosts:
            self.start_all()
            with self.hosts.client(threads=8) as self.client:
                if not self.ready():
                    return {"engine": self.engine.name, "fault": self.fault, "error": "did not come up"}
                started = time.monotonic()  # each part in a thread of the client host
                parts = [
                    self.client.submit(part, started)
                    for part in (self.submit_jobs, self.probe, self.faults, *[self.load_users] * USERS)
                ]
                try:
                    for part in parts:
                        part.result(RUN_S + 60)
                finally:
                    self.stopping.set()
                epoch_start = time.time() - (time.monotonic() - started)
                jobs = self.follow()
        return self.figures(jobs, epoch_start)

    def start_all(self):
        self.start("broker", "broker")
        for name in ("worker1", "worker2"):
            self.start("worker", name)
        self.start("web", "web")

    def open_loop(self, placement):
        """GET / at OPEN_RATE for OPEN_S from the client host (or loopback), no fault: the answers' latency, the
        health probe's, and each host's CPU seconds per answer."""
        with self.hosts:
            self.start_all()
            with self.hosts.client(threads=4) as self.client:
                if not self.ready():
                    return {"engine": self.engine.name, "placement": placement, "error": "did not come up"}
                roles = {"web": ["web"], "broker": ["broker"], "workers": ["worker1", "worker2"]}
                before = {role: sum(map(self.hosts.cpu_seconds, names)) for role, names in roles.items()}
                started = time.monotonic()
                probe = self.client.submit(self.probe, started, OPEN_S)
                url = f"http://{self.hosts.addresses['web']}:{self.ports['web']}/?n={N_USER}"
                try:
                    run = openloop.run(url, OPEN_RATE, OPEN_S, drain_s=10, on=self.hosts.runner("client"))
                finally:
                    self.stopping.set()  # the probe ends too, whatever happened
                probe.result(30)
                after = {role: sum(map(self.hosts.cpu_seconds, names)) for role, names in roles.items()}
        answered = run.get("ok") or 0
        latencies = [ms for _, ok, ms in self.health if ok]
        return {
            "engine": self.engine.name,
            "placement": placement,
            "rate": OPEN_RATE,
            "seconds": OPEN_S,
            "answered_per_s": run.get("transaction_rate"),
            "failed": run.get("failed"),
            "p50_ms": run.get("latency_ms", {}).get("p50"),
            "p99_ms": run.get("latency_ms", {}).get("p99"),
            "p99_above_ms": run.get("latency_ms", {}).get("p99_above"),
            "health_p99_ms": round(percentiles(latencies, (99,))["p99"], 1) if latencies else None,
            "health_failed": sum(not ok for _, ok, _ in self.health),
            "cpu_ms_per_answer": {
                role: round((after[role] - before[role]) * 1000 / answered, 1) if answered else None for role in roles
            },
            **({"error": run["error"]} if "error" in run else {}),
        }

    def figures(self, jobs, epoch_start):
        states = collections.Counter(jobs.get(job, {}).get("status", "unfinished") for job in self.accepted)
        marks = (
            collections.Counter(Path(self.env["CLUSTER_MARKS"]).read_text().split())
            if Path(self.env["CLUSTER_MARKS"]).exists()
            else collections.Counter()
        )
        twice = sum(marks[str(n)] > 1 for n in self.accepted.values())
        per_second = collections.Counter(
            int(job["done_at"] - epoch_start)
            for job in jobs.values()
            if job.get("status") == "done" and job.get("done_at")
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
        down = [t for t, ok, _ in self.health if not ok]
        return {
            "engine": self.engine.name,
            "fault": self.fault,
            "accepted": len(self.accepted),
            "refused": dict(self.refused),
            "done": states["done"],
            "failed": states["failed"],
            "lost": states["lost"],
            "unfinished": states["unfinished"] + states["queued"] + states["running"] + states["unreachable"],
            "ran_twice": twice,
            "back_after_s": back,
            "lowest_share": round(lowest, 2),
            "users": dict(self.users),
            "health_failed": len(down),
            "health_probes": len(self.health),
        }


def interrupted(signum, frame):
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the hosts of the run under way are removed on the way out


def describe(saved):
    """The load and the fault's timing, as a sentence before the table."""
    load = saved["load"]
    rate, seconds = load.get("open_rate", OPEN_RATE), load.get("open_s", OPEN_S)  # older results: these constants
    return (
        f"First, without a fault, ``GET /`` at {rate} requests/s for {seconds} s "
        f"(open loop), with every program on its host, then with the same programs on 127.0.0.1; then the "
        f"faults: jobs at {load['rate']}/s for {load['run_s']} s and {load['users']} users, the fault at "
        f"{load['fault_at_s']} s, jobs followed for up to {load['follow_s']} s more.\n\n"
    )


PLACEMENTS = {"hosts": Hosts, "loopback": Loopback}


def two_free_ports():
    while True:
        ports = free_port(), free_port()
        if ports[0] != ports[1]:
            return ports


def open_table(runs):
    """The open loop on hosts and on loopback, side by side."""

    def ms(value):
        return "–" if value is None else f"{value:.0f}"

    rows = [
        [
            run["engine"],
            run["placement"],
            run.get("answered_per_s", "–"),
            run.get("failed", "–"),
            ms(run.get("p50_ms")),
            f"> {run['p99_above_ms']:.0f}" if run.get("p99_above_ms") else ms(run.get("p99_ms")),
            ms(run.get("health_p99_ms")),
            run.get("health_failed", "–"),
            *[(run.get("cpu_ms_per_answer") or {}).get(role, "–") for role in ("web", "broker", "workers")],
            run.get("error", ""),
        ]
        for run in runs
    ]
    return tabulate(
        rows,
        [
            "Server",
            "On",
            "Answered/s",
            "Failed",
            "p50 ms",
            "p99 ms",
            "Health p99 ms",
            "Health failed",
            "CPU ms/answer: web",
            "broker",
            "workers",
            "Note",
        ],
        tablefmt="rst",
    )


def table(runs):
    rows = [
        [
            run["engine"],
            run["fault"],
            run.get("accepted"),
            run.get("done"),
            run.get("failed"),
            run.get("lost"),
            run.get("ran_twice"),
            run.get("unfinished"),
            "–" if run.get("back_after_s") is None else run["back_after_s"],
            run.get("lowest_share"),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.get("users", {}).items())),
            ", ".join(f"{k}: {v}" for k, v in sorted(run.get("refused", {}).items())) or "0",
            f"{run.get('health_failed')} of {run.get('health_probes')}",
        ]
        for run in runs
    ]
    return tabulate(
        rows,
        [
            "Server",
            "Fault",
            "Accepted",
            "Done",
            "Failed",
            "Lost",
            "Ran twice",
            "Unfinished",
            "Back after s",
            "Lowest 3 s",
            "Users' answers",
            "Jobs refused",
            "Health failed",
        ],
        tablefmt="rst",
    )


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="celery,dask", help="comma-separated: celery, dask")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results.json goes")
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    if any(engine not in ENGINES for engine in engines):
        parser.error(f"--engines: from {', '.join(ENGINES)}")
    if not is_root():
        parser.error("network namespaces need root (run as root, or with sudo)")
    signal.signal(signal.SIGTERM, interrupted)
    opens = [(ENGINES[engine], placement) for engine in engines for placement in PLACEMENTS]
    todo = [(ENGINES[engine], fault) for engine in engines for fault in FAULTS]
    runs, open_runs, env = [], [], environment({})

    def minutes_left(done):
        return ((len(opens) - done) * (OPEN_S + 30) + len(todo) * (RUN_S + 25)) // 60

    with tempfile.TemporaryDirectory(prefix="cluster-") as folder:
        Path(folder, "marked.py").write_text(MARKED)
        try:
            for index, (engine, placement) in enumerate(opens):
                print(
                    f"[open {index + 1}/{len(opens)}] {engine.name}: {OPEN_RATE}/s on {placement} (about "
                    f"{minutes_left(index)} min left)",
                    flush=True,
                )
                try:
                    open_runs.append(
                        Run(engine, ("no fault", []), folder, PLACEMENTS[placement]()).open_loop(placement)
                    )
                except Exception as error:  # noqa: BLE001 - the run says why, and the others go on
                    open_runs.append(
                        {"engine": engine.name, "placement": placement, "error": f"{type(error).__name__}: {error}"}
                    )
            for index, (engine, fault) in enumerate(todo):
                print(
                    f"[{index + 1}/{len(todo)}] {engine.name}: {fault[0]} (about "
                    f"{(len(todo) - index) * (RUN_S + 25) // 60} min left)",
                    flush=True,
                )
                Path(folder, "marks").unlink(missing_ok=True)
                try:
                    runs.append(Run(engine, fault, folder).measure())
                except Exception as error:  # noqa: BLE001 - the run says why, and the others go on
                    runs.append({"engine": engine.name, "fault": fault[0], "error": f"{type(error).__name__}: {error}"})
        except KeyboardInterrupt:
            print("Interrupted: the hosts and every process on them were removed; nothing saved.", flush=True)
            return 1
    out = args.out / time.strftime("cluster-%Y-%m-%d_%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    saved = {
        "environment": env,
        "load": {
            "rate": RATE,
            "run_s": RUN_S,
            "users": USERS,
            "fault_at_s": FAULT_AT_S,
            "follow_s": FOLLOW_S,
            "short_s": SHORT_S,
            "open_rate": OPEN_RATE,
            "open_s": OPEN_S,
        },
        "open": open_runs,
        "runs": runs,
    }
    write(out / "results.json", record_of(saved, ClusterResults, "the hosts' results"))
    text = open_table(open_runs) + "\n\n" + table(runs)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
