"""make cluster: the fault table. Server 6 (Celery on Redis) and server 5 (Dask) each run with the broker or scheduler
and two workers on hosts of their own (harness/hosts/namespaces.py), under background jobs and a few users, while one
host is cut off or killed: every accepted job accounted for (done, failed, lost, run twice, unfinished at the deadline),
how long until the jobs' throughput is back, what clients saw meanwhile, whether /health stayed up.

    .venv/bin/python -m harness.hosts.cluster [--engines celery,dask]     (make cluster; into docs/: make report)

Root only (network namespaces). Each job's task writes its n to a file shared by the hosts (one machine's disk) once
it has computed it, so that a job run twice is seen twice. The pieces: the engines' commands (engines.py), where
they run (placement.py), the faults (faults.py), what is measured (measured.py; the jobs sent and followed by the
suite's job driver, harness/load/jobs.py), the tables (fault_table.py); here, the runs one after the other and their
results.json.
"""

import signal
import sys
import tempfile
import time
from pathlib import Path

from harness.cli import OneLineParser
from harness.hosts import measured
from harness.hosts.engines import ENGINES, MARKED
from harness.hosts.fault_table import notes, open_table, table
from harness.hosts.faults import FAULTS, SHORT_S, inject
from harness.hosts.namespaces import is_root
from harness.hosts.placement import PLACEMENTS, ROLES, Placement
from harness.instruments.provenance import environment
from harness.load import openloop
from harness.records.blocks import ClusterResults
from harness.records.file import record_of, write
from harness.servers import ROOT

LOAD = {  # saved with the results: the sentence before the tables says them
    "rate": measured.RATE,
    "run_s": measured.RUN_S,
    "users": measured.USERS,
    "fault_at_s": measured.FAULT_AT_S,
    "follow_s": measured.FOLLOW_S,
    "short_s": SHORT_S,
    "open_rate": measured.OPEN_RATE,
    "open_s": measured.OPEN_S,
}


def under_fault(engine, fault, folder):
    """One engine under load on hosts of its own, `fault` during it: its row of the fault table."""
    record = measured.Record()
    with Placement(engine, folder, settings=fault.settings) as placement:
        placement.start_all()
        with placement.hosts.client(threads=8) as client:
            if not placement.ready(client, measured.USER_PATH):
                return {"engine": engine.name, "fault": fault.name, "error": "did not come up"}
            # Every part keeps time from `started`: the job driver's schedule (in a process of its own, started
            # last, here), the fault's steps, and the probe and the users (each in a thread of the client host).
            started = time.monotonic() + openloop.LEAD_S  # the job driver's process starts first
            probe, *users = measured.during(placement, record, client, started)
            parts = [*users, client.submit(inject, fault, placement, started, record.stopping)]
            try:
                # In this thread, so that Ctrl-C ends the driver's process at once (a pool thread would wait it out)
                run = measured.send_jobs(placement, started, fault.long_jobs_at)
                for part in parts:
                    part.result(measured.RUN_S + 60)
            finally:
                record.stopping.set()
                health = probe.result().stop()
            epoch_start = time.time() - (time.monotonic() - started)
    figures = measured.figures(run, record, epoch_start, placement.marks, health)
    return {"engine": engine.name, "fault": fault.name, **figures}


def open_loop(engine, where, folder):
    """GET / at OPEN_RATE for OPEN_S from the client host (or loopback: `where`), no fault: the answers' latency,
    the health probe's, and each host's CPU seconds per answer."""
    with Placement(engine, folder, PLACEMENTS[where]()) as placement:
        placement.start_all()
        hosts = placement.hosts
        with hosts.client(threads=4) as client:
            if not placement.ready(client, measured.USER_PATH):
                return {"engine": engine.name, "placement": where, "error": "did not come up"}
            before = {role: sum(map(hosts.cpu_seconds, names)) for role, names in ROLES.items()}
            probe = client.submit(measured.start_probe, placement, measured.OPEN_S).result()
            url = placement.url(measured.USER_PATH)
            try:
                run = openloop.run(url, measured.OPEN_RATE, measured.OPEN_S, drain_s=10, on=hosts.runner("client"))
            finally:
                health = probe.stop()  # whatever happened
            after = {role: sum(map(hosts.cpu_seconds, names)) for role, names in ROLES.items()}
    cpu_seconds = {role: after[role] - before[role] for role in ROLES}
    return {"engine": engine.name, "placement": where, **measured.open_figures(run, health, cpu_seconds)}


def save(folder, saved):
    """The one place make cluster writes its results.json (harness/records/file.py): the record saved."""
    results = record_of(saved, ClusterResults, "the hosts' results")
    write(folder / "results.json", results)
    return results


def interrupted(signum, frame):
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the hosts of the run under way are removed on the way out


def measure_all(engines, out):
    """The open loop of each engine on hosts and on loopback, then each engine under each fault; results.json in a
    folder of its own under `out`. Its exit status (1: interrupted, nothing saved)."""
    opens = [(engine, where) for engine in engines for where in PLACEMENTS]
    todo = [(engine, fault) for engine in engines for fault in FAULTS]
    runs, open_runs, env = [], [], environment({})

    def minutes_left(done):
        return ((len(opens) - done) * (measured.OPEN_S + 30) + len(todo) * (measured.RUN_S + 25)) // 60

    with tempfile.TemporaryDirectory(prefix="cluster-") as folder:
        Path(folder, "marked.py").write_text(MARKED)
        try:
            for index, (engine, where) in enumerate(opens):
                print(
                    f"[open {index + 1}/{len(opens)}] {engine.name}: {measured.OPEN_RATE}/s on {where} (about "
                    f"{minutes_left(index)} min left)",
                    flush=True,
                )
                try:
                    open_runs.append(open_loop(engine, where, folder))
                except Exception as error:  # noqa: BLE001 - the run says why, and the others go on
                    open_runs.append(
                        {"engine": engine.name, "placement": where, "error": f"{type(error).__name__}: {error}"}
                    )
            for index, (engine, fault) in enumerate(todo):
                print(
                    f"[{index + 1}/{len(todo)}] {engine.name}: {fault.name} (about "
                    f"{(len(todo) - index) * (measured.RUN_S + 25) // 60} min left)",
                    flush=True,
                )
                Path(folder, "marks").unlink(missing_ok=True)
                try:
                    runs.append(under_fault(engine, fault, folder))
                except Exception as error:  # noqa: BLE001 - the run says why, and the others go on
                    runs.append(
                        {"engine": engine.name, "fault": fault.name, "error": f"{type(error).__name__}: {error}"}
                    )
        except KeyboardInterrupt:
            print("Interrupted: the hosts and every process on them were removed; nothing saved.", flush=True)
            return 1
    folder = out / time.strftime("cluster-%Y-%m-%d_%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    saved = save(folder, {"environment": env, "load": LOAD, "open": open_runs, "runs": runs})
    print(open_table(saved.open) + "\n\n" + table(saved.runs) + "\n\n" + notes(saved.runs))
    return 0


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="celery,dask", help="comma-separated: celery, dask")
    parser.add_argument("--out", type=Path, default=ROOT / "results", help="where results.json goes")
    options = parser.parse_args(argv)
    engines = options.engines.split(",")
    if any(engine not in ENGINES for engine in engines):
        parser.error(f"--engines: from {', '.join(ENGINES)}")
    if not is_root():
        parser.error("network namespaces need root (run as root, or with sudo)")
    signal.signal(signal.SIGTERM, interrupted)
    return measure_all([ENGINES[engine] for engine in engines], options.out)


if __name__ == "__main__":
    sys.exit(main())
