"""The command line every server shares: --host, --port, --task and what it calls (--backend, --database), the
pool options, and each server's own; a mistake is one line and exit status 2."""

import argparse
import os
import sys

import tasks
from processes import cpu_count


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line (not the usage, then the error) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def fail_usage(message):
    """A mistake in options that argparse cannot see alone (two that do not go together): one line, status 2."""
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def parse_args(
    doc,
    port,
    workers=False,
    options=None,
    task=True,
    copies=False,
    job_ttl=True,
    max_pending=True,
    workers_default=cpu_count(),  # noqa: B008 - this machine's CPUs, read once at import
    workers_help="pool size (default: CPUs, %(default)s)",
    awaited_by=lambda args: None,
):
    """The command line every server shares (--host, --port, --task and --backend, --workers for the pools,
    --processes for a server that can run as copies), plus `options`: {"--flag": argparse keyword arguments} of
    the server's own. args.task is a tasks.Task, checked to run under this strategy: `awaited_by(args)` names the
    option by which the server awaits the task (an async def then, and only then), None where it calls it."""
    parser = OneLineParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    parser.add_argument("--port", type=int, default=port, help="port to listen on (default %(default)s)")
    if task:
        parser.add_argument(
            "--task",
            default="cpu",
            metavar="KIND",
            help=f"what GET / runs: {', '.join(tasks.KINDS)}"
            " or MODULE:FUNCTION, your own function of n (default %(default)s)",
        )
        parser.add_argument(
            "--backend",
            default=tasks.DEFAULT_BACKEND,
            metavar="URL",
            help="the slow service that the http task calls (default %(default)s: backend.py)",
        )
        parser.add_argument(
            "--database",
            metavar="URL",
            help="the PostgreSQL that the db task queries, postgresql://USER@HOST:PORT/NAME",
        )
        parser.add_argument(
            "--db-pool",
            type=int,
            metavar="N",
            help="the db task's connections in each process (default: SQLAlchemy's pool, 5 and 10 more on demand)",
        )
    if workers:
        parser.add_argument("--workers", type=int, default=workers_default, help=workers_help)
    if workers and max_pending:
        parser.add_argument(
            "--max-pending",
            type=int,
            metavar="N",
            help="answer 503 at once while N tasks are already running or queued, or N background "
            "jobs are unfinished (default: no limit)",
        )
    if workers and job_ttl:
        parser.add_argument(
            "--job-ttl",
            type=float,
            default=300,
            metavar="S",
            help="forget a finished background job S seconds after it ended (default %(default)g)",
        )
    if copies:
        parser.add_argument(
            "--processes",
            type=int,
            nargs="?",
            const=cpu_count(),
            default=0,
            metavar="N",
            help="pre-fork: run N copies of this server on the port, the kernel spreading the "
            f"connections over them (SO_REUSEPORT); N defaults to the CPUs, {cpu_count()}",
        )
        parser.add_argument("--copy-of", type=int, metavar="PID", help=argparse.SUPPRESS)  # set by run_copies
    for flag, kwargs in (options or {}).items():
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args()
    if copies and args.processes < 0:
        parser.error("--processes must be at least 1")
    if workers and args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if workers and max_pending and args.max_pending is not None and args.max_pending < 1:
        parser.error("--max-pending must be at least 1")
    if workers and job_ttl and not args.job_ttl > 0:
        parser.error("--job-ttl must be above 0")
    if task:
        args.task = tasks.Task(args.task, args.backend.rstrip("/"), args.database, args.db_pool)
        try:
            tasks.check(args.task, awaited_by(args))
            if args.task.kind == "db":
                tasks.reach(args.task.database)
        except tasks.TaskError as error:
            parser.error(str(error))
    return args
