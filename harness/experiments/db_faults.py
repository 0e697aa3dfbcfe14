"""The db kind's faults: PostgreSQL restarted under load, and pre-forked workers that want more connections than it
takes. What the users saw, from the open-loop driver (latency from when each request was due, every failure kept).

Restart: each strategy that runs the db kind on the suite's Python serves GET /?n=20 (a query that waits 20 ms in
PostgreSQL) at RATE requests/s for RUN_S, its pools sized for the AT_ONCE requests that rate keeps in flight; at
DOWN_AT_S the suite's PostgreSQL is shut down fast (its connections ended) and started again DOWN_S later. Per row:
the answers, the failures before the fault, while it was down and after it was back, until when, and the longest
wait; none may hang.

Past max_connections: uvicorn's and gunicorn's workers each have a pool of their own, so that PostgreSQL sees
workers × pool. COPIES workers, each with TOO_MANY threads, at SQLAlchemy's default pool and with TOO_MANY
connections each (more than PostgreSQL's default max_connections in all), serve GET /?n=1000 at CROWD requests/s:
a query that finds no connection left fails at once ("too many clients"), counted, and nothing hangs.

    .venv/bin/python -m harness.experiments.db_faults [--servers 3,8] [--no-crowd]     (make db-faults)
"""

import sys
import threading
import time
from dataclasses import replace

import tasks
from harness import postgres
from harness.cli import OneLineParser, can_run, runnable, server_list
from harness.load import openloop
from harness.network import HOST
from harness.server_process import ServerProcess
from harness.servers import SERVERS
from processes import InterruptOnce, cpu_count, free_port, on_stop_signals, stop_children

# requests/s, seconds, ms of each query: a server of one thread is busy 40 % of the time, so that what its users
# see is the fault's, not a backlog's
RATE, RUN_S, DOWN_AT_S, DOWN_S, N_MS = 20, 12, 4, 2, 20
AT_ONCE = 10  # the requests in flight the pools are sized for: rate × 20 ms is under 1, with room for the restart's
DRAIN_S = 40  # past SQLAlchemy's 30 s wait for a connection: a request still unanswered then is hanging
COPIES, TOO_MANY, CROWD, CROWD_MS, CROWD_S = 4, 40, 120, 1000, 8  # 4 × 40 connections > max_connections 100
CROWDED = {"8_fastapi --processes": "--workers", "9_flask --worker-class gthread": "--threads"}  # threads' option


def sized(server):
    """The row as its user sets it up for AT_ONCE requests at once: its pool, and its connections."""
    return server.sized_for(AT_ONCE, cpu_count()).with_connections_for(AT_ONCE)


def restart_rows(servers):
    """The rows of the restart table: each strategy on the suite's Python (not a twin on another build)."""
    return [sized(server) for server in servers if server.python == sys.executable and not server.free_threaded]


def crowded_rows(servers):
    """(row, what it is) for COPIES workers of those of `servers` that are uvicorn's or gunicorn's (CROWDED), each
    with TOO_MANY threads, at SQLAlchemy's default pool and with TOO_MANY connections each."""
    rows = []
    for server in (server for server in servers if server.label in CROWDED):
        copies = (*(arg for arg in server.args if arg != "--processes"), "--processes", str(COPIES))
        base = replace(server, args=copies).with_options(CROWDED[server.label], str(TOO_MANY))
        said = f"{server.label}: {COPIES} workers × {TOO_MANY} threads"
        rows += [
            (base, f"{said}, default pool ({COPIES} × {tasks.DEFAULT_CONNECTIONS})"),
            (base.with_options("--db-pool", str(TOO_MANY)), f"{said}, --db-pool {TOO_MANY} ({COPIES * TOO_MANY})"),
        ]
    return rows


def served(server, url, load, beside=None):
    """The server started against the database at `url`, then `load(port, start)` run (start: the load's second
    0, time.monotonic(), LEAD_S ahead) while `beside(start)` runs in a thread: (load's result, beside's or its
    RuntimeError), or ({"error": ...}, None) if the server did not come up."""
    process = ServerProcess(server, free_port(), ("--task", "db", "--database", url)).start()
    try:
        if not process.wait_healthy(60):
            said = process.output().strip().splitlines()
            return {"error": f"did not come up: {said[-1] if said else 'no output'}"}, None
        start, found = time.monotonic() + openloop.LEAD_S, {}

        def run_beside():
            try:
                found["result"] = beside(start)
            except RuntimeError as error:
                found["result"] = error

        thread = threading.Thread(target=run_beside) if beside else None
        if thread:
            thread.start()
        try:
            run = load(process.port, start)
        finally:
            if thread:
                thread.join()
        return run, found.get("result")
    finally:
        process.stop()


