"""A WSGI app on gunicorn (9_flask.py): its master and N worker processes, started from Python, not its command.

gunicorn's master binds the socket, forks the workers and serves nothing; every worker accepts from that one
socket. A sync worker accepts only when it is free, so a new connection waits for a free worker, not behind a busy
one (unlike pre-fork on SO_REUSEPORT, serving/prefork.py). A gthread worker accepts while its threads are busy, and
queues the request; a gevent worker runs each request in a greenlet of its one thread, after patching the standard
library's waits (time.sleep, sockets) to yield to its hub.
"""

import os
import signal
import tempfile
import threading

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from processes import die_with_parent

from . import lifecycle, totals


class Gunicorn(BaseApplication):
    """gunicorn with these settings (the names of its configuration file), serving what build_app() returns in
    each worker (built after the fork: no worker shares the master's state)."""

    def __init__(self, build_app, settings):
        self.build_app, self.settings = build_app, settings
        super().__init__()

    def load_config(self):
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self):
        return self.build_app()

    def run(self):
        arbiter = Arbiter(self)
        # The suite's stop (serving/lifecycle.py) stops the master and the workers; gunicorn's own would stop the
        # workers in the middle of a request (SIGQUIT: a traceback in the log) or wait for it (graceful_timeout).
        # Its master's loop stands aside meanwhile, and forks no worker once the stop has begun: one forked then
        # would be missed by the stop, and hold the port a moment after the server has gone.
        arbiter.handle_int = arbiter.handle_term = threading.Event().wait
        spawn = arbiter.spawn_worker
        arbiter.spawn_worker = lambda: None if lifecycle.STOPPING.is_set() else spawn()
        arbiter.run()


def worker_started(arbiter, worker):
    """gunicorn's post_fork hook, in each worker: none outlives its master, even one killed; at once, without
    finishing its request (gunicorn's SIGTERM would wait for it)."""
    die_with_parent(signal.SIGKILL, parent=arbiter.pid)


def run(strategy, args, build_app):
    """Serve build_app()'s WSGI app on gunicorn until SIGINT or SIGTERM: args.processes workers of
    args.worker_class (args.threads threads each for gthread). The suite's stop (serving/lifecycle.py) stops the
    master and the workers by pid at once; gunicorn's own would wait up to graceful_timeout for tasks in flight."""
    lifecycle.check_port(strategy, args)
    os.environ[totals.SHARED_ENV] = tempfile.mkdtemp(prefix="totals-")  # every worker's GET /stats, in one folder
    threads = args.threads or 1  # gunicorn's default
    each = f", {threads} threads each" if args.worker_class == "gthread" else ""
    lifecycle.announce(strategy, args, f"gunicorn, {args.processes} {args.worker_class} workers{each}")
    Gunicorn(
        build_app,
        {
            "bind": f"{args.host}:{args.port}",
            "workers": args.processes,
            "worker_class": args.worker_class,
            "threads": threads,
            "post_fork": worker_started,
            "keepalive": 10,  # as uvicorn's and Tornado's idle connections: siege keeps its connections open
            "loglevel": "warning",
            "accesslog": None,
            "control_socket_disable": True,  # gunicorn 27's control socket: a file in ~/.gunicorn, shared by all
        },
    ).run()
