"""A WSGI or ASGI app on Granian (9_flask.py and 8_fastapi.py with --server granian): a Rust HTTP server that
calls the Python app from its worker's threads.

Granian's workers share one socket. With a GIL they are processes; on a free-threaded Python they are threads of
this one process (its server for a build without a GIL), so that the app's threads compute on every core at once.
A WSGI worker calls the app on its blocking threads (--threads), an ASGI worker on one event loop.
"""

import multiprocessing
import os
import signal
import tempfile

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import Server

from processes import die_with_parent, script_name

from . import lifecycle, totals

WORKERS_ARE = "processes" if Server.__name__ == "MPServer" else "threads in one process"


def in_worker():
    """Called by the app's factory in each worker: a worker process outlives its server no more than gunicorn's, and
    goes at once (on SIGTERM it would end its request first, holding the port meanwhile)."""
    parent = multiprocessing.parent_process()
    if parent:
        die_with_parent(signal.SIGKILL, parent=parent.pid)


class Served(Server):
    def _respawn_workers(self, *args, **kwargs):
        if not lifecycle.STOPPING.is_set():  # the suite's stop is ending the workers: none is replaced then
            super()._respawn_workers(*args, **kwargs)


def run(strategy, args, factory, interface, settings="", threads=None):
    """Serve the app that `factory` (a function of the script, found there by its name) builds, until SIGINT or
    SIGTERM: args.processes Granian workers (at least one), `threads` blocking threads each (WSGI; Granian's
    default if None). The suite's stop (serving/lifecycle.py) ends the workers by pid at once."""
    lifecycle.check_port(strategy, args)
    workers = max(1, args.processes)
    if workers > 1 or WORKERS_ARE == "processes":  # every worker's GET /stats answers for all, replaced ones too
        os.environ[totals.SHARED_ENV] = tempfile.mkdtemp(prefix="totals-")
    each = "one event loop each" if interface == "asgi" else f"{threads or 'its default'} threads each"
    said = f"Granian, {workers} worker{'s' if workers > 1 else ''} ({WORKERS_ARE}), {each}"
    lifecycle.announce(strategy, args, f"{said}, {settings}" if settings else said)
    Served(
        f"{script_name()}:{factory.__name__}",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI if interface == "wsgi" else Interfaces.ASGI,
        workers=workers,
        blocking_threads=threads,
        factory=True,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,  # as gunicorn's master: a worker killed is replaced, the server goes on
    ).serve()