def restart_figures(run, start, fault_at, up_at):
    """A row of the restart table from the driver's run (its `failures`: [due second, wait]): the requests that
    failed before the fault began (unrelated to it), those due before PostgreSQL took connections again that failed
    from the fault on (in flight at the shutdown, or sent while it was down), those due after it was back, how long
    after it was back the last of those was due, and the longest wait."""
    failures = [(start + due, start + due + wait) for due, wait in run.get("failures", [])]
    after = [due for due, _ in failures if due >= up_at]
    return {
        "answered": run.get("ok"),
        "failed_before": sum(failed < fault_at for _, failed in failures),
        "failed_down": sum(due < up_at and failed >= fault_at for due, failed in failures),
        "failed_after": len(after),
        "failing_for_s": round(max((due - up_at for due in after), default=0.0), 2),
        "down_s": round(up_at - fault_at, 2),
        "longest_ms": run.get("longest_wait_ms"),
        "unanswered": run.get("unfinished"),
        "errors": run.get("errors", {}),
        **driver_said(run),
    }


def driver_said(run):
    """The driver's error as a row keeps it: a note beside the figures where it measured all the same (it fell
    behind its schedule), the row's error where it has no figures (it did not run)."""
    if "error" not in run:
        return {}
    return {"note" if "failures" in run else "error": run["error"]}


def under_restart(server, database, stopping):
    """The row of `server` with PostgreSQL restarted DOWN_AT_S into the load (stopping: a threading.Event that
    ends the wait for the fault and the time down early)."""

    def load(port, start):
        url = f"http://{HOST}:{port}/?n={N_MS}"
        return {**openloop.run(url, RATE, RUN_S, drain_s=DRAIN_S, start=start, failures=True), "start": start}

    def restart(start):
        if stopping.wait(max(0.0, start + DOWN_AT_S - time.monotonic())):
            return None
        return database.restart(DOWN_S, stopping)

    run, times = served(server, database.url, load, restart)
    if "failures" not in run or not isinstance(times, tuple):
        why = run.get("error") or str(times or "no restart")
        return {"server": server.label, "error": why}
    return {"server": server.label, **restart_figures(run, run["start"], *times)}


def crowded(server, said, database):
    def load(port, start):
        url = f"http://{HOST}:{port}/?n={CROWD_MS}"
        return openloop.run(url, CROWD, CROWD_S, drain_s=DRAIN_S, start=start, failures=True)

    run, _ = served(server, database.url, load)
    return {
        "server": said,
        "answered": run.get("ok"),
        "failed": run.get("failed"),
        "longest_ms": run.get("longest_wait_ms"),
        "unanswered": run.get("unfinished"),
        "errors": run.get("errors", {}),
        **driver_said(run),
    }


def cell(value, form="{}"):
    return "–" if value is None else form.format(value)


def what_failed(rows):
    """The lines under a table: each row's failures by kind (or why it has no figures), its driver's note, and
    the rows with requests still unanswered when the drain ended."""

    def said(row):
        if row.get("error"):
            return f"not measured: {row['error']}"
        kinds = ", ".join(f"{kind} ×{count}" for kind, count in sorted(row.get("errors", {}).items()))
        return (kinds or "none") + (f" (the driver: {row['note']})" if row.get("note") else "")

    hanging = [row["server"] for row in rows if row.get("unanswered")]
    return ["", "What failed:", *[f"  {row['server']}: {said(row)}" for row in rows]] + [
        f"Unanswered after {DRAIN_S} s (hanging): " + (", ".join(hanging) if hanging else "none")
    ]


def label_width(rows, head):
    return max(len(head), *(len(row["server"]) for row in rows))


