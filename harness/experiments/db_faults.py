"""The db kind's faults: PostgreSQL restarted under load, and pre-forked copies that want more connections than it
takes. What the users saw, from the open-loop driver (latency from when each request was due, every failure kept).

Restart: each strategy that runs the db kind serves GET /?n=50 (a query that waits 50 ms in PostgreSQL) at RATE
requests/s for RUN_S, its pools sized for the AT_ONCE requests that rate keeps in flight; at DOWN_AT_S the suite's
PostgreSQL is shut down fast (its connections ended) and started again DOWN_S later. Per row: the answers, the
failures while it was down and after it was back, until when, and the longest request; none may hang.

Past max_connections: the copies of uvicorn's and gunicorn's workers each have a pool of their own, so that what
PostgreSQL sees is copies × pool. COPIES workers, each with TOO_MANY connections (more than PostgreSQL's default
max_connections in all), or with SQLAlchemy's default pool, serve GET /?n=1000 at CROWD requests/s: a query that
finds no connection left fails at once ("too many clients"), counted, and nothing hangs.

    .venv/bin/python -m harness.experiments.db_faults [--servers 3,8]     (make db-faults)
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
from harness.servers import SERVERS, by_name
from processes import cpu_count, free_port, on_stop_signals

RATE, RUN_S, DOWN_AT_S, DOWN_S, N_MS = 40, 12, 4, 2, 50  # requests/s, seconds, ms of each query
AT_ONCE = 10  # the requests in flight the pools are sized for: rate × 50 ms is 2, with room for the restart's
DRAIN_S = 40  # past SQLAlchemy's 30 s wait for a connection: a request still unanswered then is hanging
COPIES, TOO_MANY, CROWD, CROWD_MS, CROWD_S = 4, 40, 120, 1000, 8  # 4 × 40 connections > max_connections 100
CROWDED = [("8_fastapi --processes", "--workers"), ("9_flask --worker-class gthread", "--threads")]


def sized(server):
    """The row as its user sets it up for AT_ONCE requests at once: its pool, and where tasks at once share one
    process's connections, the connection pool too."""
    row = server.sized_for(AT_ONCE, cpu_count())
    return row.with_options("--db-pool", str(AT_ONCE)) if row.tasks_share_a_pool else row


def restart_rows(servers):
    """The rows of the restart table: each strategy on the suite's Python (not a twin on another build)."""
    return [sized(server) for server in servers if server.python == sys.executable and not server.free_threaded]


def crowded_rows():
    """(the row, what it is) for COPIES workers of uvicorn and of gunicorn, each with TOO_MANY threads, at
    SQLAlchemy's default pool and with TOO_MANY connections each."""
    rows = []
    for name, threads in CROWDED:
        server = by_name(name)
        copies = (*(arg for arg in server.args if arg != "--processes"), "--processes", str(COPIES))
        base = replace(server, args=copies).with_options(threads, str(TOO_MANY))
        said = f"{server.name.split(' ')[0]} {server.http_stack}: {COPIES} workers × {TOO_MANY} threads"
        rows += [
            (base, f"{said}, default pool ({COPIES} × 15 connections)"),
            (base.with_options("--db-pool", str(TOO_MANY)), f"{said}, --db-pool {TOO_MANY} ({COPIES * TOO_MANY})"),
        ]
    return rows


def served(server, url, load, during=None):
    """The server started against the database at `url`, checked with one query, then `load(port)` run while
    `during(start)` runs beside it (start: the load's second 0, time.monotonic()); (load's result, during's
    result), or {"error": ...} if it did not come up."""
    process = ServerProcess(server, free_port(), ("--task", "db", "--database", url)).start()
    try:
        if not process.wait_healthy(60):
            return {"error": f"did not come up: {process.output().strip().splitlines()[-1:]}"}, None
        start = time.monotonic() + 1
        beside = {}
        thread = threading.Thread(target=lambda: beside.update(found=during(start)) if during else None)
        thread.start()
        try:
            return load(process.port, start), beside
        finally:
            thread.join()
    finally:
        process.stop()


def restart_figures(run, start, down_at, up_at):
    """A row of the restart table from the driver's run: failures while down (due before PostgreSQL took
    connections again) and after, and how long after it was back the last one was due."""
    failed_at = [start + due for due, _ in run.get("failures", [])]
    after = [at for at in failed_at if at >= up_at]
    return {
        "answered": run.get("ok"),
        "failed_down": len(failed_at) - len(after),
        "failed_after": len(after),
        "failing_for_s": round(max(after) - up_at, 2) if after else 0.0,
        "down_s": round(up_at - down_at, 2),
        "longest_ms": run.get("longest_answer_ms"),
        "unanswered": run.get("unfinished"),
        "errors": run.get("errors", {}),
        **({"error": run["error"]} if "error" in run else {}),
    }


def under_restart(server, database):
    def load(port, start):
        url = f"http://{HOST}:{port}/?n={N_MS}"
        return {**openloop.run(url, RATE, RUN_S, drain_s=DRAIN_S, start=start, failures=True), "start": start}

    def restart(start):
        time.sleep(max(0.0, start + DOWN_AT_S - time.monotonic()))
        return database.restart(DOWN_S)

    run, beside = served(server, database.url, load, restart)
    if "error" in run or not beside.get("found"):
        return {"server": server.label, "error": run.get("error", "no restart")}
    return {"server": server.label, **restart_figures(run, run["start"], *beside["found"])}


