"""9_flask: a Flask (WSGI) app runs the task in the request, on gunicorn or Granian; their workers run it.

WSGI has no event loop: the server calls the app once a request, and its worker model is the strategy.
gunicorn (the default): --processes N worker processes (default CPUs, as the pre-fork rows; gunicorn's docs
advise 2 x CPUs + 1 where requests wait) share one listening socket; --worker-class sync (one request at a time
each), gthread (--threads N each; a pure-Python task holds the GIL, as in 3_async_threadexecutor), or gevent
(greenlets: waits yield to the hub, and a task that computes keeps every other request of its worker, /health
included, waiting). --server granian: Granian's --processes N workers, each calling the app on --threads N
blocking threads; on a free-threaded Python its workers are threads of one process, computing on every core.
"""

import tasks
from processes import cpu_count
from serving import cli, flask_web, granian_server, gunicorn_server, lifecycle

SYNC, GTHREAD, GEVENT = WORKER_CLASSES = ("sync", "gthread", "gevent")


def parse_args():
    args = cli.parse_args(
        __doc__,
        port=8008,
        options={
            "--server": dict(choices=("gunicorn", "granian"), default="gunicorn", help="(default %(default)s)"),
            "--worker-class": dict(choices=WORKER_CLASSES, help="gunicorn's worker class (default sync)"),
            "--processes": dict(type=int, metavar="N", help="workers (default: CPUs)"),
            "--threads": dict(type=int, metavar="N", help="threads a worker calls the app on (gthread: 1; Granian's)"),
        },
    )
    granian = args.server == "granian"
    if granian and args.worker_class:
        cli.fail_usage("--worker-class is gunicorn's: Granian has one worker model")
    if args.threads is not None and not granian and args.worker_class != GTHREAD:
        cli.fail_usage("--threads needs --worker-class gthread or --server granian")
    if any(value is not None and value < 1 for value in (args.processes, args.threads)):
        cli.fail_usage("--processes and --threads must be at least 1")
    args.worker_class, args.processes = args.worker_class or SYNC, args.processes or cpu_count()
    return args


def strategy(args):
    """The name its answers carry: 9_flask, and the options that change the strategy."""
    if args.server == "granian":
        return "9_flask --server granian"
    return "9_flask" + (f" --worker-class {args.worker_class}" if args.worker_class != SYNC else "")


def app():
    """The WSGI app, as the server builds it (in each gunicorn worker; Granian's factory)."""
    args = parse_args()
    granian_server.in_worker()

    def compute(n):
        return tasks.run(args.task, n)  # on the thread (or greenlet) the server called the app on

    return flask_web.make_app(strategy(args), args.task, compute)


def main():
    args = parse_args()
    if args.server == "granian":
        granian_server.run(strategy(args), args, app, "wsgi", threads=args.threads)
    else:
        gunicorn_server.run(strategy(args), args, app)


if __name__ == "__main__":
    lifecycle.run_until_stopped(main)