def restart_table(rows):
    columns = [("answered", "{}"), ("failed_before", "{}"), ("failed_down", "{}"), ("failed_after", "{}")]
    width = label_width(rows, "strategy")
    head = (
        f"{'strategy':{width}} {'answered':>8} {'failed before':>13} {'while down':>10} {'after':>5} {'until s':>7} "
        f"{'down s':>6} {'longest ms':>10}"
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        counts = [cell(row.get(key), form) for key, form in columns]
        lines.append(
            f"{row['server']:{width}} {counts[0]:>8} {counts[1]:>13} {counts[2]:>10} {counts[3]:>5} "
            f"{cell(row.get('failing_for_s'), '{:.1f}'):>7} {cell(row.get('down_s'), '{:.1f}'):>6} "
            f"{cell(row.get('longest_ms'), '{:.0f}'):>10}"
        )
    return "\n".join(lines + what_failed(rows))


def crowded_table(rows):
    width = label_width(rows, "workers, threads and connections")
    head = f"{'workers, threads and connections':{width}} {'answered':>8} {'failed':>6} {'longest ms':>10}"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['server']:{width}} {cell(row.get('answered')):>8} {cell(row.get('failed')):>6} "
            f"{cell(row.get('longest_ms'), '{:.0f}'):>10}"
        )
    return "\n".join(lines + what_failed(rows))


def measure(restarts, crowd, database, stopping):
    """Both tables, printed as they are measured."""
    print(
        f"Restart: PostgreSQL (max_connections {database.max_connections}) shut down fast {DOWN_AT_S} s into "
        f"{RUN_S} s of GET /?n={N_MS} at {RATE} requests/s, started again {DOWN_S} s later; pools sized for "
        f"{AT_ONCE} requests at once. Failed: before the fault; while down (due before PostgreSQL took connections "
        "again, failed from its shutdown on: down s); after (due after); until: the last of those, seconds after "
        "it was back.",
        flush=True,
    )
    found = []
    for index, server in enumerate(restarts, 1):
        print(f"[{index}/{len(restarts)}] restart: {server.label}", file=sys.stderr, flush=True)
        found.append(under_restart(server, database, stopping))
        if not database.running():  # not back after its restart: the rows after it would measure nothing
            print(restart_table(found), flush=True)
            raise RuntimeError(found[-1].get("error") or "PostgreSQL is not running after its restart")
    print(restart_table(found), flush=True)
    if not crowd:
        return
    print(
        f"\nPast max_connections: {COPIES} workers, each with {TOO_MANY} threads, GET /?n={CROWD_MS} at {CROWD} "
        f"requests/s for {CROWD_S} s: at SQLAlchemy's default pool ({tasks.DEFAULT_CONNECTIONS} connections a "
        f"worker), and with --db-pool {TOO_MANY} ({COPIES * TOO_MANY} in all, against max_connections "
        f"{database.max_connections}).",
        flush=True,
    )
    found = []
    for index, (server, said) in enumerate(crowd, 1):
        print(f"[{index}/{len(crowd)}] past max_connections: {said}", file=sys.stderr, flush=True)
        found.append(crowded(server, said, database))
    print(crowded_table(found), flush=True)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=server_list, default=list(SERVERS), help="as run_all.py's (default all)")
    parser.add_argument("--no-crowd", action="store_true", help="the restart only, not the workers past the cap")
    options = parser.parse_args(argv)
    if why := postgres.missing():
        parser.error(f"no PostgreSQL: {why}")
    servers = can_run(runnable(options.servers, "db_faults"), tasks.Task("db"), "db_faults")
    restarts, crowd = restart_rows(servers), [] if options.no_crowd else crowded_rows(servers)
    if not restarts and not crowd:
        parser.error("none of the servers given runs the db kind here")
    database, stopping = postgres.Postgres(), threading.Event()  # PostgreSQL's default max_connections, 100
    # The first Ctrl-C or SIGTERM stops the run where it is, and the servers and PostgreSQL are stopped on the way
    # out; a second one, or 30 s, kills every process it started by pid, and its folder goes last.
    on_stop_signals(
        first=lambda signum: stopping.set(),
        status=1,
        grace_s=30,
        main_thread_handler=InterruptOnce(),
        last=database.stop,
    )
    interrupted = False
    try:
        database.start()
        measure(restarts, crowd, database, stopping)
    except RuntimeError as error:  # PostgreSQL did not start, or did not come back
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stopping.set()
        database.stop()
    if interrupted:
        # An interrupt inside subprocess.Popen, after the fork and before the pid is kept, leaves a child no stop by
        # pid reaches; this process adopts orphans (a subreaper): whatever still lives below it, it started.
        escaped = stop_children()
        swept = f" (the last sweep stopped {', '.join(escaped)})" if escaped else ""
        print(f"{parser.prog}: stopped{swept}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