def crowded(server, said, database):
    def load(port, start):
        url = f"http://{HOST}:{port}/?n={CROWD_MS}"
        return openloop.run(url, CROWD, CROWD_S, drain_s=DRAIN_S, start=start, failures=True)

    run, _ = served(server, database.url, load)
    return {
        "server": said,
        "answered": run.get("ok"),
        "failed": run.get("failed"),
        "longest_ms": run.get("longest_answer_ms"),
        "unanswered": run.get("unfinished"),
        "errors": run.get("errors", {}),
        **({"error": run["error"]} if "error" in run else {}),
    }


def cell(value, form="{}"):
    return "–" if value is None else form.format(value)


def errors_of(row):
    """What failed, as the row's note says it: the driver's error kinds and counts, or why it was not measured."""
    if row.get("error"):
        return row["error"]
    return ", ".join(f"{kind} ×{count}" for kind, count in sorted(row.get("errors", {}).items())) or "none"


def restart_table(rows):
    head = f"{'strategy':52} {'answered':>8} {'failed down':>11} {'after back':>10} {'until s':>7} {'longest ms':>10}"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['server']:52} {cell(row.get('answered')):>8} {cell(row.get('failed_down')):>11} "
            f"{cell(row.get('failed_after')):>10} {cell(row.get('failing_for_s'), '{:.1f}'):>7} "
            f"{cell(row.get('longest_ms'), '{:.0f}'):>10}"
        )
    lines += ["", "What failed:"] + [f"  {row['server']}: {errors_of(row)}" for row in rows]
    unanswered = [row["server"] for row in rows if row.get("unanswered")]
    lines.append(f"Unanswered after {DRAIN_S} s (hanging): " + (", ".join(unanswered) if unanswered else "none"))
    return "\n".join(lines)


def crowded_table(rows):
    head = f"{'workers, threads and connections':62} {'answered':>8} {'failed':>6} {'longest ms':>10}"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['server']:62} {cell(row.get('answered')):>8} {cell(row.get('failed')):>6} "
            f"{cell(row.get('longest_ms'), '{:.0f}'):>10}"
        )
    lines += ["", "What failed:"] + [f"  {row['server']}: {errors_of(row)}" for row in rows]
    unanswered = [row["server"] for row in rows if row.get("unanswered")]
    lines.append(f"Unanswered after {DRAIN_S} s (hanging): " + (", ".join(unanswered) if unanswered else "none"))
    return "\n".join(lines)


def main(argv=None):
    parser = OneLineParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=server_list, default=list(SERVERS), help="as run_all.py's (default all)")
    parser.add_argument("--no-crowd", action="store_true", help="the restart only, not the copies past the cap")
    options = parser.parse_args(argv)
    if why := postgres.missing():
        parser.error(f"no PostgreSQL: {why}")
    task = tasks.Task("db")
    rows = restart_rows(can_run(runnable(options.servers, "db_faults"), task, "db_faults"))
    database = postgres.Postgres()  # PostgreSQL's default max_connections, 100
    # The first Ctrl-C or SIGTERM stops the run where it is, and the servers and PostgreSQL are stopped on the way
    # out; a second one, or 30 s, kills every process it started by pid, and its folder goes last.
    on_stop_signals(
        first=lambda signum: None, status=1, grace_s=30, main_thread_handler=interrupt_once, last=database.stop
    )
    try:
        try:
            database.start()
        except RuntimeError as error:
            print(f"db_faults: error: {error}", file=sys.stderr)
            return 1
        print(
            f"Restart: PostgreSQL (max_connections {database.max_connections}) shut down fast {DOWN_AT_S} s into "
            f"{RUN_S} s of GET /?n={N_MS} at {RATE} requests/s, started again {DOWN_S} s later; pools sized for "
            f"{AT_ONCE} requests at once. Failed down: due before it took connections again; after back: due "
            "after; until: the last of those, seconds after it was back.",
            flush=True,
        )
        found = []
        for index, server in enumerate(rows, 1):
            print(f"[{index}/{len(rows)}] restart: {server.label}", file=sys.stderr, flush=True)
            found.append(under_restart(server, database))
        print(restart_table(found), flush=True)
        if options.no_crowd:
            return 0
        print(
            f"\nPast max_connections: {COPIES} workers, each with {TOO_MANY} threads, GET /?n={CROWD_MS} at {CROWD} "
            f"requests/s for {CROWD_S} s: at SQLAlchemy's default pool (15 connections a worker, "
            f"{COPIES * 15} in all), and with --db-pool {TOO_MANY} ({COPIES * TOO_MANY} in all, against "
            f"max_connections {database.max_connections}).",
            flush=True,
        )
        crowd = []
        for index, (server, said) in enumerate(rows := crowded_rows(), 1):
            print(f"[{index}/{len(rows)}] past max_connections: {said}", file=sys.stderr, flush=True)
            crowd.append(crowded(server, said, database))
        print(crowded_table(crowd), flush=True)
    except KeyboardInterrupt:
        print("db_faults: stopped", file=sys.stderr)
        return 1
    finally:
        database.stop()
    return 0


INTERRUPTED = []


def interrupt_once(signum):
    if not INTERRUPTED:
        INTERRUPTED.append(signum)
        raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
